"""Publish and PublishStream of the package's platform event (R-TIME-5 `sync now` commands use it)."""

from __future__ import annotations

import io
import queue
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import avro.io
import avro.schema
import grpc
import pytest

from bridge.wire import pubsub_api_pb2 as pb
from tests.support.avro_decode import decode
from tests.support.pubsub_client import AUTH, USER_ID, RunningPubSub, error_code, running_pubsub

TOPIC = "/event/Calbridge_Command__e"


@pytest.fixture
def pubsub() -> Iterator[RunningPubSub]:
    with running_pubsub() as running:
        yield running


def command_payload(schema_json: str, **fields: Any) -> bytes:
    """Encode a command the way a client does, with the avro library and the schema from GetSchema."""
    datum = {
        "CreatedDate": int(datetime.now(UTC).timestamp() * 1000),
        "CreatedById": USER_ID,
        "Command__c": "sync_now",
        "Event_Id__c": None,
        "User_Id__c": USER_ID,
        **fields,
    }
    buffer = io.BytesIO()
    avro.io.DatumWriter(avro.schema.parse(schema_json)).write(datum, avro.io.BinaryEncoder(buffer))
    return buffer.getvalue()


def producer_event(pubsub: RunningPubSub, **fields: Any) -> pb.ProducerEvent:
    schema_id = pubsub.topic(TOPIC).schema_id
    payload = command_payload(pubsub.schema_json(schema_id), **fields)
    return pb.ProducerEvent(id=str(uuid.uuid4()), schema_id=schema_id, payload=payload)


def test_r_time_5_published_command_reaches_subscribers(pubsub: RunningPubSub) -> None:
    subscription = pubsub.subscribe(TOPIC, 5, pb.EARLIEST)
    event = producer_event(pubsub, Event_Id__c="00U000000000001AAA")
    response = pubsub.stub.Publish(pb.PublishRequest(topic_name=TOPIC, events=[event]), metadata=AUTH)
    [result] = response.results
    assert result.correlation_key == event.id and not result.HasField("error")
    assert len(result.replay_id) == 8 and response.schema_id == event.schema_id and response.rpc_id
    [received] = subscription.events(1)
    assert received.replay_id == result.replay_id and received.event.id == event.id
    record = decode(pubsub.schema_json(received.event.schema_id), received.event.payload)
    assert record["Command__c"] == "sync_now" and record["Event_Id__c"] == "00U000000000001AAA"
    subscription.close()


def test_bad_events_get_per_event_errors_and_good_ones_are_published(pubsub: RunningPubSub) -> None:
    good = producer_event(pubsub)
    truncated = pb.ProducerEvent(id="bad-payload", schema_id=good.schema_id, payload=good.payload[:5])
    trailing = pb.ProducerEvent(id="trailing", schema_id=good.schema_id, payload=good.payload + b"\x00")
    wrong_schema = pb.ProducerEvent(id="bad-schema", schema_id="other", payload=good.payload)
    request = pb.PublishRequest(topic_name=TOPIC, events=[truncated, good, wrong_schema, trailing])
    results = pubsub.stub.Publish(request, metadata=AUTH).results
    assert [r.correlation_key for r in results] == ["bad-payload", good.id, "bad-schema", "trailing"]
    for failed in (results[0], results[2], results[3]):
        assert failed.error.code == pb.PUBLISH and failed.error.msg and not failed.replay_id
    assert len(results[1].replay_id) == 8 and not results[1].HasField("error")
    assert len(pubsub.subscribe(TOPIC, 10, pb.EARLIEST).events(1)) == 1


def test_event_without_id_gets_one(pubsub: RunningPubSub) -> None:
    event = producer_event(pubsub)
    event.id = ""
    [result] = pubsub.stub.Publish(pb.PublishRequest(topic_name=TOPIC, events=[event]), metadata=AUTH).results
    assert result.correlation_key and len(result.replay_id) == 8


def test_change_event_topics_do_not_accept_publishing(pubsub: RunningPubSub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        pubsub.stub.Publish(pb.PublishRequest(topic_name="/data/EventChangeEvent"), metadata=AUTH)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error_code(caught.value).startswith("sfdc.platform.eventbus.grpc.")


def test_publish_to_unknown_topic(pubsub: RunningPubSub) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        pubsub.stub.Publish(pb.PublishRequest(topic_name="/event/Nope__e"), metadata=AUTH)
    assert error_code(caught.value) == "sfdc.platform.eventbus.grpc.topic.not.found"


def test_publish_stream_answers_each_request(pubsub: RunningPubSub) -> None:
    requests: queue.Queue[pb.PublishRequest | None] = queue.Queue()

    def outgoing() -> Iterator[pb.PublishRequest]:
        while (request := requests.get()) is not None:
            yield request

    responses = pubsub.stub.PublishStream(outgoing(), metadata=AUTH)
    replays = []
    for command in ("sync_now", "reconcile"):
        event = producer_event(pubsub, Command__c=command)
        requests.put(pb.PublishRequest(topic_name=TOPIC, events=[event]))
        [result] = next(responses).results
        assert result.correlation_key == event.id
        replays.append(int.from_bytes(result.replay_id, "big"))
    requests.put(None)
    assert replays[1] == replays[0] + 1
    assert list(responses) == []
