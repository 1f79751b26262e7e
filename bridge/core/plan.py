"""`plan(state, observation, policy, now)`: the one entry point that decides what happens to a pair."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bridge.core.attendees import AttendeeMerge, choose_who
from bridge.core.builder import PlanBuilder
from bridge.core.commands import (
    AddAttendeeRelation,
    Cancelled,
    CategoryRemoved,
    Changed,
    Deleted,
    LeftWindow,
    Observation,
    Plan,
    RemoveAttendeeRelation,
    SyncNow,
    UnsyncRequested,
    UpdateAttendeeStatus,
    UserSwitchedOff,
    WriteFailed,
)
from bridge.core.creation import create_partner, item_issues, my_answer, plan_single
from bridge.core.deletion import Action, Outcome, outcome
from bridge.core.fields import (
    EX_EVENT_ID_FIELD,
    SF_ITEM_ID_FIELD,
    SF_UID_FIELD,
    exchange_fields,
    salesforce_fields,
)
from bridge.core.hold import hold, holding_limit
from bridge.core.issues import IssueCode
from bridge.core.lifecycle import apply_action, end_out_of_scope, leave_window
from bridge.core.merge import merge_fields
from bridge.core.model import Attendee, Content, Copy, Kind, PairState, PairStatus, Policy, Side
from bridge.core.people import merge_people
from bridge.core.scope import (
    Verdict,
    admit_event,
    admit_item,
    excluded,
    follows_another_user,
    in_window,
    kind_of,
    leaves_scope,
    opted_in,
    sends_invitations,
    unsync_requested,
)

_ACTIONS: dict[type[Observation], Action] = {
    LeftWindow: Action.LEFT_WINDOW,
    CategoryRemoved: Action.CATEGORY_REMOVED,
    UnsyncRequested: Action.UNSYNC_CATEGORY,
    UserSwitchedOff: Action.USER_SWITCHED_OFF,
    Cancelled: Action.CANCELLED,
}
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)
_MUTABLE_KINDS = (Kind.A, Kind.B, Kind.C)  # an appointment becomes a meeting when attendees appear


def plan(state: PairState | None, observation: Observation, policy: Policy, now: datetime) -> Plan:
    """Decide what to do about one pair (or one unpaired copy) given what the runtime observed.

    Pure and deterministic: the same inputs give an equal plan. `state` is None for a copy the store
    knows nothing about. The plan's state is what the store keeps once every command succeeded.
    """
    if state is None:
        return (
            _changed(None, observation, policy, now) if isinstance(observation, Changed) else Plan((), None)
        )
    planned = _planned(state, observation, policy, now)
    if planned.state is not None and planned.state.key != state.key:  # the store's key never changes
        return Plan(planned.commands, replace(planned.state, key=state.key))
    return planned


def _planned(state: PairState, observation: Observation, policy: Policy, now: datetime) -> Plan:
    if isinstance(observation, Changed):
        return _changed(state, observation, policy, now)
    if isinstance(observation, Deleted):
        side_action = (
            Action.DELETED_IN_EXCHANGE if observation.side is Side.EXCHANGE else Action.DELETED_IN_SALESFORCE
        )
        return apply_action(state, side_action, policy, now)
    if isinstance(observation, WriteFailed):
        return _write_failed(state, observation, policy)
    return apply_action(state, _ACTIONS[type(observation)], policy, now)


def _changed(state: PairState | None, seen: Changed, policy: Policy, now: datetime) -> Plan:
    if state is None or state.status is PairStatus.WAITING:
        if seen.sf is not None and seen.sf.is_child:  # R-SCOPE-7: never synced, so never adopted
            seen = replace(seen, sf=None)
        if seen.sf is not None and seen.ex is not None:
            return _adopt(state, seen.sf, seen.ex, seen, policy, now)
        copy = seen.ex or seen.sf
        return plan_single(state, copy, seen, policy, now) if copy is not None else Plan((), state)
    if state.status is PairStatus.ENDED:
        return _revive(state, seen, policy, now)
    if state.status is PairStatus.OUT_OF_WINDOW:
        return _resume(state, seen, policy, now)
    return _active(state, seen, policy, now)


def _name_each_other(sf: Copy, ex: Copy) -> bool:
    """R-PAIR-1: the pairing fields say these copies are a pair already (the store lost it)."""
    return sf.paired_id == ex.id or ex.paired_id == sf.id


def _adopt(state: PairState | None, sf: Copy, ex: Copy, seen: Changed, policy: Policy, now: datetime) -> Plan:
    """R-PAIR-2 (or recovery by R-PAIR-1): two existing copies become a pair; nothing is created. With no
    base, every field counts as changed on both sides (bridge.core.merge).

    Adoption by key takes copies in scope only (R-PAIR-2): when one is excluded, neither is adopted, and
    the twin still keeps the other from being created. An excluded item is planned alone, so that it
    reports why (a series, say). A meeting another enrolled user's pair holds is decided by its UID, not
    by subject and time (R-PAIR-5): the item joins or waits for that pair."""
    if not _name_each_other(sf, ex):
        if excluded(ex, policy) or follows_another_user(ex, seen.meeting, policy):
            return plan_single(state, ex, replace(seen, sf=None), policy, now)
        if excluded(sf, policy):
            return Plan((), state)
    organizer_user = seen.meeting.organizer_user_id if seen.meeting else None
    # The origin is unknown; Exchange gives the kind whose deletions remove least (A rather than B).
    adopted = PairState(
        status=PairStatus.ACTIVE,
        kind=kind_of(Side.EXCHANGE, ex, organizer_user, policy),
        origin=Side.EXCHANGE,
        key=state.key if state is not None else "",
        sf_id=sf.id,
        ex_id=ex.id,
        uid=ex.uid,
        organizer_user_id=organizer_user,
        open_issues=state.open_issues if state is not None else frozenset(),
    )
    return _active(adopted, seen, policy, now)


def _is_replay(state: PairState, seen: Changed) -> bool:
    """R-MERGE-4: nothing seen is newer than what the bridge last saw or wrote."""
    return all(
        copy is None or (bool(copy.version) and copy.version == state.version_of(copy.side))
        for copy in (seen.sf, seen.ex)
    )


def _stand_in(state: PairState, side: Side) -> Copy | None:
    """A side not read this time is taken as unchanged: the copy held while a limit stopped the pair, or
    else its base, which is that side's copy at the recorded version (the invariant)."""
    held, record_id = state.held_of(side), state.id_of(side)
    if record_id is None:
        return None
    if held is not None:
        version, modified, content = held.version, held.modified, held.content
    elif (base := state.base_of(side)) is not None:
        version, modified, content = state.version_of(side) or "", _LONG_AGO, base
    else:
        return None
    return Copy(
        side=side,
        id=record_id,
        version=version,
        modified=modified,
        content=content,
        paired_id=state.id_of(side.other),
        uid=state.uid,
        categories=frozenset(),
    )


