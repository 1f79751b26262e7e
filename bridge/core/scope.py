"""What is synced (SPEC §2, R-SCOPE) and what kind of item a pair is (SPEC §8).

`admit_item` and `admit_event` decide whether a copy that has no pair yet should get one. Their checks run
in the order of the spec and the first that refuses decides, so an admin reading an issue knows the one
reason that applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bridge.core.issues import IssueCode
from bridge.core.model import (
    Content,
    Copy,
    Directory,
    Filter,
    Invitations,
    Kind,
    MeetingContext,
    PairState,
    Policy,
    PrivatePolicy,
    RelationKind,
    Side,
    When,
)
from bridge.core.spans import duration, utc_span
from bridge.core.zones import zone

MAX_DURATION = timedelta(days=14)  # Salesforce's multiday limit (E-TOO-LONG)
MAX_RECURRING_OCCURRENCE = timedelta(hours=24)  # E-RECURRING-TOO-LONG
# Answers to an inbound meeting that mean the user is going (R-SCOPE-6).
ANSWERED = frozenset({"Accept", "Tentative", "Organizer"})


class Verdict(StrEnum):
    CREATE = "create"  # make the other side's copy
    SKIP = "skip"  # out of scope; an issue says why when an admin would want to know
    WAIT = "wait"  # not yet: an issue says what it waits for
    JOIN = "join"  # another enrolled user's event already holds this meeting (R-MULTI-1)


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Verdict
    issue: IssueCode | None = None
    event_id: str | None = None  # the event to join, for Verdict.JOIN


SKIP = Admission(Verdict.SKIP)
CREATE = Admission(Verdict.CREATE)


def mailbox_zone(policy: Policy) -> ZoneInfo:
    return zone(policy.mailbox_time_zone) or ZoneInfo("UTC")


def in_window(when: When, policy: Policy, now: datetime) -> bool:
    """R-SCOPE-1: in scope while it ends after now - past and starts before now + future."""
    start, end = utc_span(when, mailbox_zone(policy))
    return end > now - policy.past and start < now + policy.future


def opted_in(item: Copy, policy: Policy) -> bool:
    """R-SCOPE-5 and R-DEL-1: the `Salesforce` category, unless `Salesforce Unsync` overrides it."""
    return policy.sync_category in item.categories and not unsync_requested(item, policy)


def unsync_requested(item: Copy, policy: Policy) -> bool:
    return policy.unsync_category in item.categories


def never_synced(copy: Copy, policy: Policy) -> bool:
    """A copy no setting brings into scope on its own: a series (SPEC §15), a cancelled meeting, an item
    marked `Salesforce Unsync`, or another user's event (R-MULTI-2). Adoption leaves these alone
    (R-PAIR-2 pairs copies in scope), so their twin by subject and time is neither synced nor ended."""
    if copy.is_recurring:
        return True
    if copy.side is Side.EXCHANGE:
        return copy.is_cancelled or unsync_requested(copy, policy)
    return copy.owner_id is not None and bool(policy.user_id) and copy.owner_id != policy.user_id


def excluded(copy: Copy, policy: Policy) -> bool:
    """R-PAIR-2: a copy R-SCOPE would not sync (after the opt-in of R-SCOPE-5), whose twin by subject and
    time is therefore neither adopted nor created from: `never_synced`, and, unless opted in, a blocked
    category, private under `skip`, an internal meeting, an inbound meeting not answered (R-SCOPE-4/6)."""
    if never_synced(copy, policy):
        return True
    if copy.side is Side.EXCHANGE and opted_in(copy, policy):
        return False
    if copy.content.private and policy.private is PrivatePolicy.SKIP:
        return True
    if copy.side is Side.SALESFORCE:
        return False
    answered = copy.my_response in ANSWERED or policy.sync_unanswered
    unanswered = copy.organizer is not None and not answered
    internal = copy.meeting and not policy.sync_internal and is_internal_meeting(copy, policy)
    return bool(copy.categories & policy.blocked_categories) or internal or unanswered


def follows_another_user(item: Copy, meeting: MeetingContext | None, policy: Policy) -> bool:
    """R-PAIR-5, R-MULTI-1: a meeting another enrolled user's pair holds (or will hold, as organizer) is
    one meeting by its UID; this user's copy joins or waits for it and is never adopted on its own."""
    if item.organizer is None or meeting is None:
        return False
    if meeting.event_id is not None and meeting.event_owner_id != policy.user_id:
        return True
    return meeting.organizer_user_id is not None and meeting.organizer_user_id != policy.user_id


def leaves_scope(state: PairState, item: Copy, policy: Policy) -> bool:
    """R-SCOPE-8: a pair that began in Exchange ends when its item turns private under `skip` or gets a
    blocked category, unless the user opted the item in (a `Salesforce` category the bridge did not set)."""
    if state.origin is not Side.EXCHANGE or not state.owns_event:
        return False
    if opted_in(item, policy) and not state.bridge_category:
        return False
    private_skipped = item.content.private and policy.private is PrivatePolicy.SKIP
    return private_skipped or bool(item.categories & policy.blocked_categories)


def sends_invitations(policy: Policy, item: Content) -> bool:
    """R-ATT-12: `all` sends, `internal` sends only when every attendee is internal, `none` never."""
    if policy.invitations is Invitations.ALL:
        return True
    internal_only = all(policy.is_internal(a.email) for a in item.attendees)
    return policy.invitations is Invitations.INTERNAL and internal_only


