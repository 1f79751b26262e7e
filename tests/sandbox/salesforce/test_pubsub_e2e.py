"""End to end: REST writes through simple-salesforce arrive as change events on the sandbox's Pub/Sub API
(R-TIME-1), read with the generated gRPC stubs over TLS and decoded by the test's own Avro decoder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from simple_salesforce import Salesforce

from bridge.sandbox.salesforce.server import SalesforceSandbox
from bridge.sandbox.tls import SandboxTLS
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc
from tests.support.avro_decode import bitmap_fields, decode
from tests.support.pubsub_client import Subscription

TOPIC = "/data/EventChangeEvent"
CLIENT_HEADER = {"Sforce-Call-Options": "client=calbridge-e2e"}


@pytest.fixture
def stub(sandbox: SalesforceSandbox, sf_tls: SandboxTLS) -> Iterator[Any]:
    credentials = grpc.ssl_channel_credentials(root_certificates=sf_tls.ca_pem)
    port = sandbox.endpoints()["pubsub"].rsplit(":", 1)[1]
    with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
        yield pb_grpc.PubSubStub(channel)


def auth(sandbox: SalesforceSandbox) -> tuple[tuple[str, str], ...]:
    endpoints = sandbox.endpoints()
    return (
        ("accesstoken", endpoints["access_token"]),
        ("instanceurl", endpoints["instance_url"]),
        ("tenantid", endpoints["org_id"]),
    )


def subscribe_latest(sandbox: SalesforceSandbox, stub: Any) -> Subscription:
    first = pb.FetchRequest(topic_name=TOPIC, replay_preset=pb.LATEST, num_requested=100)
    before = len(sandbox.pubsub._streams)
    subscription = Subscription(stub, first, auth(sandbox))
    deadline = time.monotonic() + 5
    while len(sandbox.pubsub._streams) <= before or any(c.pending == 0 for c in sandbox.pubsub._streams):
        assert time.monotonic() < deadline, "subscription did not start"
        time.sleep(0.01)
    return subscription


def next_change(
    subscription: Subscription, stub: Any, sandbox: SalesforceSandbox, record_id: str
) -> tuple[dict[str, Any], str]:
    """The next change event about `record_id`, decoded, with its schema."""
    while True:
        [event] = subscription.events(1)
        schema_json = stub.GetSchema(
            pb.SchemaRequest(schema_id=event.event.schema_id), metadata=auth(sandbox)
        )
        record = decode(schema_json.schema_json, event.event.payload)
        if record_id in record["ChangeEventHeader"]["recordIds"]:
            return record, schema_json.schema_json


def test_r_time_1_rest_writes_arrive_as_change_events(
    sandbox: SalesforceSandbox, sf: Salesforce, stub: Any
) -> None:
    subscription = subscribe_latest(sandbox, stub)
    created = sf.Event.create(
        {"Subject": "Pub/Sub e2e", "StartDateTime": "2026-12-01T10:00:00.000+0000",
         "EndDateTime": "2026-12-01T11:00:00.000+0000", "Location": "Room 9"},
        headers=CLIENT_HEADER,
    )  # fmt: skip
    record_id = created["id"]
    record, _ = next_change(subscription, stub, sandbox, record_id)
    header = record["ChangeEventHeader"]
    assert header["changeType"] == "CREATE" and header["entityName"] == "Event"
    assert header["changeOrigin"].startswith("com/salesforce/api/rest/")
    assert header["changeOrigin"].endswith(";client=calbridge-e2e")
    assert record["Subject"] == "Pub/Sub e2e" and record["Location"] == "Room 9"
    assert record["ActivityDateTime"] == 1796119200000  # 2026-12-01T10:00:00Z
    assert record["DurationInMinutes"] == 60

    sf.Event.update(record_id, {"Subject": "Renamed", "Location": None})
    record, schema_json = next_change(subscription, stub, sandbox, record_id)
    header = record["ChangeEventHeader"]
    assert header["changeType"] == "UPDATE" and ";client=" not in header["changeOrigin"]
    changed = bitmap_fields(schema_json, header["changedFields"])
    assert {"Subject", "Location", "LastModifiedDate"} <= set(changed)
    assert bitmap_fields(schema_json, header["nulledFields"]) == ["Location"]
    assert record["Subject"] == "Renamed" and record["DurationInMinutes"] is None

    sf.Event.delete(record_id)
    record, _ = next_change(subscription, stub, sandbox, record_id)
    assert record["ChangeEventHeader"]["changeType"] == "DELETE"
    subscription.close()
