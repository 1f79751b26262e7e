"""Recurrence patterns (SPEC §15, reference/recurrence.md §5): one canonical `Pattern` and the table that maps
it to Salesforce's RRULE subset (`Recurrence2PatternText`) and to EWS's pattern and range, both ways.

A `Pattern` is what *both* services can hold: a rule either side cannot express is never a `Pattern` but an
`Unmappable` naming the row of `UNMAPPABLE` that refuses it, and such a series is expanded into single
events (R-REC-6). So a mapping is total on `Pattern` and the round trips are exact:
`pattern_from_rrule(rrule_text(p)) == p` and `pattern_from_ews(ews_recurrence(p)) == p`.

Time. An RRULE carries no DTSTART and its UNTIL is a UTC instant; EWS's end is a local date. The canonical
end is `until`, the last local date an occurrence may start on, in the series' zone; converting needs the
zone and the local time of day of the series' start (`Anchor`). All three services clamp a day of month past
the month's end to its last day, so `day_of_month` 29..31 means the same everywhere.

EWS values are exchangelib's: weekdays 1 (Monday) .. 7 (Sunday), 8 `Day`, 9 `Weekday`, 10 `WeekendDay`;
week numbers 1..4 and 5 (`Last`); months 1..12; the pattern and boundary by class name, so the adapter
builds them with `getattr(exchangelib.recurrence, name)(**args)` and the core imports no client library.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum, StrEnum
from zoneinfo import ZoneInfo


class Frequency(StrEnum):
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    YEARLY = "YEARLY"


class Weekday(IntEnum):
    """Python's `date.weekday()` numbering; RRULE codes and EWS numbers by the tables below."""

    MO = 0
    TU = 1
    WE = 2
    TH = 3
    FR = 4
    SA = 5
    SU = 6


ALL_DAYS = frozenset(Weekday)
WEEKDAYS = frozenset(Weekday) - {Weekday.SA, Weekday.SU}
WEEKEND = frozenset({Weekday.SA, Weekday.SU})
# The day sets a relative (k-th ... of the month) pattern may name: one day, or one of EWS's three groups.
GROUPS = (ALL_DAYS, WEEKDAYS, WEEKEND)
POSITIONS = (1, 2, 3, 4, -1)
INTERVAL_MAX = {Frequency.DAILY: 999, Frequency.WEEKLY: 99, Frequency.MONTHLY: 99, Frequency.YEARLY: 1}
COUNT_MAX = 999


class Shape(StrEnum):
    """How a pattern picks its days within its period."""

    EVERY = "every"  # daily
    DAYS = "days"  # weekly, on a set of weekdays
    ABSOLUTE = "absolute"  # a day of the month (and a month, yearly)
    RELATIVE = "relative"  # the k-th day (or weekday, weekend day, any day) of the month


@dataclass(frozen=True, slots=True)
class Pattern:
    """A recurrence both Salesforce and Exchange can hold. Fields a shape does not use are left at their
    defaults, so equal rules compare equal. Construction refuses anything out of the common bounds."""

    frequency: Frequency
    interval: int = 1
    days: frozenset[Weekday] = frozenset()  # DAYS: the weekdays; RELATIVE: one day or a group
    first_day: Weekday = Weekday.MO  # DAYS only (RRULE WKST, EWS FirstDayOfWeek)
    day_of_month: int | None = None  # ABSOLUTE
    position: int | None = None  # RELATIVE: 1..4, or -1 for the last
    month: int | None = None  # YEARLY
    count: int | None = None  # at most one of count and until
    until: date | None = None  # the last local date an occurrence may start on

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ValueError(f"not a mappable pattern: {problem}")

    @property
    def shape(self) -> Shape:
        if self.frequency is Frequency.DAILY:
            return Shape.EVERY
        if self.frequency is Frequency.WEEKLY:
            return Shape.DAYS
        return Shape.RELATIVE if self.position is not None else Shape.ABSOLUTE


