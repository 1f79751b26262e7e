"""EWS recurrence: the ``t:Recurrence`` element (every pattern and range), its rules, and its expansion.

A master stores one :class:`Recurrence`; occurrences are computed on demand, as Exchange does. Expansion works
on local dates in the master's start time zone and keeps the master's local time of day, so a series keeps its
wall-clock time across daylight saving changes. A day of month past the month's end means the last day (EWS,
Graph and Salesforce all clamp; RFC 5545 would skip).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from .timezones import zone_for
from .wire import Element, EWSError, sub, t

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DAY_GROUPS = {"Day": DAY_NAMES, "Weekday": DAY_NAMES[:5], "WeekendDay": DAY_NAMES[5:]}
INDEXES = ("First", "Second", "Third", "Fourth", "Last")
MONTHS = tuple(calendar.month_name[1:])
PATTERNS = (
    "DailyRecurrence",
    "WeeklyRecurrence",
    "AbsoluteMonthlyRecurrence",
    "RelativeMonthlyRecurrence",
    "AbsoluteYearlyRecurrence",
    "RelativeYearlyRecurrence",
)
RANGES = ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence")
_INTERVAL_MAX = {"DailyRecurrence": 999, "WeeklyRecurrence": 99}
EARLIEST = date(1601, 4, 1)
LATEST = date(4500, 9, 1)


def _invalid(text: str) -> EWSError:
    return EWSError("ErrorCalendarInvalidRecurrence", text)


@dataclass
class Recurrence:
    """One pattern (``pattern`` is the EWS element name) and one range (``range`` likewise)."""

    pattern: str
    range: str
    start_date: date
    interval: int = 1
    days_of_week: list[str] = field(default_factory=list)  # day names, or Day/Weekday/WeekendDay (relative)
    first_day_of_week: str = "Sunday"
    day_of_month: int | None = None
    day_of_week_index: str | None = None
    month: str | None = None
    end_date: date | None = None
    count: int | None = None

    # ---- expansion -----------------------------------------------------------------------------------------

    def dates(self) -> Iterator[date]:
        """Every occurrence date, in order, within the range (a no-end series stops at 4500-09-01)."""
        for produced, day in enumerate(self._pattern_dates()):
            if day > LATEST or (self.range == "EndDateRecurrence" and self.end_date and day > self.end_date):
                return
            if self.range == "NumberedRecurrence" and self.count is not None and produced >= self.count:
                return
            yield day

    def _pattern_dates(self) -> Iterator[date]:
        start = self.start_date
        kind = self.pattern
        if kind == "DailyRecurrence":
            day = start
            while day <= LATEST:
                yield day
                day += timedelta(days=self.interval)
        elif kind == "WeeklyRecurrence":
            first = DAY_NAMES.index(self.first_day_of_week)
            week = start - timedelta(days=(start.weekday() - first) % 7)
            offsets = sorted((DAY_NAMES.index(d) - first) % 7 for d in self.days_of_week)
            while week <= LATEST:
                for offset in offsets:
                    day = week + timedelta(days=offset)
                    if day >= start:
                        yield day
                week += timedelta(weeks=self.interval)
        elif kind in ("AbsoluteMonthlyRecurrence", "RelativeMonthlyRecurrence"):
            step = self.interval
            year, month = start.year, start.month
            while year <= LATEST.year:
                found = self._in_month(year, month)
                if found is not None and found >= start:
                    yield found
                month += step
                year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
        else:  # yearly: every year, no interval
            month = MONTHS.index(self.month or "January") + 1
            for year in range(start.year, LATEST.year + 1):
                found = self._in_month(year, month)
                if found is not None and found >= start:
                    yield found

    def _in_month(self, year: int, month: int) -> date | None:
        length = calendar.monthrange(year, month)[1]
        if self.pattern in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
            return date(year, month, min(self.day_of_month or 1, length))
        wanted = set(DAY_GROUPS.get(self.days_of_week[0], (self.days_of_week[0],)))
        matching = [
            date(year, month, d)
            for d in range(1, length + 1)
            if DAY_NAMES[date(year, month, d).weekday()] in wanted
        ]
        index = INDEXES.index(self.day_of_week_index or "First")
        if index == 4:
            return matching[-1]
        return matching[index] if index < len(matching) else None


def occurrence_starts(rec: Recurrence, first_start: datetime, tz_id: str | None) -> Iterator[datetime]:
    """Original starts (aware UTC) of every occurrence: each date at ``first_start``'s local time of day."""
    zone = zone_for(tz_id)
    local_time = first_start.astimezone(zone).time()
    for day in rec.dates():
        yield datetime.combine(day, local_time, tzinfo=zone).astimezone(UTC)


