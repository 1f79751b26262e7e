"""The sandbox org's event bus: topics, the retained event log and replay ids.

One log per bus holds every event of every topic in commit order; replay ids are 8-byte big-endian counters
shared across topics (as on Salesforce, a subscriber's replay id may point past its own last event).
Events are kept for `retention`; a replay id whose event has expired, or that the bus never issued, is
invalid.

Thread-safe: the org publishes from its request handlers while Pub/Sub streams read from the gRPC event loop.
Readers learn about new events through listeners (`add_listener`), which are called after every append.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from bridge.sandbox.salesforce.avro_schemas import TopicSchema, all_schemas
from bridge.sandbox.salesforce.change_encoding import PayloadCodec, change_datum, epoch_ms, gap_datum
from bridge.sandbox.salesforce.changes import RecordChange
from bridge.sandbox.salesforce.schema import SObjectDef, change_event_name

ALL_CHANGE_EVENTS = "/data/ChangeEvents"
GAP_TYPES = ("GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE")
REPLAY_ID_BYTES = 8


def _utc_now() -> datetime:
    return datetime.now(UTC)


def replay_bytes(replay: int) -> bytes:
    return replay.to_bytes(REPLAY_ID_BYTES, "big")


class InvalidReplayId(ValueError):
    """A CUSTOM replay id that is malformed, expired or was never issued."""


class UnknownEntity(KeyError):
    """A fault named an object that has no change events in this org."""


@dataclass(frozen=True)
class Topic:
    """A subscribable channel. `schema` is None only for /data/ChangeEvents, whose events carry their own."""

    name: str
    schema: TopicSchema | None
    can_publish: bool

    @property
    def schema_id(self) -> str:
        return self.schema.schema_id if self.schema else ""


@dataclass(frozen=True)
class StoredEvent:
    replay: int
    topics: frozenset[str]
    event_id: str
    schema_id: str
    payload: bytes
    published_at: datetime


class EventBus:
    """Implements `changes.ChangeSink`: every committed transaction becomes change events on the bus."""

    def __init__(
        self,
        objects: Mapping[str, SObjectDef],
        *,
        retention: timedelta = timedelta(hours=72),
        clock: Callable[[], datetime] = _utc_now,
        replay_start: int = 0,
    ) -> None:
        """`replay_start` is the id issued "before" the first event: a sandbox restarted from saved state can
        pass a value above anything it issued before, so old replay ids stay invalid instead of pointing at
        unrelated new events."""
        self.retention = retention
        self.published: Counter[str] = Counter()  # events appended per topic since start (admin /state)
        self._clock = clock
        self._lock = threading.Lock()
        self._log: list[StoredEvent] = []
        self._latest = replay_start
        # Every replay id up to and including this one is expired.
        self._expired_through = replay_start - 1
        self._commit_numbers = count(1)
        self._listeners: list[Callable[[], None]] = []
        schemas = all_schemas(objects)
        self._codecs = {key: PayloadCodec(schema) for key, schema in schemas.items()}
        self._codecs_by_id = {codec.topic_schema.schema_id: codec for codec in self._codecs.values()}
        by_name = {sobject.name.lower(): sobject for sobject in objects.values()}
        self._objects = {key: by_name[key] for key in schemas}
        self.topics: dict[str, Topic] = {}
        first_change: TopicSchema | None = None
        for key, sobject in self._objects.items():
            schema = schemas[key]
            if sobject.platform_event:
                self.topics[f"/event/{sobject.name}".lower()] = Topic(f"/event/{sobject.name}", schema, True)
            else:
                name = f"/data/{change_event_name(sobject.name)}"
                self.topics[name.lower()] = Topic(name, schema, False)
                first_change = first_change or schema
        # The all-entities channel mixes schemas; it reports the first entity's so GetSchema on it resolves.
        self.topics[ALL_CHANGE_EVENTS.lower()] = Topic(ALL_CHANGE_EVENTS, first_change, False)
        # The topics each object's events are delivered on.
        self._event_topics = {key: self._topics_of(sobject) for key, sobject in self._objects.items()}

    @staticmethod
    def _topics_of(sobject: SObjectDef) -> frozenset[str]:
        if sobject.platform_event:
            return frozenset({f"/event/{sobject.name}"})
        return frozenset({ALL_CHANGE_EVENTS, f"/data/{change_event_name(sobject.name)}"})

    # -- lookups ----------------------------------------------------------------------------------------

    def topic(self, name: str) -> Topic | None:
        return self.topics.get(name.lower())

    def schema_by_id(self, schema_id: str) -> TopicSchema | None:
        codec = self._codecs_by_id.get(schema_id)
        return codec.topic_schema if codec else None

    def codec(self, schema_id: str) -> PayloadCodec | None:
        return self._codecs_by_id.get(schema_id)

    def add_listener(self, listener: Callable[[], None]) -> None:
        """`listener` is called (from the publishing thread) after events are appended."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    @property
    def latest_replay(self) -> int:
        with self._lock:
            return self._latest

    # -- publishing -------------------------------------------------------------------------------------

    def publish_transaction(self, changes: Sequence[RecordChange]) -> None:
        """Append one committed transaction's change events (objects without change events are skipped)."""
        relevant = [
            c for c in changes if c.entity.lower() in self._codecs and self._is_change_entity(c.entity)
        ]
        if not relevant:
            return
        generated_key = str(uuid.uuid4())
        sequences = [c.sequence for c in relevant]
        renumber = len(set(sequences)) != len(sequences)
        now_ms = epoch_ms(self._clock())
        commit_number = next(self._commit_numbers)
        encoded: list[tuple[str, frozenset[str], bytes]] = []
        for position, change in enumerate(relevant, start=1):
            key = change.entity.lower()
            codec = self._codecs[key]
            datum = change_datum(
                codec.topic_schema,
                change,
                transaction_key=change.transaction_key or generated_key,
                sequence=position if renumber else change.sequence,
                commit_timestamp_ms=change.commit_timestamp_ms or now_ms,
                commit_number=change.commit_number or commit_number,
            )
            encoded.append((codec.topic_schema.schema_id, self._event_topics[key], codec.encode(datum)))
        self._append(encoded)

    def publish_platform_event(self, topic: Topic, event_id: str, payload: bytes) -> int:
        """Append one already validated platform event; returns its replay id."""
        if topic.schema is None or not topic.can_publish:
            raise ValueError(f"{topic.name} does not accept published events")
        return self._append([(topic.schema.schema_id, frozenset({topic.name}), payload)], [event_id])[0]

    def inject_gap(self, entity: str, change_type: str, record_ids: Sequence[str]) -> int:
        """Publish a header-only GAP_* or GAP_OVERFLOW event for `entity`; returns its replay id."""
        key = entity.lower()
        if key not in self._codecs or not self._is_change_entity(entity):
            raise UnknownEntity(entity)
        if change_type not in (*GAP_TYPES, "GAP_OVERFLOW"):
            raise ValueError(f"{change_type!r} is not a gap change type")
        codec = self._codecs[key]
        datum = gap_datum(
            codec.topic_schema,
            record_ids=list(record_ids),
            change_type=change_type,
            transaction_key=str(uuid.uuid4()),
            commit_timestamp_ms=epoch_ms(self._clock()),
            commit_number=next(self._commit_numbers),
        )
        payload = codec.encode(datum)
        return self._append([(codec.topic_schema.schema_id, self._event_topics[key], payload)])[0]

    def _is_change_entity(self, entity: str) -> bool:
        return not self._objects[entity.lower()].platform_event

    def _append(
        self, items: list[tuple[str, frozenset[str], bytes]], event_ids: list[str] | None = None
    ) -> list[int]:
        now = self._clock()
        replays: list[int] = []
        with self._lock:
            self._prune(now)
            for index, (schema_id, topics, payload) in enumerate(items):
                self._latest += 1
                event_id = event_ids[index] if event_ids else str(uuid.uuid4())
                self._log.append(StoredEvent(self._latest, topics, event_id, schema_id, payload, now))
                self.published.update(topics)
                replays.append(self._latest)
            listeners = list(self._listeners)
        for listener in listeners:
            listener()
        return replays

    # -- retention --------------------------------------------------------------------------------------

    def _prune(self, now: datetime) -> None:
        """Drop events older than the retention window (caller holds the lock)."""
        self._expire_before(now - self.retention)

    def _expire_before(self, cutoff: datetime) -> int:
        kept = 0
        while kept < len(self._log) and self._log[kept].published_at < cutoff:
            kept += 1
        if kept:
            self._expired_through = max(self._expired_through, self._log[kept - 1].replay)
            del self._log[:kept]
        return kept

    def expire_older_than(self, age: timedelta) -> int:
        """Expire every event published more than `age` ago; returns how many were dropped."""
        with self._lock:
            return self._expire_before(self._clock() - age)

    def expire_all(self) -> int:
        """Expire every replay id issued so far, as if the subscriber had been away past retention."""
        with self._lock:
            dropped = len(self._log)
            self._log.clear()
            self._expired_through = self._latest
            return dropped

    # -- persistence ------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The retained log and replay counters as JSON-ready data, so replay ids survive a restart."""
        with self._lock:
            return {
                "latest": self._latest,
                "expired_through": self._expired_through,
                "events": [
                    {
                        "replay": e.replay,
                        "topics": sorted(e.topics),
                        "event_id": e.event_id,
                        "schema_id": e.schema_id,
                        "payload": base64.b64encode(e.payload).decode("ascii"),
                        "published_at": e.published_at.isoformat(),
                    }
                    for e in self._log
                ],
            }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Load a snapshot. Events whose schema the current metadata no longer has cannot be delivered, so
        then the whole saved log counts as expired (its replay ids get the documented error, never a gap)."""
        events = [
            StoredEvent(
                int(e["replay"]),
                frozenset(e["topics"]),
                e["event_id"],
                e["schema_id"],
                base64.b64decode(e["payload"]),
                datetime.fromisoformat(e["published_at"]),
            )
            for e in state.get("events", [])
        ]
        with self._lock:
            self._latest = int(state["latest"])
            self._expired_through = int(state["expired_through"])
            if all(e.schema_id in self._codecs_by_id for e in events):
                self._log = events
            else:
                self._log = []
                self._expired_through = self._latest

    # -- reading ----------------------------------------------------------------------------------------

    def start_after(self, preset: str, replay_id: bytes = b"") -> int:
        """The cursor (a replay id to read after) for a subscription's replay preset.

        LATEST starts at the tip, EARLIEST before the oldest retained event, CUSTOM after `replay_id`;
        InvalidReplayId for a CUSTOM id that is malformed, expired or never issued."""
        with self._lock:
            self._prune(self._clock())
            if preset == "LATEST":
                return self._latest
            if preset == "EARLIEST":
                return self._log[0].replay - 1 if self._log else self._latest
            if len(replay_id) != REPLAY_ID_BYTES:
                raise InvalidReplayId("replay id is not one this bus issued")
            replay = int.from_bytes(replay_id, "big")
            if replay <= self._expired_through or replay > self._latest:
                raise InvalidReplayId("replay id is expired or was never issued")
            return replay

    def read_after(self, topic: str, cursor: int, limit: int) -> tuple[list[StoredEvent], int]:
        """Up to `limit` events of `topic` after `cursor`, and the new cursor (the last replay looked at)."""
        with self._lock:
            self._prune(self._clock())
            if limit <= 0:
                return [], cursor
            if not self._log:
                return [], max(cursor, self._latest)
            first = self._log[0].replay
            index = max(0, cursor + 1 - first)
            found: list[StoredEvent] = []
            scanned = cursor
            while index < len(self._log) and len(found) < limit:
                event = self._log[index]
                if topic in event.topics:
                    found.append(event)
                scanned = event.replay
                index += 1
            return found, scanned