def is_internal_meeting(item: Copy, policy: Policy) -> bool:
    """Every attendee and the organizer are in the internal domains (R-SCOPE-4)."""
    addresses = [a.email for a in item.content.attendees]
    addresses.append(item.organizer or policy.user_email)
    return bool(item.content.attendees) and all(policy.is_internal(address) for address in addresses)


def is_linked(copy: Copy, directory: Directory) -> bool:
    """An attendee resolves to a Contact or Lead (R-SCOPE-3 `linked`)."""
    linking = (RelationKind.CONTACT, RelationKind.LEAD)
    for attendee in copy.content.attendees:
        found = (attendee.relation,) if attendee.relation else directory.lookup(attendee.email)
        if any(relation is not None and relation.kind in linking for relation in found):
            return True
    return bool(copy.who_ids)


def passes_filter(copy: Copy, chosen: Filter, directory: Directory) -> bool:
    if chosen is Filter.ALL:
        return True
    if chosen is Filter.MEETINGS:
        return copy.meeting
    if chosen is Filter.LINKED:
        return is_linked(copy, directory)
    return False  # Filter.EXISTING creates nothing new


def limit_issue(copy: Copy, policy: Policy) -> IssueCode | None:
    """R-LIM: a mailbox time zone or an item's zone that cannot be mapped (either way, since all-day
    dates depend on it), or an item too long for Salesforce."""
    if zone(policy.mailbox_time_zone) is None:
        return IssueCode.TIMEZONE
    if copy.problem is not None:
        return copy.problem
    if duration(copy.content.when) > MAX_DURATION:
        return IssueCode.TOO_LONG
    return None


def recurring_issue(copy: Copy) -> IssueCode:
    """Recurring series wait for their rules (SPEC §15); an over-long occurrence is an error (R-LIM)."""
    if duration(copy.content.when) > MAX_RECURRING_OCCURRENCE:
        return IssueCode.RECURRING_TOO_LONG
    return IssueCode.RECURRING


def admit_item(
    item: Copy, policy: Policy, now: datetime, directory: Directory, meeting: MeetingContext | None
) -> Admission:
    """Whether an unpaired Exchange item gets a Salesforce event (R-SCOPE-1..6, R-MULTI-1, R-LIM)."""
    if item.is_recurring:
        return Admission(Verdict.SKIP, recurring_issue(item))
    if item.is_cancelled or not in_window(item.content.when, policy, now) or unsync_requested(item, policy):
        return SKIP
    if not policy.direction.allows(Side.EXCHANGE):
        return SKIP
    if not opted_in(item, policy):
        if not passes_filter(item, policy.filter_to_salesforce, directory):
            return SKIP
        if item.meeting and not policy.sync_internal and is_internal_meeting(item, policy):
            return SKIP
        if item.categories & policy.blocked_categories:
            return SKIP
        if item.content.private and policy.private is PrivatePolicy.SKIP:
            return SKIP
        if item.organizer is not None and not policy.sync_unanswered and item.my_response not in ANSWERED:
            return Admission(Verdict.SKIP, IssueCode.UNANSWERED)
    issue = limit_issue(item, policy)
    if issue is not None:
        return Admission(Verdict.SKIP, issue)
    return _admit_meeting(item, policy, meeting)


def _admit_meeting(item: Copy, policy: Policy, meeting: MeetingContext | None) -> Admission:
    """R-SCOPE-6 and R-MULTI-1: one event per meeting, owned by the organizer when enrolled."""
    if item.organizer is None or meeting is None:
        return CREATE
    if meeting.event_id is not None and meeting.event_owner_id != policy.user_id:
        return Admission(Verdict.JOIN, event_id=meeting.event_id)
    if meeting.organizer_user_id is not None and meeting.organizer_user_id != policy.user_id:
        return Admission(Verdict.WAIT, IssueCode.WAIT_ORGANIZER)
    return CREATE


def admit_event(event: Copy, policy: Policy, now: datetime) -> Admission:
    """Whether an unpaired Salesforce event gets an Exchange item (R-SCOPE-1..3, R-SCOPE-7, R-MULTI-2)."""
    if event.is_child:
        return SKIP  # R-SCOPE-7: Salesforce's own invitee copies
    if event.owner_id is not None and policy.user_id and event.owner_id != policy.user_id:
        return SKIP  # R-MULTI-2: only the owner's mailbox gets the item
    if event.is_recurring:
        return Admission(Verdict.SKIP, recurring_issue(event))
    if not in_window(event.content.when, policy, now) or not policy.direction.allows(Side.SALESFORCE):
        return SKIP
    if not passes_filter(event, policy.filter_to_exchange, Directory()):
        return SKIP
    if event.content.private and policy.private is PrivatePolicy.SKIP:
        return SKIP
    if zone(policy.mailbox_time_zone) is None:
        return Admission(Verdict.SKIP, IssueCode.TIMEZONE)  # dates would land on the wrong days
    return CREATE


def kind_of(origin: Side, copy: Copy, organizer_user_id: str | None, policy: Policy) -> Kind:
    """The item kind of SPEC §8, from where the pair began and who organizes it."""
    if copy.organizer is not None:
        enrolled_organizer = organizer_user_id is not None and organizer_user_id != policy.user_id
        return Kind.E if enrolled_organizer else Kind.D
    if copy.meeting:
        return Kind.C
    return Kind.A if origin is Side.EXCHANGE else Kind.B