def _active(state: PairState, seen: Changed, policy: Policy, now: datetime, resuming: bool = False) -> Plan:
    """An active pair, in the steps of the package theory: replay, lifecycle, shared events, scope,
    limits, then the merge."""
    if not (resuming or isinstance(seen, SyncNow)) and _is_replay(state, seen):
        return Plan((), state)
    if seen.ex is not None:
        action = _lifecycle_action(seen.ex, policy)
        if action is not None:
            return apply_action(state, action, policy, now, seen.ex.categories, _read(state, seen))
    if not state.owns_event:
        return _shared(state, seen, policy, now)
    if seen.ex is not None and leaves_scope(state, seen.ex, policy):
        return end_out_of_scope(state, seen.ex, seen.sf, policy, now)
    limit = holding_limit(state, seen, policy)
    if limit is not None:
        return hold(state, seen, limit, policy)
    sf = seen.sf or _stand_in(state, Side.SALESFORCE)
    ex = seen.ex or _stand_in(state, Side.EXCHANGE)
    if sf is None or ex is None:
        return Plan((), state)
    return _sync(state, seen, sf, ex, policy, now, resuming)


def _lifecycle_action(item: Copy, policy: Policy) -> Action | None:
    """Step 2: the organizer cancelled (R-DEL-8) or the user asked to unsync (R-DEL-3)."""
    if item.is_cancelled:
        return Action.CANCELLED
    if unsync_requested(item, policy):
        return Action.UNSYNC_CATEGORY
    return None


