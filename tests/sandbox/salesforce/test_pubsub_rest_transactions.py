"""Change events of multi-record transactions, end to end: simple-salesforce writes, a gRPC client on our
stubs over TLS reads them from `/data/ChangeEvents` (CUSTOM, starting after the tip taken before the write),
and the test's own Avro and bitmap decoder reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from simple_salesforce import Salesforce

from bridge.sandbox.salesforce.server import SalesforceSandbox
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc
from tests.sandbox.salesforce.conftest import unique
from tests.support.avro_decode import bitmap_fields, decode
from tests.support.pubsub_client import Subscription

TIMES = {"StartDateTime": "2026-11-25T09:00:00Z", "DurationInMinutes": 45}


def _metadata(sandbox: SalesforceSandbox) -> tuple[tuple[str, str], ...]:
    endpoints = sandbox.endpoints()
    return (
        ("accesstoken", endpoints["access_token"]),
        ("instanceurl", endpoints["instance_url"]),
        ("tenantid", endpoints["org_id"]),
    )


@pytest.fixture
def stub(sandbox: SalesforceSandbox) -> Iterator[pb_grpc.PubSubStub]:
    credentials = grpc.ssl_channel_credentials(root_certificates=sandbox.tls.ca_pem)
    with grpc.secure_channel(sandbox.endpoints()["pubsub"], credentials) as channel:
        yield pb_grpc.PubSubStub(channel)


def _changes_after(
    sandbox: SalesforceSandbox,
    stub: pb_grpc.PubSubStub,
    tip: int,
    count: int,
    topic: str = "/data/ChangeEvents",
) -> list[tuple[dict[str, Any], str]]:
    """Exactly `count` change events of `topic` after replay id `tip`, decoded, each with its schema."""
    first = pb.FetchRequest(
        topic_name=topic,
        replay_preset=pb.CUSTOM,
        replay_id=tip.to_bytes(8, "big"),
        num_requested=count + 1,
    )
    subscription = Subscription(stub, first, _metadata(sandbox))
    try:
        events = subscription.events(count)
        subscription.expect_nothing(0.2)
    finally:
        subscription.close()
    decoded = []
    for event in events:
        schema = stub.GetSchema(
            pb.SchemaRequest(schema_id=event.event.schema_id), metadata=_metadata(sandbox)
        )
        decoded.append((decode(schema.schema_json, event.event.payload), schema.schema_json))
    return decoded


def _header(change: tuple[dict[str, Any], str]) -> dict[str, Any]:
    return dict(change[0]["ChangeEventHeader"])


def _changed(change: tuple[dict[str, Any], str]) -> set[str]:
    return set(bitmap_fields(change[1], _header(change)["changedFields"]))


def _one_transaction(changes: list[tuple[dict[str, Any], str]]) -> None:
    assert len({_header(c)["transactionKey"] for c in changes}) == 1
    assert [_header(c)["sequenceNumber"] for c in changes] == list(range(1, len(changes) + 1))


def test_relation_status_change_is_an_event_relation_update(
    sf: Salesforce, sandbox: SalesforceSandbox, stub: pb_grpc.PubSubStub, make_user: Callable[[], str]
) -> None:
    event_id = sf.Event.create({"Subject": unique("Status"), **TIMES})["id"]
    relation = sf.EventRelation.create({"EventId": event_id, "RelationId": make_user()})["id"]
    tip = sandbox.bus.latest_replay
    sf.EventRelation.update(relation, {"Status": "Accepted", "Response": "See you there"})
    [change] = _changes_after(sandbox, stub, tip, 1)
    header = _header(change)
    assert (header["entityName"], header["changeType"], header["recordIds"]) == (
        "EventRelation",
        "UPDATE",
        [relation],
    )
    assert _changed(change) == {"Status", "Response", "RespondedDate", "LastModifiedDate"}
    body = change[0]
    assert (body["Status"], body["Response"]) == ("Accepted", "See you there")
    assert body["RespondedDate"] is not None and body["LastModifiedDate"] is not None
    assert body["EventId"] is None and body["RelationId"] is None  # unchanged fields are null in an UPDATE


def test_new_user_invitee_raises_relation_child_and_parent_events_in_one_transaction(
    sf: Salesforce, sandbox: SalesforceSandbox, stub: pb_grpc.PubSubStub, make_user: Callable[[], str]
) -> None:
    invitee = make_user()
    event_id = sf.Event.create({"Subject": unique("Invite"), **TIMES})["id"]
    tip = sandbox.bus.latest_replay
    relation = sf.EventRelation.create({"EventId": event_id, "RelationId": invitee})["id"]
    changes = _changes_after(sandbox, stub, tip, 3)
    _one_transaction(changes)
    kinds = [(_header(c)["entityName"], _header(c)["changeType"]) for c in changes]
    assert kinds == [("EventRelation", "CREATE"), ("Event", "CREATE"), ("Event", "UPDATE")]
    assert _header(changes[0])["recordIds"] == [relation]
    child = changes[1][0]
    assert (child["IsChild"], child["OwnerId"], child["DurationInMinutes"]) == (True, invitee, 45)
    assert _header(changes[2])["recordIds"] == [event_id]
    assert {"IsGroupEvent", "GroupEventType", "LastModifiedDate"} <= _changed(changes[2])


def test_parent_edit_updates_each_child_event_in_the_same_transaction(
    sf: Salesforce, sandbox: SalesforceSandbox, stub: pb_grpc.PubSubStub, make_user: Callable[[], str]
) -> None:
    invitees = [make_user(), make_user()]
    event_id = sf.Event.create({"Subject": unique("Parent"), **TIMES})["id"]
    for invitee in invitees:
        sf.EventRelation.create({"EventId": event_id, "RelationId": invitee})
    owners = "', '".join(invitees)
    children = sf.query(f"SELECT Id FROM Event WHERE IsChild = true AND OwnerId IN ('{owners}')")["records"]
    tip = sandbox.bus.latest_replay
    sf.Event.update(event_id, {"Subject": "Moved upstairs", "Location": "Room 4"})
    changes = _changes_after(sandbox, stub, tip, 3)
    _one_transaction(changes)
    assert [_header(c)["recordIds"][0] for c in changes[:1]] == [event_id]
    assert {_header(c)["recordIds"][0] for c in changes[1:]} == {c["Id"] for c in children}
    for change in changes:
        assert _header(change)["changeType"] == "UPDATE"
        assert _changed(change) == {"Subject", "Location", "LastModifiedDate"}
        assert (change[0]["Subject"], change[0]["Location"]) == ("Moved upstairs", "Room 4")


def test_undelete_raises_undelete_events_with_every_field(
    sf: Salesforce, sandbox: SalesforceSandbox, stub: pb_grpc.PubSubStub, make_user: Callable[[], str]
) -> None:
    subject = unique("Phoenix")
    event_id = sf.Event.create({"Subject": subject, **TIMES})["id"]
    sf.EventRelation.create({"EventId": event_id, "RelationId": make_user()})
    sf.Event.delete(event_id)
    tip = sandbox.bus.latest_replay
    with sandbox.org.transaction(sandbox.client.run_as_user_id) as writer:
        writer.undelete(event_id)
    changes = _changes_after(sandbox, stub, tip, 3)
    _one_transaction(changes)
    assert [(_header(c)["entityName"], _header(c)["changeType"]) for c in changes] == [
        ("Event", "UNDELETE"),
        ("EventRelation", "UNDELETE"),
        ("Event", "UNDELETE"),
    ]
    assert (changes[0][0]["Subject"], changes[0][0]["DurationInMinutes"]) == (subject, 45)
    assert changes[1][0]["EventId"] == event_id and changes[2][0]["IsChild"] is True


def test_custom_object_enabled_by_the_package_raises_change_events(
    sf: Salesforce, sandbox: SalesforceSandbox, stub: pb_grpc.PubSubStub
) -> None:
    tip = sandbox.bus.latest_replay
    issue = sf.Calbridge_Issue__c.create({"Code__c": "E-DUPLICATE-KEY", "Is_Open__c": True})["id"]
    sf.Calbridge_Issue__c.update(issue, {"Is_Open__c": False, "Message__c": "resolved"})
    changes = _changes_after(sandbox, stub, tip, 2, "/data/Calbridge_Issue__ChangeEvent")
    assert [(_header(c)["entityName"], _header(c)["changeType"]) for c in changes] == [
        ("Calbridge_Issue__c", "CREATE"),
        ("Calbridge_Issue__c", "UPDATE"),
    ]
    assert changes[0][0]["Code__c"] == "E-DUPLICATE-KEY" and changes[0][0]["Name"].startswith("CBI-")
    assert _changed(changes[1]) == {"Is_Open__c", "Message__c", "LastModifiedDate"}
    assert (changes[1][0]["Is_Open__c"], changes[1][0]["Code__c"]) == (False, None)
