"""R-DEL-2 for items the mailbox's sync state never reported: an item the bridge paired from a window read, or
made itself, and deleted in Outlook before the next sync. Graph's delta (like EWS SyncFolderItems) reports
nothing for an item that came and went between two rounds, so the deletion must not wait for a notice that
names it (before the fix, the event stood until a window reconcile, hours later).

The timing is made exact inside the Graph sandbox (Microsoft's stand-in, not the bridge): a person's action
is run at the moment the bridge's request reaches the mailbox, as Outlook on the web would make it there.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from simple_salesforce import format_soql

from bridge.sandbox.graph import api_events
from bridge.sandbox.graph import router as graph_router
from bridge.sandbox.graph.calls import Call, Reply
from bridge.sandbox.people import wait_until

from .conftest import World

PROVIDERS = ("graph",)
Handler = Callable[..., Reply]


def _graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


class MailboxHooks:
    """Wraps the Graph sandbox's handlers: `before` runs ahead of a matching request, `after` once it was
    answered (both on the sandbox's loop, with the sandbox's state, the call, the mailbox and the route's
    groups). Every hook runs once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fired: list[str] = []
        self._lock = threading.Lock()
        self._before: dict[Handler, list[Callable[..., bool]]] = {}
        self._after: dict[Handler, list[Callable[..., bool]]] = {}
        wrapped = [(m, p, self._wrap(h)) for m, p, h in graph_router._COMPILED_MAILBOX]
        monkeypatch.setattr(graph_router, "_COMPILED_MAILBOX", wrapped)

    def before(self, handler: Handler, hook: Callable[..., bool]) -> None:
        self._before.setdefault(handler, []).append(hook)

    def after(self, handler: Handler, hook: Callable[..., bool]) -> None:
        self._after.setdefault(handler, []).append(hook)

    def _run(self, hooks: list[Callable[..., bool]], *args: Any) -> None:
        with self._lock:
            for hook in list(hooks):
                if hook(*args):  # a hook that acted is done
                    hooks.remove(hook)
                    self.fired.append(hook.__name__)

    def _wrap(self, handler: Handler) -> Handler:
        def run(state: Any, call: Call, box: Any, groups: dict[str, str]) -> Reply:
            self._run(self._before.get(handler, []), state, call, box, groups)
            reply = handler(state, call, box, groups)
            self._run(self._after.get(handler, []), state, call, box, groups, reply)
            return reply

        return run


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailboxHooks]:
    yield MailboxHooks(monkeypatch)


def _delete(state: Any, call: Call, box: Any, groups: dict[str, str]) -> None:
    """Outlook deletes the event `groups` names (to Deleted Items, as Graph's DELETE does)."""
    gone = Call("DELETE", f"users/{box.address}/events/{groups['eid']}", {}, {}, None, call.prefer, call.base)
    assert api_events.delete_event(state, gone, box, groups).status == 204


def _events_ever(world: World, owner: str, subject: str) -> list[dict[str, Any]]:
    """Every event of `owner` with `subject`, deleted ones too (queryAll)."""
    soql = format_soql("SELECT Id, IsDeleted FROM Event WHERE OwnerId = {} AND Subject = {}", owner, subject)
    return list(world.desk.sf.query_all(soql, include_deleted=True)["records"])


def _sync_now(world: World, address: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "sync-now", "--config", str(world.bridge.config), address],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_r_del_2_an_item_booked_during_a_window_read_and_deleted_before_the_next_sync(
    world: World, hooks: MailboxHooks
) -> None:
    """The item is booked after the pass's mailbox sync and before its window read, so that pass pairs it
    from the window; Outlook deletes it as soon as the bridge has added its category, before the pass
    commits. No sync state the bridge holds ever knew the item."""
    owner, address = world.user(0)
    subject = "Booked during a window read"
    start, end = world.slot()
    made: list[str] = []

    def book_in_the_gap(state: Any, call: Call, box: Any, groups: dict[str, str]) -> bool:
        if box.address.lower() != address.lower() or "$expand" not in call.query:
            return False
        body = {"subject": subject, "start": _graph_time(start), "end": _graph_time(end)}
        path = f"users/{box.address}/events"
        booking = Call("POST", path, {}, {}, body, call.prefer, call.base)
        reply = api_events.create_event(state, booking, box, {})
        made.append(str(reply.body["id"]))
        return True

    def delete_once_categorised(
        state: Any, call: Call, box: Any, groups: dict[str, str], reply: Reply
    ) -> bool:
        if not made or reply.status != 200 or (reply.body or {}).get("subject") != subject:
            return False
        _delete(state, call, box, groups)
        return True

    hooks.before(api_events.calendar_view, book_in_the_gap)
    hooks.after(api_events.update_event, delete_once_categorised)
    _sync_now(world, address)  # a window reconcile: its sync, then its window read
    wait_until(lambda: "delete_once_categorised" in hooks.fired, timeout=60)
    # The bridge made one event for the item, and R-DEL-2 deleted it without waiting for a reconcile.
    wait_until(lambda: [row["IsDeleted"] for row in _events_ever(world, owner, subject)] == [True])


def test_r_del_2_an_item_the_bridge_made_and_outlook_deleted_before_any_sync(
    world: World, hooks: MailboxHooks
) -> None:
    """Kind B: the bridge creates the item for a Salesforce event and Outlook deletes it at once, before
    any delta round saw it (and before any poll could announce it)."""
    owner, _ = world.user(0)
    subject = "Deleted as soon as made"
    start, end = world.slot()

    def delete_when_made(state: Any, call: Call, box: Any, groups: dict[str, str], reply: Reply) -> bool:
        if reply.status != 201 or (reply.body or {}).get("subject") != subject:
            return False
        _delete(state, call, box, {**groups, "eid": str(reply.body["id"])})
        return True

    hooks.after(api_events.create_event, delete_when_made)
    event_id = world.desk.create_event(owner, subject, start, end)
    wait_until(lambda: "delete_when_made" in hooks.fired)
    wait_until(lambda: world.desk.event(event_id) is None)  # R-DEL-2: the event goes with its item
