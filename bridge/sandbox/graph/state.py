"""Everything the Graph endpoints share: the mailbox store (the EWS sandbox's, when both run), ids, delta
states, subscriptions, the identity, throttling, transaction ids, and the store listener that turns mailbox
changes into notifications and keeps immutable ids current."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..exchange import series
from ..exchange.model import CalendarItem, Mailbox
from ..exchange.store import Store, StoreEvent
from .auth import Identity
from .calls import Call
from .delta import DeltaBook
from .errors import GraphError, not_found
from .events_json import View, etag
from .ids import IdBook, user_object_id
from .query import parse_expand, parse_select
from .settings import GraphTimings
from .subscriptions import Hub
from .throttle import Throttle


@dataclass
class Transaction:
    origin: str  # the event's first EWS id
    fingerprint: str  # the POST body, to tell a retry from a different event


@dataclass
class GraphState:
    store: Store
    identity: Identity
    timings: GraphTimings
    hub: Hub
    throttle: Throttle
    ids: IdBook = field(default_factory=IdBook)
    delta: DeltaBook = field(default_factory=DeltaBook)
    transactions: dict[str, Transaction] = field(default_factory=dict)  # "mailbox|transactionId"
    transaction_of: dict[str, str] = field(default_factory=dict)  # first EWS id -> transactionId

    def __post_init__(self) -> None:
        self.store.subscribe(self._on_store_event)

    # ---- lookups -------------------------------------------------------------------------------------------

    def mailbox(self, user: str) -> Mailbox:
        """The mailbox for ``/users/{id}``: an object id or a UPN (the address)."""
        key = user.strip().lower()
        found = self.store.mailbox(key)
        if found is None:
            found = next(
                (mb for mb in self.store.mailboxes.values() if user_object_id(mb.address) == key), None
            )
        if found is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user}' is invalid.")
        if not found.impersonation:
            raise GraphError(403, "ErrorAccessDenied", "Access to OData is disabled.")
        return found

    def find(self, ews_id: str) -> CalendarItem | None:
        """A stored item, or the view of a series occurrence (its id names the master and original start)."""
        found = self.store.items.get(ews_id)
        if found is not None:
            return found
        parsed = series.parse_occurrence_id(ews_id)
        master = self.store.items.get(self.ids.current.get(parsed[0], parsed[0])) if parsed else None
        if parsed is None or master is None or master.recurrence is None:
            return None
        try:
            return series.by_original_start(master, parsed[1])
        except Exception:  # EWSError: deleted from the series, or not one of its starts
            return None

    def item(self, mailbox: Mailbox, graph_id: str) -> CalendarItem:
        found = self.find(self.ids.to_ews(graph_id))
        if found is None or found.mailbox.lower() != mailbox.address.lower():
            raise not_found()
        return found

    def expand(self, items: list[CalendarItem], start: Any, end: Any) -> list[CalendarItem]:
        """calendarView's set: singles in [start, end), and the occurrences and exceptions of series."""
        out: list[CalendarItem] = []
        for item in items:
            if item.recurrence is not None:
                out += series.in_window(item, start, end)
            elif self.delta.in_window(item, start, end):
                out.append(item)
        return out

    def view(self, call: Call) -> View:
        return View(
            ids=self.ids,
            immutable=call.prefer.immutable_ids,
            timezone=call.prefer.timezone,
            body_type=call.prefer.body_type,
            select=parse_select(call.query.get("$select")),
            expand=parse_expand(call.query.get("$expand")),
        )

    def view_for(self, base: View, item: CalendarItem) -> View:
        origin = self.ids.origin.get(item.item_id, item.item_id)
        return View(
            base.ids, base.immutable, base.timezone, base.body_type, base.select, base.expand,
            self.transaction_of.get(origin),
        )  # fmt: skip

    # ---- the store's changes -------------------------------------------------------------------------------

    def _on_store_event(self, event: StoreEvent) -> None:
        if event.kind == "Moved" and event.old_item_id:
            self.ids.moved(event.old_item_id, event.item_id)
        box = self.store.mailbox(event.mailbox)
        if box is None:
            return
        calendar = box.folder("calendar").folder_id
        item = self.store.items.get(event.item_id)
        tag = etag(item) if item is not None else None
        changes: list[tuple[str, str, str | None]] = []
        if event.kind == "Created" and event.folder_id == calendar:
            changes.append(("created", event.item_id, tag))
        elif event.kind == "Modified" and event.folder_id == calendar:
            changes.append(("updated", event.item_id, tag))
        elif event.kind == "Deleted" and event.folder_id == calendar:
            changes.append(("deleted", event.item_id, None))
        elif event.kind == "Moved":
            if event.old_folder_id == calendar and event.old_item_id:
                changes.append(("deleted", event.old_item_id, None))
            if event.folder_id == calendar:
                changes.append(("created", event.item_id, tag))
        for change, item_id, item_tag in changes:
            self.hub.notify(
                box.address,
                change,
                lambda immutable, item_id=item_id: self.ids.render(item_id, immutable),  # type: ignore[misc]
                item_tag,
            )

    # ---- persistence ---------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "tenant_id": self.identity.tenant_id,
            "client_id": self.identity.client_id,
            "ids": self.ids.snapshot(),
            "delta": self.delta.snapshot(),
            "subscriptions": self.hub.snapshot(),
            "transactions": [
                {"key": key, "origin": t.origin, "fingerprint": t.fingerprint}
                for key, t in self.transactions.items()
            ],
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.ids.restore(data.get("ids", {}))
        self.delta.restore(data.get("delta", {}))
        self.hub.restore(data.get("subscriptions", []))
        for entry in data.get("transactions", []):
            self.transactions[entry["key"]] = Transaction(entry["origin"], entry["fingerprint"])
            self.transaction_of[entry["origin"]] = entry["key"].split("|", 1)[1]