def _problem(p: Pattern) -> str:
    if not 1 <= p.interval <= INTERVAL_MAX[p.frequency]:
        return f"interval {p.interval} out of 1..{INTERVAL_MAX[p.frequency]} for {p.frequency}"
    if p.count is not None and p.until is not None:
        return "both a count and an end date"
    if p.count is not None and not 1 <= p.count <= COUNT_MAX:
        return f"count {p.count} out of 1..{COUNT_MAX}"
    relative = p.position is not None
    if p.frequency is Frequency.WEEKLY and not p.days:
        return "a weekly pattern needs days"
    if p.frequency is not Frequency.WEEKLY and p.first_day is not Weekday.MO:
        return "a first day of the week belongs to weekly patterns only"
    if p.frequency in (Frequency.DAILY, Frequency.WEEKLY):
        if p.day_of_month is not None or relative or p.month is not None:
            return f"{p.frequency} takes no day of month, position or month"
        return "" if p.frequency is Frequency.WEEKLY or not p.days else "a daily pattern takes no days"
    if (p.month is not None) != (p.frequency is Frequency.YEARLY) or not 1 <= (p.month or 1) <= 12:
        return "a month belongs to (and is needed by) yearly patterns, 1..12"
    if relative:
        if p.position not in POSITIONS or p.day_of_month is not None:
            return "a relative pattern needs a position in 1..4 or -1, and no day of month"
        if len(p.days) != 1 and p.days not in GROUPS:
            return "a relative pattern names one day, weekdays, weekend days or every day"
        return ""
    if p.days or p.day_of_month is None or not 1 <= p.day_of_month <= 31:
        return "an absolute pattern needs a day of month 1..31 and no days"
    return ""


@dataclass(frozen=True, slots=True)
class Unmappable:
    """A rule one side holds and the other cannot: `code` is its row in `UNMAPPABLE`."""

    code: str
    detail: str = ""

    @property
    def reason(self) -> str:
        return UNMAPPABLE[self.code] + (f" ({self.detail})" if self.detail else "")


# The cases that cannot map (reference/recurrence.md §5), by the code an `Unmappable` carries. Salesforce
# accepts each of these and Exchange has no equivalent; Exchange's own patterns all map to Salesforce.
UNMAPPABLE: dict[str, str] = {
    "BYWEEKNO": "Exchange has no week-number pattern (BYWEEKNO)",
    "BYYEARDAY": "Exchange has no day-of-year pattern (BYYEARDAY)",
    "MULTI-BYMONTHDAY": "Exchange repeats on one day of the month only (several BYMONTHDAY values)",
    "MULTI-BYMONTH": "Exchange repeats yearly in one month only (several BYMONTH values)",
    "MONTHLY-BYMONTH": "Exchange has no monthly pattern limited to some months (FREQ=MONTHLY;BYMONTH)",
    "NUMBERED-DAYS": "Exchange takes one numbered day (BYDAY like 1MO,1TU means the first of each)",
    "DAY-SET": "Exchange's relative patterns name one day, weekdays, weekend days or every day",
    "POSITION": "Exchange counts first..fourth or last only",
    "SHAPE": "the rule's parts do not form a daily, weekly, monthly or yearly pattern Exchange knows",
    "SYNTAX": "Salesforce's pattern text could not be read",
}

# ------------------------------------------------------------------------------------------ the table

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

RRULE_DAYS = {day: day.name for day in Weekday}
RRULE_DAYS_IN = {code: day for day, code in RRULE_DAYS.items()}
EWS_DAYS = {day: int(day) + 1 for day in Weekday}  # exchangelib: Monday = 1 .. Sunday = 7
EWS_DAYS_IN = {number: day for day, number in EWS_DAYS.items()}
EWS_GROUPS = {ALL_DAYS: 8, WEEKDAYS: 9, WEEKEND: 10}  # Day, Weekday, WeekendDay
EWS_GROUPS_IN = {number: group for group, number in EWS_GROUPS.items()}
EWS_POSITIONS = {1: 1, 2: 2, 3: 3, 4: 4, -1: 5}  # First .. Fourth, Last
EWS_POSITIONS_IN = {number: position for position, number in EWS_POSITIONS.items()}


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a series starts: its first local date, local time of day and zone (IANA). UNTIL instants and
    EWS's range start date are computed from it."""

    first: date
    time_of_day: time
    zone: str

    def until_instant(self, last: date) -> datetime:
        return datetime.combine(last, self.time_of_day, tzinfo=ZoneInfo(self.zone)).astimezone(UTC)

    def last_date(self, until: datetime) -> date:
        """The last local date whose occurrence starts at or before `until` (RFC 5545: UNTIL is inclusive)."""
        local = until.astimezone(ZoneInfo(self.zone))
        return local.date() if local.time() >= self.time_of_day else local.date() - timedelta(days=1)


