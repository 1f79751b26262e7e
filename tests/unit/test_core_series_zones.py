"""A series' pattern said in its Salesforce owner's zone (R-REC-1/2, bridge.core.series_zones): the same
starts, or None where that zone cannot hold them (R-REC-6)."""

from __future__ import annotations

from datetime import date, time

import pytest

from bridge.core.patterns import Anchor, Frequency, Pattern, Weekday
from bridge.core.patterns_dates import occurrence_starts
from bridge.core.patterns_rrule import rrule_text
from bridge.core.series_zones import in_zone, same_series

NEW_YORK_EVENING = Anchor(date(2026, 12, 8), time(19, 30), "America/New_York")  # a Tuesday
TUESDAYS = frozenset({Weekday.TU})


@pytest.mark.parametrize(
    ("pattern", "days", "day_of_month"),
    [
        (Pattern(Frequency.WEEKLY, days=TUESDAYS, count=4), frozenset({Weekday.WE}), None),
        (Pattern(Frequency.WEEKLY, days=frozenset({Weekday.TU, Weekday.SA}), until=date(2027, 1, 9)),
         frozenset({Weekday.WE, Weekday.SU}), None),
        (Pattern(Frequency.DAILY, count=30), frozenset(), None),
        (Pattern(Frequency.MONTHLY, day_of_month=8, count=3), frozenset(), 9),
    ],
)  # fmt: skip
def test_r_rec_1_a_new_york_evening_series_is_on_the_next_day_in_berlin(
    pattern: Pattern, days: frozenset[Weekday], day_of_month: int | None
) -> None:
    found = in_zone(pattern, NEW_YORK_EVENING, "Europe/Berlin")
    assert found is not None
    moved, anchor = found
    assert anchor == Anchor(date(2026, 12, 9), time(1, 30), "Europe/Berlin")
    assert moved.days == days and moved.day_of_month == day_of_month
    far = NEW_YORK_EVENING.until_instant(date(2027, 2, 1))
    assert occurrence_starts(moved, anchor, far) == occurrence_starts(pattern, NEW_YORK_EVENING, far)
    assert same_series((pattern, NEW_YORK_EVENING), found)


def test_r_rec_1_the_rrule_salesforce_gets_names_the_berlin_day() -> None:
    found = in_zone(Pattern(Frequency.WEEKLY, days=TUESDAYS, count=4), NEW_YORK_EVENING, "Europe/Berlin")
    assert found is not None
    assert rrule_text(*found) == "RRULE:FREQ=WEEKLY;BYDAY=WE;WKST=TU;INTERVAL=1;COUNT=4"


@pytest.mark.parametrize(
    "pattern",
    [
        Pattern(Frequency.WEEKLY, days=TUESDAYS, count=20),  # through March: the zones change clocks apart
        Pattern(Frequency.WEEKLY, days=TUESDAYS),  # endless
        Pattern(Frequency.MONTHLY, days=TUESDAYS, position=2, count=3),  # the second Tuesday, a day later
        Pattern(Frequency.MONTHLY, day_of_month=31, count=3),  # month ends clamp on other days
    ],
)
def test_r_rec_6_a_series_berlin_cannot_hold_is_none(pattern: Pattern) -> None:
    assert in_zone(pattern, NEW_YORK_EVENING, "Europe/Berlin") is None


def test_r_rec_1_the_same_zone_or_one_that_keeps_the_clock_changes_keeps_the_pattern() -> None:
    weekly = Pattern(Frequency.WEEKLY, days=TUESDAYS)
    assert in_zone(weekly, NEW_YORK_EVENING, "America/New_York") == (weekly, NEW_YORK_EVENING)
    found = in_zone(weekly, NEW_YORK_EVENING, "America/Toronto")
    assert found == (weekly, Anchor(date(2026, 12, 8), time(19, 30), "America/Toronto"))
    assert in_zone(weekly, NEW_YORK_EVENING, "Nowhere/Atlantis") is None
