"""Subscribe over TLS: replay presets, flow control, batching, keepalive, idle close and stream errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import grpc
import pytest

from bridge.sandbox.salesforce.changes import RecordChange
from bridge.wire import pubsub_api_pb2 as pb
from tests.support.pubsub_client import (
    END,
    RunningPubSub,
    create_event,
    error_code,
    relation_values,
    running_pubsub,
)
from tests.support.pubsub_client import shared_objects as objects

EVENT_TOPIC = "/data/EventChangeEvent"


@pytest.fixture
def pubsub() -> Iterator[RunningPubSub]:
    with running_pubsub() as running:
        yield running


def publish_events(pubsub: RunningPubSub, count: int, start: int = 1) -> None:
    for n in range(start, start + count):
        pubsub.bus.publish_transaction([create_event(objects(), f"00U0000000000{n:02d}AAA")])


def replay_int(replay_id: bytes) -> int:
    assert len(replay_id) == 8
    return int.from_bytes(replay_id, "big")


def wait_for_subscription(pubsub: RunningPubSub, streams: int = 1) -> None:
    # LATEST starts at the tip when the server reads the first request; wait until it has.
    deadline = time.monotonic() + 5
    while len(pubsub.server._streams) < streams or any(c.pending == 0 for c in pubsub.server._streams):
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_latest_delivers_only_new_events(pubsub: RunningPubSub) -> None:
    publish_events(pubsub, 2)
    subscription = pubsub.subscribe(EVENT_TOPIC, 10, pb.LATEST)
    wait_for_subscription(pubsub)
    publish_events(pubsub, 1, start=10)
    [event] = subscription.events(1)
    assert replay_int(event.replay_id) == 3
    subscription.expect_nothing(0.2)
    subscription.close()


def test_earliest_replays_retained_events_in_order(pubsub: RunningPubSub) -> None:
    publish_events(pubsub, 5)
    subscription = pubsub.subscribe(EVENT_TOPIC, 10, pb.EARLIEST)
    events = subscription.events(5)
    assert [replay_int(e.replay_id) for e in events] == [1, 2, 3, 4, 5]
    assert len({e.event.id for e in events}) == 5
    subscription.close()


def test_custom_starts_after_the_given_replay_id(pubsub: RunningPubSub) -> None:
    publish_events(pubsub, 5)
    subscription = pubsub.subscribe(EVENT_TOPIC, 10, pb.CUSTOM, (3).to_bytes(8, "big"))
    assert [replay_int(e.replay_id) for e in subscription.events(2)] == [4, 5]
    subscription.close()


def test_custom_without_replay_id_fails_validation(pubsub: RunningPubSub) -> None:
    failure = pubsub.subscribe(EVENT_TOPIC, 10, pb.CUSTOM).next()
    assert isinstance(failure, grpc.RpcError)
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(failure) == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
    assert "rpcId: " in failure.details()


@pytest.mark.parametrize("replay_id", [(99).to_bytes(8, "big"), b"\x01\x02", b"garbage-replay-id"])
def test_custom_with_unknown_replay_id_is_corrupted(pubsub: RunningPubSub, replay_id: bytes) -> None:
    publish_events(pubsub, 2)
    failure = pubsub.subscribe(EVENT_TOPIC, 10, pb.CUSTOM, replay_id).next()
    assert isinstance(failure, grpc.RpcError)
    assert failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(failure) == "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"


def test_unknown_topic_on_subscribe(pubsub: RunningPubSub) -> None:
    failure = pubsub.subscribe("/data/NopeChangeEvent").next()
    assert isinstance(failure, grpc.RpcError) and failure.code() == grpc.StatusCode.NOT_FOUND
    assert error_code(failure) == "sfdc.platform.eventbus.grpc.topic.not.found"


def test_flow_control_delivers_only_what_was_requested(pubsub: RunningPubSub) -> None:
    publish_events(pubsub, 5)
    subscription = pubsub.subscribe(EVENT_TOPIC, 2, pb.EARLIEST)
    first = subscription.next()
    assert len(first.events) == 2 and first.pending_num_requested == 0
    subscription.expect_nothing(0.3)
    subscription.request(3)
    second = subscription.next()
    assert [replay_int(e.replay_id) for e in second.events] == [3, 4, 5]
    assert second.pending_num_requested == 0
    subscription.close()


def test_pending_count_tracks_partial_delivery(pubsub: RunningPubSub) -> None:
    subscription = pubsub.subscribe(EVENT_TOPIC, 5, pb.LATEST)
    wait_for_subscription(pubsub)
    publish_events(pubsub, 2)
    seen = 0
    while seen < 2:
        response = subscription.next()
        seen += len(response.events)
        assert response.pending_num_requested == 5 - seen
    subscription.close()


def test_more_than_100_requested_counts_as_100(pubsub: RunningPubSub) -> None:
    subscription = pubsub.subscribe(EVENT_TOPIC, 80, pb.LATEST)
    subscription.request(70)
    wait_for_subscription(pubsub)
    deadline = time.monotonic() + 5
    while next(iter(pubsub.server._streams)).pending != 100:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    publish_events(pubsub, 60)
    publish_events(pubsub, 60, start=0)
    assert len(subscription.events(100)) == 100
    subscription.expect_nothing(0.3)
    subscription.request(500)
    assert len(subscription.events(20)) == 20
    subscription.close()


def test_first_request_above_100_counts_as_100(pubsub: RunningPubSub) -> None:
    publish_events(pubsub, 3)
    response = pubsub.subscribe(EVENT_TOPIC, 150, pb.EARLIEST).next()
    assert len(response.events) == 3 and response.pending_num_requested == 97


def test_available_events_are_batched_in_one_response(pubsub: RunningPubSub) -> None:
    publish_events(pubsub, 10)
    subscription = pubsub.subscribe(EVENT_TOPIC, 10, pb.EARLIEST)
    response = subscription.next()
    assert len(response.events) == 10
    assert replay_int(response.latest_replay_id) == 10
    assert response.rpc_id
    subscription.close()


@pytest.mark.parametrize("num_requested", [0, -3])
def test_non_positive_num_requested_is_invalid(pubsub: RunningPubSub, num_requested: int) -> None:
    failure = pubsub.subscribe(EVENT_TOPIC, num_requested).next()
    assert isinstance(failure, grpc.RpcError) and failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(failure) == "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"


def test_later_request_with_zero_is_invalid(pubsub: RunningPubSub) -> None:
    publish_events(pubsub, 1)
    subscription = pubsub.subscribe(EVENT_TOPIC, 1, pb.EARLIEST)
    subscription.events(1)
    subscription.request(0)
    failure = subscription.next()
    assert isinstance(failure, grpc.RpcError)
    assert error_code(failure) == "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"


def test_later_request_for_another_topic_is_a_mismatch(pubsub: RunningPubSub) -> None:
    subscription = pubsub.subscribe(EVENT_TOPIC, 1)
    subscription.request(1, topic="/data/EventRelationChangeEvent")
    failure = subscription.next()
    assert isinstance(failure, grpc.RpcError) and failure.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_code(failure) == "sfdc.platform.eventbus.grpc.subscription.fetch.topic.mismatch"
    # The server keeps serving others.
    assert pubsub.topic(EVENT_TOPIC).topic_name == EVENT_TOPIC


def test_later_request_repeating_the_topic_is_fine(pubsub: RunningPubSub) -> None:
    publish_events(pubsub, 2)
    subscription = pubsub.subscribe(EVENT_TOPIC, 1, pb.EARLIEST)
    subscription.events(1)
    subscription.request(1, topic=EVENT_TOPIC)
    assert len(subscription.events(1)) == 1
    subscription.close()


def test_entity_topic_gets_its_entity_and_all_changes_topic_gets_every_entity(pubsub: RunningPubSub) -> None:
    relation = RecordChange(
        "EventRelation",
        "CREATE",
        "0RE000000000001AAA",
        relation_values(objects(), Id="0RE000000000001AAA", RelationId="003000000000001AAA"),
    )
    pubsub.bus.publish_transaction([create_event(objects()), relation])
    every = pubsub.subscribe("/data/ChangeEvents", 10, pb.EARLIEST).events(2)
    assert len({e.event.schema_id for e in every}) == 2
    only_events = pubsub.subscribe(EVENT_TOPIC, 10, pb.EARLIEST)
    [event] = only_events.events(1)
    assert event.event.schema_id == pubsub.topic(EVENT_TOPIC).schema_id
    only_events.expect_nothing(0.2)
    relations = pubsub.subscribe("/data/EventRelationChangeEvent", 10, pb.EARLIEST).events(1)
    assert replay_int(relations[0].replay_id) == 2


def test_keepalive_sends_latest_replay_id_while_events_are_owed() -> None:
    with running_pubsub(keepalive=timedelta(seconds=0.3)) as pubsub:
        pubsub.bus.publish_transaction([create_event(objects())])
        subscription = pubsub.subscribe("/data/EventRelationChangeEvent", 3, pb.LATEST)
        started = time.monotonic()
        response = subscription.next(3)
        assert 0.2 < time.monotonic() - started < 2
        assert not response.events
        assert replay_int(response.latest_replay_id) == 1  # the bus tip, though it belongs to another topic
        assert response.pending_num_requested == 3
        assert not subscription.next(3).events  # and again
        subscription.close()


def test_stream_closes_when_nothing_is_requested_within_idle_close() -> None:
    with running_pubsub(idle_close=timedelta(seconds=0.3), keepalive=timedelta(seconds=0.1)) as pubsub:
        pubsub.bus.publish_transaction([create_event(objects())])
        subscription = pubsub.subscribe(EVENT_TOPIC, 1, pb.EARLIEST)
        assert len(subscription.next().events) == 1
        started = time.monotonic()
        assert subscription.next(3) is END
        assert 0.2 < time.monotonic() - started < 2


def test_stream_stays_open_when_the_client_asks_again_in_time() -> None:
    with running_pubsub(idle_close=timedelta(seconds=0.5), keepalive=timedelta(seconds=10)) as pubsub:
        subscription = pubsub.subscribe(EVENT_TOPIC, 1, pb.LATEST)
        wait_for_subscription(pubsub)
        pubsub.bus.publish_transaction([create_event(objects())])
        subscription.events(1)
        time.sleep(0.25)
        subscription.request(1)
        time.sleep(0.5)
        pubsub.bus.publish_transaction([create_event(objects(), "00U000000000002AAA")])
        assert len(subscription.events(1)) == 1
        subscription.close()


def test_publish_from_another_thread_reaches_a_waiting_subscriber(pubsub: RunningPubSub) -> None:
    subscription = pubsub.subscribe(EVENT_TOPIC, 100, pb.LATEST)
    wait_for_subscription(pubsub)
    started = time.monotonic()
    publish_events(pubsub, 1)
    subscription.events(1)
    assert time.monotonic() - started < 1
    subscription.close()
