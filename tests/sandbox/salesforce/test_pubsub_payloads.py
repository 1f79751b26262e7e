"""Change-event payloads as a subscriber sees them, decoded by the test's own Avro decoder (not the avro
library) and bitmap reader: CREATE/UPDATE/DELETE/UNDELETE bodies, bitmaps, changeOrigin and transactions."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import avro.io
import avro.schema
import pytest

from bridge.sandbox.salesforce.changes import RecordChange
from bridge.wire import pubsub_api_pb2 as pb
from tests.support.avro_decode import bitmap_fields, decode
from tests.support.pubsub_client import (
    USER_ID,
    RunningPubSub,
    create_event,
    event_values,
    relation_values,
    running_pubsub,
)
from tests.support.pubsub_client import shared_objects as objects

EVENT_ID = "00U000000000001AAA"
LATER = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def pubsub() -> Iterator[RunningPubSub]:
    with running_pubsub() as running:
        yield running


def received(pubsub: RunningPubSub, topic: str = "/data/ChangeEvents") -> list[tuple[dict[str, Any], str]]:
    """Every retained event of `topic`, decoded: (record, schema_json)."""
    count = len(pubsub.bus.read_after(topic, 0, 1000)[0])
    events = pubsub.subscribe(topic, 100, pb.EARLIEST).events(count)
    out = []
    for event in events:
        schema_json = pubsub.schema_json(event.event.schema_id)
        out.append((decode(schema_json, event.event.payload), schema_json))
    return out


def update(**kw: Any) -> RecordChange:
    changed = frozenset(kw.pop("changed"))
    nulled = frozenset(kw.pop("nulled", ()))
    values = event_values(objects(), LastModifiedDate=LATER, **kw)
    return RecordChange(
        "Event", "UPDATE", EVENT_ID, values, changed=changed | {"LastModifiedDate"}, nulled=nulled
    )


def test_create_carries_every_field_with_dates_as_epoch_ms(pubsub: RunningPubSub) -> None:
    pubsub.bus.publish_transaction([create_event(objects(), Description="Agenda", IsAllDayEvent=False)])
    [(record, _)] = received(pubsub)
    header = record["ChangeEventHeader"]
    assert header["entityName"] == "Event" and header["recordIds"] == [EVENT_ID]
    assert header["changeType"] == "CREATE"
    assert header["changedFields"] == header["nulledFields"] == header["diffFields"] == []
    assert header["sequenceNumber"] == 1 and header["transactionKey"] and header["commitNumber"] > 0
    assert header["commitTimestamp"] > 1_700_000_000_000
    assert record["Subject"] == "Quarterly review" and record["Location"] == "Room 4"
    assert record["ActivityDateTime"] == 1795528800000  # 2026-11-24T14:00:00Z
    assert record["ActivityDate"] == 1795478400000  # 2026-11-24 at midnight UTC
    assert record["CreatedDate"] == 1795167015123  # 2026-11-20T09:30:15.123Z
    assert record["DurationInMinutes"] == 45 and record["IsAllDayEvent"] is False
    assert record["Description"] == "Agenda" and record["OwnerId"] == USER_ID
    assert record["WhoId"] is None and record["Exchange_Item_Id__c"] is None
    assert "StartDateTime" not in record and "SystemModstamp" not in record and "IsDeleted" not in record


def test_update_nulls_unchanged_fields_and_sets_bitmaps(pubsub: RunningPubSub) -> None:
    pubsub.bus.publish_transaction([update(Subject="Moved", Location=None, changed={"Subject", "Location"})])
    [(record, schema_json)] = received(pubsub)
    header = record["ChangeEventHeader"]
    assert header["changeType"] == "UPDATE"
    assert bitmap_fields(schema_json, header["changedFields"]) == ["Subject", "Location", "LastModifiedDate"]
    assert bitmap_fields(schema_json, header["nulledFields"]) == ["Location"]
    assert header["diffFields"] == []
    # Subject (field 3), Location (4) and LastModifiedDate (20): whole bytes, upper-case hex.
    assert header["changedFields"] == ["0x100018"]
    assert record["Subject"] == "Moved" and record["LastModifiedDate"] == 1795248000000
    assert record["Location"] is None
    unchanged = [
        name
        for name, value in record.items()
        if name not in ("ChangeEventHeader", "Subject", "LastModifiedDate")
    ]
    assert all(record[name] is None for name in unchanged)


def test_nulled_fields_named_by_the_org_are_nulled(pubsub: RunningPubSub) -> None:
    pubsub.bus.publish_transaction([update(WhoId=None, changed={"WhoId"}, nulled={"WhoId"})])
    [(record, schema_json)] = received(pubsub)
    assert bitmap_fields(schema_json, record["ChangeEventHeader"]["nulledFields"]) == ["WhoId"]


def test_long_description_is_flagged_as_diff_and_carries_full_text(pubsub: RunningPubSub) -> None:
    text = "Agenda\n" + "line\n" * 100
    pubsub.bus.publish_transaction([update(Description=text, changed={"Description"})])
    [(record, schema_json)] = received(pubsub)
    header = record["ChangeEventHeader"]
    assert bitmap_fields(schema_json, header["diffFields"]) == ["Description"]
    assert "Description" in bitmap_fields(schema_json, header["changedFields"])
    assert record["Description"] == text


def test_custom_field_update_bitmap_reaches_beyond_four_bytes(pubsub: RunningPubSub) -> None:
    pubsub.bus.publish_transaction([update(Exchange_Item_Id__c="AAMkAD=", changed={"Exchange_Item_Id__c"})])
    [(record, schema_json)] = received(pubsub)
    changed = record["ChangeEventHeader"]["changedFields"]
    assert bitmap_fields(schema_json, changed) == ["LastModifiedDate", "Exchange_Item_Id__c"]
    assert len(changed[0]) % 2 == 0 and record["Exchange_Item_Id__c"] == "AAMkAD="


def test_delete_carries_only_the_header(pubsub: RunningPubSub) -> None:
    pubsub.bus.publish_transaction([RecordChange("Event", "DELETE", EVENT_ID, event_values(objects()))])
    [(record, _)] = received(pubsub)
    assert record["ChangeEventHeader"]["changeType"] == "DELETE"
    assert record["ChangeEventHeader"]["recordIds"] == [EVENT_ID]
    assert all(value is None for name, value in record.items() if name != "ChangeEventHeader")


def test_undelete_carries_every_field(pubsub: RunningPubSub) -> None:
    pubsub.bus.publish_transaction([RecordChange("Event", "UNDELETE", EVENT_ID, event_values(objects()))])
    [(record, _)] = received(pubsub)
    assert record["ChangeEventHeader"]["changeType"] == "UNDELETE"
    assert record["Subject"] == "Quarterly review" and record["DurationInMinutes"] == 45


def test_change_origin_carries_the_call_options_client(pubsub: RunningPubSub) -> None:
    origin = "com/salesforce/api/rest/61.0;client=calbridge"
    change = create_event(objects())
    pubsub.bus.publish_transaction(
        [RecordChange(**{**change.__dict__, "origin": origin, "commit_user": USER_ID})]
    )
    [(record, _)] = received(pubsub)
    assert record["ChangeEventHeader"]["changeOrigin"] == origin
    assert "client=calbridge" in record["ChangeEventHeader"]["changeOrigin"]
    assert record["ChangeEventHeader"]["commitUser"] == USER_ID


def test_transaction_with_invitees_shares_key_and_orders_sequence(pubsub: RunningPubSub) -> None:
    invitee = "005000000000002AAA"
    contact = "003000000000001AAA"
    changes = [
        create_event(objects()),
        create_event(objects(), "00U000000000002AAA", IsChild=True, OwnerId=invitee),
        RecordChange("EventRelation", "CREATE", "0RE000000000001AAA",
                     relation_values(objects(), RelationId=invitee, EventId=EVENT_ID)),
        RecordChange("EventRelation", "CREATE", "0RE000000000002AAA",
                     relation_values(objects(), RelationId=contact, EventId=EVENT_ID)),
        RecordChange("Contact", "UPDATE", contact, {"Id": contact}),  # no change events for Contact
    ]  # fmt: skip
    pubsub.bus.publish_transaction(changes)
    pubsub.bus.publish_transaction([create_event(objects(), "00U000000000003AAA")])
    records = [record for record, _ in received(pubsub)]
    headers = [r["ChangeEventHeader"] for r in records]
    assert [h["entityName"] for h in headers] == ["Event", "Event", "EventRelation", "EventRelation", "Event"]
    assert [h["sequenceNumber"] for h in headers[:4]] == [1, 2, 3, 4]
    assert len({h["transactionKey"] for h in headers[:4]}) == 1
    assert headers[4]["transactionKey"] != headers[0]["transactionKey"]
    assert len({h["commitNumber"] for h in headers[:4]}) == 1
    assert records[1]["IsChild"] is True and records[1]["OwnerId"] == invitee
    assert records[3]["RelationId"] == contact and records[3]["EventId"] == EVENT_ID
    assert [r["ChangeEventHeader"]["recordIds"] for r in records[2:4]] == [
        ["0RE000000000001AAA"],
        ["0RE000000000002AAA"],
    ]
    relation_topic = received(pubsub, "/data/EventRelationChangeEvent")
    assert [r["ChangeEventHeader"]["sequenceNumber"] for r, _ in relation_topic] == [3, 4]


def test_org_supplied_transaction_fields_are_kept(pubsub: RunningPubSub) -> None:
    change = create_event(objects())
    given = {**change.__dict__, "transaction_key": "tx-1", "sequence": 7, "commit_timestamp_ms": 1234,
             "commit_number": 99}  # fmt: skip
    pubsub.bus.publish_transaction([RecordChange(**given)])
    [(record, _)] = received(pubsub)
    header = record["ChangeEventHeader"]
    fields = ("transactionKey", "sequenceNumber", "commitTimestamp", "commitNumber")
    assert [header[name] for name in fields] == ["tx-1", 7, 1234, 99]


def test_payloads_decode_the_same_with_the_avro_library(pubsub: RunningPubSub) -> None:
    pubsub.bus.publish_transaction([create_event(objects()), update(Subject="x", changed={"Subject"})])
    events = pubsub.subscribe("/data/EventChangeEvent", 10, pb.EARLIEST).events(2)
    for event in events:
        schema_json = pubsub.schema_json(event.event.schema_id)
        reader = avro.io.DatumReader(avro.schema.parse(schema_json))
        assert reader.read(avro.io.BinaryDecoder(io.BytesIO(event.event.payload))) == decode(
            schema_json, event.event.payload
        )
