"""R-DEL-3 for a series kept whole (R-REC-7): `Salesforce Unsync` on the Outlook master unsyncs the whole
series, whoever made it; the R-DEL table's cell and the direction setting decide what goes in Salesforce."""

from __future__ import annotations

from dataclasses import replace

from bridge.core import Side, UpdateItem
from bridge.core.model import Direction
from bridge.core.series_commands import DeleteSeries
from bridge.core.series_plan import plan_series

from .factories import NOW, POLICY
from .test_core_series import paired, series

SYNC, UNSYNC = POLICY.sync_category, POLICY.unsync_category


def test_r_del_3_unsync_on_the_master_deletes_the_lightning_series_and_ends_the_pair() -> None:
    state = paired()
    sf, ex = (
        series(Side.SALESFORCE, version="s2"),
        series(Side.EXCHANGE, version="v2", categories=frozenset({SYNC, UNSYNC})),
    )
    result = plan_series(state, sf, ex, POLICY, NOW)
    assert result.commands == (
        DeleteSeries(Side.SALESFORCE, "828000000000001"),
        UpdateItem("AAMkMaster", None, remove_categories=(SYNC,)),
    )
    assert result.state is not None and result.state.ended and result.state.sf_series is None
    # R-DEL-9: the tombstone plans nothing, whatever is read next.
    assert plan_series(result.state, None, ex, POLICY, NOW).commands == ()


def test_r_del_3_one_way_to_outlook_leaves_the_lightning_series_and_still_ends_the_pair() -> None:
    policy = replace(POLICY, direction=Direction.TO_EXCHANGE)
    state = paired()
    sf, ex = (
        series(Side.SALESFORCE, version="s2"),
        series(Side.EXCHANGE, version="v2", categories=frozenset({SYNC, UNSYNC})),
    )
    result = plan_series(state, sf, ex, policy, NOW)
    assert result.commands == (UpdateItem("AAMkMaster", None, remove_categories=(SYNC,)),)
    assert result.state is not None and result.state.ended and result.state.sf_series == state.sf_series


def test_r_del_3_a_new_outlook_series_marked_unsync_is_never_synced() -> None:
    ex = series(Side.EXCHANGE, categories=frozenset({UNSYNC}))
    result = plan_series(None, None, ex, POLICY, NOW)
    assert result.commands == () and result.state is None