def _sync(
    state: PairState, seen: Changed, sf: Copy, ex: Copy, policy: Policy, now: datetime, resuming: bool
) -> Plan:
    """Merge the two copies of an active pair and build the writes (steps 3, 5 and 6 of the theory); a
    merge that leaves the window pauses the pair after syncing (R-DEL-4)."""
    builder = PlanBuilder(policy)
    _keep_category(builder, state, seen, policy, resuming)
    _heal_pairing(builder, seen, sf, ex)
    # Step 3, echo: a version the bridge recorded is its own write coming back (R-MERGE-3).
    base_sf = sf.content if sf.version and sf.version == state.sf_version else state.base_sf
    base_ex = ex.content if ex.version and ex.version == state.ex_version else state.base_ex
    fields = merge_fields(sf, ex, base_sf, base_ex, policy, state.masked)
    people = merge_people(state, sf, ex, base_sf, base_ex, seen.directory, policy, fields.masked)
    new_sf = _with_attendees(fields.sf, people.sf_attendees)
    new_ex = _with_attendees(fields.ex, people.ex_attendees)
    builder.event_fields.update(salesforce_fields(new_sf, fields.write_sf))
    if fields.masked is Side.SALESFORCE and state.masked is None and sf.who_ids:
        builder.event_fields["WhoId"] = None  # R-PRIV-1: a masked event links no one
    _relations(builder, people, sf, new_sf.private, policy)
    ex_names = fields.write_ex + (("attendees",) if new_ex.attendees != ex.content.attendees else ())
    builder.item_fields.update(exchange_fields(new_ex, ex_names, policy))
    wanted = (
        item_issues(ex, people.unresolved, fields.masked) if policy.direction.allows(Side.EXCHANGE) else {}
    )
    item_categories = seen.ex.categories if seen.ex is not None else None
    status, ex_id = PairStatus.ACTIVE, state.ex_id
    if not (in_window(new_sf.when, policy, now) or in_window(new_ex.when, policy, now)):
        wanted, status = {}, PairStatus.OUT_OF_WINDOW
        if leave_window(builder, state, ex, item_categories):
            ex_id = None
    builder.issues(state.open_issues, wanted, sf.id, ex.id, item_categories)
    commands, event_written, item_written = builder.build(
        sf.id, sf.version or None, ex.id, ex.version or None, sends_invitations(policy, new_ex)
    )
    kind = (
        kind_of(state.origin, ex, state.organizer_user_id, policy)
        if state.kind in _MUTABLE_KINDS
        else state.kind
    )
    new_state = replace(
        state,
        status=status,
        ex_id=ex_id,
        kind=kind,
        base_sf=new_sf,
        base_ex=new_ex,
        sf_version=None if event_written else (sf.version or None),
        ex_version=None if item_written or ex_id is None else (ex.version or None),
        masked=fields.masked,
        unresolved=people.unresolved,
        open_issues=builder.open_issues,
        held=(),
        bridge_category=state.bridge_category or policy.sync_category in builder.add_categories,
    )
    return Plan(commands, new_state)


def _keep_category(
    builder: PlanBuilder, state: PairState, seen: Changed, policy: Policy, resuming: bool
) -> None:
    """R-DEL-1: the `Salesforce` category taken off is put back; a pair resuming in the window gets back
    the category it lost on leaving (R-DEL-4), whichever side brought it back."""
    if seen.ex is not None and policy.sync_category not in seen.ex.categories:
        cell = outcome(Action.CATEGORY_REMOVED, state.kind, policy, state.owns_event)
        if cell is Outcome.RESTORE_CATEGORY:
            builder.categories(seen.ex.categories, add=(policy.sync_category,))
    elif seen.ex is None and resuming:
        builder.categories(frozenset(), add=(policy.sync_category,))


def _with_attendees(content: Content, attendees: tuple[Attendee, ...]) -> Content:
    return content if content.attendees == attendees else replace(content, attendees=attendees)


def _read(state: PairState, seen: Changed) -> tuple[str | None, str | None]:
    """The versions just read (the recorded ones for a side not read), for the writes of plans that end
    or pause the pair; the state keeps the recorded ones, which match its bases."""
    sf_version = seen.sf.version if seen.sf is not None else state.sf_version
    ex_version = seen.ex.version if seen.ex is not None else state.ex_version
    return sf_version, ex_version


def _relations(builder: PlanBuilder, people: AttendeeMerge, sf: Copy, private: bool, policy: Policy) -> None:
    """The relation commands of an attendee merge, and a Who for an event that has none (R-ATT-10)."""
    for added in people.add_relations:
        assert added.relation is not None
        builder.relations.append(AddAttendeeRelation(sf.id, added.relation.relation_id, added.response))
    for relation_id in people.remove_relations:
        builder.relations.append(RemoveAttendeeRelation(sf.id, relation_id))
    for relation_id, status in people.status_updates:
        builder.relations.append(UpdateAttendeeStatus(sf.id, relation_id, status))
    # R-ATT-10: a Who only where the user set none; Salesforce links no Contact or Lead to a private event.
    if people.add_relations and not sf.who_ids and not private:
        who = choose_who(people.sf_attendees, policy.shared_activities)
        if who:
            builder.event_fields["WhoId"] = who[0]
            if policy.shared_activities and len(who) > 1:
                builder.event_fields["EventWhoIds"] = list(who)


