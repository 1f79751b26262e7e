"""R-ATT-4 when the bridge's write-back to the item loses races while it pairs it (R-MERGE-5): an attendee
added in Outlook as the bridge writes the pairing fields, then removed as it writes them again, leaves the
event.

Found in an e2e run under Graph (test_two_ways.py, R-ATT-3 and 4, rare): the bridge had related the attendee
to the event when its second write of the item lost the race to the removal, and the re-plan took the item
as read at first (no attendee) for its base; the re-read item equalled it, so the removal was no change and
the event kept the attendee for good. The timing is made exact inside the sandbox (Microsoft's stand-in, not
the bridge): the person's change is made in the mailbox as the bridge's item update reaches it, before it is
applied, so that update meets a newer change key and fails (Graph 412, EWS ErrorIrresolvableConflict).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge.sandbox.exchange import server as ews_server
from bridge.sandbox.exchange.model import Attendee, CalendarItem
from bridge.sandbox.exchange.store import Store
from bridge.sandbox.graph import api_events
from bridge.sandbox.graph import router as graph_router
from bridge.sandbox.graph.calls import Call, Reply
from bridge.sandbox.people import wait_until

from .conftest import World
from .helpers import paired_with

PROVIDERS = ("ews", "graph")
Hook = Callable[[Store, CalendarItem], bool]  # (the mailboxes' store, the item updated) -> whether it acted


class BeforeItemUpdates:
    """A person's actions run inside the sandbox as an update of an item arrives (Graph PATCH of an event, EWS
    UpdateItem), before the update is applied: the update then meets the person's newer change key. The hooks
    run in turn, each until it acts once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fired: list[str] = []
        self._lock = threading.Lock()
        self._hooks: list[Hook] = []
        routes = [
            (method, pattern, self._graph(handler) if handler is api_events.update_event else handler)
            for method, pattern, handler in graph_router._COMPILED_MAILBOX
        ]
        monkeypatch.setattr(graph_router, "_COMPILED_MAILBOX", routes)
        monkeypatch.setitem(ews_server.HANDLERS, "UpdateItem", self._ews(ews_server.HANDLERS["UpdateItem"]))

    def then(self, hook: Hook) -> None:
        self._hooks.append(hook)

    def _run(self, store: Store, items: list[CalendarItem]) -> None:
        with self._lock:
            for item in items:
                if self._hooks and self._hooks[0](store, item):
                    self.fired.append(self._hooks.pop(0).__name__)

    def _graph(self, handler: Callable[..., Reply]) -> Callable[..., Reply]:
        def run(state: Any, call: Call, box: Any, groups: dict[str, str]) -> Reply:
            try:
                items = [state.item(box, groups["eid"])]
            except Exception:  # not found: the handler answers for it
                items = []
            self._run(state.store, items)
            return handler(state, call, box, groups)

        return run

    def _ews(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        def run(ctx: Any, request: Any) -> Any:
            named = {e.get("Id") for e in request.iter() if str(e.tag).endswith("}ItemId")}
            box = ctx.store.mailbox(ctx.impersonated.address) if ctx.impersonated is not None else None
            if box is not None:
                calendar = box.folder("calendar").items.values()
                self._run(ctx.store, [i for i in calendar if i.item_id in named])
            return handler(ctx, request)

        return run


@pytest.fixture
def updates(monkeypatch: pytest.MonkeyPatch) -> Iterator[BeforeItemUpdates]:
    yield BeforeItemUpdates(monkeypatch)


def test_r_att_4_an_attendee_added_and_removed_in_outlook_while_the_bridge_pairs_the_item_leaves_salesforce(
    world: World, updates: BeforeItemUpdates
) -> None:
    """The person books an appointment; as the bridge writes the pairing fields to the item they add a
    contact (the write loses the race, and the bridge relates the contact to the event it made), and as the
    bridge writes the item again they remove the contact (that write loses too). The event ends without the
    contact, as the item is."""
    outlook = world.outlook(0)
    _, (contact_id, contact_email) = world.desk.contacts(2)
    subject = f"Attendee in and out while pairing ({world.provider})"
    start, end = world.slot()

    def add_contact(store: Store, item: CalendarItem) -> bool:
        if item.subject != subject:
            return False
        item.attendees["RequiredAttendees"].append(Attendee(contact_email))
        store.touch(item)
        return True

    def remove_contact(store: Store, item: CalendarItem) -> bool:
        if item.subject != subject:
            return False
        listed = item.attendees["RequiredAttendees"]
        item.attendees["RequiredAttendees"] = [a for a in listed if a.email.lower() != contact_email.lower()]
        store.touch(item)
        return True

    updates.then(add_contact)
    updates.then(remove_contact)
    item = outlook.book(subject, start, end)
    wait_until(lambda: updates.fired == ["add_contact", "remove_contact"], timeout=60)
    # When the second race was lost the event had the contact (related after the first one).
    (row,), _ = wait_until(lambda: paired_with(world, item.id))
    event_id = row["Id"]
    wait_until(lambda: contact_id not in world.desk.invitees(event_id))
    assert not outlook.attendees(outlook.by_id(item.id))
    assert len(paired_with(world, item.id)) == 1
