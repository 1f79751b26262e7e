"""Meetings between sandbox mailboxes: invitations, responses, cancellations.

Exchange delivers a meeting request to each attendee and places a tentative copy (same UID) in the attendee's
calendar; the sandbox goes straight to that copy. Addresses that are not sandbox mailboxes are external:
nothing is delivered to them. Nothing is delivered when the organizer saves without sending.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from .model import ATTENDEE_LISTS, Attendee, CalendarItem, Mailbox
from .store import Store
from .wire import EWSError

SENDING = {"SendOnlyToAll", "SendToAllAndSaveCopy", "SendOnlyToChanged", "SendToChangedAndSaveCopy"}
RESPONSES = {"AcceptItem": "Accept", "TentativelyAcceptItem": "Tentative", "DeclineItem": "Decline"}
CANCELLED_PREFIX = "Canceled: "
_COPIED = (
    "subject", "body", "body_type", "start", "end", "start_tz", "end_tz", "is_all_day", "location",
    "sensitivity", "importance", "is_response_requested", "allow_new_time_proposal", "recurrence",
    "exceptions", "deleted_occurrences", "when", "conference_type", "meeting_workspace_url", "net_show_url",
)  # fmt: skip


def find_by_uid(store: Store, mailbox: Mailbox, uid: str) -> CalendarItem | None:
    for item in mailbox.folder("calendar").items.values():
        if item.uid == uid:
            return item
    return None


def _invitees(store: Store, item: CalendarItem) -> list[Mailbox]:
    seen: list[Mailbox] = []
    for attendee in item.all_attendees():
        mailbox = store.mailbox(attendee.email)
        if mailbox is not None and mailbox.address.lower() != item.mailbox.lower() and mailbox not in seen:
            seen.append(mailbox)
    return seen


def _fill_copy(target: CalendarItem, source: CalendarItem) -> None:
    for name in _COPIED:
        setattr(target, name, copy.deepcopy(getattr(source, name)))
    target.attendees = copy.deepcopy(source.attendees)
    target.organizer = copy.deepcopy(source.organizer)
    target.sequence = source.sequence


def reset_responses(item: CalendarItem) -> None:
    """The organizer's copy after a time change was sent: every attendee is waiting to answer again."""
    for attendee in item.all_attendees():
        attendee.response_type = "NoResponseReceived"
        attendee.last_response_time = None


def send_invitations(
    store: Store,
    item: CalendarItem,
    previous_invitees: list[Mailbox] | None = None,
    time_changed: bool = False,
) -> None:
    """Deliver or refresh the attendee copies of an organizer's meeting; cancel copies of removed invitees.

    When ``time_changed``, refreshed copies go back to tentative and unanswered.
    """
    item.meeting_request_was_sent = True
    invitees = _invitees(store, item)
    for mailbox in invitees:
        existing = find_by_uid(store, mailbox, item.uid)
        if existing is None:
            fresh = store.new_item(mailbox.folder("calendar"), uid=item.uid)
            _fill_copy(fresh, item)
            fresh.my_response_type = "NoResponseReceived"
            fresh.free_busy = "Tentative"
            fresh.is_read = False
            store.insert(fresh)
        else:
            _fill_copy(existing, item)
            existing.is_cancelled = False
            if time_changed:
                existing.my_response_type = "NoResponseReceived"
                existing.free_busy = "Tentative"
            store.touch(existing)
    cancel_copies(store, [mb for mb in previous_invitees or [] if mb not in invitees], item.uid)


def cancel_copies(store: Store, mailboxes: Iterable[Mailbox], uid: str) -> int:
    """Mark the copies of meeting ``uid`` in ``mailboxes`` cancelled; returns how many changed."""
    return sum(_cancel_copy(store, mailbox, uid) for mailbox in mailboxes)


def _cancel_copy(store: Store, mailbox: Mailbox, uid: str) -> bool:
    existing = find_by_uid(store, mailbox, uid)
    if existing is None or existing.is_cancelled:
        return False
    existing.is_cancelled = True
    existing.free_busy = "Free"
    if not (existing.subject or "").startswith(CANCELLED_PREFIX):
        existing.subject = CANCELLED_PREFIX + (existing.subject or "")
    store.touch(existing)
    return True


def cancel_meeting(store: Store, item: CalendarItem) -> None:
    """Mark every attendee copy cancelled (the organizer's own item is the caller's business)."""
    cancel_copies(store, _invitees(store, item), item.uid)


def invitees_of(store: Store, item: CalendarItem) -> list[Mailbox]:
    return _invitees(store, item)


def respond(store: Store, attendee_item: CalendarItem, response: str) -> None:
    """An attendee answers: its copy records the answer; the organizer's copy records it on the attendee.

    A declined meeting leaves the attendee's calendar for Deleted Items, as Outlook and OWA do.
    """
    if attendee_item.my_response_type == "Organizer":
        raise EWSError("ErrorInvalidOperation", "The organizer cannot respond to its own meeting.")
    if attendee_item.is_cancelled:
        raise EWSError("ErrorInvalidOperation", "The meeting has been cancelled.")
    attendee_item.my_response_type = response
    attendee_item.free_busy = {"Accept": "Busy", "Tentative": "Tentative", "Decline": "Free"}[response]
    responder = attendee_item.mailbox.lower()
    organizer = attendee_item.organizer
    if response == "Decline":
        mailbox = store.mailbox(attendee_item.mailbox)
        assert mailbox is not None
        store.touch(attendee_item)
        store.move(attendee_item, mailbox.folder("deleteditems"))
    else:
        store.touch(attendee_item)
    organizer_box = store.mailbox(organizer.email) if organizer else None
    if organizer_box is None:
        return
    organizer_item = find_by_uid(store, organizer_box, attendee_item.uid)
    if organizer_item is None:
        return
    now = store.clock()
    changed = False
    for kind in ATTENDEE_LISTS:
        for attendee in organizer_item.attendees[kind]:
            if attendee.email.lower() == responder:
                attendee.response_type = response
                attendee.last_response_time = now
                changed = True
    if changed:
        store.touch(organizer_item)


def organizer_for(mailbox: Mailbox) -> Attendee:
    return Attendee(email=mailbox.address, name=mailbox.display_name, response_type="Organizer")
