"""Avro schemas of the sandbox's event topics, generated from the sObject definitions in schema.py.

Change events follow salesforce.md §2: record `com.sforce.eventbus.<X>ChangeEvent`, field 0 the
`ChangeEventHeader`, then every field the object carries in change events (declaration order), each
`["null", T]` with default null because UPDATE events send unchanged fields as null. Dates and datetimes are
long epoch milliseconds. Platform events carry non-null CreatedDate/CreatedById and their custom fields.
Like real schemas they have `doc` annotations and a top-level `uuid`; the schema id is a stable hash of the
schema JSON, so the same definitions always give the same ids.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.sandbox.salesforce.schema import FieldDef, SObjectDef, change_event_name

NAMESPACE = "com.sforce.eventbus"
CHANGE_TYPES = (
    "CREATE",
    "UPDATE",
    "DELETE",
    "UNDELETE",
    "GAP_CREATE",
    "GAP_UPDATE",
    "GAP_DELETE",
    "GAP_UNDELETE",
    "GAP_OVERFLOW",
    "SNAPSHOT",
)

# Describe type -> (Avro primitive, doc suffix as real schemas write it).
_AVRO_TYPES: dict[str, tuple[str, str]] = {
    "id": ("string", "EntityId"),
    "reference": ("string", "EntityId"),
    "string": ("string", "Text"),
    "textarea": ("string", "TextArea"),
    "picklist": ("string", "Picklist"),
    "combobox": ("string", "Combobox"),
    "email": ("string", "Email"),
    "phone": ("string", "Phone"),
    "url": ("string", "Url"),
    "boolean": ("boolean", "Boolean"),
    "int": ("int", "Int"),
    "double": ("double", "Double"),
    "datetime": ("long", "DateTime"),
    "date": ("long", "Date"),
}

# Salesforce sends long text areas (above this length) as a diff in change events.
LONG_TEXT_MIN_LENGTH = 256


@dataclass(frozen=True)
class TopicSchema:
    """One generated schema: its JSON text, its id and the sObject fields behind its body fields."""

    name: str
    # The sObject the events are about (the header's entityName for change events).
    entity: str
    schema_json: str
    schema_id: str
    body_fields: tuple[FieldDef, ...]
    # Position of the first body field among the record's fields (1 after a ChangeEventHeader, else 0).
    first_body_position: int


def is_long_text(field: FieldDef) -> bool:
    return field.type == "textarea" and (field.length or 0) >= LONG_TEXT_MIN_LENGTH


def avro_type(field: FieldDef) -> str:
    """The Avro primitive a field's value is written as; unknown describe types are a programming error."""
    return _AVRO_TYPES[field.type][0]


def _doc(field: FieldDef) -> str:
    label = field.name
    if field.type == "reference" and not field.custom:
        # Real schemas name standard lookups by relationship: "CreatedBy:EntityId".
        label = field.relationship_name or field.name.removesuffix("Id")
    suffix = _AVRO_TYPES[field.type][1]
    if is_long_text(field):
        suffix = "LongTextArea"
    return f"{label}:{suffix}"


def _header_schema() -> dict[str, Any]:
    string_list = {"type": "array", "items": "string"}
    return {
        "type": "record",
        "name": "ChangeEventHeader",
        "namespace": NAMESPACE,
        "fields": [
            {"name": "entityName", "type": "string"},
            {"name": "recordIds", "type": string_list},
            {
                "name": "changeType",
                "type": {
                    "type": "enum",
                    "name": "ChangeType",
                    "namespace": NAMESPACE,
                    "symbols": list(CHANGE_TYPES),
                },
            },
            {"name": "changeOrigin", "type": "string"},
            {"name": "transactionKey", "type": "string"},
            {"name": "sequenceNumber", "type": "int"},
            {"name": "commitTimestamp", "type": "long"},
            {"name": "commitNumber", "type": "long"},
            {"name": "commitUser", "type": "string"},
            {"name": "nulledFields", "type": string_list},
            {"name": "diffFields", "type": string_list},
            {"name": "changedFields", "type": string_list},
        ],
    }


def change_event_fields(sobject: SObjectDef) -> tuple[FieldDef, ...]:
    """Body fields of the object's change event: the record id travels in the header, not the body."""
    return tuple(f for f in sobject.fields if f.in_change_events and f.type != "id")


def _finish(
    sobject: SObjectDef, name: str, schema: dict[str, Any], body: tuple[FieldDef, ...], first: int
) -> TopicSchema:
    # The uuid derives from the content: stable, yet opaque like the value real schemas carry.
    content = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    schema["uuid"] = (
        base64.urlsafe_b64encode(hashlib.sha256(b"uuid:" + content).digest()[:16]).decode().rstrip("=")
    )
    schema_json = json.dumps(schema, separators=(",", ":"))
    schema_id = (
        base64.urlsafe_b64encode(hashlib.sha256(schema_json.encode()).digest()[:16]).decode().rstrip("=")
    )
    return TopicSchema(name, sobject.name, schema_json, schema_id, body, first)


def change_event_schema(sobject: SObjectDef) -> TopicSchema:
    """The change-event schema of one CDC-enabled object."""
    body = change_event_fields(sobject)
    fields: list[dict[str, Any]] = [
        {"name": "ChangeEventHeader", "type": _header_schema(), "doc": "Data:ChangeEventHeader"}
    ]
    fields += [
        {"name": f.name, "type": ["null", avro_type(f)], "doc": _doc(f), "default": None} for f in body
    ]
    name = change_event_name(sobject.name)
    schema = {"type": "record", "name": name, "namespace": NAMESPACE, "fields": fields}
    return _finish(sobject, name, schema, body, 1)


def platform_event_schema(sobject: SObjectDef) -> TopicSchema:
    """The schema of a platform event: non-null CreatedDate/CreatedById, then the custom fields, nullable."""
    created = [f for f in sobject.fields if f.name in ("CreatedDate", "CreatedById")]
    custom = [f for f in sobject.fields if f.custom]
    fields: list[dict[str, Any]] = [{"name": f.name, "type": avro_type(f), "doc": _doc(f)} for f in created]
    fields += [
        {"name": f.name, "type": ["null", avro_type(f)], "doc": _doc(f), "default": None} for f in custom
    ]
    schema = {"type": "record", "name": sobject.name, "namespace": NAMESPACE, "fields": fields}
    return _finish(sobject, sobject.name, schema, tuple(created + custom), 0)


def all_schemas(objects: Mapping[str, SObjectDef]) -> dict[str, TopicSchema]:
    """Every topic schema of the org keyed by sObject name (lower case): change events and platform events."""
    schemas: dict[str, TopicSchema] = {}
    for sobject in objects.values():
        if sobject.platform_event:
            schemas[sobject.name.lower()] = platform_event_schema(sobject)
        elif sobject.change_events:
            schemas[sobject.name.lower()] = change_event_schema(sobject)
    return schemas
