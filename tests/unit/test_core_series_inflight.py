"""SPEC §15 (R-REC-4): a Salesforce series the bridge ended "this and following" while Salesforce still
deletes its rows (fromThisEventOnwards is asynchronous): the rows on their way out are neither a new
pattern nor deletions of their own."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bridge.core import Side
from bridge.core.series import SeriesState, without_deleting
from bridge.core.series_commands import EndSeries
from bridge.core.series_plan import plan_series
from bridge.core.series_serial import series_from_dict, series_to_dict

from .factories import NOW, POLICY
from .test_core_series import MONDAYS, paired, series, utc

# Outlook ends the ten Mondays after the third (16 November): the seven later rows go in Salesforce.
LATER = tuple(utc(11, 23) + timedelta(weeks=n) for n in range(7))


def ended_by_the_bridge() -> tuple[SeriesState, list[str]]:
    ex = series(Side.EXCHANGE, rule=replace(MONDAYS, count=3), version="v2")
    planned = plan_series(paired(), None, ex, POLICY, NOW)
    (end,) = planned.commands
    assert isinstance(end, EndSeries) and end.side is Side.SALESFORCE
    assert planned.state is not None
    rows = [o.id for o in series(Side.SALESFORCE).occurrences if o.original_start in LATER]
    # What the runtime records once it asked Salesforce to delete from the fourth row onwards.
    return replace(planned.state, deleting=frozenset(rows)), rows


def test_r_rec_4_rows_still_read_while_salesforce_deletes_them_plan_nothing() -> None:
    state, _rows = ended_by_the_bridge()
    ex = series(Side.EXCHANGE, rule=replace(MONDAYS, count=3), version="v3")
    # Read before the deletion ran: every row there, the pattern text still saying ten.
    still = series(Side.SALESFORCE, version="s2", last_start=utc(1, 4))
    settled, sf = without_deleting(state, still)
    assert [o.original_start for o in sf.occurrences] == [utc(11, 2), utc(11, 9), utc(11, 16)]
    assert sf.last_start == utc(11, 16)
    # No rebuild of the Outlook master back to ten, no deletion of a kept occurrence.
    assert plan_series(settled, sf, ex, POLICY, NOW).commands == ()
    # Without the record, the same read is taken for a new pattern and rebuilt over Outlook.
    assert plan_series(replace(settled, deleting=frozenset()), still, ex, POLICY, NOW).commands != ()


def test_r_rec_4_a_read_midway_through_the_deletion_keeps_only_the_rows_still_there() -> None:
    state, rows = ended_by_the_bridge()
    midway = series(Side.SALESFORCE, gone=LATER[:3], version="s3", last_start=utc(1, 4))
    settled, sf = without_deleting(state, midway)
    assert settled.deleting == frozenset(rows[3:])
    assert max(o.original_start for o in sf.occurrences) == utc(11, 16)
    done = series(Side.SALESFORCE, gone=LATER, version="s4", last_start=utc(11, 16))
    settled, sf = without_deleting(settled, done)
    assert settled.deleting == frozenset() and sf == done


def test_r_rec_4_the_rows_being_deleted_are_stored_with_the_series() -> None:
    state, rows = ended_by_the_bridge()
    data = json.loads(json.dumps(series_to_dict(state)))
    assert data["deleting"] == sorted(rows)
    assert series_from_dict(data) == state
    data["deleting"] = [7]
    with pytest.raises(ValueError, match=r"series\.deleting\[0\]"):
        series_from_dict(data)
    assert "deleting" not in series_to_dict(paired())  # rows stored before it read back as none


def test_r_rec_4_a_series_the_bridge_is_not_deleting_from_reads_as_it_is() -> None:
    state, sf = paired(), series(Side.SALESFORCE, version="s2")
    assert without_deleting(state, sf) == (state, sf)
