"""Faults the sandbox can inject into its Pub/Sub API (R-TIME-3 gaps and expired replay ids among them)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest

from bridge.wire import pubsub_api_pb2 as pb
from tests.support.avro_decode import decode
from tests.support.pubsub_client import (
    AUTH,
    FakeClock,
    RunningPubSub,
    create_event,
    error_code,
    running_pubsub,
)
from tests.support.pubsub_client import shared_objects as objects

EVENT_TOPIC = "/data/EventChangeEvent"
CORRUPTED = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"


@pytest.fixture
def pubsub() -> Iterator[RunningPubSub]:
    with running_pubsub() as running:
        yield running


def decoded(pubsub: RunningPubSub, event: pb.ConsumerEvent) -> dict[str, object]:
    return decode(pubsub.schema_json(event.event.schema_id), event.event.payload)


@pytest.mark.parametrize("change_type", ["GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"])
def test_r_time_3_gap_event_carries_header_only(pubsub: RunningPubSub, change_type: str) -> None:
    result = pubsub.server.apply_fault(
        "gap", {"entity": "Event", "record_id": "00U000000000009AAA", "change_type": change_type}
    )
    [event] = pubsub.subscribe(EVENT_TOPIC, 5, pb.EARLIEST).events(1)
    assert event.replay_id.hex() == result["replay_id"]
    record = decoded(pubsub, event)
    header = record.pop("ChangeEventHeader")
    assert isinstance(header, dict)
    assert header["changeType"] == change_type and header["recordIds"] == ["00U000000000009AAA"]
    assert header["changedFields"] == header["nulledFields"] == header["diffFields"] == []
    assert all(value is None for value in record.values())


def test_r_time_3_gap_overflow_for_an_entity(pubsub: RunningPubSub) -> None:
    pubsub.server.apply_fault("gap_overflow", {"entity": "EventRelation"})
    [event] = pubsub.subscribe("/data/ChangeEvents", 5, pb.EARLIEST).events(1)
    record = decoded(pubsub, event)
    header = record.pop("ChangeEventHeader")
    assert isinstance(header, dict)
    assert header["changeType"] == "GAP_OVERFLOW" and header["entityName"] == "EventRelation"
    assert header["changedFields"] == header["nulledFields"] == header["diffFields"] == []
    assert all(value is None for value in record.values())  # header only


def test_gap_fault_rejects_bad_parameters(pubsub: RunningPubSub) -> None:
    with pytest.raises(ValueError, match="Contact"):
        pubsub.server.apply_fault("gap", {"entity": "Contact", "record_id": "003000000000001AAA"})
    with pytest.raises(ValueError, match="change_type"):
        pubsub.server.apply_fault("gap", {"entity": "Event", "record_id": "x", "change_type": "UPDATE"})
    with pytest.raises(ValueError, match="record_id"):
        pubsub.server.apply_fault("gap", {"entity": "Event"})
    with pytest.raises(ValueError, match="unknown fault"):
        pubsub.server.apply_fault("meteor", {})


def test_r_time_3_replay_id_past_retention_is_corrupted() -> None:
    clock = FakeClock()
    with running_pubsub(clock=clock) as pubsub:
        pubsub.bus.publish_transaction([create_event(objects())])
        clock.advance(timedelta(hours=71))
        pubsub.bus.publish_transaction([create_event(objects(), "00U000000000002AAA")])
        old, recent = (1).to_bytes(8, "big"), (2).to_bytes(8, "big")
        assert len(pubsub.subscribe(EVENT_TOPIC, 5, pb.CUSTOM, old).events(1)) == 1
        clock.advance(timedelta(hours=2))  # the first event is now 73 h old
        failure = pubsub.subscribe(EVENT_TOPIC, 5, pb.CUSTOM, old).next()
        assert isinstance(failure, grpc.RpcError) and failure.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_code(failure) == CORRUPTED
        pubsub.subscribe(EVENT_TOPIC, 5, pb.CUSTOM, recent).expect_nothing(0.2)
        [event] = pubsub.subscribe(EVENT_TOPIC, 5, pb.EARLIEST).events(1)
        assert event.replay_id == recent


def test_expire_all_current_replay_ids(pubsub: RunningPubSub) -> None:
    pubsub.bus.publish_transaction([create_event(objects())])
    assert pubsub.server.apply_fault("expire_replay", {}) == {"expired": 1}
    failure = pubsub.subscribe(EVENT_TOPIC, 5, pb.CUSTOM, (1).to_bytes(8, "big")).next()
    assert isinstance(failure, grpc.RpcError) and error_code(failure) == CORRUPTED
    pubsub.bus.publish_transaction([create_event(objects())])
    assert len(pubsub.subscribe(EVENT_TOPIC, 5, pb.EARLIEST).events(1)) == 1


def test_expire_replay_ids_older_than_an_age() -> None:
    clock = FakeClock()
    with running_pubsub(clock=clock) as pubsub:
        pubsub.bus.publish_transaction([create_event(objects())])
        clock.advance(timedelta(minutes=10))
        pubsub.bus.publish_transaction([create_event(objects())])
        assert pubsub.server.apply_fault("expire_replay", {"older_than_seconds": 300}) == {"expired": 1}
        failure = pubsub.subscribe(EVENT_TOPIC, 5, pb.CUSTOM, (1).to_bytes(8, "big")).next()
        assert isinstance(failure, grpc.RpcError) and error_code(failure) == CORRUPTED


def test_drop_streams_fails_open_subscriptions_with_unavailable(pubsub: RunningPubSub) -> None:
    first = pubsub.subscribe(EVENT_TOPIC, 5)
    second = pubsub.subscribe("/data/ChangeEvents", 5)
    deadline = time.monotonic() + 5
    while len(pubsub.server._streams) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert pubsub.server.apply_fault("drop_streams", {}) == {"dropped": 2}
    for subscription in (first, second):
        failure = subscription.next()
        assert isinstance(failure, grpc.RpcError) and failure.code() == grpc.StatusCode.UNAVAILABLE
        assert error_code(failure) == "sfdc.platform.eventbus.grpc.service.unavailable"
    pubsub.bus.publish_transaction([create_event(objects())])
    assert len(pubsub.subscribe(EVENT_TOPIC, 5, pb.EARLIEST).events(1)) == 1


def test_fail_next_rpcs_with_unavailable(pubsub: RunningPubSub) -> None:
    pubsub.server.apply_fault("fail_next", {"count": 2})
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as caught:
            pubsub.topic(EVENT_TOPIC)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert error_code(caught.value) == "sfdc.platform.eventbus.grpc.service.unavailable"
        assert "rpcId: " in caught.value.details()
    assert (
        pubsub.stub.GetTopic(pb.TopicRequest(topic_name=EVENT_TOPIC), metadata=AUTH).topic_name == EVENT_TOPIC
    )


def test_latency_delays_deliveries(pubsub: RunningPubSub) -> None:
    pubsub.server.apply_fault("latency", {"seconds": 0.4})
    pubsub.bus.publish_transaction([create_event(objects())])
    started = time.monotonic()
    pubsub.subscribe(EVENT_TOPIC, 5, pb.EARLIEST).events(1)
    assert time.monotonic() - started >= 0.4
    pubsub.server.apply_fault("latency", {"seconds": 0})
    started = time.monotonic()
    pubsub.subscribe(EVENT_TOPIC, 5, pb.EARLIEST).events(1)
    assert time.monotonic() - started < 0.4
