"""SPEC §15 (R-REC-1, R-REC-6): the pattern table, Salesforce RRULE <-> canonical <-> EWS.

Round trips are checked with Hypothesis over every pattern both services hold. Their meaning is checked
against the sandboxes' own expansions (independent code written from the vendors' documentation): the
RRULE the bridge writes must give Salesforce the same dates as the EWS recurrence it writes gives Exchange.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import exchangelib.recurrence as ews
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.core.patterns import (
    ALL_DAYS,
    GROUPS,
    INTERVAL_MAX,
    POSITIONS,
    UNMAPPABLE,
    WEEKDAYS,
    Anchor,
    Frequency,
    Pattern,
    Unmappable,
    Weekday,
)
from bridge.core.patterns_dates import occurrence_dates
from bridge.core.patterns_ews import EWS_PATTERNS, EwsRecurrence, ews_recurrence, pattern_from_ews
from bridge.core.patterns_rrule import pattern_from_rrule, rrule_text
from bridge.sandbox.exchange import recurrence as ews_sandbox
from bridge.sandbox.salesforce import rrule as sf_sandbox

ZONES = ("UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe")


@st.composite
def patterns(draw: st.DrawFn) -> Pattern:
    frequency = draw(st.sampled_from(Frequency))
    interval = draw(st.integers(1, INTERVAL_MAX[frequency]))
    end = draw(st.sampled_from(("none", "count", "until")))
    count = draw(st.integers(1, 999)) if end == "count" else None
    until = draw(st.dates(date(2026, 1, 1), date(2040, 12, 31))) if end == "until" else None
    ends = {"count": count, "until": until}
    if frequency is Frequency.DAILY:
        return Pattern(frequency, interval, **ends)  # type: ignore[arg-type]
    if frequency is Frequency.WEEKLY:
        days = draw(st.frozensets(st.sampled_from(Weekday), min_size=1))
        return Pattern(frequency, interval, days=days, first_day=draw(st.sampled_from(Weekday)), **ends)  # type: ignore[arg-type]
    month = draw(st.integers(1, 12)) if frequency is Frequency.YEARLY else None
    if draw(st.booleans()):
        day = draw(st.integers(1, 31))
        return Pattern(frequency, interval, day_of_month=day, month=month, **ends)  # type: ignore[arg-type]
    days = draw(st.sampled_from([*GROUPS, *(frozenset({d}) for d in Weekday)]))
    position = draw(st.sampled_from(POSITIONS))
    return Pattern(frequency, interval, days=days, position=position, month=month, **ends)  # type: ignore[arg-type]


@st.composite
def anchors(draw: st.DrawFn) -> Anchor:
    first = draw(st.dates(date(2025, 1, 1), date(2025, 12, 31)))
    minutes = draw(st.integers(0, 24 * 4 - 1)) * 15
    return Anchor(first, time(minutes // 60, minutes % 60), draw(st.sampled_from(ZONES)))


@given(patterns(), anchors())
def test_r_rec_1_every_pattern_survives_a_round_trip_through_salesforce(
    pattern: Pattern, anchor: Anchor
) -> None:
    text = rrule_text(pattern, anchor)
    assert pattern_from_rrule(text, anchor) == pattern
    sf_sandbox.parse(text)  # Salesforce accepts what the bridge writes


@given(patterns(), anchors())
def test_r_rec_1_every_pattern_survives_a_round_trip_through_exchange(
    pattern: Pattern, anchor: Anchor
) -> None:
    written = ews_recurrence(pattern, anchor.first)
    assert pattern_from_ews(written) == pattern
    built = ews.Recurrence(
        pattern=getattr(ews, written.pattern)(**written.args),
        boundary=getattr(ews, written.boundary)(**written.boundary_args),
    )
    built.clean(version=None)  # exchangelib accepts the names and the bounds


@given(patterns(), anchors())
def test_r_rec_1_a_mapped_series_falls_on_the_same_days_on_both_sides(
    pattern: Pattern, anchor: Anchor
) -> None:
    sf_dates = _salesforce_dates(rrule_text(pattern, anchor), anchor)
    ex_dates = _exchange_dates(ews_recurrence(pattern, anchor.first))
    assert sf_dates == ex_dates


def test_r_rec_1_salesforce_normalised_text_reads_by_meaning() -> None:
    anchor = Anchor(date(2026, 3, 2), time(9), "Europe/Berlin")
    weekly = pattern_from_rrule("RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=13", anchor)
    assert weekly == Pattern(Frequency.WEEKLY, days=frozenset({Weekday.MO}), first_day=Weekday.SU, count=13)
    numbered = pattern_from_rrule("FREQ=MONTHLY;BYDAY=2TU", anchor)
    by_position = pattern_from_rrule("RRULE:FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2;INTERVAL=1", anchor)
    assert numbered == by_position == Pattern(Frequency.MONTHLY, days=frozenset({Weekday.TU}), position=2)
    last_weekday = pattern_from_rrule("RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", anchor)
    assert last_weekday == Pattern(Frequency.MONTHLY, days=WEEKDAYS, position=-1)
    assert ews_recurrence(last_weekday, anchor.first).args == {"interval": 1, "weekday": 9, "week_number": 5}


def test_r_rec_1_until_is_the_last_local_day_whose_occurrence_starts_by_then() -> None:
    anchor = Anchor(date(2026, 3, 2), time(9), "Europe/Berlin")
    # 08:00 UTC on 10 March is 09:00 in Berlin: the occurrence of that day is included.
    assert pattern_from_rrule("FREQ=DAILY;UNTIL=20260310T080000Z", anchor) == Pattern(
        Frequency.DAILY, until=date(2026, 3, 10)
    )
    # A minute earlier, that day's occurrence has not started yet: the 9th is the last.
    assert pattern_from_rrule("FREQ=DAILY;UNTIL=20260310T075900Z", anchor) == Pattern(
        Frequency.DAILY, until=date(2026, 3, 9)
    )
    # Across a daylight saving change (29 March in Berlin) the instant follows the wall clock.
    assert rrule_text(Pattern(Frequency.DAILY, until=date(2026, 4, 1)), anchor).endswith(
        "UNTIL=20260401T070000Z"
    )


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("RRULE:FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO;INTERVAL=1", "BYWEEKNO"),
        ("RRULE:FREQ=YEARLY;BYYEARDAY=100;INTERVAL=1", "BYYEARDAY"),
        ("RRULE:FREQ=MONTHLY;BYMONTHDAY=7,15;INTERVAL=1", "MULTI-BYMONTHDAY"),
        ("RRULE:FREQ=MONTHLY;BYMONTH=5,9;BYMONTHDAY=7;INTERVAL=1", "MONTHLY-BYMONTH"),
        ("RRULE:FREQ=YEARLY;BYMONTH=5,9;BYMONTHDAY=7;INTERVAL=1", "MULTI-BYMONTH"),
        ("RRULE:FREQ=MONTHLY;BYDAY=1MO,1TU;INTERVAL=1", "NUMBERED-DAYS"),
        ("RRULE:FREQ=MONTHLY;BYDAY=TU,TH;BYSETPOS=2;INTERVAL=1", "DAY-SET"),
        ("RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-2;INTERVAL=1", "POSITION"),
        ("RRULE:FREQ=HOURLY;INTERVAL=1", "SYNTAX"),
        ("RRULE:FREQ=DAILY;BYDAY=MO", "SHAPE"),
    ],
)
def test_r_rec_6_patterns_exchange_cannot_hold_are_named_not_mapped(text: str, code: str) -> None:
    found = pattern_from_rrule(text, Anchor(date(2026, 5, 7), time(10), "UTC"))
    assert isinstance(found, Unmappable) and found.code == code
    assert found.reason.startswith(UNMAPPABLE[code])


def test_r_rec_6_every_salesforce_rule_the_sandbox_accepts_maps_or_is_named() -> None:
    """Exhaustive over a grid of Salesforce-valid rules: nothing raises, and every rule either maps to the
    same days on Exchange or is unmappable with a reason."""
    anchor = Anchor(date(2026, 1, 5), time(8, 30), "America/Los_Angeles")
    texts = [
        "FREQ=MONTHLY;BYDAY=SA,SU;BYSETPOS=3",
        "FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=2",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=YEARLY;BYMONTH=10;BYDAY=1SA",
        "FREQ=YEARLY;BYMONTH=10;BYDAY=SU,MO,TU,WE,TH,FR,SA;BYSETPOS=4",
        "FREQ=WEEKLY;BYDAY=TU,TH;INTERVAL=3;UNTIL=20261231T000000Z",
        "FREQ=DAILY;INTERVAL=999;COUNT=3",
    ]
    for text in texts:
        sf_sandbox.parse(text)
        found = pattern_from_rrule(text, anchor)
        assert isinstance(found, Pattern), text
        assert _salesforce_dates(text, anchor) == _exchange_dates(ews_recurrence(found, anchor.first)), text


def test_r_rec_1_every_exchange_pattern_maps_to_salesforce() -> None:
    """Exchange's patterns all map (the unmappable rows are Salesforce's): one of each, every group."""
    first = date(2026, 1, 5)
    samples = [
        EwsRecurrence("DailyPattern", {"interval": 999}),
        EwsRecurrence("WeeklyPattern", {"interval": 99, "weekdays": [1, 7], "first_day_of_week": 7}),
        EwsRecurrence("AbsoluteMonthlyPattern", {"interval": 1, "day_of_month": 31}),
        *(
            EwsRecurrence("RelativeMonthlyPattern", {"interval": 2, "weekday": w, "week_number": n})
            for w, n in itertools.product(range(1, 11), range(1, 6))
        ),
        EwsRecurrence("AbsoluteYearlyPattern", {"day_of_month": 29, "month": 2}),
        EwsRecurrence("RelativeYearlyPattern", {"weekday": 10, "week_number": 5, "month": 12}),
    ]
    assert {s.pattern for s in samples} == set(EWS_PATTERNS.values())
    for sample in samples:
        for boundary, args in (
            ("NoEndPattern", {"start": first}),
            ("NumberedPattern", {"start": first, "number": 999}),
            ("EndDatePattern", {"start": first, "end": date(4500, 9, 1)}),
        ):
            found = pattern_from_ews(EwsRecurrence(sample.pattern, sample.args, boundary, args))
            assert isinstance(found, Pattern), (sample, boundary)


def test_r_rec_1_out_of_bounds_values_are_refused_with_their_reason() -> None:
    with pytest.raises(ValueError, match=r"interval 2 out of 1\.\.1"):
        Pattern(Frequency.YEARLY, 2, day_of_month=1, month=1)
    with pytest.raises(ValueError, match="one day, weekdays"):
        Pattern(Frequency.MONTHLY, days=frozenset({Weekday.TU, Weekday.TH}), position=1)
    broken = pattern_from_ews(EwsRecurrence("WeeklyPattern", {"interval": 1, "weekdays": []}))
    assert isinstance(broken, Unmappable) and broken.code == "SHAPE"
    assert pattern_from_ews(EwsRecurrence("DailyRegeneration", {"interval": 1})) == Unmappable(
        "SHAPE", "DailyRegeneration"
    )
    assert ALL_DAYS in GROUPS


# ------------------------------------------------------------------------------ oracles (the sandboxes)

_SAMPLE = 40  # dates compared for a series without end
_EWS_NAMES = {
    "DailyPattern": "DailyRecurrence",
    "WeeklyPattern": "WeeklyRecurrence",
    "AbsoluteMonthlyPattern": "AbsoluteMonthlyRecurrence",
    "RelativeMonthlyPattern": "RelativeMonthlyRecurrence",
    "AbsoluteYearlyPattern": "AbsoluteYearlyRecurrence",
    "RelativeYearlyPattern": "RelativeYearlyRecurrence",
    "NoEndPattern": "NoEndRecurrence",
    "EndDatePattern": "EndDateRecurrence",
    "NumberedPattern": "NumberedRecurrence",
}
_DAY_NAMES = (*ews_sandbox.DAY_NAMES, "Day", "Weekday", "WeekendDay")


def _salesforce_dates(text: str, anchor: Anchor) -> list[date]:
    rule = sf_sandbox.parse(text)
    zone = ZoneInfo(anchor.zone)
    found: list[date] = []
    for day in sf_sandbox.dates(rule, anchor.first):
        start = datetime.combine(day, anchor.time_of_day, tzinfo=zone).astimezone(UTC)
        if (rule.until is not None and start > rule.until) or len(found) == min(
            rule.count or _SAMPLE, _SAMPLE
        ):
            break
        found.append(day)
    return found


def _exchange_dates(written: EwsRecurrence) -> list[date]:
    a, b = written.args, written.boundary_args
    weekday = a.get("weekday")
    recurrence = ews_sandbox.Recurrence(
        pattern=_EWS_NAMES[written.pattern],
        range=_EWS_NAMES[written.boundary],
        start_date=b["start"],  # type: ignore[arg-type]
        interval=int(a.get("interval", 1)),  # type: ignore[call-overload]
        days_of_week=[_DAY_NAMES[int(n) - 1] for n in (a.get("weekdays") or ([weekday] if weekday else []))],  # type: ignore[attr-defined]
        first_day_of_week=_DAY_NAMES[int(a.get("first_day_of_week", 1)) - 1],  # type: ignore[call-overload]
        day_of_month=a.get("day_of_month"),  # type: ignore[arg-type]
        day_of_week_index=ews_sandbox.INDEXES[int(a["week_number"]) - 1] if "week_number" in a else None,  # type: ignore[call-overload]
        month=ews_sandbox.MONTHS[int(a["month"]) - 1] if "month" in a else None,  # type: ignore[call-overload]
        end_date=b.get("end"),  # type: ignore[arg-type]
        count=b.get("number"),  # type: ignore[arg-type]
    )
    return list(itertools.islice(recurrence.dates(), _SAMPLE))


def test_oracles_agree_on_a_documented_example() -> None:
    """The oracles themselves: the reference's first-Saturday-of-October series falls on those days."""
    anchor = Anchor(date(2026, 1, 1), time(9), "UTC")
    expected = [date(2026, 10, 3), date(2027, 10, 2), date(2028, 10, 7)]
    assert _salesforce_dates("FREQ=YEARLY;BYMONTH=10;BYDAY=1SA;COUNT=3", anchor) == expected
    found = pattern_from_rrule("FREQ=YEARLY;BYMONTH=10;BYDAY=1SA;COUNT=3", anchor)
    assert isinstance(found, Pattern)
    assert _exchange_dates(ews_recurrence(found, anchor.first)) == expected
    assert date(2026, 10, 3) - timedelta(days=7) not in expected


@given(patterns(), anchors())
def test_r_rec_2_the_cores_expansion_matches_both_services(pattern: Pattern, anchor: Anchor) -> None:
    """The core expands a pattern (to know which occurrences a side lacks) as both services do."""
    expected = _exchange_dates(ews_recurrence(pattern, anchor.first))
    through = expected[-1] if len(expected) == _SAMPLE else date(4500, 9, 1)
    assert occurrence_dates(pattern, anchor.first, through) == expected
