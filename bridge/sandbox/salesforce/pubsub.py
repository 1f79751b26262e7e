"""The sandbox's Pub/Sub API server (gRPC over TLS, `eventbus.v1.PubSub`), serving an EventBus.

Every call is authenticated from its metadata (`accesstoken`, `instanceurl`, `tenantid`, keys matched without
regard to case) through the `authorize` callback. Errors carry Salesforce's status, `error-code` trailer and
`rpcId:` suffix (see pubsub_errors). Faults for tests and demos (gap events, expired replay ids, dropped
streams, latency, failing RPCs) are methods here and on the bus, and `apply_fault` dispatches to them by name.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import Any

import grpc
import grpc.aio

from bridge.sandbox.salesforce import pubsub_errors as errors
from bridge.sandbox.salesforce.eventbus import GAP_TYPES, EventBus, Topic, UnknownEntity, replay_bytes
from bridge.sandbox.salesforce.schema import SObjectDef
from bridge.sandbox.salesforce.subscription import (
    StreamControl,
    add_requested,
    read_requests,
    start_cursor,
    stream_events,
)
from bridge.sandbox.tls import SandboxTLS
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)
Context = Any  # grpc.aio.ServicerContext; grpc ships no type information
Authorize = Callable[[str, str, str], bool]
_AUTH_KEYS = ("accesstoken", "instanceurl", "tenantid")


class PubSubServer:
    """Serves `bus` over gRPC. Construct, `await start(host, port)`, and `await stop()` when done."""

    def __init__(
        self,
        bus: EventBus,
        objects: Mapping[str, SObjectDef],
        authorize: Authorize,
        org_id: str,
        tls: SandboxTLS,
        plaintext: bool = False,
        *,
        keepalive: timedelta = timedelta(seconds=270),
        idle_close: timedelta = timedelta(seconds=60),
    ) -> None:
        self.bus = bus
        self.objects = objects
        self.org_id = org_id
        self.keepalive = keepalive
        self.idle_close = idle_close
        self._authorize = authorize
        self._tls = tls
        self._plaintext = plaintext
        self._server: grpc.aio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streams: set[StreamControl] = set()
        self._fail_next = 0
        self._latency = 0.0
        self.delivered: Counter[str] = Counter()  # events sent per topic, over every subscription

    def counts(self) -> dict[str, dict[str, int]]:
        """Events published and delivered per topic since start: delivered / published is how many times
        the subscribers between them received each event (admin /state, `pubsub`)."""
        return {
            "published": dict(sorted(self.bus.published.items())),
            "delivered": dict(sorted(self.delivered.items())),
        }

    # -- lifecycle --------------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0 picks a free port) and return the bound port."""
        self._loop = asyncio.get_running_loop()
        server = grpc.aio.server()
        pb_grpc.add_PubSubServicer_to_server(_Service(self), server)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if self._plaintext:
            bound: int = server.add_insecure_port(address)
        else:
            credentials = grpc.ssl_server_credentials([(self._tls.key_pem, self._tls.cert_chain_pem)])
            bound = server.add_secure_port(address, credentials)
        await server.start()
        self._server = server
        self.bus.add_listener(self._on_bus_append)
        return bound

    async def stop(self) -> None:
        self.bus.remove_listener(self._on_bus_append)
        if self._server is not None:
            await self._server.stop(grace=0.2)
            self._server = None

    def _on_bus_append(self) -> None:
        # Called from whichever thread published; the streams live on the server's loop.
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_all)

    def _wake_all(self) -> None:
        for control in list(self._streams):
            control.wake.set()

    # -- faults -----------------------------------------------------------------------------------------

    def inject_gap(self, entity: str, record_id: str, change_type: str = "GAP_UPDATE") -> bytes:
        """A GAP_CREATE/GAP_UPDATE/GAP_DELETE/GAP_UNDELETE event for one record; returns its replay id."""
        if change_type not in GAP_TYPES:
            raise ValueError(f"change_type must be one of {', '.join(GAP_TYPES)}")
        return replay_bytes(self.bus.inject_gap(entity, change_type, [record_id]))

    def inject_gap_overflow(self, entity: str, record_ids: list[str] | None = None) -> bytes:
        """A GAP_OVERFLOW event for an entity (a transaction too large to describe); returns its replay id."""
        return replay_bytes(self.bus.inject_gap(entity, "GAP_OVERFLOW", record_ids or []))

    def expire_replay_ids(self, older_than: timedelta | None = None) -> int:
        """Expire events older than `older_than`, or every replay id issued so far when None."""
        return self.bus.expire_all() if older_than is None else self.bus.expire_older_than(older_than)

    def drop_streams(self) -> int:
        """Fail every open Subscribe stream now with UNAVAILABLE; returns how many there were."""
        # Fault methods may run on another thread (an admin endpoint); copy the set before walking it.
        streams = list(self._streams)
        for control in streams:
            control.dropped = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_all)
        return len(streams)

    def set_latency(self, seconds: float) -> None:
        """Delay every delivery of events by `seconds` (0 turns it off), for open and future streams."""
        self._latency = max(0.0, seconds)
        for control in list(self._streams):
            control.latency = self._latency

    def fail_next(self, count: int) -> None:
        """Answer the next `count` RPCs with UNAVAILABLE (`service.unavailable`)."""
        self._fail_next = max(0, count)

    def apply_fault(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run a fault by name (also driven by the sandbox's admin endpoint); ValueError for unknown ones.

        gap {entity, record_id, change_type}; gap_overflow {entity, record_ids?}; expire_replay
        {older_than_seconds?}; drop_streams {}; latency {seconds}; fail_next {count}."""
        try:
            if name == "gap":
                replay = self.inject_gap(
                    str(params["entity"]),
                    str(params["record_id"]),
                    str(params.get("change_type", "GAP_UPDATE")),
                )
                return {"replay_id": replay.hex()}
            if name == "gap_overflow":
                ids = [str(i) for i in params.get("record_ids", [])]
                return {"replay_id": self.inject_gap_overflow(str(params["entity"]), ids).hex()}
            if name == "expire_replay":
                seconds = params.get("older_than_seconds")
                age = None if seconds is None else timedelta(seconds=float(seconds))
                return {"expired": self.expire_replay_ids(age)}
            if name == "drop_streams":
                return {"dropped": self.drop_streams()}
            if name == "latency":
                self.set_latency(float(params.get("seconds", 0)))
                return {"latency_seconds": self._latency}
            if name == "fail_next":
                self.fail_next(int(params.get("count", 1)))
                return {"fail_next": self._fail_next}
        except KeyError as exc:
            if isinstance(exc, UnknownEntity):
                raise ValueError(f"{exc.args[0]} has no change events in this org") from None
            raise ValueError(f"fault {name!r} needs parameter {exc.args[0]!r}") from None
        raise ValueError(f"unknown fault {name!r}")

    # -- shared checks ----------------------------------------------------------------------------------

    def check_call(self, context: Context) -> None:
        """Injected failures first, then authentication; raises PubSubError."""
        if self._fail_next > 0:
            self._fail_next -= 1
            raise errors.unavailable()
        metadata = {str(item[0]).lower(): item[1] for item in context.invocation_metadata() or ()}
        values = [metadata.get(key) for key in _AUTH_KEYS]
        if not all(isinstance(v, str) and v for v in values):
            raise errors.auth_headers_invalid()
        token, instance_url, tenant = (str(v) for v in values)
        if not self._authorize(token, instance_url, tenant):
            raise errors.auth_error()

    def topic(self, name: str) -> Topic:
        found = self.bus.topic(name)
        if found is None:
            raise errors.topic_not_found(self.org_id, name)
        return found

    def open_stream(self) -> StreamControl:
        control = StreamControl(latency=self._latency)
        self._streams.add(control)
        return control

    def close_stream(self, control: StreamControl) -> None:
        self._streams.discard(control)


class _Service:
    """The gRPC servicer: one method per RPC of `eventbus.v1.PubSub`."""

    def __init__(self, server: PubSubServer) -> None:
        self._server = server

    async def GetTopic(self, request: pb.TopicRequest, context: Context) -> pb.TopicInfo:
        try:
            self._server.check_call(context)
            topic = self._server.topic(request.topic_name)
        except errors.PubSubError as exc:
            await errors.abort_with(context, exc)
        return pb.TopicInfo(
            topic_name=topic.name,
            tenant_guid=self._server.org_id,
            can_publish=topic.can_publish,
            can_subscribe=True,
            schema_id=topic.schema_id,
            rpc_id=errors.new_rpc_id(),
        )

    async def GetSchema(self, request: pb.SchemaRequest, context: Context) -> pb.SchemaInfo:
        try:
            self._server.check_call(context)
            schema = self._server.bus.schema_by_id(request.schema_id)
            if schema is None:
                raise errors.schema_not_found(request.schema_id)
        except errors.PubSubError as exc:
            await errors.abort_with(context, exc)
        return pb.SchemaInfo(
            schema_json=schema.schema_json, schema_id=schema.schema_id, rpc_id=errors.new_rpc_id()
        )

    def _publish(self, request: pb.PublishRequest) -> pb.PublishResponse:
        topic = self._server.topic(request.topic_name)
        if not topic.can_publish or topic.schema is None:
            raise errors.publish_not_allowed(topic.name)
        codec = self._server.bus.codec(topic.schema_id)
        assert codec is not None  # every topic schema has a codec
        results = []
        for event in request.events:
            key = event.id or str(uuid.uuid4())
            try:
                if event.schema_id != topic.schema_id:
                    raise ValueError(
                        f"schema id {event.schema_id!r} is not the topic's schema {topic.schema_id}"
                    )
                codec.decode(event.payload)
            except ValueError as exc:
                error = pb.Error(code=pb.PUBLISH, msg=str(exc))
                results.append(pb.PublishResult(error=error, correlation_key=key))
                continue
            replay = self._server.bus.publish_platform_event(topic, key, event.payload)
            results.append(pb.PublishResult(replay_id=replay_bytes(replay), correlation_key=key))
        return pb.PublishResponse(results=results, schema_id=topic.schema_id, rpc_id=errors.new_rpc_id())

    async def Publish(self, request: pb.PublishRequest, context: Context) -> pb.PublishResponse:
        try:
            self._server.check_call(context)
            return self._publish(request)
        except errors.PubSubError as exc:
            await errors.abort_with(context, exc)

    async def PublishStream(
        self, requests: AsyncIterator[pb.PublishRequest], context: Context
    ) -> AsyncIterator[pb.PublishResponse]:
        try:
            self._server.check_call(context)
            async for request in requests:
                yield self._publish(request)
        except errors.PubSubError as exc:
            await errors.abort_with(context, exc)

    async def ManagedSubscribe(
        self, requests: AsyncIterator[pb.ManagedFetchRequest], context: Context
    ) -> AsyncIterator[pb.ManagedFetchResponse]:
        await errors.abort_with(context, errors.managed_subscribe_unimplemented())
        yield pb.ManagedFetchResponse()  # unreachable; makes this an async generator like the other streams

    async def Subscribe(
        self, requests: AsyncIterator[pb.FetchRequest], context: Context
    ) -> AsyncIterator[pb.FetchResponse]:
        server = self._server
        control = server.open_stream()
        reader: asyncio.Task[None] | None = None
        try:
            server.check_call(context)
            iterator = requests.__aiter__()
            try:
                first = await asyncio.wait_for(iterator.__anext__(), server.idle_close.total_seconds())
            except (StopAsyncIteration, TimeoutError):
                return
            topic = server.topic(first.topic_name)
            cursor = start_cursor(server.bus, first)
            control.pending = add_requested(0, first.num_requested)
            reader = asyncio.create_task(read_requests(iterator, topic, control))
            rpc_id = errors.new_rpc_id()
            async for response in stream_events(
                server.bus, topic, cursor, control, rpc_id, server.keepalive, server.idle_close
            ):
                server.delivered[topic.name] += len(response.events)
                yield response
        except errors.PubSubError as exc:
            await errors.abort_with(context, exc)
        finally:
            server.close_stream(control)
            if reader is not None:
                reader.cancel()