def _heal_pairing(builder: PlanBuilder, seen: Changed, sf: Copy, ex: Copy) -> None:
    """R-PAIR-1: a copy read without the other's id (adopted, or edited by hand) gets it back."""
    if seen.sf is not None and (seen.sf.paired_id != ex.id or (ex.uid and seen.sf.uid != ex.uid)):
        builder.event_fields.update({SF_ITEM_ID_FIELD: ex.id, SF_UID_FIELD: ex.uid or ""})
    if seen.ex is not None and seen.ex.paired_id != sf.id:
        builder.item_fields[EX_EVENT_ID_FIELD] = sf.id


def _shared(state: PairState, seen: Changed, policy: Policy, now: datetime) -> Plan:
    """R-MULTI-3: on another user's event, this user's copy changes only this user's answer."""
    ex = seen.ex
    if ex is None or state.sf_id is None:
        return Plan((), state)
    if not in_window(ex.content.when, policy, now):
        return apply_action(state, Action.LEFT_WINDOW, policy, now, ex.categories)
    builder = PlanBuilder(policy)
    if policy.sync_category not in ex.categories:
        builder.categories(ex.categories, add=(policy.sync_category,))
    answer = my_answer(ex)
    if answer != state.my_status:
        builder.relations.append(UpdateAttendeeStatus(state.sf_id, policy.user_id, answer))
    commands, _, item_written = builder.build(state.sf_id, None, ex.id, ex.version)
    new_state = replace(
        state,
        base_ex=ex.content,
        my_status=answer,
        ex_version=None if item_written else ex.version,
        bridge_category=state.bridge_category or policy.sync_category in builder.add_categories,
    )
    return Plan(commands, new_state)


def _resume(state: PairState, seen: Changed, policy: Policy, now: datetime) -> Plan:
    """A paused pair comes back into the window: an item deleted on leaving is created again (kind B);
    otherwise the pair carries on from its bases and recorded versions, so its writes stay conditional
    (R-MERGE-5), and the item gets its category back."""
    copies = [copy for copy in (seen.sf, seen.ex) if copy is not None]
    if not any(in_window(copy.content.when, policy, now) for copy in copies):
        return Plan((), state)
    if state.ex_id is None:
        event = seen.sf
        if event is None or admit_event(event, policy, now).verdict is not Verdict.CREATE:
            return Plan((), state)
        return create_partner(event, seen, policy, state.open_issues)
    return _active(replace(state, status=PairStatus.ACTIVE), seen, policy, now, resuming=True)


def _revive(state: PairState, seen: Changed, policy: Policy, now: datetime) -> Plan:
    """R-DEL-9: a tombstoned pair comes back only through the `Salesforce` category on its item."""
    item = seen.ex
    if item is None or item.id != state.ex_id or not opted_in(item, policy):
        return Plan((), state)
    if admit_item(item, policy, now, seen.directory, seen.meeting).verdict is not Verdict.CREATE:
        return Plan((), state)
    if state.sf_id is not None:  # the event stayed (R-SCOPE-8): the pair is taken up again, not doubled
        if seen.sf is None or seen.sf.id != state.sf_id:
            return Plan((), state)  # both copies are needed: the tombstone vouches for no version
        return _adopt(state, seen.sf, item, seen, policy, now)
    return create_partner(item, seen, policy)


def _write_failed(state: PairState, failure: WriteFailed, policy: Policy) -> Plan:
    """A refused write is reported with the service's own message, and the item shows `Sync Error`."""
    code = IssueCode.SF_VALIDATION if failure.side is Side.SALESFORCE else IssueCode.EXCHANGE_REFUSED
    wanted = dict.fromkeys(state.open_issues, "") | {code: failure.message}
    builder = PlanBuilder(policy)
    builder.issues(state.open_issues, wanted, state.sf_id, state.ex_id, frozenset())
    commands, _, item_written = builder.build(state.sf_id, None, state.ex_id, state.ex_version)
    new_state = replace(
        state, open_issues=builder.open_issues, ex_version=None if item_written else state.ex_version
    )
    return Plan(commands, new_state)