# ------------------------------------------------------------------------------------------ Salesforce

_RRULE_ORDER = ("FREQ", "BYMONTH", "BYMONTHDAY", "BYDAY", "WKST", "BYSETPOS", "INTERVAL", "UNTIL", "COUNT")


def rrule_text(pattern: Pattern, anchor: Anchor) -> str:
    """The `Recurrence2PatternText` to create a series with, in Salesforce's normalised part order and with
    WKST always explicit (Salesforce would otherwise take the user's locale)."""
    parts = {"FREQ": pattern.frequency.value, "INTERVAL": str(pattern.interval)}
    if pattern.month is not None:
        parts["BYMONTH"] = str(pattern.month)
    if pattern.day_of_month is not None:
        parts["BYMONTHDAY"] = str(pattern.day_of_month)
    if pattern.days:
        parts["BYDAY"] = ",".join(RRULE_DAYS[day] for day in sorted(pattern.days))
    if pattern.frequency is Frequency.WEEKLY:
        parts["WKST"] = RRULE_DAYS[pattern.first_day]
    if pattern.position is not None:
        parts["BYSETPOS"] = str(pattern.position)
    if pattern.until is not None:
        parts["UNTIL"] = anchor.until_instant(pattern.until).strftime("%Y%m%dT%H%M%SZ")
    if pattern.count is not None:
        parts["COUNT"] = str(pattern.count)
    return "RRULE:" + ";".join(f"{name}={parts[name]}" for name in _RRULE_ORDER if name in parts)


def pattern_from_rrule(text: str, anchor: Anchor) -> Pattern | Unmappable:
    """The pattern a Salesforce series follows, or why Exchange cannot hold it. Compares rules by meaning:
    part order, `RRULE:`, default INTERVAL and a numbered BYDAY (`2TU`) against BYSETPOS do not matter."""
    try:
        parts = _rrule_parts(text)
        return _from_parts(parts, anchor)
    except (ValueError, KeyError) as error:
        return Unmappable("SYNTAX", f"{text!r}: {error}")


def _rrule_parts(text: str) -> dict[str, str]:
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    parts: dict[str, str] = {}
    for piece in filter(None, body.split(";")):
        name, sep, value = piece.partition("=")
        if not sep:
            raise ValueError(f"part {piece!r} has no value")
        parts[name.strip().upper()] = value.strip().upper()
    return parts


def _from_parts(parts: dict[str, str], anchor: Anchor) -> Pattern | Unmappable:
    for name in ("BYWEEKNO", "BYYEARDAY"):
        if name in parts:
            return Unmappable(name)
    frequency = Frequency(parts.pop("FREQ"))
    interval = int(parts.pop("INTERVAL", "1"))
    count = int(parts["COUNT"]) if "COUNT" in parts else None
    until = _until(parts["UNTIL"], anchor) if "UNTIL" in parts else None
    first_day = RRULE_DAYS_IN[parts.get("WKST", "MO")]
    months = [int(m) for m in parts["BYMONTH"].split(",")] if "BYMONTH" in parts else []
    month_days = [int(d) for d in parts["BYMONTHDAY"].split(",")] if "BYMONTHDAY" in parts else []
    numbers, days = _by_day(parts.get("BYDAY", ""))
    position = int(parts["BYSETPOS"]) if "BYSETPOS" in parts else None
    if frequency is Frequency.DAILY:
        if months or month_days or days or position is not None:
            return Unmappable("SHAPE", "a daily rule with BY-parts")
        return Pattern(frequency, interval, count=count, until=until)
    if frequency is Frequency.WEEKLY:
        if months or month_days or numbers or position is not None or not days:
            return Unmappable("SHAPE", "a weekly rule needs plain BYDAY only")
        return Pattern(frequency, interval, days=days, first_day=first_day, count=count, until=until)
    if len(month_days) > 1:
        return Unmappable("MULTI-BYMONTHDAY")
    if frequency is Frequency.MONTHLY and months:
        return Unmappable("MONTHLY-BYMONTH")
    if frequency is Frequency.YEARLY and len(months) > 1:
        return Unmappable("MULTI-BYMONTH")
    if frequency is Frequency.YEARLY and not months:
        return Unmappable("SHAPE", "a yearly rule needs BYMONTH")
    month = months[0] if months else None
    if month_days and not days:
        if not 1 <= month_days[0] <= 31 or position is not None:
            return Unmappable("SHAPE", "BYMONTHDAY must be one day 1..31")
        return Pattern(frequency, interval, day_of_month=month_days[0], month=month, count=count, until=until)
    if not days or month_days:
        return Unmappable("SHAPE", "a monthly or yearly rule needs BYMONTHDAY or BYDAY")
    if len(numbers) > 1 or (numbers and position is not None):
        return Unmappable("SHAPE", "mixed day numbers, or a numbered BYDAY with BYSETPOS")
    if numbers and len(days) > 1:
        return Unmappable("NUMBERED-DAYS")
    where = numbers.pop() if numbers else (position if position is not None else 1)
    if where not in POSITIONS:
        return Unmappable("POSITION", str(where))
    if len(days) != 1 and days not in GROUPS:
        return Unmappable("DAY-SET")
    return Pattern(frequency, interval, days=days, position=where, month=month, count=count, until=until)


