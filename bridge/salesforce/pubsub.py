"""Subscribing to Pub/Sub topics over grpc.aio (TLS), with flow control, resume and reconnection.

One `stream(topic, resume, out)` per topic runs until cancelled:
- flow control: `pubsub_batch` events are requested at first; after the events of a response have been
  handed to `out` (which waits while the consumer is busy), as many are requested again, so the number
  outstanding stays bounded and a slow consumer slows the stream instead of filling memory;
- resume: from `resume` (replay id hex, CUSTOM: after it), else LATEST; after a drop, from the last event
  handed on (or the latest replay id a keepalive reported);
- a replay id refused (`replayid.corrupted` / `validation.failed`: past retention or unknown) hands on
  `StreamGap(REPLAY_EXPIRED)` and continues from LATEST (R-TIME-3);
- a refused token (UNAUTHENTICATED, `...auth.error`) gets a new one; other failures reconnect with
  exponential backoff and jitter (tenacity); a stream that delivered and then dropped reconnects at once;
- an event that cannot be read is reported as MappingError through `on_error` and the stream carries on;
  a change event among them becomes a gap (its records re-read, or a reconcile when they are unknown).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import grpc
import grpc.aio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from bridge.errors import MappingError
from bridge.ports import GapKind, SalesforceNotice, StreamGap, StreamPosition
from bridge.salesforce import changes
from bridge.salesforce.auth import Tokens
from bridge.salesforce.changes import EventSchema
from bridge.salesforce.connection import SalesforceConnection
from bridge.salesforce.metrics import CallCounter
from bridge.salesforce.rest import backoff
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

Out = Callable[[SalesforceNotice], Awaitable[None]]
OnError = Callable[[MappingError], None]
_REPLAY_REFUSED = ("replayid.corrupted", "replayid.validation.failed")


class StreamDropped(Exception):
    """The Subscribe call ended without delivering anything: reconnect after a backoff."""


@dataclass
class _Cursor:
    replay: bytes | None  # resume after this replay id; None: LATEST


def _error_code(error: grpc.aio.AioRpcError) -> str:
    for key, value in error.trailing_metadata() or ():
        if key == "error-code":
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


class PubSub:
    """The Pub/Sub client of one org: one channel, schemas cached by id."""

    def __init__(
        self, connection: SalesforceConnection, tokens: Tokens, counter: CallCounter, on_error: OnError
    ) -> None:
        self._connection = connection
        self._tokens = tokens
        self._counter = counter
        self._on_error = on_error
        credentials = grpc.ssl_channel_credentials(root_certificates=connection.ca_pem)
        self._channel = grpc.aio.secure_channel(connection.pubsub, credentials)
        self._stub = pb_grpc.PubSubStub(self._channel)
        self._schemas: dict[str, EventSchema] = {}
        self.connects = 0  # Subscribe calls opened, for tests and metrics
        self._open: dict[str, tuple[float, bool]] = {}  # topic -> (call opened at, answered since)

    def connected(self, topic: str, settle_s: float = 1.0) -> bool:
        """Whether `topic` is subscribed now: its Subscribe call is open on a ready channel and has answered,
        or has stayed open `settle_s` (Pub/Sub answers nothing until an event or a keepalive; a refused
        token or topic fails the call at once)."""
        opened = self._open.get(topic)
        if opened is None:
            return False
        ready = self._channel.get_state() is grpc.ChannelConnectivity.READY
        return ready and (opened[1] or asyncio.get_running_loop().time() - opened[0] >= settle_s)

    async def close(self) -> None:
        await self._channel.close()

    def _metadata(self, token: str) -> tuple[tuple[str, str], ...]:
        c = self._connection
        return (("accesstoken", token), ("instanceurl", c.instance_url), ("tenantid", c.org_id))

    async def topic(self, topic: str, timeout_s: float = 20.0) -> pb.TopicInfo:
        """GetTopic: whether the bridge may subscribe to `topic` and the id of its current schema. gRPC errors
        pass through (NOT_FOUND: no such topic, or not visible to this user)."""
        token = await self._tokens.current()
        info: pb.TopicInfo = await self._stub.GetTopic(
            pb.TopicRequest(topic_name=topic), metadata=self._metadata(token), timeout=timeout_s
        )
        return info

    async def schema(self, schema_id: str) -> EventSchema:
        """The schema with this id (GetSchema once per id)."""
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        token = await self._tokens.current()
        try:
            info = await self._stub.GetSchema(
                pb.SchemaRequest(schema_id=schema_id), metadata=self._metadata(token)
            )
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                raise MappingError(f"schema {schema_id} is unknown to Pub/Sub") from None
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                await self._tokens.refresh(token)
            raise
        parsed = EventSchema.parse(schema_id, info.schema_json)
        self._schemas[schema_id] = parsed
        return parsed

    async def stream(self, topic: str, resume: str | None, out: Out) -> None:
        """Hand every event of `topic` to `out`, from `resume` on, forever (until cancelled)."""
        cursor = _Cursor(bytes.fromhex(resume) if resume else None)
        wait = backoff(self._connection)
        while True:
            retrying = AsyncRetrying(
                retry=retry_if_exception_type(StreamDropped),
                wait=wait,
                before_sleep=self._note_drop,
                reraise=True,
            )
            async for attempt in retrying:
                with attempt:
                    await self._session(topic, cursor, out)

    def _note_drop(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.info("salesforce pub/sub: reconnecting (attempt %d): %s", state.attempt_number, error)

    async def _session(self, topic: str, cursor: _Cursor, out: Out) -> None:
        """One Subscribe call. Returns to reconnect at once (it delivered, then ended); raises
        StreamDropped to reconnect after a backoff."""
        batch = self._connection.pubsub_batch
        token = await self._tokens.current()
        more: asyncio.Queue[int] = asyncio.Queue()
        first = pb.FetchRequest(
            topic_name=topic,
            replay_preset=pb.CUSTOM if cursor.replay else pb.LATEST,
            replay_id=cursor.replay or b"",
            num_requested=batch,
        )

        async def requests() -> AsyncIterator[pb.FetchRequest]:
            yield first
            while True:
                yield pb.FetchRequest(topic_name=topic, num_requested=await more.get())

        self.connects += 1
        call = self._stub.Subscribe(requests(), metadata=self._metadata(token))
        delivered = False
        self._open[topic] = (asyncio.get_running_loop().time(), False)
        try:
            async for response in call:
                self._open[topic] = (self._open[topic][0], True)
                for event in response.events:
                    await self._hand_on(topic, event, out)
                    cursor.replay = event.replay_id
                    delivered = True
                if response.events:
                    more.put_nowait(len(response.events))
                elif response.latest_replay_id and cursor.replay is not None:
                    # A keepalive: the bus moved on without events for us; resume from there.
                    cursor.replay = response.latest_replay_id
                if response.pending_num_requested == 0 and not response.events:
                    more.put_nowait(batch)
        except grpc.aio.AioRpcError as error:
            code = _error_code(error)
            if error.code() == grpc.StatusCode.INVALID_ARGUMENT and code.endswith(_REPLAY_REFUSED):
                await self._replay_refused(topic, cursor, out)
                return
            if error.code() == grpc.StatusCode.UNAUTHENTICATED or "auth" in code:
                await self._tokens.refresh(token)
            if delivered:
                log.info("salesforce pub/sub: %s dropped (%s); resuming", topic, error.code().name)
                return
            raise StreamDropped(f"{topic}: {error.code().name} {code}".strip()) from None
        finally:
            self._open.pop(topic, None)
            call.cancel()
        if not delivered:
            raise StreamDropped(f"{topic}: the stream ended")

    async def _replay_refused(self, topic: str, cursor: _Cursor, out: Out) -> None:
        log.warning(
            "salesforce pub/sub: %s refused replay id %s; reconciling, then LATEST",
            topic,
            (cursor.replay or b"").hex(),
        )
        cursor.replay = None
        await out(StreamGap(changes.TOPICS[topic], GapKind.REPLAY_EXPIRED, (), None))

    async def _hand_on(self, topic: str, event: pb.ConsumerEvent, out: Out) -> None:
        position = StreamPosition(changes.stream_name(topic), event.replay_id.hex())
        try:
            schema = await self.schema(event.event.schema_id)
            item = changes.notice(
                topic, schema, event.event.payload, event.replay_id, self._connection.call_client
            )
        except MappingError as error:
            self._counter.add("mapping_error")
            self._on_error(error)
            if topic == changes.COMMAND_TOPIC:
                return  # a command that does not read is reported, not acted on
            # The change is lost in transit: its records must be read again, or, unknown, reconciled.
            await out(StreamGap(changes.TOPICS[topic], GapKind.OVERFLOW, (), position))
            return
        await out(item)
