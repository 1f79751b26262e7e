"""Test harness for the sandbox Pub/Sub server: runs it on its own event loop thread and talks to it with the
generated gRPC stubs over TLS (root certificate = the sandbox CA), as the bridge and Salesforce's samples do.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc

from bridge.sandbox.salesforce.changes import RecordChange
from bridge.sandbox.salesforce.eventbus import EventBus
from bridge.sandbox.salesforce.pubsub import PubSubServer
from bridge.sandbox.salesforce.schema import SObjectDef, load_objects
from bridge.sandbox.tls import SandboxTLS
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc

ORG_ID = "00D000000000001EAA"
INSTANCE_URL = "https://sandbox.my.salesforce.com"
TOKEN = "00D000000000001!sandbox-access-token"
USER_ID = "005000000000001AAA"
AUTH = (("accesstoken", TOKEN), ("instanceurl", INSTANCE_URL), ("tenantid", ORG_ID))
END = object()


class FakeClock:
    """A settable UTC clock for retention tests."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def authorize(token: str, instance_url: str, tenant: str) -> bool:
    return token == TOKEN and instance_url == INSTANCE_URL and tenant == ORG_ID


class RunningPubSub:
    """A PubSubServer on a background loop plus a TLS channel and stub to it."""

    def __init__(
        self,
        objects: dict[str, SObjectDef],
        tls: SandboxTLS,
        *,
        keepalive: timedelta = timedelta(seconds=270),
        idle_close: timedelta = timedelta(seconds=60),
        retention: timedelta = timedelta(hours=72),
        clock: FakeClock | None = None,
        plaintext: bool = False,
    ) -> None:
        self.objects = objects
        self.clock = clock
        self.bus = EventBus(objects, retention=retention, **({"clock": clock} if clock else {}))
        self.server = PubSubServer(
            self.bus, objects, authorize, ORG_ID, tls, plaintext, keepalive=keepalive, idle_close=idle_close
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self.loop).result(10)
        if plaintext:
            self.channel = grpc.insecure_channel(f"localhost:{self.port}")
        else:
            credentials = grpc.ssl_channel_credentials(root_certificates=tls.ca_pem)
            self.channel = grpc.secure_channel(f"localhost:{self.port}", credentials)
        self.stub = pb_grpc.PubSubStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def topic(self, name: str) -> pb.TopicInfo:
        return self.stub.GetTopic(pb.TopicRequest(topic_name=name), metadata=AUTH)

    def schema_json(self, schema_id: str) -> str:
        return self.stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=AUTH).schema_json

    def subscribe(
        self,
        topic: str,
        num_requested: int = 100,
        preset: int = pb.LATEST,
        replay_id: bytes = b"",
        metadata: tuple[tuple[str, str], ...] = AUTH,
    ) -> Subscription:
        first = pb.FetchRequest(
            topic_name=topic, replay_preset=preset, replay_id=replay_id, num_requested=num_requested
        )
        return Subscription(self.stub, first, metadata)


@dataclass
class Subscription:
    """A Subscribe call driven from a test: `request(n)` sends FetchRequests, `next()` reads responses."""

    stub: pb_grpc.PubSubStub
    first: pb.FetchRequest
    metadata: tuple[tuple[str, str], ...]
    requests: queue.Queue[pb.FetchRequest | None] = field(default_factory=queue.Queue)
    responses: queue.Queue[Any] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        self.requests.put(self.first)
        self.call = self.stub.Subscribe(self._outgoing(), metadata=self.metadata)
        threading.Thread(target=self._pump, daemon=True).start()

    def _outgoing(self) -> Iterator[pb.FetchRequest]:
        while (request := self.requests.get()) is not None:
            yield request

    def _pump(self) -> None:
        try:
            for response in self.call:
                self.responses.put(response)
            self.responses.put(END)
        except grpc.RpcError as exc:
            self.responses.put(exc)

    def request(self, num: int, topic: str = "") -> None:
        self.requests.put(pb.FetchRequest(topic_name=topic, num_requested=num))

    def next(self, timeout: float = 5.0) -> Any:
        """The next FetchResponse, END when the server closed the stream, or the RpcError it failed with."""
        return self.responses.get(timeout=timeout)

    def expect_nothing(self, wait: float) -> None:
        try:
            item = self.responses.get(timeout=wait)
        except queue.Empty:
            return
        raise AssertionError(f"expected nothing, got {item!r}")

    def events(self, count: int, timeout: float = 5.0) -> list[pb.ConsumerEvent]:
        """Collect `count` events across responses, skipping keepalives."""
        found: list[pb.ConsumerEvent] = []
        while len(found) < count:
            item = self.next(timeout)
            if not isinstance(item, pb.FetchResponse):
                raise AssertionError(f"stream ended early with {item!r}")
            found.extend(item.events)
        return found

    def close(self) -> None:
        self.requests.put(None)
        self.call.cancel()


def error_code(error: grpc.RpcError) -> str:
    return dict(error.trailing_metadata() or ()).get("error-code", "")


def event_values(objects: dict[str, SObjectDef], **given: Any) -> dict[str, Any]:
    """A full Event record as the org stores it: every field present, defaults filled, `given` on top."""
    now = datetime(2026, 11, 20, 9, 30, 15, 123000, tzinfo=UTC)
    values: dict[str, Any] = {f.name: f.default for f in objects["event"].fields}
    values.update(
        Id="00U000000000001AAA",
        Subject="Quarterly review",
        Location="Room 4",
        ActivityDateTime=datetime(2026, 11, 24, 14, 0, tzinfo=UTC),
        ActivityDate=date(2026, 11, 24),
        DurationInMinutes=45,
        OwnerId=USER_ID,
        CreatedDate=now,
        CreatedById=USER_ID,
        LastModifiedDate=now,
        LastModifiedById=USER_ID,
        SystemModstamp=now,
    )
    values.update(given)
    return values


def relation_values(objects: dict[str, SObjectDef], **given: Any) -> dict[str, Any]:
    now = datetime(2026, 11, 20, 9, 30, 15, tzinfo=UTC)
    values: dict[str, Any] = {f.name: f.default for f in objects["eventrelation"].fields}
    values.update(CreatedDate=now, CreatedById=USER_ID, LastModifiedDate=now, LastModifiedById=USER_ID)
    values.update(given)
    return values


def create_event(
    objects: dict[str, SObjectDef], record_id: str = "00U000000000001AAA", **given: Any
) -> RecordChange:
    return RecordChange("Event", "CREATE", record_id, event_values(objects, Id=record_id, **given))


@functools.cache
def shared_tls() -> SandboxTLS:
    return SandboxTLS.generate()


@functools.cache
def shared_objects() -> dict[str, SObjectDef]:
    return load_objects()


@contextlib.contextmanager
def running_pubsub(**options: Any) -> Iterator[RunningPubSub]:
    """A fresh server and bus (options as RunningPubSub takes them), closed afterwards."""
    running = RunningPubSub(shared_objects(), shared_tls(), **options)
    try:
        yield running
    finally:
        running.close()