def _by_day(raw: str) -> tuple[set[int], frozenset[Weekday]]:
    numbers: set[int] = set()
    days: set[Weekday] = set()
    for piece in filter(None, raw.split(",")):
        code, number = piece[-2:], piece[:-2]
        days.add(RRULE_DAYS_IN[code])
        if number:
            numbers.add(int(number))
    return numbers, frozenset(days)


def _until(raw: str, anchor: Anchor) -> date:
    instant = datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return anchor.last_date(instant)


# -------------------------------------------------------------------------------------------- Exchange


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


# ------------------------------------------------------------------------------------------ expansion


def occurrence_dates(pattern: Pattern, first: date, through: date) -> list[date]:
    """The local dates `pattern` falls on from `first` (the range start) through `through`, within its end.
    Both services expand the same way (reference/recurrence.md §5): a weekly period starts on `first_day`,
    a day of month past the month's end is its last day, a relative pattern counts the matching days."""
    last = min(through, pattern.until) if pattern.until is not None else through
    found: list[date] = []
    for day in _pattern_dates(pattern, first):
        if day > last or (pattern.count is not None and len(found) == pattern.count):
            break
        found.append(day)
    return found


def occurrence_starts(pattern: Pattern, anchor: Anchor, through: datetime) -> list[datetime]:
    """Original starts (UTC) of the occurrences starting by `through`, at the anchor's wall-clock time."""
    zone = ZoneInfo(anchor.zone)
    days = occurrence_dates(pattern, anchor.first, through.astimezone(zone).date())
    starts = [datetime.combine(day, anchor.time_of_day, tzinfo=zone).astimezone(UTC) for day in days]
    return [start for start in starts if start <= through]


def _pattern_dates(pattern: Pattern, first: date) -> Iterator[date]:
    if pattern.frequency is Frequency.DAILY:
        day = first
        while True:
            yield day
            day += timedelta(days=pattern.interval)
    if pattern.frequency is Frequency.WEEKLY:
        week = first - timedelta(days=(first.weekday() - pattern.first_day) % 7)
        offsets = sorted((day - pattern.first_day) % 7 for day in pattern.days)
        while True:
            yield from (d for d in (week + timedelta(days=o) for o in offsets) if d >= first)
            week += timedelta(weeks=pattern.interval)
    year, month = first.year, pattern.month or first.month
    if pattern.month is not None and month < first.month:
        year += 1
    step = pattern.interval if pattern.frequency is Frequency.MONTHLY else 12
    while year <= date.max.year - 1:
        found = _day_in_month(pattern, year, month)
        if found is not None and found >= first:
            yield found
        month += step
        year, month = year + (month - 1) // 12, (month - 1) % 12 + 1


def _day_in_month(pattern: Pattern, year: int, month: int) -> date | None:
    length = calendar.monthrange(year, month)[1]
    if pattern.position is None:
        return date(year, month, min(pattern.day_of_month or 1, length))
    matching = [
        date(year, month, d)
        for d in range(1, length + 1)
        if Weekday(date(year, month, d).weekday()) in pattern.days
    ]
    if pattern.position == -1:
        return matching[-1]
    return matching[pattern.position - 1] if pattern.position <= len(matching) else None
