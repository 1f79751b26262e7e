"""A pair's status changes (`bridge.core.status`): the table as the module says, and every cell that moves
a pair driven through `plan` from a pair in that status, with what the user sees (SPEC §8, R-DEL-4/9,
R-SCOPE-8, R-PAIR-2)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.core import (
    Changed,
    Deleted,
    LeftWindow,
    PairState,
    PairStatus,
    Plan,
    Side,
    UnsyncRequested,
    UserSwitchedOff,
    plan,
)
from bridge.core.commands import CloseIssue, CreateEvent, Observation, UpdateItem
from bridge.core.model import Copy
from bridge.core.status import COLUMNS, STATUS_TABLE, STAYS, Cause, after, changes

from .factories import NOW, POLICY, at, content, event, item, new_item, of_type, paired

SYNC = POLICY.sync_category
FAR = at(24 * 400)  # beyond the window
_W, _A, _O, _E = PairStatus.WAITING, PairStatus.ACTIVE, PairStatus.OUT_OF_WINDOW, PairStatus.ENDED


def test_r_del_status_table_matches_the_module_table() -> None:
    spec = {
        Cause.WAIT: "waiting waiting . . .",
        Cause.DROP: "forget forget . . .",
        Cause.PAIR: "active active . . .",
        Cause.LEAVE: ". . out . .",
        Cause.RETURN: ". . . active .",
        Cause.DELETE: ". forget ended ended .",
        Cause.UNSYNC: ". . ended . .",
        Cause.SCOPE: ". . ended . .",
        Cause.OPT_IN: ". . . . active",
        Cause.OFF: ". forget forget forget forget",
    }
    words = {"waiting": _W, "active": _A, "out": _O, "ended": _E, "forget": None, ".": STAYS}
    assert set(spec) == set(Cause)
    for cause, row in spec.items():
        assert [STATUS_TABLE[(cause, status)] for status in COLUMNS] == [words[w] for w in row.split()]


def test_r_del_status_table_refuses_a_road_it_does_not_have() -> None:
    assert not changes(PairStatus.ENDED, Cause.DELETE)
    with pytest.raises(ValueError, match="OPT_IN does not move a pair that is active"):
        after(PairStatus.ACTIVE, Cause.OPT_IN)


def _active() -> tuple[PairState, Copy, Copy]:
    sf, ex = event(), item()
    return paired(sf, ex), sf, ex


def _waiting() -> PairState:
    """An item that waits with an issue: it looks like another copy (R-PAIR-3), so nothing is created."""
    seen = Changed(ex=new_item(categories=frozenset({SYNC})), duplicate=True)
    waiting = plan(None, seen, POLICY, NOW).state
    assert waiting is not None and waiting.status is after(None, Cause.WAIT) is _W
    return waiting


def _out() -> tuple[PairState, Copy, Copy]:
    state, sf, ex = _active()
    out = plan(state, LeftWindow(), POLICY, NOW).state
    assert out is not None and out.status is _O
    return out, sf, ex


def _ended() -> tuple[PairState, Copy]:
    state, _, ex = _active()
    ended = plan(state, Deleted(Side.SALESFORCE), POLICY, NOW).state
    assert ended is not None and ended.status is _E
    return ended, ex


def _status(result: Plan) -> PairStatus | None:
    return result.state.status if result.state is not None else None


def test_r_pair_2_new_copy_is_paired_and_shows_the_category() -> None:
    result = plan(None, Changed(ex=new_item(categories=frozenset({SYNC}))), POLICY, NOW)
    assert _status(result) is after(None, Cause.PAIR) is _A
    assert of_type(result, CreateEvent)


def test_r_pair_2_waiting_copy_is_paired_once_its_reason_is_gone() -> None:
    waiting = _waiting()
    result = plan(waiting, Changed(ex=new_item(categories=frozenset({SYNC}), version="ck2")), POLICY, NOW)
    assert _status(result) is after(_W, Cause.PAIR) is _A
    assert of_type(result, CreateEvent)


def test_r_del_2_waiting_copy_deleted_is_forgotten_with_its_issues() -> None:
    waiting = _waiting()
    assert waiting.open_issues
    result = plan(waiting, Deleted(Side.EXCHANGE), POLICY, NOW)
    assert result.state is after(_W, Cause.DELETE) is None
    assert of_type(result, CloseIssue)


def test_r_del_4_active_pair_leaving_the_window_pauses_and_loses_the_category() -> None:
    state, _, ex = _active()
    moved = replace(ex, version="ck2", content=content(start=FAR))
    result = plan(state, Changed(ex=moved), POLICY, NOW)
    assert _status(result) is after(_A, Cause.LEAVE) is _O
    assert any(SYNC in u.remove_categories for u in of_type(result, UpdateItem))


def test_r_del_4_paused_pair_back_in_the_window_is_active_with_its_category() -> None:
    out, _, ex = _out()
    back = replace(ex, version="ck2", categories=frozenset(), content=content(subject="Back"))
    result = plan(out, Changed(ex=back), POLICY, NOW)
    assert _status(result) is after(_O, Cause.RETURN) is _A
    assert any(SYNC in u.add_categories for u in of_type(result, UpdateItem))


@pytest.mark.parametrize("side", list(Side))
def test_r_del_2_and_5_active_or_paused_pair_deleted_ends_with_a_tombstone(side: Side) -> None:
    for state in (_active()[0], _out()[0]):
        result = plan(state, Deleted(side), POLICY, NOW)
        assert _status(result) is after(state.status, Cause.DELETE) is _E
        assert result.state is not None and result.state.tombstone is not None


def test_r_del_3_paused_pair_ignores_an_unsync_and_a_tombstone_ignores_a_deletion() -> None:
    out, _, _ = _out()
    assert plan(out, UnsyncRequested(), POLICY, NOW) == Plan((), out)
    ended, _ = _ended()
    assert plan(ended, Deleted(Side.EXCHANGE), POLICY, NOW) == Plan((), ended)


def test_r_del_3_active_pair_unsynced_ends() -> None:
    state, _, ex = _active()
    unsync = replace(ex, version="ck2", categories=frozenset({SYNC, POLICY.unsync_category}))
    assert _status(plan(state, Changed(ex=unsync), POLICY, NOW)) is after(_A, Cause.UNSYNC) is _E


def test_r_scope_8_item_that_leaves_the_scope_ends_the_pair() -> None:
    state, _, ex = _active()
    blocked = replace(ex, version="ck2", categories=frozenset({SYNC, "Personal"}))
    scoped = replace(POLICY, blocked_categories=frozenset({"Personal"}))
    result = plan(replace(state, bridge_category=True), Changed(ex=blocked), scoped, NOW)
    assert _status(result) is after(_A, Cause.SCOPE) is _E
    assert result.state is not None and result.state.tombstone is not None
    assert result.state.tombstone.reason == "R-SCOPE-8"


def test_r_del_9_tombstone_opted_in_again_is_active() -> None:
    ended, ex = _ended()
    result = plan(ended, Changed(ex=replace(ex, version="ck3")), POLICY, NOW)
    assert _status(result) is after(_E, Cause.OPT_IN) is _A
    assert of_type(result, CreateEvent)


@pytest.mark.parametrize("which", ["waiting", "active", "out", "ended"])
def test_r_del_6_switched_off_forgets_the_pair_in_every_status(which: str) -> None:
    states: dict[str, PairState] = {
        "waiting": _waiting(),
        "active": _active()[0],
        "out": _out()[0],
        "ended": _ended()[0],
    }
    state = states[which]
    observation: Observation = UserSwitchedOff()
    assert plan(state, observation, POLICY, NOW).state is after(state.status, Cause.OFF) is None
