"""JSON-safe forms of the raw copies a pair keeps: `EventRecord` and `ExchangeItem`.

Each form is a plain dict of str, int, float, bool, None, lists and dicts, tagged with its version
(`"v": 1`), so the store can keep it as JSON text and a later release can still read it. Decoding is
strict about shape (a row that is not what this code wrote raises `MappingError`) and lenient about
optional fields (a field missing from an older form takes the dataclass default).

Values that JSON has no type for travel as one-key objects: `{"date": "2024-05-01"}` and
`{"datetime": "2024-05-01T09:00:00+00:00"}`. A datetime keeps its UTC offset (or its naivety); a
datetime in a named zone comes back in a fixed offset, the same instant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from typing import Any

from bridge.core.fields import ExchangeAttendee, ExchangeItem, SalesforceRelation
from bridge.core.model import RelationKind
from bridge.errors import MappingError
from bridge.ports import EventRecord

VERSION = 1

JSON = dict[str, Any]

# ------------------------------------------------------------------------------------------ scalars


def _encode_value(name: str, value: object) -> object:
    """A field value as JSON: scalars as they are, dates and datetimes tagged."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        # json.dumps writes NaN and Infinity (not strict JSON, but json.loads reads them back).
        return value
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    raise TypeError(
        f"field {name!r}: a {type(value).__name__} cannot be stored, only str, int, float, bool, None"
    )


def _decode_value(name: str, value: object) -> object:
    if isinstance(value, dict):
        if set(value) == {"datetime"} and isinstance(value["datetime"], str):
            return datetime.fromisoformat(value["datetime"])
        if set(value) == {"date"} and isinstance(value["date"], str):
            return date.fromisoformat(value["date"])
        raise MappingError(f"stored field {name!r} holds an object this version cannot read: {value!r}")
    if value is None or isinstance(value, str | bool | int | float):
        return value
    raise MappingError(f"stored field {name!r} holds {value!r}, which this version cannot read")


def _encode_moment(value: date | datetime) -> JSON:
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    return {"date": value.isoformat()}


def _decode_moment(name: str, value: object) -> date | datetime:
    decoded = _decode_value(name, value)
    if not isinstance(decoded, date):
        raise MappingError(f"stored field {name!r} is not a date or datetime: {value!r}")
    return decoded


def _check_version(kind: str, data: object) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise MappingError(f"stored {kind} is not an object: {data!r:.200}")
    version = data.get("v")
    if version != VERSION:
        raise MappingError(f"stored {kind} has version {version!r}; this release reads version {VERSION}")
    return data


# -------------------------------------------------------------------------------------- EventRecord


def relation_to_dict(relation: SalesforceRelation) -> JSON:
    return {
        "relation_id": relation.relation_id,
        "kind": relation.kind.value,
        "email": relation.email,
        "status": relation.status,
        "owned_by_user": relation.owned_by_user,
    }


def relation_from_dict(data: Mapping[str, Any]) -> SalesforceRelation:
    try:
        return SalesforceRelation(
            relation_id=str(data["relation_id"]),
            kind=RelationKind(data["kind"]),
            email=data.get("email"),
            status=str(data.get("status", "New")),
            owned_by_user=bool(data.get("owned_by_user", False)),
        )
    except (KeyError, ValueError, TypeError) as error:
        raise MappingError(f"stored Salesforce relation cannot be read ({error}): {data!r:.200}") from error


def event_to_dict(record: EventRecord) -> JSON:
    """The JSON-safe form of an Event and its relations; a field holding anything but str, int, float,
    bool, None, date or datetime raises TypeError (a bug in the caller, not in the data)."""
    return {
        "v": VERSION,
        "fields": {str(name): _encode_value(str(name), value) for name, value in record.fields.items()},
        "relations": [relation_to_dict(relation) for relation in record.relations],
    }


def event_from_dict(data: object) -> EventRecord:
    checked = _check_version("Salesforce event", data)
    stored_fields = checked.get("fields")
    stored_relations = checked.get("relations", [])
    if not isinstance(stored_fields, Mapping) or not isinstance(stored_relations, list):
        raise MappingError(f"stored Salesforce event has no fields or relations list: {data!r:.200}")
    return EventRecord(
        fields={name: _decode_value(name, value) for name, value in stored_fields.items()},
        relations=tuple(relation_from_dict(row) for row in stored_relations),
    )


# ------------------------------------------------------------------------------------- ExchangeItem

_ITEM_FIELDS = tuple(f.name for f in dataclass_fields(ExchangeItem))
_MOMENTS = frozenset({"start", "end", "last_modified_time"})
_ATTENDEE_GROUPS = frozenset({"required_attendees", "optional_attendees"})


def item_to_dict(item: ExchangeItem) -> JSON:
    """The JSON-safe form of an Exchange item."""
    data: JSON = {"v": VERSION}
    for name in _ITEM_FIELDS:
        value = getattr(item, name)
        if name in _MOMENTS:
            data[name] = _encode_moment(value)
        elif name in _ATTENDEE_GROUPS:
            data[name] = [{"email": a.email, "response_type": a.response_type} for a in value]
        elif name == "categories":
            data[name] = list(value)
        else:
            data[name] = value
    return data


def item_from_dict(data: object) -> ExchangeItem:
    checked = _check_version("Exchange item", data)
    values: dict[str, Any] = {}
    try:
        for name in _ITEM_FIELDS:
            if name not in checked:
                continue  # a field added after this row was written: the default
            value = checked[name]
            if name in _MOMENTS:
                values[name] = _decode_moment(name, value)
            elif name in _ATTENDEE_GROUPS:
                values[name] = tuple(
                    ExchangeAttendee(str(a["email"]), str(a["response_type"])) for a in value
                )
            elif name == "categories":
                values[name] = tuple(str(c) for c in value)
            else:
                values[name] = value
        return ExchangeItem(**values)
    except (KeyError, TypeError, ValueError) as error:
        raise MappingError(f"stored Exchange item cannot be read ({error}): {data!r:.200}") from error


# --------------------------------------------------------------------------------------------- text


def dumps(data: JSON) -> str:
    """Compact JSON text, ASCII only (a NUL or lone surrogate in a value survives any database)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


def loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise MappingError(f"stored JSON cannot be parsed ({error}): {text[:200]!r}") from error
