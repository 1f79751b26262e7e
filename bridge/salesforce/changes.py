"""Pub/Sub events decoded into the notices of `bridge.ports`: change events, gaps and commands.

Payloads are Avro binary of the schema their `schema_id` names (decoded with `avro`). For a change event:
- `changedFields`, `nulledFields` and `diffFields` are bitmaps over the schema's top-level fields (element 0,
  `0x...`, bit i = field i) plus `"<pos>-0x..."` elements for fields of a compound field (salesforce.md §1.7);
- `fields` holds, in REST names and REST's text form, the body's non-null values for a create, and for an
  update only the changed fields (nulled ones as None). ActivityDateTime/ActivityDate and
  DurationInMinutes stay as the payload has them; `core.fields.salesforce_when` derives start and end;
- a `changeOrigin` naming `client=<call_client>` is the echo of the bridge's own write (R-MERGE-3);
- GAP_* events become `StreamGap(GAP)` with their record ids, GAP_OVERFLOW `StreamGap(OVERFLOW)`.
Anything that does not read raises MappingError naming the topic, replay id, records and what was wrong.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import avro.errors
import avro.io
import avro.schema

from bridge.errors import MappingError
from bridge.ports import (
    BridgeCommand,
    ChangeType,
    CommandKind,
    EventChange,
    GapKind,
    SalesforceNotice,
    StreamGap,
    StreamPosition,
)
from bridge.salesforce import versions

EVENT_TOPIC = "/data/EventChangeEvent"
RELATION_TOPIC = "/data/EventRelationChangeEvent"
COMMAND_TOPIC = "/event/Calbridge_Command__e"
TOPICS: Mapping[str, str] = {
    EVENT_TOPIC: "Event",
    RELATION_TOPIC: "EventRelation",
    COMMAND_TOPIC: "Calbridge_Command__e",
}

# Real schemas annotate each field's type in `doc` ("LastModifiedDate:DateTime"); these names cover a schema
# that does not.
_DATETIME_NAMES = frozenset(
    {
        "CreatedDate",
        "LastModifiedDate",
        "ActivityDateTime",
        "ReminderDateTime",
        "RecurrenceStartDateTime",
        "RespondedDate",
    }
)
_DATE_NAMES = frozenset({"ActivityDate", "RecurrenceEndDateOnly"})
_GAPS = {"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "SNAPSHOT"}


def stream_name(topic: str) -> str:
    return f"sf:{topic}"


@dataclass(frozen=True)
class EventSchema:
    """A topic schema fetched with GetSchema, parsed once and cached by id."""

    schema_id: str
    record: avro.schema.RecordSchema
    kinds: Mapping[str, str]  # field name -> "datetime" | "date" for fields sent as epoch milliseconds

    @classmethod
    def parse(cls, schema_id: str, schema_json: str) -> EventSchema:
        try:
            parsed = avro.schema.parse(schema_json)
        except (avro.errors.AvroException, json.JSONDecodeError, TypeError, ValueError) as error:
            raise MappingError(f"schema {schema_id} is not an Avro schema: {error}") from None
        if not isinstance(parsed, avro.schema.RecordSchema):
            raise MappingError(f"schema {schema_id} is not an Avro record")
        kinds: dict[str, str] = {}
        for field in parsed.fields:
            doc = str(field.doc or "")
            if doc.endswith(":DateTime") or field.name in _DATETIME_NAMES:
                kinds[field.name] = "datetime"
            elif doc.endswith(":Date") or field.name in _DATE_NAMES:
                kinds[field.name] = "date"
        return cls(schema_id, parsed, kinds)

    def decode(self, payload: bytes) -> dict[str, Any]:
        buffer = io.BytesIO(payload)
        try:
            datum = avro.io.DatumReader(self.record).read(avro.io.BinaryDecoder(buffer))
        except Exception as error:  # avro raises assorted errors on malformed input
            raise MappingError(
                f"payload does not decode with schema {self.schema_id}: {type(error).__name__}: {error}"
            ) from None
        if not isinstance(datum, dict):
            raise MappingError(f"payload of schema {self.schema_id} is not a record")
        if buffer.tell() != len(payload):
            raise MappingError(f"payload has {len(payload) - buffer.tell()} bytes after the event")
        return datum

    def value(self, name: str, raw: object) -> object:
        """A body value in REST's form: dateTimes and dates as REST writes them."""
        kind = self.kinds.get(name)
        if isinstance(raw, int) and not isinstance(raw, bool):
            if kind == "datetime":
                return versions.from_epoch_ms(raw)
            if kind == "date":
                return versions.date_from_epoch_ms(raw)
        return raw


def _record_of(schema: avro.schema.Schema) -> avro.schema.RecordSchema | None:
    """A field's record type, unwrapping a union such as ["null", record]."""
    if isinstance(schema, avro.schema.RecordSchema):
        return schema
    if isinstance(schema, avro.schema.UnionSchema):
        for branch in schema.schemas:
            if isinstance(branch, avro.schema.RecordSchema):
                return branch
    return None


def _bits(hex_text: str) -> list[int]:
    if not hex_text.startswith("0x"):
        raise ValueError(f"{hex_text!r} is not a hex bitmap")
    value = int(hex_text[2:], 16)
    return [i for i in range(value.bit_length()) if value >> i & 1]