# ---- reading -----------------------------------------------------------------------------------------------


def _local(elem: Element) -> str:
    tag = elem.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _int(elem: Element, name: str) -> int:
    text = elem.findtext(t(name))
    if text is None:
        raise EWSError("ErrorSchemaValidation", f"The element '{_local(elem)}' is missing '{name}'.")
    try:
        return int(text.strip())
    except ValueError:
        raise EWSError("ErrorSchemaValidation", f"'{text}' is not a valid value for {name}.") from None


def _choice(elem: Element, name: str, choices: tuple[str, ...]) -> str:
    text = (elem.findtext(t(name)) or "").strip()
    if text not in choices:
        raise EWSError("ErrorSchemaValidation", f"'{text}' is not a valid value for {name}.")
    return text


def parse_date(text: str | None) -> date:
    """An ``xs:date``, with or without an offset (``2014-03-08``, ``2014-03-08Z``, ``2014-03-08-08:00``)."""
    raw = (text or "").strip()
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise EWSError("ErrorSchemaValidation", f"'{raw}' is not a valid date.") from None


def read_recurrence(elem: Element) -> Recurrence:
    """Parse and validate ``t:Recurrence`` as Exchange does (errors name the EWS response codes)."""
    children = list(elem)
    if len(children) != 2 or _local(children[0]) not in PATTERNS or _local(children[1]) not in RANGES:
        raise EWSError("ErrorSchemaValidation", "Recurrence needs one pattern element followed by one range.")
    pattern, rng = children
    kind, range_kind = _local(pattern), _local(rng)
    rec = Recurrence(pattern=kind, range=range_kind, start_date=parse_date(rng.findtext(t("StartDate"))))
    if kind in (
        "DailyRecurrence",
        "WeeklyRecurrence",
        "AbsoluteMonthlyRecurrence",
        "RelativeMonthlyRecurrence",
    ):
        rec.interval = _int(pattern, "Interval")
        if not 1 <= rec.interval <= _INTERVAL_MAX.get(kind, 99):
            raise _invalid(f"Interval {rec.interval} is out of range for {kind}.")
    if kind in ("WeeklyRecurrence", "RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
        days = (pattern.findtext(t("DaysOfWeek")) or "").split()
        if not days or any(d not in DAY_NAMES and d not in DAY_GROUPS for d in days):
            raise EWSError(
                "ErrorSchemaValidation", f"'{' '.join(days)}' is not a valid value for DaysOfWeek."
            )
        if kind == "WeeklyRecurrence":
            if any(d in DAY_GROUPS for d in days):
                raise EWSError(
                    "ErrorCalendarInvalidDayForWeeklyRecurrence",
                    "Invalid day specified for weekly recurrence.",
                )
            rec.days_of_week = [d for d in DAY_NAMES if d in days]
            if pattern.find(t("FirstDayOfWeek")) is not None:
                rec.first_day_of_week = _choice(pattern, "FirstDayOfWeek", DAY_NAMES)
        else:
            if len(days) != 1:
                raise EWSError("ErrorSchemaValidation", "DaysOfWeek takes one value in a relative pattern.")
            rec.days_of_week = days
            rec.day_of_week_index = _choice(pattern, "DayOfWeekIndex", INDEXES)
    if kind in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
        rec.day_of_month = _int(pattern, "DayOfMonth")
        if not 1 <= rec.day_of_month <= 31:
            raise _invalid(f"DayOfMonth {rec.day_of_month} is out of range.")
    if kind in ("AbsoluteYearlyRecurrence", "RelativeYearlyRecurrence"):
        rec.month = _choice(pattern, "Month", MONTHS)
    if rec.start_date < EARLIEST:
        raise EWSError("ErrorCalendarOutOfRange", "The recurrence start date is out of range.")
    if range_kind == "EndDateRecurrence":
        rec.end_date = parse_date(rng.findtext(t("EndDate")))
        if rec.end_date > LATEST:
            raise EWSError(
                "ErrorRecurrenceEndDateTooBig", "Recurrence end date can not exceed Sep 1, 4500 00:00:00."
            )
        if rec.end_date < rec.start_date:
            raise _invalid("The recurrence end date is earlier than its start date.")
    elif range_kind == "NumberedRecurrence":
        rec.count = _int(rng, "NumberOfOccurrences")
        if not 1 <= rec.count <= 999:
            raise _invalid(f"NumberOfOccurrences {rec.count} is out of range (1-999).")
    return rec


# ---- writing -----------------------------------------------------------------------------------------------


def fmt_date(day: date, tz_id: str | None) -> str:
    """A date with the offset of the series' zone on that day, as Exchange answers (``2014-03-08-08:00``)."""
    offset = datetime.combine(day, datetime.min.time(), tzinfo=zone_for(tz_id)).utcoffset() or timedelta(0)
    if not offset:
        return f"{day.isoformat()}Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{day.isoformat()}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def write_recurrence(parent: Element, rec: Recurrence, tz_id: str | None) -> None:
    out = sub(parent, t("Recurrence"))
    pattern = sub(out, t(rec.pattern))
    if rec.pattern in (
        "DailyRecurrence",
        "WeeklyRecurrence",
        "AbsoluteMonthlyRecurrence",
        "RelativeMonthlyRecurrence",
    ):
        sub(pattern, t("Interval"), str(rec.interval))
    if rec.pattern in ("WeeklyRecurrence", "RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
        sub(pattern, t("DaysOfWeek"), " ".join(rec.days_of_week))
    if rec.pattern == "WeeklyRecurrence":
        sub(pattern, t("FirstDayOfWeek"), rec.first_day_of_week)
    if rec.pattern in ("AbsoluteMonthlyRecurrence", "AbsoluteYearlyRecurrence"):
        sub(pattern, t("DayOfMonth"), str(rec.day_of_month))
    if rec.pattern in ("RelativeMonthlyRecurrence", "RelativeYearlyRecurrence"):
        sub(pattern, t("DayOfWeekIndex"), rec.day_of_week_index or "First")
    if rec.pattern in ("AbsoluteYearlyRecurrence", "RelativeYearlyRecurrence"):
        sub(pattern, t("Month"), rec.month or "January")
    rng = sub(out, t(rec.range))
    sub(rng, t("StartDate"), fmt_date(rec.start_date, tz_id))
    if rec.range == "EndDateRecurrence" and rec.end_date is not None:
        sub(rng, t("EndDate"), fmt_date(rec.end_date, tz_id))
    elif rec.range == "NumberedRecurrence":
        sub(rng, t("NumberOfOccurrences"), str(rec.count))


# ---- persistence -------------------------------------------------------------------------------------------


def to_json(rec: Recurrence) -> dict[str, object]:
    data = dict(rec.__dict__)
    data["start_date"] = rec.start_date.isoformat()
    data["end_date"] = rec.end_date.isoformat() if rec.end_date else None
    data["days_of_week"] = list(rec.days_of_week)
    return data


def from_json(data: dict[str, object]) -> Recurrence:
    values = dict(data)
    values["start_date"] = date.fromisoformat(str(values["start_date"]))
    values["end_date"] = date.fromisoformat(str(values["end_date"])) if values.get("end_date") else None
    return Recurrence(**values)  # type: ignore[arg-type]
