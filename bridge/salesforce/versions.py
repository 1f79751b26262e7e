"""Salesforce versions and timestamps in one text form, whichever road they came by.

REST gives dateTimes as `2026-11-21T10:00:00.000+0000`; change events give epoch milliseconds. Both become
REST's text here, so a version read with `read_events` equals the one a change event carries for the same
write, and the runtime's replay and echo checks compare like with like.

An event's version is its LastModifiedDate, or the newest LastModifiedDate of its invitee relations when
that is later (adding an EventRelation does not touch the Event).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

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
    """A version or dateTime in REST text (or ISO with `Z`); None when it is not one."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def joined(event_modified: object, relation_modified: Iterable[object]) -> str:
    """The event's version: its LastModifiedDate, or a later relation's, in REST text."""
    newest = parse(event_modified)
    for value in relation_modified:
        moment = parse(value)
        if moment is not None and (newest is None or moment > newest):
            newest = moment
    return format_datetime(newest) if newest is not None else str(event_modified or "")
