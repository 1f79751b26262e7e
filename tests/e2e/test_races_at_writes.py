"""A person's action made at the exact moment a request of the bridge's reaches the mailbox, played inside the
sandbox (Microsoft's stand-in, not the bridge), through the store the EWS and the Graph sandboxes share.

R-DEL-2 for items the mailbox's sync state never reported: an item the bridge paired from a window read, or
made itself, and deleted in Outlook before the next sync. Graph's delta and EWS SyncFolderItems report
nothing for an item that came and went between two rounds, so the deletion must not wait for a notice that
names it (before the fix, the event stood until a window reconcile, hours later; under Graph the e2e R-DEL-2
of test_two_ways.py sometimes waited for it).

R-ATT-4 when the bridge's write-back to the item loses races while it pairs it (R-MERGE-5): an attendee
added in Outlook as the bridge writes the pairing fields, then removed as it writes them again, leaves the
event. Found in an e2e run under Graph (test_two_ways.py, R-ATT-3 and 4, rare): the bridge had related the
attendee to the event when its second write of the item lost the race to the removal, and the re-plan took
the item as read at first (no attendee) for its base; the re-read item equalled it, so the removal was no
change and the event kept the attendee for good. The person's change is made as the bridge's item update
reaches the mailbox, before it is applied, so that update meets a newer change key and fails (Graph 412, EWS
ErrorIrresolvableConflict).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from simple_salesforce import format_soql

from bridge.sandbox.exchange import meetings
from bridge.sandbox.exchange import server as ews_server
from bridge.sandbox.exchange.model import Attendee, CalendarItem
from bridge.sandbox.exchange.store import Store
from bridge.sandbox.exchange.wire import m
from bridge.sandbox.graph import api_events
from bridge.sandbox.graph import router as graph_router
from bridge.sandbox.graph.calls import Call, Reply
from bridge.sandbox.people import wait_until

from .conftest import World
from .helpers import paired_with, sync_now

PROVIDERS = ("ews", "graph")
Hook = Callable[[Store, str], bool]  # (the mailboxes' store, the request's mailbox) -> whether it acted


class MailboxHooks:
    """Person's actions run inside the sandbox at a request of the bridge's: `window_read` before the bridge
    reads a calendar window (Graph calendarView, EWS FindItem with a CalendarView), `updated` and `created`
    once an item update or create was answered (Graph PATCH/POST of an event, EWS UpdateItem/CreateItem).
    Each hook runs until it acts once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fired: list[str] = []
        self._lock = threading.Lock()
        self._hooks: dict[str, list[Hook]] = {"window_read": [], "updated": [], "created": []}
        graph_moments = {
            api_events.calendar_view: "window_read",
            api_events.update_event: "updated",
            api_events.create_event: "created",
        }
        routes = [
            (
                method,
                pattern,
                self._graph(handler, graph_moments[handler]) if handler in graph_moments else handler,
            )
            for method, pattern, handler in graph_router._COMPILED_MAILBOX
        ]
        monkeypatch.setattr(graph_router, "_COMPILED_MAILBOX", routes)
        for operation, moment in (
            ("FindItem", "window_read"),
            ("UpdateItem", "updated"),
            ("CreateItem", "created"),
        ):
            monkeypatch.setitem(
                ews_server.HANDLERS, operation, self._ews(ews_server.HANDLERS[operation], moment)
            )

    def on(self, moment: str, hook: Hook) -> None:
        self._hooks[moment].append(hook)

    def _run(self, moment: str, store: Store, mailbox: str) -> None:
        with self._lock:
            for hook in list(self._hooks[moment]):
                if hook(store, mailbox):
                    self._hooks[moment].remove(hook)
                    self.fired.append(hook.__name__)

    def _graph(self, handler: Callable[..., Reply], moment: str) -> Callable[..., Reply]:
        def run(state: Any, call: Call, box: Any, groups: dict[str, str]) -> Reply:
            if moment == "window_read" and "$expand" in call.query:  # not the bridge's calendar checks
                self._run(moment, state.store, box.address)
            reply = handler(state, call, box, groups)
            if moment != "window_read" and reply.status < 300:
                self._run(moment, state.store, box.address)
            return reply

        return run

    def _ews(self, handler: Callable[..., Any], moment: str) -> Callable[..., Any]:
        def run(ctx: Any, request: Any) -> Any:
            mailbox = ctx.impersonated.address if ctx.impersonated is not None else ""
            if moment == "window_read" and request.find(m("CalendarView")) is not None:
                self._run(moment, ctx.store, mailbox)
            answer = handler(ctx, request)
            if moment != "window_read":
                self._run(moment, ctx.store, mailbox)
            return answer

        return run


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailboxHooks]:
    yield MailboxHooks(monkeypatch)


