"""Times and dates as both services write them, and the UTC spans the core compares (R-FLD-2, R-FLD-3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.core.model import Timed, When


def as_utc(value: datetime) -> datetime:
    """UTC, exact to the second (R-FLD-2); naive values are taken as UTC."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


def parse_datetime(value: object) -> datetime | None:
    """A Salesforce dateTime: ISO text (REST), epoch milliseconds (CDC) or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, int):
        return datetime.fromtimestamp(value / 1000, UTC).replace(microsecond=0)
    if isinstance(value, str):
        return as_utc(datetime.fromisoformat(value))
    raise TypeError(f"not a Salesforce dateTime: {value!r}")


# CDC sends dates as a number; values this small are days since 1970, larger ones milliseconds.
_DAY_NUMBER_LIMIT = 1_000_000


def parse_date(value: object) -> date | None:
    """A Salesforce date: 'YYYY-MM-DD' (REST), a number of days or milliseconds since 1970 (CDC), a date."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return as_utc(value).date()
    if isinstance(value, date):
        return value
    if isinstance(value, int):
        if abs(value) < _DAY_NUMBER_LIMIT:
            return date(1970, 1, 1) + timedelta(days=value)
        return datetime.fromtimestamp(value / 1000, UTC).date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    raise TypeError(f"not a Salesforce date: {value!r}")


def format_datetime(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_span(when: When, mailbox_zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC interval of a span; all-day dates start at midnight in the mailbox time zone."""
    if isinstance(when, Timed):
        return when.start, when.end
    start = datetime.combine(when.first, time(), mailbox_zone).astimezone(UTC)
    end = datetime.combine(when.end, time(), mailbox_zone).astimezone(UTC)
    return start, end


def duration(when: When) -> timedelta:
    if isinstance(when, Timed):
        return when.end - when.start
    return timedelta(days=when.days)
