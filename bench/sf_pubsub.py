"""Benchmark: change events per second the sandbox Pub/Sub server streams to one subscriber over TLS.

The subscriber behaves like Salesforce's sample clients: it asks for 100 events and asks again only when
`pending_num_requested` reaches 0. Three numbers come out of one run:

- floor: empty keepalive FetchResponses per second on the same stream machinery (keepalive set to zero), i.e.
  what gRPC + TLS + the stream loop cost per message on this machine with no event data at all;
- backlog: events/s replaying a retained backlog from EARLIEST (target >= 2,000/s);
- live: events/s while another thread publishes transactions into the bus as the org does.

Run: `.venv/bin/python -m bench.sf_pubsub [--events N]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from bridge.sandbox.salesforce.changes import RecordChange
from bridge.sandbox.salesforce.eventbus import EventBus
from bridge.sandbox.salesforce.pubsub import PubSubServer
from bridge.sandbox.salesforce.schema import SObjectDef, load_objects
from bridge.sandbox.tls import SandboxTLS
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc

TARGET_EVENTS_PER_SECOND = 2000
ORG_ID = "00D000000000001EAA"
AUTH = (
    ("accesstoken", "bench-token"),
    ("instanceurl", "https://bench.my.salesforce.com"),
    ("tenantid", ORG_ID),
)
TOPIC = "/data/EventChangeEvent"


class Server:
    def __init__(self, objects: dict[str, SObjectDef], tls: SandboxTLS, keepalive: timedelta) -> None:
        self.bus = EventBus(objects)
        self.pubsub = PubSubServer(self.bus, objects, lambda *_: True, ORG_ID, tls, keepalive=keepalive)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.pubsub.start("127.0.0.1", 0), self.loop).result(10)
        credentials = grpc.ssl_channel_credentials(root_certificates=tls.ca_pem)
        self.channel = grpc.secure_channel(f"localhost:{self.port}", credentials)
        self.stub = pb_grpc.PubSubStub(self.channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self.channel.close()
        asyncio.run_coroutine_threadsafe(self.pubsub.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def consume(
    stub: Any, preset: pb.ReplayPreset, want_events: int, want_responses: int = 0, limit: float = 60.0
) -> tuple[int, int, float]:
    """Subscribe and read until `want_events` events (or `want_responses` responses) arrive.

    Returns (events, responses, seconds from the first response to the last)."""
    requests: queue.Queue[pb.FetchRequest | None] = queue.Queue()
    requests.put(pb.FetchRequest(topic_name=TOPIC, replay_preset=preset, num_requested=100))

    def outgoing() -> Iterator[pb.FetchRequest]:
        while (request := requests.get()) is not None:
            yield request

    call = stub.Subscribe(outgoing(), metadata=AUTH)
    events = responses = 0
    started = 0.0
    deadline = time.monotonic() + limit
    for response in call:
        if responses == 0:
            started = time.perf_counter()
        responses += 1
        events += len(response.events)
        if response.pending_num_requested == 0:
            requests.put(pb.FetchRequest(num_requested=100))
        done = events >= want_events if want_events else responses >= want_responses
        if done or time.monotonic() > deadline:
            break
    elapsed = time.perf_counter() - started
    requests.put(None)
    call.cancel()
    return events, responses, elapsed


def event_change(objects: dict[str, SObjectDef], n: int) -> RecordChange:
    now = datetime.now(UTC)
    values: dict[str, Any] = {f.name: f.default for f in objects["event"].fields}
    values.update(
        Subject=f"Meeting {n}",
        Location="Room 4",
        ActivityDateTime=now,
        DurationInMinutes=30,
        OwnerId="005000000000001AAA",
        CreatedDate=now,
        CreatedById="005000000000001AAA",
        LastModifiedDate=now,
        LastModifiedById="005000000000001AAA",
        Description="Agenda " * 20,
    )
    return RecordChange("Event", "CREATE", f"00U{n:015d}", values, origin="com/salesforce/api/rest/61.0")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    objects = load_objects()
    tls = SandboxTLS.generate()

    floor_server = Server(objects, tls, keepalive=timedelta(0))
    try:
        consume(floor_server.stub, pb.LATEST, 0, want_responses=200)  # warm up
        _, floor_responses, floor_seconds = consume(floor_server.stub, pb.LATEST, 0, want_responses=5_000)
    finally:
        floor_server.close()

    server = Server(objects, tls, keepalive=timedelta(seconds=270))
    try:
        changes = [event_change(objects, n) for n in range(args.events)]
        started = time.perf_counter()
        for change in changes:
            server.bus.publish_transaction([change])
        publish_seconds = time.perf_counter() - started
        backlog_events, backlog_responses, backlog_seconds = consume(server.stub, pb.EARLIEST, args.events)

        live_count = min(args.events, 5_000)

        def publisher() -> None:
            time.sleep(0.2)
            for change in changes[:live_count]:
                server.bus.publish_transaction([change])

        thread = threading.Thread(target=publisher)
        thread.start()
        live_events, _, live_seconds = consume(server.stub, pb.LATEST, live_count)
        thread.join()
    finally:
        server.close()

    floor_rate = floor_responses / floor_seconds
    backlog_rate = backlog_events / backlog_seconds
    result = {
        "benchmark": "sf_pubsub",
        "floor_empty_responses_per_s": round(floor_rate, 1),
        "backlog_events_per_s": round(backlog_rate, 1),
        "backlog_events_per_response": round(backlog_events / max(backlog_responses, 1), 1),
        "live_events_per_s": round(live_events / live_seconds, 1),
        "publish_encode_events_per_s": round(args.events / publish_seconds, 1),
        "events": backlog_events,
        "backlog_vs_floor": round(backlog_rate / floor_rate, 2),
        "target_events_per_s": TARGET_EVENTS_PER_SECOND,
        "meets_target": backlog_rate >= TARGET_EVENTS_PER_SECOND,
        # Live delivery is bounded by how fast the org side can encode events, not by streaming.
        "live_meets_target": live_events / live_seconds >= TARGET_EVENTS_PER_SECOND,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
