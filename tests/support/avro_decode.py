"""A small, independent Avro binary decoder and bitmap reader for tests.

Written from the Avro specification (binary encoding) and salesforce.md §1.7, deliberately without the avro or
fastavro libraries, so a bug in the sandbox's encoder cannot hide behind the library that wrote the bytes.
Covers what Salesforce event schemas use: null, boolean, int/long (zig-zag varints), float, double, bytes,
string, records, enums, arrays (in blocks, negative counts carrying a byte size), maps and unions.
"""

from __future__ import annotations

import json
import struct
from typing import Any


class AvroDecodeError(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise AvroDecodeError(f"need {size} bytes at {self.pos}, have {len(self.data) - self.pos}")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def varint(self) -> int:
        """A zig-zag encoded variable-length integer (int and long share this encoding)."""
        shift = 0
        raw = 0
        while True:
            byte = self.take(1)[0]
            raw |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise AvroDecodeError("varint longer than 10 bytes")
        return (raw >> 1) ^ -(raw & 1)


def _named_types(schema: Any, namespace: str | None, names: dict[str, Any]) -> None:
    """Register every named type (record, enum, fixed) under its full name and its short name."""
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, namespace, names)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        space = schema.get("namespace", namespace)
        name = schema["name"]
        full = name if "." in name or not space else f"{space}.{name}"
        names[full] = schema
        names.setdefault(name.rsplit(".", 1)[-1], schema)
        if kind in ("record", "error"):
            for field in schema["fields"]:
                _named_types(field["type"], space, names)
    elif kind == "array":
        _named_types(schema["items"], namespace, names)
    elif kind == "map":
        _named_types(schema["values"], namespace, names)


def _read(reader: _Reader, schema: Any, names: dict[str, Any]) -> Any:
    if isinstance(schema, list):
        index = reader.varint()
        if not 0 <= index < len(schema):
            raise AvroDecodeError(f"union index {index} out of range")
        return _read(reader, schema[index], names)
    if isinstance(schema, str):
        if schema in names:
            return _read(reader, names[schema], names)
        return _read_primitive(reader, schema)
    kind = schema["type"]
    if kind in ("record", "error"):
        return {field["name"]: _read(reader, field["type"], names) for field in schema["fields"]}
    if kind == "enum":
        index = reader.varint()
        symbols = schema["symbols"]
        if not 0 <= index < len(symbols):
            raise AvroDecodeError(f"enum index {index} out of range")
        return symbols[index]
    if kind == "array":
        return [_read(reader, schema["items"], names) for _ in _blocks(reader)]
    if kind == "map":
        return {
            _read_primitive(reader, "string"): _read(reader, schema["values"], names) for _ in _blocks(reader)
        }
    if kind == "fixed":
        return reader.take(schema["size"])
    return _read_primitive(reader, kind)


def _blocks(reader: _Reader) -> Any:
    """Yield once per item of an array or map written as blocks ending with a zero count."""
    while True:
        count = reader.varint()
        if count == 0:
            return
        if count < 0:
            count = -count
            reader.varint()  # the block's size in bytes, only useful for skipping
        for _ in range(count):
            yield None


def _read_primitive(reader: _Reader, kind: str) -> Any:
    if kind == "null":
        return None
    if kind == "boolean":
        value = reader.take(1)[0]
        if value not in (0, 1):
            raise AvroDecodeError(f"boolean byte {value}")
        return value == 1
    if kind in ("int", "long"):
        return reader.varint()
    if kind == "float":
        return struct.unpack("<f", reader.take(4))[0]
    if kind == "double":
        return struct.unpack("<d", reader.take(8))[0]
    if kind == "bytes":
        return reader.take(reader.varint())
    if kind == "string":
        return reader.take(reader.varint()).decode("utf-8")
    raise AvroDecodeError(f"unknown type {kind!r}")


def decode(schema_json: str | dict[str, Any], payload: bytes) -> dict[str, Any]:
    """The record in `payload` (Avro binary, no container header); every byte must be used."""
    schema = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
    names: dict[str, Any] = {}
    _named_types(schema, None, names)
    reader = _Reader(payload)
    value = _read(reader, schema, names)
    if reader.pos != len(payload):
        raise AvroDecodeError(f"{len(payload) - reader.pos} bytes left after the record")
    if not isinstance(value, dict):
        raise AvroDecodeError("payload is not a record")
    return value


def bitmap_fields(schema_json: str | dict[str, Any], bitmap: list[str]) -> list[str]:
    """Field names a `changedFields`/`nulledFields`/`diffFields` list stands for (salesforce.md §1.7).

    Element 0 `0x..` is a bitmap over the schema's top-level fields (bit i = field i, LSB first); later
    elements `{pos}-0x..` address the fields of the nested record at top-level position pos."""
    schema = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
    fields = schema["fields"]
    names: list[str] = []
    for element in bitmap:
        if element.startswith("0x"):
            names += [fields[i]["name"] for i in _bits(element)]
        elif "-" in element:
            parent_pos, child_map = element.split("-", 1)
            parent = fields[int(parent_pos)]
            child = parent["type"]
            if isinstance(child, list):
                child = next(t for t in child if t != "null")
            names += [f"{parent['name']}.{child['fields'][i]['name']}" for i in _bits(child_map)]
    return names


def _bits(element: str) -> list[int]:
    digits = element[2:]
    if len(digits) % 2 or digits != digits.upper():
        raise AvroDecodeError(f"bitmap {element!r} is not upper-case hex of whole bytes")
    value = int.from_bytes(bytes.fromhex(digits), "big")
    return [i for i in range(value.bit_length()) if value >> i & 1]
