"""Salesforce versions and timestamps in one text form, whichever road they came by.

REST gives dateTimes as `2026-11-21T10:00:00.000+0000`; change events give epoch milliseconds. Both become
REST's text here, so a version read with `read_events` equals the one a change event carries for the same
write, and the runtime's replay and echo checks compare like with like.

An event's version (`bridge.core.versions`) is its LastModifiedDate here and a digest of what was read; a
conditional write checks the LastModifiedDate part only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.core.fields import version_stamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def format_datetime(value: datetime) -> str:
    utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def from_epoch_ms(value: int) -> str:
    return format_datetime(_EPOCH + timedelta(milliseconds=value))


def date_from_epoch_ms(value: int) -> str:
    """A change event's date (epoch milliseconds of UTC midnight) as REST's `YYYY-MM-DD`."""
    return (_EPOCH + timedelta(milliseconds=value)).date().isoformat()


def parse(value: object) -> datetime | None:
    """A version or dateTime in REST text (or ISO with `Z`); None when it is not one. A version's content
    digest (`bridge.core.fields.salesforce_version`) is not part of its time."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    value = version_stamp(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def normalised(value: object) -> str:
    """A dateTime in REST text, whichever form it came in (text as it is when it is not one)."""
    moment = parse(value)
    return format_datetime(moment) if moment is not None else str(value or "")
