"""Plans for a copy that has no pair yet: create its partner, join another user's event, or wait."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bridge.core.attendees import choose_who, merge_attendees
from bridge.core.builder import PlanBuilder
from bridge.core.commands import (
    AddAttendeeRelation,
    Changed,
    Created,
    CreateEvent,
    CreateItem,
    Plan,
    frozen_fields,
)
from bridge.core.fields import (
    EX_EVENT_ID_FIELD,
    EX_RESPONSE_IN,
    SF_ITEM_ID_FIELD,
    SF_UID_FIELD,
    exchange_fields,
    fit_salesforce,
    salesforce_fields,
)
from bridge.core.issues import IssueCode
from bridge.core.model import (
    SCALAR_FIELDS,
    Copy,
    Invitations,
    Kind,
    PairState,
    PairStatus,
    Policy,
    Response,
    Side,
)
from bridge.core.private import mask_target, project
from bridge.core.scope import Admission, Verdict, admit_event, admit_item, kind_of
from bridge.core.status import Cause, kept


def plan_single(state: PairState | None, copy: Copy, seen: Changed, policy: Policy, now: datetime) -> Plan:
    """An unpaired copy: create its partner if it is in scope, else wait or skip with the issue that
    says why. A copy naming a partner (R-PAIR-1) is never given a second one."""
    already_open = state.open_issues if state is not None else frozenset()
    if copy.paired_id is not None:
        return Plan((), state)
    if seen.duplicate:
        admission = Admission(Verdict.WAIT, IssueCode.DUPLICATE_KEY)  # R-PAIR-3: neither adopted nor created
    elif copy.side is Side.EXCHANGE:
        admission = admit_item(copy, policy, now, seen.directory, seen.meeting)
    else:
        admission = admit_event(copy, policy, now)
    if admission.verdict is Verdict.CREATE:
        return create_partner(copy, seen, policy, already_open, status=_status_of(state))
    if admission.verdict is Verdict.JOIN and admission.event_id is not None:
        return join_event(copy, admission.event_id, seen, policy, already_open, status=_status_of(state))
    wanted = {admission.issue: ""} if admission.issue is not None else {}
    builder = PlanBuilder(policy)
    sf_id, ex_id = (copy.id, None) if copy.side is Side.SALESFORCE else (None, copy.id)
    item_categories = copy.categories if copy.side is Side.EXCHANGE else None
    builder.issues(already_open, wanted, sf_id, ex_id, item_categories)
    commands, _, _ = builder.build(None, None, ex_id, copy.version)
    if not wanted:
        return Plan(commands, None)
    waiting = PairState(
        status=kept(_status_of(state), Cause.WAIT),
        kind=Kind.A if copy.side is Side.EXCHANGE else Kind.B,
        origin=copy.side,
        sf_id=sf_id,
        ex_id=ex_id,
        uid=copy.uid,
        open_issues=builder.open_issues,
    )
    return Plan(commands, waiting)


def create_partner(
    copy: Copy,
    seen: Changed,
    policy: Policy,
    already_open: frozenset[IssueCode] = frozenset(),
    *,
    status: PairStatus | None = None,
    cause: Cause = Cause.PAIR,
) -> Plan:
    """Create the other side's copy of `copy` and record the pair (R-FLD-1, R-ATT-1/3/6/9/10, R-PRIV).
    `status` is the pair's before (None: no state yet) and `cause` why it is created: the status table
    (`bridge.core.status`) gives the pair's new status."""
    active = kept(status, cause)
    if copy.side is Side.SALESFORCE:
        return _create_item(copy, policy, already_open, active)
    return _create_event(copy, seen, policy, already_open, active)


def _status_of(state: PairState | None) -> PairStatus | None:
    return state.status if state is not None else None


def _create_item(event: Copy, policy: Policy, already_open: frozenset[IssueCode], status: PairStatus) -> Plan:
    mask = mask_target(event.content, policy, Side.EXCHANGE)
    content = project(event.content, Side.EXCHANGE, policy, mask is not None)
    fields = exchange_fields(content, (*SCALAR_FIELDS, "attendees"), policy)
    fields[EX_EVENT_ID_FIELD] = event.id
    builder = PlanBuilder(policy)
    builder.first.append(
        CreateItem(
            frozen_fields(fields),
            categories=(policy.sync_category,),
            send_invitations=policy.invitations is Invitations.ALL,
        )
    )
    builder.event_fields.update({SF_ITEM_ID_FIELD: Created.ITEM_ID, SF_UID_FIELD: Created.ITEM_UID})
    builder.issues(already_open, {}, event.id, None, None)
    commands, _, _ = builder.build(event.id, event.version, None, None)
    state = PairState(
        status=status,
        kind=Kind.C if event.meeting else Kind.B,
        origin=Side.SALESFORCE,
        sf_id=event.id,
        base_sf=event.content,
        base_ex=content,
        masked=mask,
    )
    return Plan(commands, state)


