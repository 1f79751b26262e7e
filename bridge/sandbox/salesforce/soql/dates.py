"""SOQL's relative date literals as half-open ranges, computed in UTC (the sandbox org's time zone)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from .nodes import RelativeDate


def day_range(literal: RelativeDate, today: date) -> tuple[date, date]:
    """[first day, day after the last) that `literal` covers. LAST_N_DAYS:n includes today and the n days
    before it; NEXT_N_DAYS:n starts tomorrow and covers n days, as Salesforce defines them."""
    one = timedelta(days=1)
    match literal.name:
        case "TODAY":
            return today, today + one
        case "YESTERDAY":
            return today - one, today
        case "TOMORROW":
            return today + one, today + 2 * one
        case "LAST_N_DAYS":
            return today - literal.days * one, today + one
        case "NEXT_N_DAYS":
            return today + one, today + (literal.days + 1) * one
    raise AssertionError(literal.name)


def datetime_range(literal: RelativeDate, today: date) -> tuple[datetime, datetime]:
    """The same range as instants: from midnight UTC of the first day to midnight UTC after the last."""
    start, end = day_range(literal, today)
    return datetime.combine(start, time(), UTC), datetime.combine(end, time(), UTC)