def bitmap_fields(record: avro.schema.RecordSchema, elements: Sequence[str]) -> list[str]:
    """Field names of a bitmap list: `0x...` over the top-level fields, `<pos>-0x...` over the fields of the
    compound field at `pos` (named `Parent.Child`). ValueError for an element that does not fit the schema."""
    fields = record.fields
    names: list[str] = []
    for element in elements:
        if not element:
            continue
        if element.startswith("0x"):
            for bit in _bits(element):
                if bit >= len(fields):
                    raise ValueError(f"bit {bit} of {element} is past the schema's {len(fields)} fields")
                names.append(fields[bit].name)
            continue
        position, _, nested = element.partition("-")
        if not position.isdigit() or int(position) >= len(fields):
            raise ValueError(f"{element!r} names no field of the schema")
        parent = fields[int(position)]
        child = _record_of(parent.type)
        if child is None:
            raise ValueError(f"{element!r}: field {parent.name} is not compound")
        for bit in _bits(nested):
            if bit >= len(child.fields):
                raise ValueError(f"bit {bit} of {element} is past {parent.name}'s fields")
            names.append(f"{parent.name}.{child.fields[bit].name}")
    return names


def _is_echo(origin: str, call_client: str) -> bool:
    return any(part.strip() == f"client={call_client}" for part in origin.split(";"))


def _lookup(datum: Mapping[str, Any], name: str) -> object:
    parent, _, child = name.partition(".")
    value = datum.get(parent)
    if child:
        return value.get(child) if isinstance(value, Mapping) else None
    return value


def change_notice(
    schema: EventSchema, datum: Mapping[str, Any], position: StreamPosition, call_client: str
) -> EventChange | StreamGap:
    """A decoded change event as a notice; MappingError when its header or bitmaps do not read."""
    header = datum.get("ChangeEventHeader")
    if not isinstance(header, Mapping):
        raise MappingError(f"{position.stream} event {position.value} has no ChangeEventHeader")
    entity = str(header.get("entityName") or "")
    record_ids = tuple(str(i) for i in header.get("recordIds") or ())
    change_type = str(header.get("changeType") or "")
    records = ", ".join(record_ids) or "no record"
    what = f"{entity or position.stream} {change_type or '?'} of {records} (replay {position.value})"
    if change_type == "GAP_OVERFLOW":
        return StreamGap(entity, GapKind.OVERFLOW, record_ids, position)
    if change_type in _GAPS:
        return StreamGap(entity, GapKind.GAP, record_ids, position)
    try:
        kind = ChangeType(change_type)
    except ValueError:
        raise MappingError(f"{what}: unknown change type") from None
    if not record_ids:
        raise MappingError(f"{what}: no record ids")
    try:
        changed = bitmap_fields(schema.record, header.get("changedFields") or ())
        nulled = set(bitmap_fields(schema.record, header.get("nulledFields") or ()))
        diff = frozenset(bitmap_fields(schema.record, header.get("diffFields") or ()))
    except ValueError as error:
        raise MappingError(f"{what}: {error}") from None
    fields: dict[str, object] = {}
    if kind is ChangeType.UPDATE:
        for name in changed:
            if name == "ChangeEventHeader":
                continue
            raw = None if name in nulled else _lookup(datum, name)
            fields[name] = schema.value(name, raw)
    elif kind in (ChangeType.CREATE, ChangeType.UNDELETE):
        for name, raw in datum.items():
            if name != "ChangeEventHeader" and raw is not None:
                fields[name] = schema.value(name, raw)
    committed = header.get("commitTimestamp")
    if not isinstance(committed, int):
        raise MappingError(f"{what}: no commitTimestamp")
    return EventChange(
        entity=entity,
        change_type=kind,
        record_ids=record_ids,
        fields=fields,
        diff_fields=diff,
        committed_at=datetime.fromtimestamp(committed / 1000, UTC),
        position=position,
        echo=_is_echo(str(header.get("changeOrigin") or ""), call_client),
        transaction_key=str(header.get("transactionKey") or ""),
    )


def command_notice(datum: Mapping[str, Any], position: StreamPosition) -> BridgeCommand:
    """A `Calbridge_Command__e` event: `Command__c` is sync_now, confirm or backfill (any case, spaces or
    hyphens for underscores)."""
    raw = str(datum.get("Command__c") or "")
    try:
        kind = CommandKind(raw.strip().lower().replace(" ", "_").replace("-", "_"))
    except ValueError:
        known = ", ".join(k.value for k in CommandKind)
        raise MappingError(
            f"command event {position.value}: unknown command {raw!r}; expected one of {known}"
        ) from None

    def text(name: str) -> str | None:
        value = datum.get(name)
        return str(value) if value else None

    return BridgeCommand(kind, text("User_Id__c"), text("Event_Id__c"), text("CreatedById"), position)


def notice(
    topic: str, schema: EventSchema, payload: bytes, replay_id: bytes, call_client: str
) -> SalesforceNotice:
    """One Pub/Sub event of `topic` as a notice; MappingError when it cannot be read."""
    position = StreamPosition(stream_name(topic), replay_id.hex())
    try:
        datum = schema.decode(payload)
    except MappingError as error:
        raise MappingError(f"{topic} event (replay {position.value}): {error}") from None
    if topic == COMMAND_TOPIC:
        return command_notice(datum, position)
    return change_notice(schema, datum, position, call_client)
