"""What the benchmarks watch: each side's own notification stream, read as a client of that service reads it.

- `SalesforceStream`: a Pub/Sub subscription to /data/EventChangeEvent (gRPC over TLS, flow control as
  Salesforce's samples do it), each event decoded with its Avro schema;
- `ExchangeStream`: one streaming subscription per mailbox calendar (exchangelib, impersonation), all read
  over one GetStreamingEvents connection sent as the service account, as the bridge reads them.

Both call a callback on their reading thread with the moment the notification arrived (`time.monotonic()`),
so a latency is that moment minus the moment the change was committed on the other side. Nothing here knows
the bridge.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from bridge.salesforce.changes import EventSchema
from bridge.sandbox.exchange.client_tls import sandbox_account
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc

EVENT_TOPIC = "/data/EventChangeEvent"
EWS_EVENT_TYPES = ["CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent"]


@dataclass(frozen=True)
class EventChange:
    """One Event change event as a subscriber sees it."""

    record_ids: tuple[str, ...]
    change_type: str
    origin: str
    subject: str | None
    arrived: float


class SalesforceStream:
    """A Pub/Sub subscriber on its own thread, from LATEST; `on_change` runs for every Event change."""

    def __init__(
        self, endpoints: Mapping[str, Any], access_token: str, on_change: Callable[[EventChange], None]
    ) -> None:
        conf = endpoints["salesforce"]
        ca_pem = Path(endpoints["ca_bundle"]).read_bytes()
        self._channel = grpc.secure_channel(
            conf["pubsub"], grpc.ssl_channel_credentials(root_certificates=ca_pem)
        )
        self._stub = pb_grpc.PubSubStub(self._channel)
        self._auth = (
            ("accesstoken", access_token),
            ("instanceurl", conf["instance_url"]),
            ("tenantid", conf["org_id"]),
        )
        self._on_change = on_change
        self._schemas: dict[str, EventSchema] = {}
        self._requests: queue.Queue[pb.FetchRequest | None] = queue.Queue()
        self._call: Any = None
        self._thread = threading.Thread(target=self._read, name="pubsub-observer", daemon=True)

    def start(self, settle_s: float = 1.0) -> SalesforceStream:
        """Subscribe; return once the stream has been open `settle_s` without an error (a LATEST subscription
        says nothing until an event or a keepalive comes, so a quiet open stream is all there is to see)."""
        self._stub.GetTopic(pb.TopicRequest(topic_name=EVENT_TOPIC), metadata=self._auth, timeout=30)
        self._thread.start()
        self._thread.join(settle_s)
        if not self._thread.is_alive():
            raise RuntimeError("the Pub/Sub subscription ended at once")
        return self

    def close(self) -> None:
        self._requests.put(None)
        if self._call is not None:
            self._call.cancel()
        self._channel.close()

    def _outgoing(self) -> Iterator[pb.FetchRequest]:
        while (request := self._requests.get()) is not None:
            yield request

    def _schema(self, schema_id: str) -> EventSchema:
        if schema_id not in self._schemas:
            info = self._stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=self._auth)
            self._schemas[schema_id] = EventSchema.parse(schema_id, info.schema_json)
        return self._schemas[schema_id]

    def _read(self) -> None:
        self._requests.put(
            pb.FetchRequest(topic_name=EVENT_TOPIC, replay_preset=pb.ReplayPreset.LATEST, num_requested=100)
        )
        self._call = self._stub.Subscribe(self._outgoing(), metadata=self._auth)
        try:
            for response in self._call:
                arrived = time.monotonic()
                for consumer_event in response.events:
                    event = consumer_event.event
                    datum = self._schema(event.schema_id).decode(event.payload)
                    header = datum["ChangeEventHeader"]
                    self._on_change(
                        EventChange(
                            tuple(header["recordIds"]),
                            str(header["changeType"]),
                            str(header.get("changeOrigin") or ""),
                            datum.get("Subject"),
                            arrived,
                        )
                    )
                if response.pending_num_requested == 0:
                    self._requests.put(pb.FetchRequest(num_requested=100))
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:  # closed by us
                raise


@dataclass(frozen=True)
class ItemNotice:
    mailbox: str
    item_id: str
    arrived: float


class ExchangeStream:
    """Streaming subscriptions on every mailbox's calendar, read over one connection on its own thread;
    `on_notice` runs for every item created, modified, moved or deleted."""

    def __init__(
        self,
        endpoints: Mapping[str, Any],
        mailboxes: Sequence[str],
        on_notice: Callable[[ItemNotice], None],
        connections: int = 16,
    ) -> None:
        ca_pem = Path(endpoints["ca_bundle"]).read_bytes()
        self._mailbox_of: dict[str, str] = {}
        for address in mailboxes:
            account = sandbox_account(endpoints["exchange"], ca_pem, address)
            subscription = account.calendar.subscribe_to_streaming(event_types=EWS_EVENT_TYPES)
            self._mailbox_of[subscription] = address
        # The service account itself reads them all; impersonation would confine it to one mailbox.
        self._reader = sandbox_account(endpoints["exchange"], ca_pem, mailboxes[0], delegate=True)
        # exchangelib shares one session pool (one connection by default) among the accounts of one server and
        # credentials: the stream holds a connection for minutes, so the other calls need more.
        protocol = self._reader.protocol
        protocol.max_connections = max(protocol.max_connections, connections)
        self._on_notice = on_notice
        self._closing = False
        self._thread = threading.Thread(target=self._read, name="ews-observer", daemon=True)

    def start(self) -> ExchangeStream:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing = True  # the connection ends at its timeout; the thread is a daemon

    def _read(self) -> None:
        from exchangelib.properties import TimestampEvent
        from exchangelib.services import GetStreamingEvents

        while not self._closing:
            service = GetStreamingEvents(account=self._reader)
            for notification in service.call(subscription_ids=list(self._mailbox_of), connection_timeout=30):
                arrived = time.monotonic()
                mailbox = self._mailbox_of.get(notification.subscription_id or "")
                for event in notification.events or ():
                    if mailbox and isinstance(event, TimestampEvent) and event.item_id is not None:
                        self._on_notice(ItemNotice(mailbox, event.item_id.id, arrived))
