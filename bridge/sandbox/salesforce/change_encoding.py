"""Turns the org's `RecordChange`s into Avro change-event payloads, as Salesforce fills them in Pub/Sub.

Body rules (salesforce.md §2.3): CREATE and UNDELETE carry every field; UPDATE carries the changed fields and
null for the rest, with `changedFields`/`nulledFields`/`diffFields` bitmaps telling "set to null" from
"unchanged"; DELETE and the GAP_* events carry only the header.

Long text (Description): Salesforce marks large text areas it sends as a data diff in `diffFields`.
The sandbox marks such a field in `diffFields` too but carries the full new value, not a diff: a
consumer that honours `diffFields` (re-reads the record, as it must for a real diff it cannot apply)
behaves the same, and one that ignores it still gets correct text instead of patch syntax. Every UPDATE
that sets a long text area to a non-null value is flagged, as is anything the org names in
`RecordChange.diff`.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import avro.io
import avro.schema

from bridge.sandbox.salesforce.avro_schemas import TopicSchema, avro_type, is_long_text
from bridge.sandbox.salesforce.bitmaps import encode_bitmap
from bridge.sandbox.salesforce.changes import RecordChange
from bridge.sandbox.salesforce.schema import FieldDef

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS_PER_DAY = 86_400_000


def epoch_ms(value: datetime | date | str) -> int:
    """A date or datetime as change events write it: epoch milliseconds (dates at UTC midnight)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        delta = aware - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    return value.toordinal() * _MS_PER_DAY - date(1970, 1, 1).toordinal() * _MS_PER_DAY


def avro_value(field: FieldDef, value: Any) -> Any:
    """One org value in the Avro type of its field (None stays None)."""
    if value is None:
        return None
    kind = avro_type(field)
    if field.type in ("datetime", "date"):
        return epoch_ms(value)
    if kind == "boolean":
        return bool(value)
    if kind == "int":
        return int(value)
    if kind == "double":
        return float(value)
    return value if isinstance(value, str) else str(value)


class PayloadCodec:
    """Encodes (and, for Publish validation, decodes) Avro binary payloads of one topic schema."""

    def __init__(self, topic_schema: TopicSchema) -> None:
        self.topic_schema = topic_schema
        parsed = avro.schema.parse(topic_schema.schema_json)
        self._schema = parsed
        self._writer = avro.io.DatumWriter(parsed)
        self._reader = avro.io.DatumReader(parsed)

    def encode(self, datum: Mapping[str, Any]) -> bytes:
        buffer = io.BytesIO()
        # write_data type-checks every value as it writes; DatumWriter.write would first walk the whole
        # datum a second time to validate it, which halves throughput for nothing.
        self._writer.write_data(self._schema, datum, avro.io.BinaryEncoder(buffer))
        return buffer.getvalue()

    def decode(self, payload: bytes) -> dict[str, Any]:
        """The datum in `payload`; ValueError if it does not decode with this schema or has trailing bytes."""
        buffer = io.BytesIO(payload)
        try:
            datum = self._reader.read(avro.io.BinaryDecoder(buffer))
        except Exception as exc:  # avro raises assorted errors for malformed input
            raise ValueError(f"payload does not match schema {self.topic_schema.schema_id}: {exc}") from exc
        if buffer.tell() != len(payload):
            raise ValueError(f"payload has {len(payload) - buffer.tell()} bytes after the event")
        if not isinstance(datum, dict):
            raise ValueError("payload is not an Avro record")
        return datum


def _lookup(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name.lower(): value for name, value in values.items()}


def change_datum(
    topic_schema: TopicSchema,
    change: RecordChange,
    *,
    transaction_key: str,
    sequence: int,
    commit_timestamp_ms: int,
    commit_number: int,
) -> dict[str, Any]:
    """The Avro datum of one RecordChange (CREATE/UPDATE/DELETE/UNDELETE) in its change-event schema."""
    body = topic_schema.body_fields
    first = topic_schema.first_body_position
    values = _lookup(change.values)
    changed = {name.lower() for name in change.changed}
    nulled = {name.lower() for name in change.nulled}
    diff = {name.lower() for name in change.diff}
    datum: dict[str, Any] = {}
    changed_pos: list[int] = []
    nulled_pos: list[int] = []
    diff_pos: list[int] = []
    for offset, field in enumerate(body):
        key = field.name.lower()
        value = avro_value(field, values.get(key))
        if change.change_type in ("CREATE", "UNDELETE"):
            datum[field.name] = value
        elif change.change_type == "UPDATE" and key in changed:
            datum[field.name] = value
            changed_pos.append(first + offset)
            if value is None or key in nulled:
                datum[field.name] = None
                nulled_pos.append(first + offset)
            elif key in diff or is_long_text(field):
                diff_pos.append(first + offset)
        else:
            datum[field.name] = None
    datum["ChangeEventHeader"] = header_datum(
        entity=topic_schema.entity,
        record_ids=[change.record_id],
        change_type=change.change_type,
        origin=change.origin,
        transaction_key=transaction_key,
        sequence=sequence,
        commit_timestamp_ms=commit_timestamp_ms,
        commit_number=commit_number,
        commit_user=change.commit_user,
        changed=encode_bitmap(changed_pos),
        nulled=encode_bitmap(nulled_pos),
        diff=encode_bitmap(diff_pos),
    )
    return datum


def gap_datum(
    topic_schema: TopicSchema,
    *,
    record_ids: list[str],
    change_type: str,
    transaction_key: str,
    commit_timestamp_ms: int,
    commit_number: int,
    commit_user: str = "",
) -> dict[str, Any]:
    """A header-only event (GAP_* or GAP_OVERFLOW): every body field null, no bitmaps."""
    datum: dict[str, Any] = {field.name: None for field in topic_schema.body_fields}
    datum["ChangeEventHeader"] = header_datum(
        entity=topic_schema.entity,
        record_ids=record_ids,
        change_type=change_type,
        origin="",
        transaction_key=transaction_key,
        sequence=1,
        commit_timestamp_ms=commit_timestamp_ms,
        commit_number=commit_number,
        commit_user=commit_user,
        changed=[],
        nulled=[],
        diff=[],
    )
    return datum


def header_datum(
    *,
    entity: str,
    record_ids: list[str],
    change_type: str,
    origin: str,
    transaction_key: str,
    sequence: int,
    commit_timestamp_ms: int,
    commit_number: int,
    commit_user: str,
    changed: list[str],
    nulled: list[str],
    diff: list[str],
) -> dict[str, Any]:
    return {
        "entityName": entity,
        "recordIds": record_ids,
        "changeType": change_type,
        "changeOrigin": origin,
        "transactionKey": transaction_key,
        "sequenceNumber": sequence,
        "commitTimestamp": commit_timestamp_ms,
        "commitNumber": commit_number,
        "commitUser": commit_user,
        "nulledFields": nulled,
        "diffFields": diff,
        "changedFields": changed,
    }
