"""Publishing platform events through REST (`POST sobjects/X__e`), as Salesforce allows besides Pub/Sub.

The fields are checked like a record write; the event is Avro-encoded with the topic's schema and appended
to the bus. Salesforce answers 201 with an `e00` id and an OPERATION_ENQUEUED note carrying the event UUID.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from bridge.sandbox.salesforce.eventbus import EventBus
from bridge.sandbox.salesforce.schema import SObjectDef


def _avro_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)
    return value


class PlatformEventPublisher:
    """Appends REST-published platform events to the event bus."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def publish(self, sobject: SObjectDef, given: Mapping[str, Any], user_id: str, now: datetime) -> str:
        """Publish one event of `sobject` with checked field values; returns its EventUuid."""
        topic = self.bus.topic(f"/event/{sobject.name}")
        if topic is None or topic.schema is None:
            raise ValueError(f"{sobject.name} has no event channel")
        codec = self.bus.codec(topic.schema.schema_id)
        if codec is None:
            raise ValueError(f"{sobject.name} has no schema")
        datum: dict[str, Any] = {"CreatedDate": _avro_value(now), "CreatedById": user_id}
        for fdef in sobject.fields:
            if fdef.custom:
                datum[fdef.name] = _avro_value(given.get(fdef.name))
        event_uuid = str(uuid.uuid4())
        self.bus.publish_platform_event(topic, event_uuid, codec.encode(datum))
        return event_uuid
