"""SPEC §15 (R-REC-1, R-REC-6) through Microsoft Graph: Graph's patternedRecurrence <-> the EWS recurrence the
core writes <-> the canonical pattern. Round trips with Hypothesis over every pattern both services hold; the
meaning is checked against the Graph sandbox's own reading of the JSON (independent code from Graph's
documentation), which must fall on the days the core expands."""

from __future__ import annotations

import itertools
from datetime import date, datetime

import pytest
from hypothesis import given

from bridge.core.patterns import Anchor, Frequency, Pattern, Unmappable, Weekday
from bridge.core.patterns_dates import occurrence_dates
from bridge.core.patterns_ews import EwsRecurrence, ews_recurrence
from bridge.core.patterns_graph import ews_from_graph, graph_recurrence, pattern_from_graph
from bridge.sandbox.graph import recurrence_json as graph_sandbox

from .test_core_series_patterns import anchors, patterns

_SAMPLE = 40


@given(patterns(), anchors())
def test_r_rec_1_every_pattern_survives_a_round_trip_through_graph(pattern: Pattern, anchor: Anchor) -> None:
    written = ews_recurrence(pattern, anchor.first)
    graph = graph_recurrence(written, "W. Europe Standard Time")
    assert ews_from_graph(graph) == written
    assert pattern_from_graph(graph) == pattern
    assert graph["range"]["recurrenceTimeZone"] == "W. Europe Standard Time"


@given(patterns(), anchors())
def test_r_rec_2_graph_expands_what_the_bridge_writes_on_the_cores_days(
    pattern: Pattern, anchor: Anchor
) -> None:
    """What the bridge posts to Graph is read by the Graph sandbox (from Graph's documentation) as a series
    on the days the core expands, so occurrences pair by original start (R-REC-2)."""
    rec, zone = graph_sandbox.from_graph(graph_recurrence(ews_recurrence(pattern, anchor.first)))
    assert zone is None
    expected = list(itertools.islice(rec.dates(), _SAMPLE))
    through = expected[-1] if len(expected) == _SAMPLE else date(4500, 9, 1)
    assert occurrence_dates(pattern, anchor.first, through) == expected


@given(patterns(), anchors())
def test_r_rec_1_graphs_full_answer_reads_as_the_pattern(pattern: Pattern, anchor: Anchor) -> None:
    """Graph answers every field, unused ones as 0 or defaults: only the pattern type's fields count."""
    rec, _zone = graph_sandbox.from_graph(graph_recurrence(ews_recurrence(pattern, anchor.first)))
    assert pattern_from_graph(graph_sandbox.to_graph(rec, "UTC")) == pattern


def test_graph_samples_read_as_documented() -> None:
    weekly = {
        "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                    "daysOfWeek": ["Monday", "wednesday"], "firstDayOfWeek": "sunday", "index": "first"},
        "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31",
                  "recurrenceTimeZone": "Pacific Standard Time", "numberOfOccurrences": 0},
    }  # fmt: skip
    assert pattern_from_graph(weekly) == Pattern(
        Frequency.WEEKLY,
        days=frozenset({Weekday.MO, Weekday.WE}),
        first_day=Weekday.SU,
        until=date(2017, 12, 31),
    )
    yearly = {
        "pattern": {"type": "relativeYearly", "interval": 1, "month": 10, "daysOfWeek": ["saturday"],
                    "index": "first"},
        "range": {"type": "numbered", "startDate": "2026-10-03", "numberOfOccurrences": 3},
    }  # fmt: skip
    assert pattern_from_graph(yearly) == Pattern(
        Frequency.YEARLY, days=frozenset({Weekday.SA}), position=1, month=10, count=3
    )
    written = graph_recurrence(
        EwsRecurrence("DailyPattern", {"interval": 2}, "NoEndPattern", {"start": datetime(2026, 1, 5, 9)})
    )
    assert written == {
        "pattern": {"type": "daily", "interval": 2},
        "range": {"type": "noEnd", "startDate": "2026-01-05"},
    }


_NO_END = {"type": "noEnd", "startDate": "2026-01-01"}


@pytest.mark.parametrize(
    ("recurrence", "named"),
    [
        ({"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday", "friday"]},
          "range": _NO_END}, "monday, friday"),
        ({"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": []},
          "range": _NO_END}, "no day"),
        ({"pattern": {"type": "absoluteYearly", "interval": 2, "dayOfMonth": 3, "month": 4},
          "range": _NO_END}, "every 2 years"),
        ({"pattern": {"type": "hourly", "interval": 1}, "range": _NO_END},
         "hourly"),
        ({"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": []},
          "range": _NO_END}, "needs days"),
        ({"pattern": {"type": "daily", "interval": 1}, "range": {**_NO_END, "type": "forever"}}, "forever"),
        ({"pattern": {"type": "daily", "interval": "2"}, "range": _NO_END},
         "interval"),
        ({"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd", "startDate": "soon"}},
         "startDate"),
        ({"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["funday"]},
          "range": _NO_END}, "funday"),
        ({"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"], "index": "fifth"},
          "range": _NO_END}, "fifth"),
        ({"pattern": {"type": "daily"}}, "pattern and a range"),
        (None, "an object"),
    ],
)  # fmt: skip
def test_r_rec_6_what_ews_cannot_hold_is_named_not_mapped(recurrence: object, named: str) -> None:
    found = pattern_from_graph(recurrence)
    assert isinstance(found, Unmappable) and named in found.reason


def test_a_range_date_must_be_a_date() -> None:
    with pytest.raises(ValueError, match="must be a date"):
        graph_recurrence(
            EwsRecurrence("DailyPattern", {"interval": 1}, "NoEndPattern", {"start": "2026-01-01"})
        )
