"""The pieces under the wire format: bitmap strings (salesforce.md §1.7) and the test's own Avro decoder,
checked against hand-written bytes from the Avro specification rather than against the avro library."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.sandbox.salesforce.bitmaps import decode_bitmap, encode_bitmap
from bridge.sandbox.salesforce.eventbus import EventBus
from bridge.sandbox.salesforce.pubsub import PubSubServer
from tests.support.avro_decode import AvroDecodeError, bitmap_fields, decode
from tests.support.pubsub_client import create_event, shared_objects, shared_tls


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        ([], []),
        ([0], ["0x01"]),
        ([3, 20], ["0x100008"]),  # Subject + LastModifiedDate, as in salesforce.md §1.7
        ([8], ["0x0100"]),
        ([5, 6, 7, 10, 24, 26, 29, 30], ["0x650004E0"]),  # the documented example
    ],
)
def test_bitmap_is_upper_case_hex_of_whole_bytes(positions: list[int], expected: list[str]) -> None:
    assert encode_bitmap(positions) == expected


@given(st.sets(st.integers(min_value=0, max_value=70)))
def test_bitmap_round_trips_through_the_independent_reader(positions: set[int]) -> None:
    encoded = encode_bitmap(positions)
    schema = {"type": "record", "name": "R", "fields": [{"name": f"f{i}", "type": "null"} for i in range(71)]}
    decoded = bitmap_fields(schema, encoded)
    assert decoded == [f"f{i}" for i in sorted(positions)]
    if encoded:
        assert decode_bitmap(encoded[0]) == sorted(positions)


def test_bitmap_reader_handles_compound_elements() -> None:
    inner = {"type": "record", "name": "Name", "fields": [{"name": n, "type": "string"} for n in "ABCDE"]}
    schema = {"type": "record", "name": "R", "fields": [{"name": "H", "type": "null"}, {"name": "N",
              "type": ["null", inner]}]}  # fmt: skip
    assert bitmap_fields(schema, ["0x02", "1-0x12"]) == ["N", "N.B", "N.E"]


def test_decoder_reads_spec_examples() -> None:
    schema = json.dumps(
        {
            "type": "record",
            "name": "T",
            "fields": [
                {"name": "small", "type": "int"},
                {"name": "negative", "type": "long"},
                {"name": "wide", "type": "long"},
                {"name": "text", "type": "string"},
                {"name": "maybe", "type": ["null", "string"]},
                {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["A", "B", "C"]}},
                {"name": "items", "type": {"type": "array", "items": "int"}},
                {"name": "flag", "type": "boolean"},
                {"name": "ratio", "type": "double"},
                {"name": "tags", "type": {"type": "map", "values": "boolean"}},
            ],
        }
    )
    payload = (
        b"\x80\x01"  # 64 -> zig-zag 128
        + b"\x7f"  # -64 -> 127
        + b"\xfe\xff\xff\xff\x1f"  # 2**32 - 1
        + b"\x06foo"  # string of 3
        + b"\x02\x02x"  # union branch 1, "x"
        + b"\x04"  # enum index 2
        + b"\x03\x04\x02\x04"  # a block of -2 items with its byte size (2): 1, 2
        + b"\x04\x06\x08\x00"  # a block of 2 items: 3, 4; then the closing zero count
        + b"\x01"
        + b"\x00\x00\x00\x00\x00\x00\xf8\x3f"  # 1.5
        + b"\x02\x02k\x01\x00"  # map {"k": True}
    )
    assert decode(schema, payload) == {
        "small": 64,
        "negative": -64,
        "wide": 2**32 - 1,
        "text": "foo",
        "maybe": "x",
        "kind": "C",
        "items": [1, 2, 3, 4],
        "flag": True,
        "ratio": 1.5,
        "tags": {"k": True},
    }


def test_decoder_refuses_trailing_or_missing_bytes() -> None:
    schema = {"type": "record", "name": "T", "fields": [{"name": "s", "type": "string"}]}
    with pytest.raises(AvroDecodeError):
        decode(schema, b"\x06fo")
    with pytest.raises(AvroDecodeError):
        decode(schema, b"\x02a\x00")


def test_replay_start_keeps_ids_of_a_previous_run_invalid() -> None:
    bus = EventBus(shared_objects(), replay_start=1_000)
    bus.publish_transaction([create_event(shared_objects())])
    events, _ = bus.read_after("/data/EventChangeEvent", 0, 10)
    assert [e.replay for e in events] == [1_001]
    assert PubSubServer(bus, shared_objects(), lambda *_: True, "00D", shared_tls()).bus is bus
