"""GetTopic, GetSchema, authentication and call-level errors of the sandbox Pub/Sub API, over TLS."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import grpc
import pytest

from bridge.sandbox.salesforce.eventbus import EventBus
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc
from tests.support.pubsub_client import AUTH, INSTANCE_URL, ORG_ID, RunningPubSub, error_code, running_pubsub
from tests.support.pubsub_client import shared_objects as objects

RPC_ID_SUFFIX = re.compile(r"rpcId: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def pubsub() -> Iterator[RunningPubSub]:
    with running_pubsub() as running:
        yield running


@pytest.mark.parametrize(
    ("name", "can_publish"),
    [
        ("/data/EventChangeEvent", False),
        ("/data/EventRelationChangeEvent", False),
        ("/data/ChangeEvents", False),
        ("/data/Calbridge_Issue__ChangeEvent", False),
        ("/event/Calbridge_Command__e", True),
    ],
)
def test_get_topic_names_org_schema_and_publish_right(
    pubsub: RunningPubSub, name: str, can_publish: bool
) -> None:
    info = pubsub.topic(name)
    assert info.topic_name == name
    assert info.tenant_guid == ORG_ID
    assert info.can_publish is can_publish
    assert info.can_subscribe
    assert info.schema_id and info.rpc_id
    assert json.loads(pubsub.schema_json(info.schema_id))["type"] == "record"


def test_unknown_topic_is_not_found_with_salesforce_error_code(pubsub: RunningPubSub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        pubsub.topic("/data/OpportunityChangeEvent")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_code(caught.value) == "sfdc.platform.eventbus.grpc.topic.not.found"
    assert "/data/OpportunityChangeEvent" in caught.value.details()
    assert RPC_ID_SUFFIX.search(caught.value.details())


def test_unknown_schema_id_is_an_error(pubsub: RunningPubSub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        pubsub.schema_json("nope")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert RPC_ID_SUFFIX.search(caught.value.details())


def test_event_change_event_schema_layout(pubsub: RunningPubSub) -> None:
    info = pubsub.topic("/data/EventChangeEvent")
    schema = json.loads(pubsub.schema_json(info.schema_id))
    assert (schema["namespace"], schema["name"]) == ("com.sforce.eventbus", "EventChangeEvent")
    assert schema["uuid"]
    header = schema["fields"][0]
    assert header["name"] == "ChangeEventHeader"
    assert [f["name"] for f in header["type"]["fields"]] == [
        "entityName", "recordIds", "changeType", "changeOrigin", "transactionKey", "sequenceNumber",
        "commitTimestamp", "commitNumber", "commitUser", "nulledFields", "diffFields", "changedFields",
    ]  # fmt: skip
    symbols = header["type"]["fields"][2]["type"]["symbols"]
    assert {"GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW", "SNAPSHOT"} <= set(
        symbols
    )
    body = schema["fields"][1:]
    names = [f["name"] for f in body]
    # Published EventChangeEvent examples: same order, no derived or system fields, no Id in the body.
    assert names[:5] == ["WhoId", "WhatId", "Subject", "Location", "IsAllDayEvent"]
    assert names.index("LastModifiedDate") == 19
    for absent in ("StartDateTime", "EndDateTime", "IsDeleted", "SystemModstamp", "Id"):
        assert absent not in names
    assert {"Exchange_Item_Id__c", "Exchange_UID__c", "Calbridge_Sync_Hash__c"} <= set(names)
    for f in body:
        assert f["default"] is None and f["type"][0] == "null" and f["doc"]
    types = {f["name"]: f["type"][1] for f in body}
    assert types["ActivityDateTime"] == types["ActivityDate"] == "long"
    assert types["DurationInMinutes"] == "int" and types["IsAllDayEvent"] == "boolean"


def test_schema_ids_are_stable_across_buses(pubsub: RunningPubSub) -> None:
    other = EventBus(objects())
    for name in ("/data/EventChangeEvent", "/event/Calbridge_Command__e"):
        topic = other.topic(name)
        assert topic is not None and pubsub.topic(name).schema_id == topic.schema_id


def test_platform_event_schema_has_required_created_fields(pubsub: RunningPubSub) -> None:
    info = pubsub.topic("/event/Calbridge_Command__e")
    schema = json.loads(pubsub.schema_json(info.schema_id))
    fields = {f["name"]: f for f in schema["fields"]}
    assert schema["name"] == "Calbridge_Command__e"
    assert fields["CreatedDate"]["type"] == "long" and fields["CreatedById"]["type"] == "string"
    assert fields["CreatedById"]["doc"] == "CreatedBy:EntityId"
    for custom in ("Command__c", "Event_Id__c", "User_Id__c"):
        assert fields[custom]["type"] == ["null", "string"]


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ((), "sfdc.platform.eventbus.grpc.service.auth.headers.invalid"),
        (AUTH[:2], "sfdc.platform.eventbus.grpc.service.auth.headers.invalid"),
        ((("accesstoken", "wrong"), *AUTH[1:]), "sfdc.platform.eventbus.grpc.service.auth.error"),
        (
            (AUTH[0], ("instanceurl", INSTANCE_URL + "x"), AUTH[2]),
            "sfdc.platform.eventbus.grpc.service.auth.error",
        ),
        ((*AUTH[:2], ("tenantid", "00D000000000002EAA")), "sfdc.platform.eventbus.grpc.service.auth.error"),
    ],
)
def test_every_call_is_authenticated(
    pubsub: RunningPubSub, metadata: tuple[tuple[str, str], ...], code: str
) -> None:
    calls = [
        lambda: pubsub.stub.GetTopic(pb.TopicRequest(topic_name="/data/EventChangeEvent"), metadata=metadata),
        lambda: pubsub.stub.GetSchema(pb.SchemaRequest(schema_id="x"), metadata=metadata),
        lambda: pubsub.stub.Publish(
            pb.PublishRequest(topic_name="/event/Calbridge_Command__e"), metadata=metadata
        ),
    ]
    for call in calls:
        with pytest.raises(grpc.RpcError) as caught:
            call()
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error_code(caught.value) == code
        assert "sandbox-access-token" not in caught.value.details()
    subscription = pubsub.subscribe("/data/EventChangeEvent", metadata=metadata)
    failure = subscription.next()
    assert isinstance(failure, grpc.RpcError) and error_code(failure) == code


def test_managed_subscribe_is_unimplemented(pubsub: RunningPubSub) -> None:
    responses = pubsub.stub.ManagedSubscribe(
        iter([pb.ManagedFetchRequest(developer_name="x")]), metadata=AUTH
    )
    with pytest.raises(grpc.RpcError) as caught:
        next(responses)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "ManagedSubscribe" in caught.value.details()


def test_plaintext_switch_serves_without_tls() -> None:
    with running_pubsub(plaintext=True) as plain:
        assert plain.topic("/data/EventChangeEvent").tenant_guid == ORG_ID


def test_tls_server_refuses_a_client_that_does_not_trust_its_ca(pubsub: RunningPubSub) -> None:
    with grpc.secure_channel(f"localhost:{pubsub.port}", grpc.ssl_channel_credentials()) as channel:
        stub = pb_grpc.PubSubStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.GetTopic(pb.TopicRequest(topic_name="/data/EventChangeEvent"), metadata=AUTH, timeout=5)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
