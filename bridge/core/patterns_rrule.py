"""Salesforce's RRULE subset (`Recurrence2PatternText`, reference/recurrence.md §2.3) <-> the canonical
`Pattern`. Exact both ways on `Pattern`: `pattern_from_rrule(rrule_text(p, a), a) == p`; a rule Exchange
cannot hold reads as an `Unmappable` naming its row (R-REC-6)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bridge.core.patterns import (
    GROUPS,
    POSITIONS,
    Anchor,
    Frequency,
    Pattern,
    Unmappable,
    Weekday,
)

RRULE_DAYS = {day: day.name for day in Weekday}
RRULE_DAYS_IN = {code: day for day, code in RRULE_DAYS.items()}

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
