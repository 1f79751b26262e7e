"""SPEC §8 (R-DEL) and §9 (R-CAT): every cell of the deletion table, and the rules around it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.core import (
    Attendee,
    CategoryRemoved,
    Changed,
    Deleted,
    DeleteEvent,
    DeleteItem,
    Direction,
    Kind,
    LeftWindow,
    Observation,
    PairState,
    PairStatus,
    Plan,
    RaiseIssue,
    RemoveAttendeeRelation,
    Side,
    UnsyncRequested,
    UpdateEvent,
    UpdateItem,
    UserSwitchedOff,
    guard_deletions,
    plan,
)
from bridge.core.deletion import DELETION_TABLE, Action, Outcome, outcome
from bridge.core.model import Copy

from .factories import NOW, POLICY, USER_ID, at, content, event, item, new_item, of_type, paired

SYNC = POLICY.sync_category
ORGANIZER = "boss@partner.example"


def pair_of_kind(kind: Kind) -> tuple[PairState, Copy]:
    """An in-step pair of `kind`, and its item copy."""
    organizer = {Kind.D: ORGANIZER, Kind.E: "cat@corp.example"}.get(kind)
    attendees = () if kind in (Kind.A, Kind.B) else (Attendee("guest@client.example"),)
    body = content(attendees=attendees)
    ex = item(body=body, organizer=organizer, my_response="Accept")
    sf = event(body=replace(body, attendees=()))
    state = paired(sf, ex)
    origin = Side.SALESFORCE if kind is Kind.B else Side.EXCHANGE
    return replace(state, kind=kind, origin=origin), ex


def observe(action: Action, ex: Copy) -> Observation:
    if action is Action.CATEGORY_REMOVED:
        return Changed(ex=replace(ex, categories=frozenset(), version="ck2"))
    if action is Action.DELETED_IN_EXCHANGE:
        return Deleted(Side.EXCHANGE)
    if action is Action.UNSYNC_CATEGORY:
        return Changed(ex=replace(ex, categories=frozenset({SYNC, POLICY.unsync_category}), version="ck2"))
    if action is Action.LEFT_WINDOW:
        return LeftWindow()
    if action is Action.DELETED_IN_SALESFORCE:
        return Deleted(Side.SALESFORCE)
    if action is Action.USER_SWITCHED_OFF:
        return UserSwitchedOff()
    return Changed(ex=replace(ex, is_cancelled=True, version="ck2"))


def assert_outcome(
    result: Plan, expected: Outcome | None, state: PairState, gone: Side | None = None
) -> None:
    """`result` does what the cell says, and writes nothing to a copy that is already `gone`."""
    if gone is Side.SALESFORCE:
        assert not of_type(result, UpdateEvent) and not of_type(result, RemoveAttendeeRelation)
    if gone is Side.EXCHANGE:
        assert not of_type(result, UpdateItem)
    deletes_event = of_type(result, DeleteEvent)
    deletes_item = of_type(result, DeleteItem)
    removes_relation = of_type(result, RemoveAttendeeRelation)
    updates = of_type(result, UpdateItem)
    if expected is Outcome.RESTORE_CATEGORY:
        assert [u.add_categories for u in updates] == [(SYNC,)]
        assert result.state is not None and result.state.status is PairStatus.ACTIVE
    elif expected is Outcome.DELETE_EVENT:
        assert deletes_event == [DeleteEvent(state.sf_id or "", state.sf_version)]
        assert not deletes_item
    elif expected is Outcome.REMOVE_RELATION:
        assert removes_relation == [RemoveAttendeeRelation(state.sf_id or "", USER_ID)]
        assert not deletes_event and not deletes_item
    elif expected is Outcome.REMOVE_CATEGORY:
        assert any(SYNC in u.remove_categories for u in updates)
        assert not deletes_event and not deletes_item
    elif expected is Outcome.DELETE_ITEM:
        assert [d.item_id for d in deletes_item] == [state.ex_id]
        assert not deletes_event
    else:
        assert not result.writes


CELLS = sorted(DELETION_TABLE.items(), key=lambda cell: (cell[0][0].value, cell[0][1].value))


@pytest.mark.parametrize(("cell", "expected"), CELLS, ids=[f"{a.value}-{k.value}" for (a, k), _ in CELLS])
def test_r_del_table(cell: tuple[Action, Kind], expected: Outcome | None) -> None:
    action, kind = cell
    state, ex = pair_of_kind(kind)
    result = plan(state, observe(action, ex), POLICY, NOW)
    gone = {Action.DELETED_IN_SALESFORCE: Side.SALESFORCE, Action.DELETED_IN_EXCHANGE: Side.EXCHANGE}
    assert_outcome(result, expected, state, gone.get(action))


def test_r_del_table_matches_spec_rows() -> None:
    spec = {
        Action.CATEGORY_REMOVED: "restore restore restore restore restore",
        Action.DELETED_IN_EXCHANGE: "del-ev del-ev del-ev del-ev rm-rel",
        Action.UNSYNC_CATEGORY: "del-ev del-ev del-ev del-ev rm-rel",
        Action.LEFT_WINDOW: "rm-cat del-it rm-cat rm-cat rm-cat",
        Action.DELETED_IN_SALESFORCE: "rm-cat del-it rm-cat rm-cat rm-cat",
        Action.USER_SWITCHED_OFF: "rm-cat del-it rm-cat rm-cat rm-cat",
    }
    names = {
        "restore": Outcome.RESTORE_CATEGORY,
        "del-ev": Outcome.DELETE_EVENT,
        "rm-rel": Outcome.REMOVE_RELATION,
        "rm-cat": Outcome.REMOVE_CATEGORY,
        "del-it": Outcome.DELETE_ITEM,
    }
    for action, row in spec.items():
        assert [DELETION_TABLE[(action, kind)] for kind in Kind] == [names[word] for word in row.split()]


@pytest.mark.parametrize("observation", [CategoryRemoved(), UnsyncRequested()], ids=["R-DEL-1", "R-DEL-3"])
def test_r_del_1_and_3_explicit_observations(observation: Observation) -> None:
    state, _ = pair_of_kind(Kind.A)
    result = plan(state, observation, POLICY, NOW)
    expected = Outcome.RESTORE_CATEGORY if isinstance(observation, CategoryRemoved) else Outcome.DELETE_EVENT
    assert_outcome(result, expected, state)


@pytest.mark.parametrize("kind", list(Kind))
def test_r_del_7_delete_in_exchange_deletes_the_item_for_every_kind(kind: Kind) -> None:
    state, _ = pair_of_kind(kind)
    policy = replace(POLICY, delete_in_exchange=True)
    assert outcome(Action.DELETED_IN_SALESFORCE, kind, policy) is Outcome.DELETE_ITEM
    result = plan(state, Deleted(Side.SALESFORCE), policy, NOW)
    assert_outcome(result, Outcome.DELETE_ITEM, state, gone=Side.SALESFORCE)
    # R-DEL-9: the pair ends with a tombstone, so the item is not created again from a stale event.
    assert result.state is not None and result.state.status is PairStatus.ENDED
    assert result.state.tombstone is not None and result.state.tombstone.reason == "R-DEL-5"


def test_r_del_8_meeting_cancelled_by_its_organizer_deletes_the_event() -> None:
    state, ex = pair_of_kind(Kind.D)
    result = plan(state, Changed(ex=replace(ex, is_cancelled=True, version="ck2")), POLICY, NOW)
    assert [c.event_id for c in of_type(result, DeleteEvent)] == [state.sf_id]
    assert result.state is not None and result.state.status is PairStatus.ENDED


def test_r_del_9_tombstone_is_not_recreated_automatically() -> None:
    state, ex = pair_of_kind(Kind.A)
    ended = plan(state, Deleted(Side.SALESFORCE), POLICY, NOW).state
    assert ended is not None and ended.tombstone is not None and ended.tombstone.reason == "R-DEL-5"
    without_category = replace(ex, categories=frozenset(), version="ck3", content=content(subject="Edited"))
    assert plan(ended, Changed(ex=without_category), POLICY, NOW).commands == ()


def test_r_del_9_only_the_salesforce_category_brings_it_back() -> None:
    state, ex = pair_of_kind(Kind.A)
    ended = plan(state, Deleted(Side.SALESFORCE), POLICY, NOW).state
    assert ended is not None
    opted_in = replace(ex, categories=frozenset({SYNC}), version="ck3")
    result = plan(ended, Changed(ex=opted_in), POLICY, NOW)
    assert result.state is not None and result.state.status is PairStatus.ACTIVE
    assert result.state.tombstone is None
    assert any(type(c).__name__ == "CreateEvent" for c in result.commands)
    # `Salesforce Unsync` still on the item overrides the `Salesforce` category: it stays ended.
    both = replace(opted_in, categories=frozenset({SYNC, POLICY.unsync_category}))
    assert plan(ended, Changed(ex=both), POLICY, NOW) == Plan((), ended)


def test_r_del_9_tombstoned_event_side_is_ignored() -> None:
    state, _ = pair_of_kind(Kind.E)
    ended = plan(state, Deleted(Side.EXCHANGE), POLICY, NOW).state
    assert ended is not None
    assert plan(ended, Changed(sf=event(version="sf9")), POLICY, NOW).commands == ()


def test_r_del_10_mass_delete_guard_holds_deletions_and_raises_issue() -> None:
    plans = [plan(pair_of_kind(Kind.A)[0], Deleted(Side.EXCHANGE), POLICY, NOW) for _ in range(11)]
    calm = plan(
        *pair_of_kind(Kind.A)[:1], Changed(ex=item(version="ck9", body=content(subject="x"))), POLICY, NOW
    )
    guarded = guard_deletions([*plans, calm], pair_count=20, policy=POLICY)
    assert guarded.held == tuple(plans)
    assert guarded.execute == (calm,)
    assert isinstance(guarded.issue, RaiseIssue) and guarded.issue.issue.code.value == "E-MASS-DELETE"
    confirmed = guard_deletions([*plans, calm], pair_count=20, policy=POLICY, confirmed=True)
    assert confirmed.held == () and len(confirmed.execute) == 12


@pytest.mark.parametrize(("deletions", "pairs", "held"), [(11, 20, True), (10, 12, False), (11, 22, False)])
def test_r_del_10_needs_more_than_ten_and_more_than_half(deletions: int, pairs: int, held: bool) -> None:
    plans = [plan(pair_of_kind(Kind.A)[0], Deleted(Side.EXCHANGE), POLICY, NOW) for _ in range(deletions)]
    assert bool(guard_deletions(plans, pairs, POLICY).held) is held


def test_r_del_11_item_moved_out_of_the_calendar_counts_as_deleted() -> None:
    # The runtime reports a move out of the calendar folder as Deleted(EXCHANGE): same cell as R-DEL-2.
    state, _ = pair_of_kind(Kind.C)
    assert_outcome(plan(state, Deleted(Side.EXCHANGE), POLICY, NOW), Outcome.DELETE_EVENT, state)


def test_r_del_shared_event_is_never_deleted_by_a_non_owner() -> None:
    state, _ = pair_of_kind(Kind.D)
    shared = replace(state, owns_event=False)
    result = plan(shared, Deleted(Side.EXCHANGE), POLICY, NOW)
    assert not of_type(result, DeleteEvent)
    assert of_type(result, RemoveAttendeeRelation) == [RemoveAttendeeRelation(state.sf_id or "", USER_ID)]


def test_r_del_4_left_window_pauses_and_resumes_the_pair() -> None:
    state, ex = pair_of_kind(Kind.A)
    paused = plan(state, LeftWindow(), POLICY, NOW).state
    assert paused is not None and paused.status is PairStatus.OUT_OF_WINDOW and paused.tombstone is None
    back = replace(ex, categories=frozenset(), version="ck5", content=content(start=at(48)))
    result = plan(paused, Changed(ex=back), POLICY, NOW)
    assert result.state is not None and result.state.status is PairStatus.ACTIVE
    assert [u.add_categories for u in of_type(result, UpdateItem)] == [(SYNC,)]


def test_r_del_4_kind_b_item_deleted_on_leaving_comes_back_with_the_event() -> None:
    state, _ = pair_of_kind(Kind.B)
    leaving = plan(state, LeftWindow(), POLICY, NOW)
    paused = leaving.state
    assert paused is not None and paused.ex_id is None
    # The event forgets the deleted item, so it is never mistaken for one whose partner is missing.
    (cleared,) = of_type(leaving, UpdateEvent)
    assert dict(cleared.fields) == {"Exchange_Item_Id__c": "", "Exchange_UID__c": ""}
    result = plan(paused, Changed(sf=event(version="sf7", body=content(start=at(30)))), POLICY, NOW)
    assert any(type(c).__name__ == "CreateItem" for c in result.commands)


def test_r_del_4_an_edit_that_moves_the_pair_out_syncs_then_pauses() -> None:
    state, ex = pair_of_kind(Kind.A)
    moved = event(version="sf2", modified=at(0), body=content(start=at(-24 * 90)))
    result = plan(state, Changed(sf=moved, ex=ex), POLICY, NOW)
    (update,) = of_type(result, UpdateItem)
    assert update.fields["start"] == moved.content.when.start  # type: ignore[union-attr]
    assert SYNC in update.remove_categories
    assert result.state is not None and result.state.status is PairStatus.OUT_OF_WINDOW


def test_r_del_6_switched_off_forgets_the_pair_in_any_status() -> None:
    state, _ = pair_of_kind(Kind.C)
    assert plan(state, UserSwitchedOff(), POLICY, NOW).state is None
    paused = plan(state, LeftWindow(), POLICY, NOW).state
    assert paused is not None
    assert plan(paused, UserSwitchedOff(), POLICY, NOW) == Plan((), None)


def test_r_cat_1_only_the_bridge_categories_are_touched() -> None:
    state, ex = pair_of_kind(Kind.A)
    mine = replace(ex, categories=frozenset({"Red", "Travel"}), version="ck2")
    (update,) = of_type(plan(state, Changed(ex=mine), POLICY, NOW), UpdateItem)
    assert update.add_categories == (SYNC,) and update.remove_categories == ()


def test_r_cat_2_category_write_coming_back_is_an_echo() -> None:
    state, ex = pair_of_kind(Kind.A)
    restored = plan(state, Changed(ex=replace(ex, categories=frozenset(), version="ck2")), POLICY, NOW).state
    assert restored is not None
    recorded = restored.after_write(Side.EXCHANGE, ex.id, "ck3")
    echo = replace(ex, version="ck3")
    assert plan(recorded, Changed(ex=echo), POLICY, NOW).commands == ()


def test_deleting_an_unpaired_waiting_copy_closes_its_issue() -> None:
    waiting = plan(None, Changed(ex=new_item(body=content(minutes=60 * 24 * 20))), POLICY, NOW).state
    assert waiting is not None and waiting.status is PairStatus.WAITING
    result = plan(waiting, Deleted(Side.EXCHANGE), POLICY, NOW)
    assert result.state is None and [type(c).__name__ for c in result.commands] == ["CloseIssue"]


def test_r_del_one_way_mirror_actions_never_delete_the_source() -> None:
    to_exchange = replace(POLICY, direction=Direction.TO_EXCHANGE)
    state, ex = pair_of_kind(Kind.A)
    for observation in (Deleted(Side.EXCHANGE), observe(Action.UNSYNC_CATEGORY, ex)):
        result = plan(state, observation, to_exchange, NOW)
        assert not of_type(result, DeleteEvent) and not of_type(result, RemoveAttendeeRelation)
        assert result.state is not None and result.state.status is PairStatus.ENDED
    to_salesforce = replace(POLICY, direction=Direction.TO_SALESFORCE, delete_in_exchange=True)
    b_state, _ = pair_of_kind(Kind.B)
    for observation in (Deleted(Side.SALESFORCE), LeftWindow()):
        result = plan(b_state, observation, to_salesforce, NOW)
        assert not of_type(result, DeleteItem)
        assert any(SYNC in u.remove_categories for u in of_type(result, UpdateItem))
