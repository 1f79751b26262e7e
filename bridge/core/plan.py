"""`plan(state, observation, policy, now)`: the one entry point that decides what happens to a pair."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bridge.core.builder import PlanBuilder
from bridge.core.commands import (
    Cancelled,
    CategoryRemoved,
    Changed,
    Deleted,
    LeftWindow,
    Observation,
    Plan,
    SyncNow,
    UnsyncRequested,
    UpdateAttendeeStatus,
    UserSwitchedOff,
    WriteFailed,
)
from bridge.core.creation import create_partner, my_answer, plan_single
from bridge.core.deletion import Action
from bridge.core.hold import hold, holding_limit
from bridge.core.issues import IssueCode
from bridge.core.lifecycle import apply_action, end_out_of_scope
from bridge.core.model import (
    Copy,
    MeetingContext,
    PairState,
    PairStatus,
    Policy,
    Side,
)
from bridge.core.private import recovered_mask
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
    unsync_requested,
)
from bridge.core.status import Cause, kept
from bridge.core.sync import sync_pair

_ACTIONS: dict[type[Observation], Action] = {
    LeftWindow: Action.LEFT_WINDOW,
    CategoryRemoved: Action.CATEGORY_REMOVED,
    UnsyncRequested: Action.UNSYNC_CATEGORY,
    UserSwitchedOff: Action.USER_SWITCHED_OFF,
    Cancelled: Action.CANCELLED,
}
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


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
        return apply_action(state, side_action, policy, now, holders=_holders(observation.meeting))
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
    # A tombstone's copies taken up again are an opt-in (R-DEL-9); any other adoption pairs them.
    status = state.status if state is not None else None
    adopted = PairState(
        status=kept(status, Cause.OPT_IN if status is PairStatus.ENDED else Cause.PAIR),
        kind=kind_of(Side.EXCHANGE, ex, organizer_user, policy),
        origin=Side.EXCHANGE,
        key=state.key if state is not None else "",
        sf_id=sf.id,
        ex_id=ex.id,
        uid=ex.uid,
        organizer_user_id=organizer_user,
        open_issues=state.open_issues if state is not None else frozenset(),
        bridge_category=state.bridge_category if state is not None else False,
        # R-PRIV-1: copies naming each other where one is the other's mask were a private record and
        # the mask the bridge made of it (its pass killed before the pair was stored): kept a mask.
        masked=recovered_mask(sf.content, ex.content, policy) if _name_each_other(sf, ex) else None,
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
            holders = _holders(seen.meeting)
            return apply_action(state, action, policy, now, seen.ex.categories, _read(state, seen), holders)
    if not state.owns_event:
        if seen.sf is not None and seen.sf.owner_id == policy.user_id:
            return _take_over(state, seen, seen.sf, policy, now)
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
    return sync_pair(state, seen, sf, ex, policy, now, resuming)


def _lifecycle_action(item: Copy, policy: Policy) -> Action | None:
    """Step 2: the organizer cancelled (R-DEL-8) or the user asked to unsync (R-DEL-3)."""
    if item.is_cancelled:
        return Action.CANCELLED
    if unsync_requested(item, policy):
        return Action.UNSYNC_CATEGORY
    return None


def _read(state: PairState, seen: Changed) -> tuple[str | None, str | None]:
    """The versions just read (the recorded ones for a side not read), for the writes of plans that end
    or pause the pair; the state keeps the recorded ones, which match its bases."""
    sf_version = seen.sf.version if seen.sf is not None else state.sf_version
    ex_version = seen.ex.version if seen.ex is not None else state.ex_version
    return sf_version, ex_version


def _shared(state: PairState, seen: Changed, policy: Policy, now: datetime) -> Plan:
    """R-MULTI-3: on another user's event, this user's copy changes only this user's answer."""
    ex = seen.ex
    if ex is None or state.sf_id is None:
        return Plan((), state)
    if not in_window(ex.content.when, policy, now):
        # The item as just read is this user's side of a shared event: its base and version go together
        # (the package invariant), and the category write is checked against that version (R-MERGE-5).
        seen_state = replace(state, base_ex=ex.content, ex_version=ex.version or None)
        return apply_action(seen_state, Action.LEFT_WINDOW, policy, now, ex.categories)
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


def _take_over(state: PairState, seen: Changed, event: Copy, policy: Policy, now: datetime) -> Plan:
    """R-MULTI-4: the meeting's event was passed to this user, whose joined pair now owns it. The item's
    base stays; the event has none yet, so where the copies differ the event counts as changed and the
    later-modified copy wins (R-MERGE-2), as in an adoption."""
    owner = replace(state, owns_event=True, base_sf=None, sf_version=None, my_status=None)
    return _active(owner, replace(seen, sf=event), policy, now)


def _holders(meeting: MeetingContext | None) -> tuple[str, ...]:
    return meeting.holders if meeting is not None else ()


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
        return create_partner(event, seen, policy, state.open_issues, status=state.status, cause=Cause.RETURN)
    resumed = replace(state, status=kept(state.status, Cause.RETURN))
    return _active(resumed, seen, policy, now, resuming=True)


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
    return create_partner(item, seen, policy, status=state.status, cause=Cause.OPT_IN)


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
