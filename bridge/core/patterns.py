"""Recurrence patterns (SPEC §15, reference/recurrence.md §5): one canonical `Pattern` that both services can
hold, the `Anchor` that places it in time, and `Unmappable`, the reason a rule is not a `Pattern`.

A `Pattern` is what *both* services can hold: a rule either side cannot express is never a `Pattern` but an
`Unmappable` naming the row of `UNMAPPABLE` that refuses it, and such a series is expanded into single
events (R-REC-6). The mappings live beside this module, one per service, each total on `Pattern` with exact
round trips: `bridge.core.patterns_rrule` (Salesforce's `Recurrence2PatternText`) and
`bridge.core.patterns_ews` (EWS pattern and range); `bridge.core.patterns_dates` expands a pattern into the
dates and starts both services give it.

Time. An RRULE carries no DTSTART and its UNTIL is a UTC instant; EWS's end is a local date. The canonical
end is `until`, the last local date an occurrence may start on, in the series' zone; converting needs the
zone and the local time of day of the series' start (`Anchor`). All three services clamp a day of month past
the month's end to its last day, so `day_of_month` 29..31 means the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "ZONE": "Salesforce repeats a series in its owner's time zone, where this one's occurrences fall at "
    "other times (the zones change clocks on other dates, or a day of the month moves)",
}


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
