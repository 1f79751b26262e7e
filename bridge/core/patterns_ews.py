"""EWS recurrence (pattern and range, reference/recurrence.md §3) <-> the canonical `Pattern`. Exact both
ways: `pattern_from_ews(ews_recurrence(p, first)) == p`.

EWS values are exchangelib's: weekdays 1 (Monday) .. 7 (Sunday), 8 `Day`, 9 `Weekday`, 10 `WeekendDay`;
week numbers 1..4 and 5 (`Last`); months 1..12; the pattern and boundary by class name, so the adapter
builds them with `getattr(exchangelib.recurrence, name)(**args)` and the core imports no client library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from bridge.core.patterns import ALL_DAYS, WEEKDAYS, WEEKEND, Frequency, Pattern, Shape, Unmappable, Weekday

# Canonical shape <-> EWS pattern (exchangelib class names). Each row is exact both ways; the RRULE form of
# each shape is in `rrule_text` (DAILY: INTERVAL; WEEKLY: BYDAY, WKST, INTERVAL; MONTHLY absolute:
# BYMONTHDAY; relative: BYDAY + BYSETPOS; YEARLY adds BYMONTH, INTERVAL=1).
EWS_PATTERNS: dict[tuple[Frequency, Shape], str] = {
    (Frequency.DAILY, Shape.EVERY): "DailyPattern",
    (Frequency.WEEKLY, Shape.DAYS): "WeeklyPattern",
    (Frequency.MONTHLY, Shape.ABSOLUTE): "AbsoluteMonthlyPattern",
    (Frequency.MONTHLY, Shape.RELATIVE): "RelativeMonthlyPattern",
    (Frequency.YEARLY, Shape.ABSOLUTE): "AbsoluteYearlyPattern",
    (Frequency.YEARLY, Shape.RELATIVE): "RelativeYearlyPattern",
}
EWS_PATTERNS_IN = {name: key for key, name in EWS_PATTERNS.items()}
# Ends: a count <-> NumberedPattern, an end date <-> EndDatePattern, none <-> NoEndPattern.
EWS_BOUNDARIES = ("NumberedPattern", "EndDatePattern", "NoEndPattern")

EWS_DAYS = {day: int(day) + 1 for day in Weekday}  # exchangelib: Monday = 1 .. Sunday = 7
EWS_DAYS_IN = {number: day for day, number in EWS_DAYS.items()}
EWS_GROUPS = {ALL_DAYS: 8, WEEKDAYS: 9, WEEKEND: 10}  # Day, Weekday, WeekendDay
EWS_GROUPS_IN = {number: group for group, number in EWS_GROUPS.items()}
EWS_POSITIONS = {1: 1, 2: 2, 3: 3, 4: 4, -1: 5}  # First .. Fourth, Last
EWS_POSITIONS_IN = {number: position for position, number in EWS_POSITIONS.items()}


@dataclass(frozen=True, slots=True)
class EwsRecurrence:
    """An EWS recurrence in exchangelib terms: pattern and boundary class names and their arguments."""

    pattern: str
    args: dict[str, object] = field(default_factory=dict)
    boundary: str = "NoEndPattern"
    boundary_args: dict[str, object] = field(default_factory=dict)


def ews_recurrence(pattern: Pattern, first: date) -> EwsRecurrence:
    """The EWS recurrence for `pattern`, its range starting on the series' first local date."""
    name = EWS_PATTERNS[(pattern.frequency, pattern.shape)]
    args: dict[str, object] = {}
    if pattern.frequency is not Frequency.YEARLY:
        args["interval"] = pattern.interval  # EWS yearly patterns repeat every year, as Salesforce's
    if pattern.shape is Shape.DAYS:
        args["weekdays"] = [EWS_DAYS[day] for day in sorted(pattern.days)]
        args["first_day_of_week"] = EWS_DAYS[pattern.first_day]
    if pattern.shape is Shape.ABSOLUTE:
        args["day_of_month"] = pattern.day_of_month
    if pattern.shape is Shape.RELATIVE:
        (single,) = pattern.days if len(pattern.days) == 1 else (None,)
        args["weekday"] = EWS_DAYS[single] if single is not None else EWS_GROUPS[pattern.days]
        args["week_number"] = EWS_POSITIONS[pattern.position or 1]
    if pattern.month is not None:
        args["month"] = pattern.month
    if pattern.count is not None:
        return EwsRecurrence(name, args, "NumberedPattern", {"start": first, "number": pattern.count})
    if pattern.until is not None:
        return EwsRecurrence(name, args, "EndDatePattern", {"start": first, "end": pattern.until})
    return EwsRecurrence(name, args, "NoEndPattern", {"start": first})


def pattern_from_ews(recurrence: EwsRecurrence) -> Pattern | Unmappable:
    """The pattern of an Exchange master. Every EWS pattern maps; a value outside EWS's own bounds (which
    Exchange refuses to store) is reported as unmappable rather than raised."""
    key = EWS_PATTERNS_IN.get(recurrence.pattern)
    if key is None:
        return Unmappable("SHAPE", recurrence.pattern)
    try:
        return _from_ews(recurrence, *key)
    except (KeyError, ValueError, TypeError) as error:
        return Unmappable("SHAPE", f"{recurrence.pattern}: {error}")


def _from_ews(recurrence: EwsRecurrence, frequency: Frequency, shape: Shape) -> Pattern:
    a, b = recurrence.args, recurrence.boundary_args
    values: dict[str, object] = {}
    if frequency is not Frequency.YEARLY:
        values["interval"] = int(_int(a, "interval"))
    if shape is Shape.DAYS:
        values["days"] = frozenset(EWS_DAYS_IN[int(n)] for n in _ints(a.get("weekdays")))
        values["first_day"] = EWS_DAYS_IN[_int(a, "first_day_of_week", 1)]
    if shape is Shape.ABSOLUTE:
        values["day_of_month"] = _int(a, "day_of_month")
    if shape is Shape.RELATIVE:
        weekday = _int(a, "weekday")
        values["days"] = EWS_GROUPS_IN.get(weekday) or frozenset({EWS_DAYS_IN[weekday]})
        values["position"] = EWS_POSITIONS_IN[_int(a, "week_number")]
    if frequency is Frequency.YEARLY:
        values["month"] = _int(a, "month")
    if recurrence.boundary == "NumberedPattern":
        values["count"] = _int(b, "number")
    elif recurrence.boundary == "EndDatePattern":
        end = b.get("end")
        values["until"] = end.date() if isinstance(end, datetime) else end
    return Pattern(frequency, **values)  # type: ignore[arg-type]


def _int(args: dict[str, object], name: str, default: int | None = None) -> int:
    value = args.get(name, default)
    if value is None:
        raise KeyError(name)
    return int(str(value))


def _ints(value: object) -> list[int]:
    if isinstance(value, list | tuple):
        return [int(str(v)) for v in value]
    return [int(str(value))] if value is not None else []
