"""After a series' unsync (R-DEL-3, R-REC-7): the `Salesforce` category brings its Outlook series back
(R-DEL-9), an attendee's tombstone never becomes a series of theirs, an unsync stopped part-way is finished
without reading its own deletion as one made in Salesforce, and the items of a Lightning series expanded in
Outlook (R-REC-6) stand alone once that series is gone."""

from __future__ import annotations

from dataclasses import replace

from bridge.core import Side, UpdateItem
from bridge.core.issues import IssueCode
from bridge.core.model import PairStatus
from bridge.core.series import OccurrencePair, SeriesState
from bridge.core.series_commands import CreateSeries, DeleteSeries
from bridge.core.series_gone import (
    finish_unsync,
    item_tombstones,
    left_key,
    left_series,
    opted_in_again,
    unsync_interrupted,
    unsync_pending,
)
from bridge.core.series_plan import plan_series

from .factories import NOW, POLICY
from .test_core_series import paired, series

SYNC, UNSYNC = POLICY.sync_category, POLICY.unsync_category


def _unsynced() -> tuple[SeriesState, SeriesState]:
    state = paired()
    ex = series(Side.EXCHANGE, version="v2", categories=frozenset({SYNC, UNSYNC}))
    ended = plan_series(state, series(Side.SALESFORCE, version="s2"), ex, POLICY, NOW).state
    assert ended is not None and ended.ended and ended.sf_series is None
    return state, ended


def test_r_del_9_the_category_given_again_syncs_the_outlook_series_anew_under_the_tombstones_key() -> None:
    _, ended = _unsynced()
    again = series(Side.EXCHANGE, version="v3", categories=frozenset({SYNC}))
    assert opted_in_again(ended, again, POLICY)
    result = plan_series(ended, None, again, POLICY, NOW)
    assert isinstance(result.commands[0], CreateSeries) and result.commands[0].side is Side.SALESFORCE
    assert result.state is not None and not result.state.ended and result.state.key == ended.key


def test_r_del_9_without_the_category_or_with_unsync_still_on_the_tombstone_plans_nothing() -> None:
    _, ended = _unsynced()
    for categories in (frozenset(), frozenset({UNSYNC}), frozenset({SYNC, UNSYNC})):
        ex = series(Side.EXCHANGE, version="v3", categories=categories)
        assert plan_series(ended, None, ex, POLICY, NOW).commands == ()


def test_r_del_9_an_attendees_tombstone_never_becomes_a_series_of_theirs() -> None:
    _, ended = _unsynced()
    left = replace(ended, key=left_key("828000000000001", "AAMkMaster"))
    assert left_series(left.key) == "828000000000001"
    again = series(Side.EXCHANGE, version="v3", categories=frozenset({SYNC}))
    assert not opted_in_again(left, again, POLICY)
    assert plan_series(left, None, again, POLICY, NOW).commands == ()


def test_r_del_3_an_unsync_stopped_after_deleting_the_lightning_series_is_finished() -> None:
    state = paired()
    ex = series(Side.EXCHANGE, version="v2", categories=frozenset({SYNC, UNSYNC}))
    assert unsync_pending(state, ex, POLICY)
    kept = unsync_interrupted(state, IssueCode.EXCHANGE_REFUSED)
    assert not kept.ended and kept.sf_series == state.sf_series and kept.ex_version is None
    commands, ended = finish_unsync(kept, ex, POLICY)
    # Deleting the series again is harmless (already gone); the category comes off; the issue closes.
    assert DeleteSeries(Side.SALESFORCE, "828000000000001") in commands
    assert UpdateItem("AAMkMaster", None, remove_categories=(SYNC,)) in commands
    assert any(getattr(c, "code", None) is IssueCode.EXCHANGE_REFUSED for c in commands)
    assert ended.ended and ended.open_issues == frozenset()


def test_r_del_9_the_items_of_an_expanded_lightning_series_gone_stand_alone() -> None:
    _, ended = _unsynced()
    expanded = replace(
        ended,
        origin=Side.SALESFORCE,
        rule=None,
        anchor=None,
        occurrences=(
            OccurrencePair(NOW, None, "AAMkOne"),
            OccurrencePair(NOW.replace(day=1), None, "AAMkTwo"),
        ),
    )
    stones = item_tombstones(expanded, NOW)
    assert stones is not None and [s.ex_id for s in stones] == ["AAMkOne", "AAMkTwo"]
    assert all(s.status is PairStatus.ENDED and s.sf_id is None and s.key == f"ex:{s.ex_id}" for s in stones)
    assert item_tombstones(ended, NOW) is None  # a series kept whole keeps its own tombstone