def _book(store: Store, mailbox: str, subject: str, start: datetime, end: datetime) -> None:
    """The person books an appointment in their calendar."""
    box = store.mailbox(mailbox)
    assert box is not None
    item = store.new_item(box.folder("calendar"))
    item.subject, item.start, item.end = subject, start, end
    item.start_tz = item.end_tz = "UTC"
    item.organizer = meetings.organizer_for(box)
    item.my_response_type = "Organizer"
    store.insert(item)


def _delete(store: Store, mailbox: str, subject: str, categorised: bool = False) -> bool:
    """The person deletes the item of `subject` (once it carries the bridge's category, if `categorised`)."""
    box = store.mailbox(mailbox)
    assert box is not None
    found = [i for i in box.folder("calendar").items.values() if i.subject == subject]
    if not found or (categorised and "Salesforce" not in (found[0].categories or [])):
        return False
    store.hard_delete(found[0])
    return True


def _events_ever(world: World, owner: str, subject: str) -> list[dict[str, Any]]:
    """Every event of `owner` with `subject`, deleted ones too (queryAll)."""
    soql = format_soql("SELECT Id, IsDeleted FROM Event WHERE OwnerId = {} AND Subject = {}", owner, subject)
    return list(world.desk.sf.query_all(soql, include_deleted=True)["records"])


def test_r_del_2_an_item_booked_during_a_window_read_and_deleted_before_the_next_sync(
    world: World, hooks: MailboxHooks
) -> None:
    """The item is booked after the pass's mailbox sync and before its window read, so that pass pairs it
    from the window; the person deletes it as soon as the bridge has added its category, before the pass
    commits. No sync state the bridge holds ever knew the item."""
    owner, address = world.user(0)
    subject = f"Booked during a window read ({world.provider})"
    start, end = world.slot()

    def book_in_the_gap(store: Store, mailbox: str) -> bool:
        if mailbox.lower() != address.lower():
            return False
        _book(store, mailbox, subject, start, end)
        return True

    def delete_once_categorised(store: Store, mailbox: str) -> bool:
        return mailbox.lower() == address.lower() and _delete(store, mailbox, subject, categorised=True)

    hooks.on("window_read", book_in_the_gap)
    hooks.on("updated", delete_once_categorised)
    sync_now(world, address, timeout=120)  # a window reconcile: its sync, then its window read
    wait_until(lambda: "delete_once_categorised" in hooks.fired, timeout=60)
    # The bridge made one event for the item, and R-DEL-2 deleted it without waiting for a reconcile.
    wait_until(lambda: [row["IsDeleted"] for row in _events_ever(world, owner, subject)] == [True])


def test_r_del_2_an_item_the_bridge_made_and_outlook_deleted_before_any_sync(
    world: World, hooks: MailboxHooks
) -> None:
    """Kind B: the bridge creates the item for a Salesforce event and the person deletes it at once, before
    any sync saw it (and before any poll or notification could name it). Under EWS, CreateItem answers with
    the id only and the UID read back from the deleted item is nothing: the bridge reads the item again,
    finds it gone, and deletes the event in the same pass."""
    owner, address = world.user(0)
    subject = f"Deleted as soon as made ({world.provider})"
    start, end = world.slot()

    def delete_when_made(store: Store, mailbox: str) -> bool:
        return mailbox.lower() == address.lower() and _delete(store, mailbox, subject)

    hooks.on("created", delete_when_made)
    event_id = world.desk.create_event(owner, subject, start, end)
    wait_until(lambda: "delete_when_made" in hooks.fired)
    wait_until(lambda: world.desk.event(event_id) is None)  # R-DEL-2: the event goes with its item


ItemHook = Callable[[Store, CalendarItem], bool]  # (the store, the item updated) -> whether it acted


class BeforeItemUpdates:
    """A person's actions run inside the sandbox as an update of an item arrives (Graph PATCH of an event, EWS
    UpdateItem), before the update is applied: the update then meets the person's newer change key. The hooks
    run in turn, each until it acts once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fired: list[str] = []
        self._lock = threading.Lock()
        self._hooks: list[ItemHook] = []
        routes = [
            (method, pattern, self._graph(handler) if handler is api_events.update_event else handler)
            for method, pattern, handler in graph_router._COMPILED_MAILBOX
        ]
        monkeypatch.setattr(graph_router, "_COMPILED_MAILBOX", routes)
        monkeypatch.setitem(ews_server.HANDLERS, "UpdateItem", self._ews(ews_server.HANDLERS["UpdateItem"]))

    def then(self, hook: ItemHook) -> None:
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
