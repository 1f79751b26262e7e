"""One Subscribe stream: pull-based flow control, batching, keepalive and idle close (salesforce.md §1.4).

The first FetchRequest names the topic and where to start; later ones only add to `num_requested` (capped at
100 outstanding). While events are owed and none arrive, an empty FetchResponse with the latest replay id goes
out every `keepalive`; once nothing is owed, the stream closes if no FetchRequest comes within `idle_close`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import grpc

from bridge.sandbox.salesforce import pubsub_errors as errors
from bridge.sandbox.salesforce.eventbus import EventBus, InvalidReplayId, Topic, replay_bytes
from bridge.wire import pubsub_api_pb2 as pb

MAX_OUTSTANDING = 100
_PRESETS = {pb.LATEST: "LATEST", pb.EARLIEST: "EARLIEST", pb.CUSTOM: "CUSTOM"}


@dataclass(eq=False)
class StreamControl:
    """What the server and the request reader tell a running stream; `wake` is set on every change."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: int = 0
    error: errors.PubSubError | None = None
    dropped: bool = False
    latency: float = 0.0


def start_cursor(bus: EventBus, request: pb.FetchRequest) -> int:
    """Where the first FetchRequest starts reading; raises PubSubError for a bad replay option."""
    preset = _PRESETS.get(request.replay_preset)
    if preset is None:
        raise errors.replay_corrupted()
    if preset == "CUSTOM" and not request.replay_id:
        raise errors.replay_missing()
    try:
        return bus.start_after(preset, request.replay_id)
    except InvalidReplayId:
        raise errors.replay_corrupted() from None


def add_requested(pending: int, requested: int) -> int:
    """Outstanding count after a FetchRequest; raises PubSubError for num_requested <= 0."""
    if requested <= 0:
        raise errors.requested_events_invalid(requested)
    return min(MAX_OUTSTANDING, pending + requested)


async def read_requests(
    requests: AsyncIterator[pb.FetchRequest], topic: Topic, control: StreamControl
) -> None:
    """Apply the client's later FetchRequests to `control` until the client stops sending or errs."""
    try:
        async for request in requests:
            if request.topic_name and request.topic_name.lower() != topic.name.lower():
                control.error = errors.topic_mismatch(topic.name, request.topic_name)
            else:
                try:
                    control.pending = add_requested(control.pending, request.num_requested)
                except errors.PubSubError as exc:
                    control.error = exc
            control.wake.set()
            if control.error:
                return
    except grpc.RpcError:
        # The client went away; the sending side notices on its next write.
        return


async def stream_events(
    bus: EventBus,
    topic: Topic,
    cursor: int,
    control: StreamControl,
    rpc_id: str,
    keepalive: timedelta,
    idle_close: timedelta,
) -> AsyncIterator[pb.FetchResponse]:
    """FetchResponses for one subscription until idle close; raises PubSubError when the stream must fail."""
    loop = asyncio.get_running_loop()
    last_sent = loop.time()
    while True:
        control.wake.clear()
        if control.error:
            raise control.error
        if control.dropped:
            raise errors.unavailable()
        now = loop.time()
        if control.pending > 0:
            events, cursor = bus.read_after(topic.name, cursor, control.pending)
            if events:
                if control.latency:
                    await asyncio.sleep(control.latency)
                control.pending -= len(events)
                yield pb.FetchResponse(
                    events=[
                        pb.ConsumerEvent(
                            event=pb.ProducerEvent(id=e.event_id, schema_id=e.schema_id, payload=e.payload),
                            replay_id=replay_bytes(e.replay),
                        )
                        for e in events
                    ],
                    latest_replay_id=replay_bytes(cursor),
                    rpc_id=rpc_id,
                    pending_num_requested=control.pending,
                )
                last_sent = loop.time()
                continue
            timeout = keepalive.total_seconds() - (now - last_sent)
            if timeout <= 0:
                yield pb.FetchResponse(
                    latest_replay_id=replay_bytes(cursor),
                    rpc_id=rpc_id,
                    pending_num_requested=control.pending,
                )
                last_sent = loop.time()
                continue
        else:
            timeout = idle_close.total_seconds() - (now - last_sent)
            if timeout <= 0:
                return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(control.wake.wait(), timeout)