def _create_event(
    item: Copy, seen: Changed, policy: Policy, already_open: frozenset[IssueCode], status: PairStatus
) -> Plan:
    mask = mask_target(item.content, policy, Side.SALESFORCE)
    content = project(item.content, Side.SALESFORCE, policy, mask is not None)
    attendees = merge_attendees(
        (),
        () if mask else item.content.attendees,
        (),
        None,
        to_exchange=False,
        to_salesforce=True,
        answers_from_exchange=True,
        directory=seen.directory,
        unresolved=frozenset(),
    )
    content = replace(content, attendees=attendees.sf_attendees)
    fields = salesforce_fields(content, SCALAR_FIELDS)
    fields.update({SF_ITEM_ID_FIELD: item.id, SF_UID_FIELD: item.uid or ""})
    builder = PlanBuilder(policy)
    builder.first.append(
        CreateEvent(
            frozen_fields(fields),
            () if content.private else choose_who(content.attendees, policy.shared_activities),
        )
    )
    for added in attendees.add_relations:
        assert added.relation is not None
        builder.relations.append(
            AddAttendeeRelation(Created.EVENT_ID, added.relation.relation_id, added.response)
        )
    builder.item_fields[EX_EVENT_ID_FIELD] = Created.EVENT_ID
    builder.categories(item.categories, add=(policy.sync_category,))
    builder.issues(
        already_open, item_issues(item, attendees.unresolved, mask), None, item.id, item.categories
    )
    commands, _, _ = builder.build(None, None, item.id, item.version)
    organizer_user = seen.meeting.organizer_user_id if seen.meeting else None
    state = PairState(
        status=status,
        kind=kind_of(Side.EXCHANGE, item, organizer_user, policy),
        origin=Side.EXCHANGE,
        ex_id=item.id,
        uid=item.uid,
        base_sf=content,
        base_ex=item.content,
        masked=mask,
        organizer_user_id=organizer_user,
        unresolved=attendees.unresolved,
        open_issues=builder.open_issues,
        bridge_category=policy.sync_category not in item.categories,  # R-SCOPE-5
    )
    return Plan(commands, state)


def item_issues(item: Copy, unresolved: frozenset[str], mask: Side | None) -> dict[IssueCode, str]:
    """The standing issues of an item synced to Salesforce: cut values (W-TRUNCATED) and addresses that
    did not resolve (an info entry, R-ATT-8)."""
    wanted: dict[IssueCode, str] = {}
    if mask is None and fit_salesforce(item.content)[1]:
        wanted[IssueCode.TRUNCATED] = ""
    if unresolved:
        wanted[IssueCode.UNRESOLVED_ATTENDEE] = ", ".join(sorted(unresolved))
    return wanted


def join_event(
    item: Copy,
    event_id: str,
    seen: Changed,
    policy: Policy,
    already_open: frozenset[IssueCode],
    *,
    status: PairStatus | None = None,
) -> Plan:
    """R-MULTI-1: this meeting already has an event (another enrolled user's); the user becomes a User
    invitee of it with their own answer, and nothing is created."""
    answer = my_answer(item)
    builder = PlanBuilder(policy)
    builder.relations.append(AddAttendeeRelation(event_id, policy.user_id, answer))
    builder.item_fields[EX_EVENT_ID_FIELD] = event_id
    builder.categories(item.categories, add=(policy.sync_category,))
    builder.issues(already_open, {}, None, item.id, item.categories)  # as the waiting copy raised them
    commands, _, _ = builder.build(event_id, None, item.id, item.version)
    organizer_user = seen.meeting.organizer_user_id if seen.meeting else None
    state = PairState(
        status=kept(status, Cause.PAIR),
        kind=kind_of(Side.EXCHANGE, item, organizer_user, policy),
        origin=Side.EXCHANGE,
        sf_id=event_id,
        ex_id=item.id,
        uid=item.uid,
        base_ex=item.content,
        owns_event=False,
        organizer_user_id=organizer_user,
        my_status=answer,
        bridge_category=policy.sync_category not in item.categories,
    )
    return Plan(commands, state)


def my_answer(item: Copy) -> Response:
    return EX_RESPONSE_IN.get(item.my_response or "", Response.UNDECIDED)
