"""One series' pattern said in another time zone (SPEC §15, R-REC-1/2; reference/recurrence.md §5).

An RRULE carries no zone: Salesforce repeats a Lightning series in its owner's time zone (the person's
`TimeZoneSidKey`, whoever writes it), at the local time of day of its first occurrence. An Outlook series
repeats in its start's zone. Booked in New York at 20:00 on Tuesdays, a series is on Wednesdays at 02:00 for
an owner in Berlin: written as `BYDAY=TU` it would land a day off there. `in_zone` says the same occurrences
in the owner's zone (the days moved with the first occurrence's local date), or None when that zone cannot
hold them: its clocks change on other dates (the occurrences between move by an hour there), or a moved
day of the month or a k-th weekday has no equivalent. Such a series is not held as a series by Salesforce
(`Unmappable` "ZONE"): it syncs occurrence by occurrence (R-REC-6).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.core.patterns import Anchor, Frequency, Pattern, Shape, Weekday
from bridge.core.patterns_dates import occurrence_starts

# How far an endless series is compared: every clock change of two years, in both zones.
_ENDLESS = timedelta(days=2 * 366)
_LAST_DAY_SAFE = 28  # a day of month every month has: past it, the months' ends clamp differently


def in_zone(pattern: Pattern, anchor: Anchor, zone: str) -> tuple[Pattern, Anchor] | None:
    """`pattern` from `anchor`, said in `zone` with the same starts (UTC), or None when it cannot be."""
    if zone == anchor.zone:
        return pattern, anchor
    try:
        there = ZoneInfo(zone)
    except (ValueError, KeyError, OSError):
        return None
    first = anchor.until_instant(anchor.first).astimezone(there)
    moved = Anchor(first.date(), first.time().replace(tzinfo=None), zone)
    candidate = _shifted(pattern, (moved.first - anchor.first).days)
    if candidate is None:
        return None
    if pattern.until is not None:
        candidate = replace(candidate, until=moved.last_date(anchor.until_instant(pattern.until)))
    start = anchor.until_instant(anchor.first)
    if pattern.count is not None:
        through = _last_of(pattern, start)
    elif pattern.until is not None:
        through = anchor.until_instant(pattern.until) + timedelta(days=1)
    else:
        through = start + _ENDLESS
    if occurrence_starts(pattern, anchor, through) != occurrence_starts(candidate, moved, through):
        return None
    return candidate, moved


def same_series(a: tuple[Pattern, Anchor], b: tuple[Pattern, Anchor]) -> bool:
    """Whether two (pattern, anchor) give the same starts, whichever zone each is said in."""
    found = in_zone(b[0], b[1], a[1].zone)
    return found is not None and found[0] == a[0] and _first(found[1]) == _first(a[1])


def _first(anchor: Anchor) -> datetime:
    return anchor.until_instant(anchor.first)


def _last_of(pattern: Pattern, start: datetime) -> datetime:
    """A moment past the last start of a counted pattern (its count bounds the expansion)."""
    assert pattern.count is not None
    step = {Frequency.DAILY: 1, Frequency.WEEKLY: 7, Frequency.MONTHLY: 31, Frequency.YEARLY: 366}
    return start + timedelta(days=step[pattern.frequency] * pattern.interval * (pattern.count + 1))


def _shifted(pattern: Pattern, shift: int) -> Pattern | None:
    """The pattern with its days moved by `shift` days (the first occurrence's date there minus here)."""
    if shift == 0 or pattern.shape is Shape.EVERY:
        return pattern
    if pattern.shape is Shape.DAYS:
        days = frozenset(Weekday((d + shift) % 7) for d in pattern.days)
        return replace(pattern, days=days, first_day=Weekday((pattern.first_day + shift) % 7))
    if pattern.shape is Shape.ABSOLUTE and pattern.day_of_month is not None:
        day = pattern.day_of_month + shift
        if 1 <= day <= _LAST_DAY_SAFE and pattern.day_of_month <= _LAST_DAY_SAFE:
            return replace(pattern, day_of_month=day)
    return None  # a k-th weekday of the month moved by a day is no k-th weekday
