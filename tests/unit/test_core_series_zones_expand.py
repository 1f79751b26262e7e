"""R-REC-6 for a series already paired (SPEC §15): an Outlook series synced whole whose pattern the owner's
Salesforce zone can no longer hold (the runtime marks it `Unmappable` "ZONE", `bridge.runtime.series_zones`)
is expanded: the Lightning series, the bridge's copy, goes and one single event takes each occurrence's
place. Before, the paired series kept its old rows and stopped syncing."""

from __future__ import annotations

from dataclasses import replace

from bridge.core.model import Side
from bridge.core.patterns import Unmappable
from bridge.core.series_commands import CreateSingle, DeleteOccurrence, DeleteSeries
from bridge.core.series_plan import plan_series

from .factories import NOW, POLICY
from .test_core_series import of, paired, series

ZONE = Unmappable("ZONE", "repeats in America/New_York, the owner's Salesforce series in Europe/Berlin")


def test_r_rec_6_a_paired_outlook_series_the_owners_zone_cannot_hold_is_expanded() -> None:
    state = paired()
    outlook = series(Side.EXCHANGE, rule=ZONE, version="v2", modified=NOW)
    result = plan_series(state, series(Side.SALESFORCE, version="s1"), outlook, POLICY, NOW)

    assert of(result, DeleteSeries) == [DeleteSeries(Side.SALESFORCE, state.sf_series)]
    singles = of(result, CreateSingle)
    assert [c.original_start for c in singles] == [o.original_start for o in outlook.occurrences]
    assert all(c.side is Side.SALESFORCE for c in singles)
    after = result.state
    assert after is not None and after.expanded and after.key == state.key
    assert after.origin is Side.EXCHANGE and after.ex_series == state.ex_series and after.sf_series is None
    assert any(c for c in result.commands if "I-RECURRING-EXPANDED" in repr(c))


def test_r_rec_6_a_split_occurrences_single_event_goes_with_the_lightning_series() -> None:
    state = paired()
    first = state.occurrences[4]
    split = replace(first, sf_id="00USplitEvent", split=True)
    state = replace(state, occurrences=(*state.occurrences[:4], split, *state.occurrences[5:]))
    outlook = series(Side.EXCHANGE, rule=ZONE, version="v2", modified=NOW)
    result = plan_series(state, series(Side.SALESFORCE, version="s1"), outlook, POLICY, NOW)

    gone = [c for c in of(result, DeleteOccurrence) if isinstance(c, DeleteOccurrence)]
    assert [c.record_id for c in gone] == ["00USplitEvent"]


def test_r_rec_6_a_lightning_series_is_never_replaced_from_its_copys_side_when_made_in_salesforce() -> None:
    """The series a person made stays whole: only its origin's pattern expands the bridge's copy."""
    created = plan_series(None, series(Side.SALESFORCE), None, POLICY, NOW)
    assert created.state is not None
    state = plan_series(
        created.state, series(Side.SALESFORCE), series(Side.EXCHANGE, version="e1"), POLICY, NOW
    ).state
    assert state is not None
    outlook = series(Side.EXCHANGE, rule=ZONE, version="e2", modified=NOW)
    result = plan_series(state, series(Side.SALESFORCE), outlook, POLICY, NOW)
    assert of(result, DeleteSeries) == [] and of(result, CreateSingle) == []
