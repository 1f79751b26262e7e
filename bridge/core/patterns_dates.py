"""A pattern's occurrences: the local dates and UTC starts it gives, expanded as both services expand
(reference/recurrence.md §5; checked against both sandboxes' own expansions)."""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.core.patterns import Anchor, Frequency, Pattern, Weekday


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
