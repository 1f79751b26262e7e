"""REST writes reach the Pub/Sub API: a gRPC client on our stubs, authenticated with a REST session,
receives the change events of a simple-salesforce write, with the writer's `client=` in its header."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from simple_salesforce import Salesforce

from bridge.sandbox.salesforce.server import SalesforceSandbox
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc
from tests.support.avro_decode import bitmap_fields, decode
from tests.support.pubsub_client import Subscription


def _metadata(sandbox: SalesforceSandbox, token: str | None = None) -> tuple[tuple[str, str], ...]:
    endpoints = sandbox.endpoints()
    return (
        ("accesstoken", token or endpoints["access_token"]),
        ("instanceurl", endpoints["instance_url"]),
        ("tenantid", endpoints["org_id"]),
    )


@pytest.fixture
def stub(sandbox: SalesforceSandbox) -> Iterator[pb_grpc.PubSubStub]:
    credentials = grpc.ssl_channel_credentials(root_certificates=sandbox.tls.ca_pem)
    with grpc.secure_channel(sandbox.endpoints()["pubsub"], credentials) as channel:
        yield pb_grpc.PubSubStub(channel)


def test_rest_session_authorizes_pubsub_and_bad_token_does_not(
    stub: pb_grpc.PubSubStub, sandbox: SalesforceSandbox
) -> None:
    info = stub.GetTopic(pb.TopicRequest(topic_name="/data/EventChangeEvent"), metadata=_metadata(sandbox))
    assert info.tenant_guid == sandbox.org.org_id
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetTopic(
            pb.TopicRequest(topic_name="/data/EventChangeEvent"),
            metadata=_metadata(sandbox, "00D000000000000!bogus"),
        )
    assert caught.value.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)


def test_r_merge_3_rest_update_arrives_as_change_event_with_client_origin(
    stub: pb_grpc.PubSubStub, sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    event_id = sf.Event.create(
        {"Subject": "Wired", "StartDateTime": "2026-11-30T09:00:00Z", "DurationInMinutes": 30}
    )["id"]
    first = pb.FetchRequest(topic_name="/data/EventChangeEvent", replay_preset=pb.LATEST, num_requested=10)
    subscription = Subscription(stub, first, _metadata(sandbox))
    try:
        subscription.expect_nothing(0.3)  # LATEST: the create above is not replayed
        sf.Event.update(
            event_id, {"Subject": "Wired again"}, headers={"Sforce-Call-Options": "client=calbridge"}
        )
        (received,) = subscription.events(1)
    finally:
        subscription.close()
    schema = stub.GetSchema(
        pb.SchemaRequest(schema_id=received.event.schema_id), metadata=_metadata(sandbox)
    ).schema_json
    payload: dict[str, Any] = decode(schema, received.event.payload)
    header = payload["ChangeEventHeader"]
    assert header["recordIds"] == [event_id]
    assert header["changeType"] == "UPDATE"
    assert header["changeOrigin"] == "com/salesforce/api/rest/62.0;client=calbridge"
    assert header["commitUser"] == sandbox.client.run_as_user_id
    assert sorted(bitmap_fields(schema, header["changedFields"])) == ["LastModifiedDate", "Subject"]
    assert payload["Subject"] == "Wired again"


def test_platform_event_published_through_rest_reaches_subscribers(
    stub: pb_grpc.PubSubStub, sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    topic = "/event/Calbridge_Command__e"
    first = pb.FetchRequest(topic_name=topic, replay_preset=pb.LATEST, num_requested=5)
    subscription = Subscription(stub, first, _metadata(sandbox))
    try:
        subscription.expect_nothing(0.3)
        result = sf.Calbridge_Command__e.create(
            {"Command__c": "sync_now", "User_Id__c": "0055g0000000001AAA"}
        )
        (received,) = subscription.events(1)
    finally:
        subscription.close()
    assert result["success"] is True and result["id"].startswith("e00")
    assert result["errors"][0]["statusCode"] == "OPERATION_ENQUEUED"
    schema = stub.GetSchema(
        pb.SchemaRequest(schema_id=received.event.schema_id), metadata=_metadata(sandbox)
    ).schema_json
    payload = decode(schema, received.event.payload)
    assert (payload["Command__c"], payload["CreatedById"]) == ("sync_now", sandbox.client.run_as_user_id)
    assert received.event.id == result["errors"][0]["message"]


def test_platform_event_fields_are_checked(sf: Salesforce) -> None:
    from simple_salesforce import SalesforceMalformedRequest

    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Calbridge_Command__e.create({"Nope__c": "x"})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_admin_state_counts_events_published_and_delivered_per_topic(
    stub: pb_grpc.PubSubStub, sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    """What issue 10 measures: each change event delivered once per subscriber, never more."""
    topic = "/data/EventChangeEvent"
    before = sandbox.api.state()["pubsub"]
    first = pb.FetchRequest(topic_name=topic, replay_preset=pb.LATEST, num_requested=10)
    subscriptions = [Subscription(stub, first, _metadata(sandbox)) for _ in range(2)]
    try:
        for subscription in subscriptions:
            subscription.expect_nothing(0.2)
        sf.Event.create(
            {"Subject": "Counted", "StartDateTime": "2026-11-30T09:00:00Z", "DurationInMinutes": 30}
        )
        for subscription in subscriptions:
            subscription.events(1)
    finally:
        for subscription in subscriptions:
            subscription.close()
    after = sandbox.api.state()["pubsub"]
    published = after["published"][topic] - before["published"].get(topic, 0)
    delivered = after["delivered"][topic] - before["delivered"].get(topic, 0)
    assert (published, delivered) == (1, 2)  # one event, two subscribers
