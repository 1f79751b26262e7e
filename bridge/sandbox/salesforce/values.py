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
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
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


_JSON_TOKENS: tuple[tuple[type, str], ...] = (
    (bool, "VALUE_BOOLEAN"),
    (int, "VALUE_NUMBER_INT"),
    (float, "VALUE_NUMBER_FLOAT"),
    (str, "VALUE_STRING"),
    (list, "START_ARRAY"),
    (dict, "START_OBJECT"),
)


class DeserializeError(SalesforceError):
    """A JSON value that cannot become a value of the field's type. Salesforce reports it while parsing
    the body (JSON_PARSER_ERROR, no `fields`); the REST layer appends where in the body it sits."""

    def __init__(self, field: FieldDef, raw: Any) -> None:
        token = next((name for kind, name in _JSON_TOKENS if isinstance(raw, kind)), "VALUE_EMBEDDED_OBJECT")
        if token == "VALUE_BOOLEAN":
            token = "VALUE_TRUE" if raw else "VALUE_FALSE"
        if token in ("START_ARRAY", "START_OBJECT"):
            message = f"Cannot deserialize instance of {field.type} from {token} value"
        else:
            shown = str(raw).lower() if isinstance(raw, bool) else raw
            message = (
                f"Cannot deserialize instance of {field.type} from {token} value {shown} "
                "or request may be missing a required field"
            )
        super().__init__(400, "JSON_PARSER_ERROR", message)
        self.field_name = field.name


def _number(field: FieldDef, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise DeserializeError(field, raw)
    try:
        return float(raw)
    except ValueError:
        raise DeserializeError(field, raw) from None


def _text_value(field: FieldDef, raw: Any) -> str | None:
    if isinstance(raw, bool | dict | list):
        raise DeserializeError(field, raw)
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


def _moment(field: FieldDef, raw: Any) -> datetime:
    if isinstance(raw, datetime):
        aware = raw if raw.tzinfo else raw.replace(tzinfo=UTC)
        return aware.astimezone(UTC).replace(microsecond=0)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day, tzinfo=UTC)
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise DeserializeError(field, raw)
    return parsed


def _id_list(field: FieldDef, raw: Any) -> list[str]:
    """A JunctionIdList: a JSON array of ids, each in its 18-character form."""
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise DeserializeError(field, raw)
    normal: list[str] = []
    for item in raw:
        record_id = ids.normalize(item)
        if record_id is None:
            raise record_error(
                "MALFORMED_ID", f"{field.name}: id value of incorrect type: {item}", [field.name]
            )
        normal.append(record_id)
    return normal


def coerce(field: FieldDef, raw: Any) -> Any:
    """The stored value for `raw` (JSON or already-Python) written to `field`, or a SalesforceError:
    DeserializeError for a JSON value of the wrong kind, record errors (STRING_TOO_LONG, MALFORMED_ID,
    INVALID_TYPE_ON_FIELD_IN_RECORD for a null checkbox) otherwise."""
    kind = field.type
    if raw is None and kind == "boolean":
        raise record_error(
            "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{field.name}: value not of required type: ", [field.name]
        )
    if raw is None or (raw == "" and kind not in _TEXT_TYPES and kind != "boolean"):
        return None
    if kind in _TEXT_TYPES:
        return _text_value(field, raw)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        raise DeserializeError(field, raw)
    if kind == "int":
        number = _number(field, raw)
        if not number.is_integer():
            raise DeserializeError(field, raw)
        return int(number)
    if kind in ("double", "currency", "percent"):
        return _number(field, raw)
    if kind == "datetime":
        return _moment(field, raw)
    if kind == "date":
        if isinstance(raw, date) and not isinstance(raw, datetime):
            return raw
        return _moment(field, raw).date()
    if kind == "junctionidlist":
        return _id_list(field, raw)
    if kind in ("reference", "id"):
        if not isinstance(raw, str):
            raise DeserializeError(field, raw)
        normal = ids.normalize(raw)
        if normal is None:
            raise record_error(
                "MALFORMED_ID", f"{field.name}: id value of incorrect type: {raw}", [field.name]
            )
        return normal
    raise DeserializeError(field, raw)


def from_json(field: FieldDef, value: Any) -> Any:
    """A value saved with `to_json` back as the stored Python value (used by persistence)."""
    if value is None:
        return None
    if field.type == "datetime":
        return parse_datetime(value)
    if field.type == "date":
        return date.fromisoformat(value)
    return value
