"""Field values: JSON input to the org's Python values (checked against the field's describe type), and back.

The org stores aware UTC datetimes truncated to the second (Salesforce keeps no sub-second part), dates,
bools, ints, floats, strs and None. REST writes datetimes as `2026-11-21T10:00:00.000+0000`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.errors import SalesforceError, record_error
from bridge.sandbox.salesforce.schema import FieldDef

_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)
_TEXT_TYPES = {"string", "textarea", "email", "phone", "combobox", "picklist", "url"}


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def format_datetime(value: datetime) -> str:
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def to_json(value: Any) -> Any:
    """A stored value as REST returns it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def parse_datetime(text: str) -> datetime | None:
    """`2026-11-21T10:00:00.000+0000`, `...Z`, `...+01:00` or a bare date (midnight UTC); else None."""
    match = _DATETIME.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, _fraction, zone = match.groups()
    try:
        parsed = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset_minutes = sign * (int(digits[:2]) * 60 + int(digits[2:]))
        parsed = parsed.replace(tzinfo=UTC) - timedelta(minutes=offset_minutes)
    return parsed.replace(tzinfo=UTC)


def _wrong_type(field: FieldDef, raw: Any) -> SalesforceError:
    shown = "true" if raw is True else "false" if raw is False else raw
    return record_error(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{field.name}: value not of required type: {shown}", [field.name]
    )


def coerce(field: FieldDef, raw: Any) -> Any:
    """The stored value for `raw` (JSON or already-Python) written to `field`, or a SalesforceError."""
    if raw is None or (raw == "" and field.type not in _TEXT_TYPES):
        return None
    kind = field.type
    if kind in _TEXT_TYPES:
        if isinstance(raw, bool | dict | list):
            raise _wrong_type(field, raw)
        text = str(raw)
        if text == "":
            return None
        if field.length is not None and len(text) > field.length:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise record_error(
                "STRING_TOO_LONG",
                f"{field.name}: data value too large: {shown} (max length={field.length})",
                [field.name],
            )
        return text
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        raise _wrong_type(field, raw)
    if kind == "int":
        if isinstance(raw, bool):
            raise _wrong_type(field, raw)
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str) and re.fullmatch(r"-?\d+", raw.strip()):
            return int(raw)
        raise _wrong_type(field, raw)
    if kind in ("double", "currency", "percent"):
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise _wrong_type(field, raw)
        try:
            return float(raw)
        except ValueError:
            raise _wrong_type(field, raw) from None
    if kind == "datetime":
        if isinstance(raw, datetime):
            aware = raw if raw.tzinfo else raw.replace(tzinfo=UTC)
            return aware.astimezone(UTC).replace(microsecond=0)
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise _wrong_type(field, raw)
        return parsed
    if kind == "date":
        if isinstance(raw, datetime):
            return raw.date()
        if isinstance(raw, date):
            return raw
        parsed = parse_datetime(raw) if isinstance(raw, str) else None
        if parsed is None:
            raise _wrong_type(field, raw)
        return parsed.date()
    if kind in ("reference", "id"):
        if not isinstance(raw, str):
            raise _wrong_type(field, raw)
        normal = ids.normalize(raw)
        if normal is None:
            raise record_error(
                "MALFORMED_ID", f"{field.name}: id value of incorrect type: {raw}", [field.name]
            )
        return normal
    raise _wrong_type(field, raw)


def from_json(field: FieldDef, value: Any) -> Any:
    """A value saved with `to_json` back as the stored Python value (used by persistence)."""
    if value is None:
        return None
    if field.type == "datetime":
        return parse_datetime(value)
    if field.type == "date":
        return date.fromisoformat(value)
    return value
