"""What the executor writes into the journal (bridge.store.journal), and how undo reads it back.

Values are kept in the bridge's field terms, the ones the ports take (`bridge.core.fields`): REST names
for an Event (`Subject`, `StartDateTime`, the pairing fields), exchangelib attribute names for an item
(`subject`, `start`, `salesforce_event_id`), so undo writes them back through the same ports unchanged.
JSON has no date, datetime or attendee: they travel as one-key objects (`{"datetime": ...}`,
`{"date": ...}`, `{"attendees": [[email, response], ...]}`), and `decode` turns them back.

Per action, what an entry holds:
- create: `after` = the fields written (an item's categories too); undo deletes the record.
- update: `before`/`after` = the written fields' old and new values (an item's categories before and
  the ones added and removed); undo writes `before` back.
- delete: `before` = the whole record as the bridge last knew it; undo re-creates it.
- add_relation / update_relation / remove_relation: the invitee and its status before and after.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from enum import Enum
from typing import Any

from bridge.core.fields import ExchangeAttendee, ExchangeItem
from bridge.ports import EventRecord, StoredPair
from bridge.store.codec import event_from_dict, event_to_dict, item_from_dict, item_to_dict

ITEM_FIELDS = frozenset(f.name for f in dataclass_fields(ExchangeItem))


def encode(value: object) -> object:
    """A field value as JSON."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, Enum):
        return encode(value.value)
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, tuple | list) and all(isinstance(v, ExchangeAttendee) for v in value):
        return {"attendees": [[a.email, a.response_type] for a in value]}
    if isinstance(value, tuple | list | frozenset | set):
        return [encode(v) for v in value]
    return str(value)


def decode(value: object) -> object:
    if isinstance(value, dict):
        if "datetime" in value:
            return datetime.fromisoformat(str(value["datetime"]))
        if "date" in value:
            return date.fromisoformat(str(value["date"]))
        if "attendees" in value:
            return tuple(ExchangeAttendee(str(e), str(r)) for e, r in value["attendees"])
    if isinstance(value, list):
        return tuple(decode(v) for v in value)
    return value


def encode_fields(values: Mapping[str, object]) -> dict[str, object]:
    return {str(name): encode(value) for name, value in values.items()}


def decode_fields(values: Mapping[str, object]) -> dict[str, object]:
    return {name: decode(value) for name, value in values.items()}


def event_before(record: EventRecord | None, names: Iterable[str]) -> dict[str, object] | None:
    if record is None:
        return None
    return {"fields": {name: encode(record.fields.get(name)) for name in names}}


def item_before(item: ExchangeItem | None, names: Iterable[str]) -> dict[str, object] | None:
    if item is None:
        return None
    known = {name: encode(getattr(item, name)) for name in names if name in ITEM_FIELDS}
    return {"fields": known, "categories": list(item.categories)}


def whole_event(record: EventRecord | None) -> dict[str, object] | None:
    return {"event": event_to_dict(record)} if record is not None else None


def whole_item(item: ExchangeItem | None) -> dict[str, object] | None:
    return {"item": item_to_dict(item)} if item is not None else None


def event_of(data: Mapping[str, Any] | None) -> EventRecord | None:
    return event_from_dict(data["event"]) if data is not None and "event" in data else None


def item_of(data: Mapping[str, Any] | None) -> ExchangeItem | None:
    return item_from_dict(data["item"]) if data is not None and "item" in data else None


def stored_pair_json(pair: StoredPair | None) -> dict[str, object] | None:
    """The pair row before a plan, as the store would keep it."""
    if pair is None:
        return None
    from bridge.core.serial import state_to_dict

    return {
        "state": state_to_dict(pair.state),
        "event": event_to_dict(pair.event) if pair.event is not None else None,
        "item": item_to_dict(pair.item) if pair.item is not None else None,
    }


def stored_pair_of(user_id: str, data: Mapping[str, Any]) -> StoredPair:
    from bridge.core.serial import state_from_dict

    event, item = data.get("event"), data.get("item")
    return StoredPair(
        user_id,
        state_from_dict(data["state"]),
        event_from_dict(event) if event is not None else None,
        item_from_dict(item) if item is not None else None,
    )
