"""Subscriptions (streaming and pull): which store events each one hears, queued until read.

Fan-out is indexed by mailbox, so a change costs one look-up plus the subscriptions of that mailbox. A
streaming subscription's queue drains into whichever connection reads it; a pull subscription keeps its
events until a GetEvents call acknowledges them with a later watermark. Time comes from an injected
monotonic clock so idle expiry can be tested without sleeping.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from .store import Store, StoreEvent
from .tokens import seal, unseal
from .wire import EWSError

EVENT_TYPES = (
    "CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "NewMailEvent",
    "FreeBusyChangedEvent", "StatusEvent",
)  # fmt: skip


@dataclass(frozen=True)
class QueuedEvent:
    event: StoreEvent
    index: int  # position in the subscription's event log; its watermark encodes index + 1


@dataclass
class Subscription:
    subscription_id: str
    mailbox: str
    streaming: bool
    folder_ids: frozenset[str] | None  # None: every folder of the mailbox
    event_types: frozenset[str]
    idle_limit: float  # seconds without a reader before it expires
    last_used: float
    queue: list[QueuedEvent] = field(default_factory=list)
    next_index: int = 0
    expired: bool = False
    # pull: (watermark index asked for, index to continue from, whether more were left) of the last GetEvents
    last_pull: tuple[int, int, bool] | None = None
    waker: Callable[[], None] | None = None

    def hears(self, event: StoreEvent) -> bool:
        if f"{event.kind}Event" not in self.event_types:
            return False
        if self.folder_ids is None:
            return True
        return event.folder_id in self.folder_ids or (event.old_folder_id or "") in self.folder_ids


class SubscriptionHub:
    def __init__(self, store: Store, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.monotonic = monotonic
        self.subscriptions: dict[str, Subscription] = {}
        self._by_mailbox: dict[str, list[Subscription]] = {}
        store.subscribe(self._on_event)

    # ---- lifecycle -----------------------------------------------------------------------------------------

    def create(
        self,
        mailbox: str,
        streaming: bool,
        folder_ids: frozenset[str] | None,
        event_types: frozenset[str],
        idle_limit: float,
    ) -> Subscription:
        unknown = event_types - set(EVENT_TYPES)
        if unknown:
            raise EWSError(
                "ErrorInvalidSubscriptionRequest", f"Unknown event types: {', '.join(sorted(unknown))}."
            )
        sub = Subscription(
            subscription_id=uuid.uuid4().hex,
            mailbox=mailbox.lower(),
            streaming=streaming,
            folder_ids=folder_ids,
            event_types=event_types,
            idle_limit=idle_limit,
            last_used=self.monotonic(),
        )
        self.subscriptions[sub.subscription_id] = sub
        self._by_mailbox.setdefault(sub.mailbox, []).append(sub)
        return sub

    def find(self, subscription_id: str, streaming: bool) -> Subscription:
        """The live subscription, or the error Exchange gives for an unknown or expired one."""
        sub = self.subscriptions.get(subscription_id.strip())
        idle = sub is not None and not sub.expired and self.monotonic() - sub.last_used > sub.idle_limit
        if (
            sub is not None and idle and not (sub.streaming and sub.waker is not None)
        ):  # open streams are in use
            sub.expired = True
        if sub is None or sub.streaming != streaming:
            code = "ErrorInvalidSubscription" if streaming else "ErrorSubscriptionNotFound"
            raise EWSError(
                code, "Subscription is invalid." if streaming else "The subscription was not found."
            )
        if sub.expired:
            if streaming:
                raise EWSError("ErrorInvalidSubscription", "Subscription is invalid.")
            raise EWSError("ErrorExpiredSubscription", "The subscription has expired.")
        sub.last_used = self.monotonic()
        return sub

    def remove(self, subscription_id: str) -> None:
        sub = self.subscriptions.pop(subscription_id.strip(), None)
        if sub is None:
            raise EWSError("ErrorSubscriptionNotFound", "The subscription was not found.")
        self._by_mailbox[sub.mailbox].remove(sub)
        sub.expired = True
        if sub.waker is not None:
            sub.waker()

    def expire(self, mailbox: str | None = None) -> int:
        """Expire every subscription (of one mailbox); returns how many. Open streams wake up to close."""
        count = 0
        for sub in list(self.subscriptions.values()):
            if mailbox is None or sub.mailbox == mailbox.lower():
                sub.expired = True
                count += 1
                if sub.waker is not None:
                    sub.waker()
        return count

    # ---- events --------------------------------------------------------------------------------------------

    def _on_event(self, event: StoreEvent) -> None:
        for sub in self._by_mailbox.get(event.mailbox.lower(), ()):
            if not sub.expired and sub.hears(event):
                sub.queue.append(QueuedEvent(event, sub.next_index))
                sub.next_index += 1
                if sub.waker is not None:
                    sub.waker()

    def drain(self, sub: Subscription, limit: int) -> list[QueuedEvent]:
        """Streaming: take up to ``limit`` queued events."""
        taken, sub.queue = sub.queue[:limit], sub.queue[limit:]
        return taken

    # ---- watermarks (pull) ---------------------------------------------------------------------------------

    def watermark(self, sub: Subscription, index: int) -> str:
        return seal(self.store.secret, {"w": sub.subscription_id, "i": index})

    def read_watermark(self, sub: Subscription, token: str) -> int:
        payload = unseal(self.store.secret, token)
        if (
            payload is None
            or payload.get("w") != sub.subscription_id
            or not isinstance(payload.get("i"), int)
        ):
            raise EWSError("ErrorInvalidWatermark", "The watermark is invalid.")
        index: int = payload["i"]
        return index

    def pull(self, sub: Subscription, watermark_index: int, limit: int) -> tuple[list[QueuedEvent], bool]:
        """Pull: events after ``watermark_index`` (earlier ones count as acknowledged and are dropped).

        A client paging through MoreEvents repeats the same watermark (exchangelib does), so a repeat of a
        request that left more events continues where that answer stopped; any other repeat re-reads.
        """
        start = watermark_index
        if sub.last_pull is not None and sub.last_pull[0] == watermark_index and sub.last_pull[2]:
            start = sub.last_pull[1]
        sub.queue = [q for q in sub.queue if q.index >= watermark_index]
        pending = [q for q in sub.queue if q.index >= start]
        page = pending[:limit]
        more = len(pending) > len(page)
        sub.last_pull = (watermark_index, page[-1].index + 1 if page else start, more)
        return page, more
