"""Ending, pausing and restoring pairs: the R-DEL table turned into commands and a new state."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bridge.core.builder import PlanBuilder
from bridge.core.commands import DeleteEvent, DeleteItem, Plan, RemoveAttendeeRelation
from bridge.core.deletion import ENDS_WITH_TOMBSTONE, Action, Outcome, outcome
from bridge.core.fields import OWNER_FIELD, SF_ITEM_ID_FIELD, SF_UID_FIELD, salesforce_fields
from bridge.core.model import Copy, Invitations, PairState, PairStatus, Policy, Tombstone
from bridge.core.private import MASKED_FIELDS, masked
from bridge.core.status import Cause, after, cause_of, changes, kept

# The side each action already took away: no command may touch it.
_EVENT_GONE = frozenset({Action.DELETED_IN_SALESFORCE})
_ITEM_GONE = frozenset({Action.DELETED_IN_EXCHANGE})


def apply_action(
    state: PairState,
    action: Action,
    policy: Policy,
    now: datetime,
    item_categories: frozenset[str] | None = None,
    versions: tuple[str | None, str | None] | None = None,
    holders: tuple[str, ...] = (),
) -> Plan:
    """The plan for one row of the R-DEL table. `item_categories` are the item's current categories when
    known; otherwise the bridge's own categories are removed unconditionally. `versions` are the event's
    and the item's versions just read, which the writes are checked against (R-MERGE-5); by default the
    recorded ones. `holders` are the other enrolled users who still have a copy of the meeting
    (`MeetingContext.holders`): a kind D event passes to the first of them (R-MULTI-4)."""
    sf_version, ex_version = versions if versions is not None else (state.sf_version, state.ex_version)
    if state.status is not PairStatus.ACTIVE:  # the status table says what the action does to it
        cause = cause_of(action)
        if cause is None or not changes(state.status, cause):
            return Plan((), state)
        if after(state.status, cause) is None:
            if cause is Cause.OFF:
                return Plan((), None)  # nothing on either side carries the pair any more: forget it
            builder = PlanBuilder(policy)  # a waiting copy deleted: its issues close with it
            builder.issues(state.open_issues, {}, state.sf_id, state.ex_id, None)
            return Plan(tuple(builder.issue_commands), None)
        # A paused pair deleted: nothing left to write, just remember.
        return _end(state, PlanBuilder(policy), action, now, (sf_version, ex_version))
    cell = outcome(action, state.kind, policy, state.owns_event, others_hold=bool(holders))
    if cell is None:
        return Plan((), state)
    builder = PlanBuilder(policy)
    item_exists = state.ex_id is not None and action not in _ITEM_GONE
    event_exists = state.sf_id is not None and action not in _EVENT_GONE
    categories = item_categories if item_categories is not None else frozenset(_bridge_categories(policy))

    if cell is Outcome.RESTORE_CATEGORY:
        builder.categories(item_categories or frozenset(), add=(policy.sync_category,))
        commands, _, item_written = builder.build(None, None, state.ex_id, ex_version)
        return Plan(commands, replace(state, ex_version=None) if item_written else state)
    if cell is Outcome.DELETE_EVENT and event_exists and state.sf_id is not None:
        builder.last.append(DeleteEvent(state.sf_id, sf_version))
    if cell is Outcome.REMOVE_RELATION and event_exists and state.sf_id is not None:
        builder.relations.append(RemoveAttendeeRelation(state.sf_id, policy.user_id))
    if cell is Outcome.PASS_EVENT and event_exists and state.sf_id is not None:
        # The heir owns the event now, so they are no longer one of its invitees.
        builder.event_fields[OWNER_FIELD] = holders[0]
        builder.relations.append(RemoveAttendeeRelation(state.sf_id, holders[0]))
    if cell is Outcome.DELETE_ITEM and item_exists and state.ex_id is not None:
        send = policy.invitations is Invitations.ALL
        builder.last.append(DeleteItem(state.ex_id, ex_version, send_cancellations=send))
        if event_exists:
            forget_item(builder)
    elif item_exists:
        # The item stays but is no longer synced (R-CAT-1): take the bridge's categories off it.
        builder.categories(categories, remove=_bridge_categories(policy))
    return _end(
        state,
        builder,
        action,
        now,
        (sf_version, ex_version),
        item_deleted=cell is Outcome.DELETE_ITEM,
        event_gone=cell in (Outcome.DELETE_EVENT, Outcome.PASS_EVENT),
    )


def leave_window(
    builder: PlanBuilder, state: PairState, item: Copy, item_categories: frozenset[str] | None
) -> bool:
    """Add R-DEL-4 to a plan whose own merge moves the pair out of the window; True if the item goes."""
    policy = builder.policy
    cell = outcome(Action.LEFT_WINDOW, state.kind, policy, state.owns_event)
    builder.add_categories = [c for c in builder.add_categories if c != policy.sync_category]
    if cell is Outcome.DELETE_ITEM:
        builder.item_fields.clear()
        builder.add_categories.clear()
        builder.remove_categories.clear()
        builder.last.append(DeleteItem(item.id, item.version or None, policy.invitations is Invitations.ALL))
        forget_item(builder)
        return True
    current = item_categories if item_categories is not None else frozenset(_bridge_categories(policy))
    builder.categories(current, remove=_bridge_categories(policy))
    return False


def forget_item(builder: PlanBuilder) -> None:
    """Clear the event's pairing fields once its item is deleted, so that a later sync (the pair back in
    the window, the user enrolled again, the store lost) sees a plain event instead of one whose partner
    is missing, which R-PAIR-1 would leave alone for good."""
    builder.event_fields.update({SF_ITEM_ID_FIELD: "", SF_UID_FIELD: ""})


def _bridge_categories(policy: Policy) -> tuple[str, ...]:
    return policy.sync_category, policy.error_category


def _end(
    state: PairState,
    builder: PlanBuilder,
    action: Action,
    now: datetime,
    versions: tuple[str | None, str | None],
    item_deleted: bool = False,
    event_gone: bool = False,
) -> Plan:
    builder.issues(state.open_issues, {}, state.sf_id, state.ex_id, None)
    commands, event_written, _ = builder.build(state.sf_id, versions[0], state.ex_id, versions[1])
    cause = cause_of(action)
    assert cause is not None, f"{action} ends or pauses no pair"
    status = after(state.status, cause)
    if status is None:
        return Plan(commands, None)
    if event_written:
        state = replace(state, sf_version=None)
    gone_item = item_deleted or action is Action.DELETED_IN_EXCHANGE
    ex_id = None if gone_item else state.ex_id
    if status is PairStatus.OUT_OF_WINDOW:
        new_state = replace(state, status=status, ex_id=ex_id, ex_version=None, open_issues=frozenset())
        return Plan(commands, new_state)
    assert status is PairStatus.ENDED and action in ENDS_WITH_TOMBSTONE
    sf_id = None if event_gone or action is Action.DELETED_IN_SALESFORCE else state.sf_id
    tombstone = Tombstone(reason=action.value, at=now)
    ended = replace(  # a tombstone tracks no versions: nothing is synced until it is opted in again
        state,
        status=status,
        sf_id=sf_id,
        ex_id=ex_id,
        sf_version=None,
        ex_version=None,
        tombstone=tombstone,
        open_issues=frozenset(),
    )
    return Plan(commands, ended)


def end_out_of_scope(state: PairState, item: Copy, event: Copy | None, policy: Policy, now: datetime) -> Plan:
    """R-SCOPE-8: the event stays, masked first if the item turned private (R-PRIV-1: no attendees, no
    Who), the bridge's categories come off the item, and a tombstone waits for the user's opt-in."""
    builder = PlanBuilder(policy)
    base = event.content if event is not None else state.base_sf
    if item.content.private and state.masked is None and base is not None:
        builder.event_fields.update(salesforce_fields(masked(base), MASKED_FIELDS))
        builder.relations += [
            RemoveAttendeeRelation(state.sf_id or "", a.relation.relation_id)
            for a in base.attendees
            if a.relation is not None and state.sf_id is not None
        ]
        if event is not None and event.who_ids:
            builder.event_fields["WhoId"] = None
    builder.categories(item.categories, remove=_bridge_categories(policy))
    builder.issues(state.open_issues, {}, state.sf_id, item.id, item.categories)
    event_version = event.version if event is not None else state.sf_version
    commands, _, _ = builder.build(state.sf_id, event_version, item.id, item.version)
    ended = replace(
        state,
        status=kept(state.status, Cause.SCOPE),
        sf_version=None,
        ex_version=None,
        tombstone=Tombstone(reason="R-SCOPE-8", at=now),
        open_issues=frozenset(),
        held=(),
        bridge_category=False,
    )
    return Plan(commands, ended)
