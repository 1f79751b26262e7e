"""What several end-to-end modules do to the sandbox and read back from it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import requests

from bridge.sandbox.people import wait_until

from .conftest import World


def fault(world: World, side: str, body: dict[str, Any]) -> dict[str, Any]:
    """One fault through a sandbox's admin endpoint (`side`: salesforce, exchange or graph; docs/sandbox.md,
    docs/sandbox-graph.md)."""
    admin = world.endpoints["admin"][side]
    answer = requests.post(
        admin["admin_url"].rstrip("/") + "/faults",
        json=body,
        headers={"Authorization": f"Bearer {admin['admin_token']}"},
        verify=world.endpoints["ca_bundle"],
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def sandbox_state(world: World, side: str) -> dict[str, Any]:
    """A sandbox's admin state (record counts; for Salesforce also the org's API usage, which the admin
    endpoint does not count as a call)."""
    admin = world.endpoints["admin"][side]
    answer = requests.get(
        admin["admin_url"].rstrip("/") + "/state",
        headers={"Authorization": f"Bearer {admin['admin_token']}"},
        verify=world.endpoints["ca_bundle"],
        timeout=10,
    )
    answer.raise_for_status()
    state: dict[str, Any] = answer.json()
    return state


@contextlib.contextmanager
def change_events_lost(world: World) -> Iterator[None]:
    """Salesforce commits the writes made inside, but no change event leaves for them: the loss a GAP event
    or a lapsed retention stands for."""

    class Lost:
        def publish_transaction(self, changes: Any) -> None:
            return None

    org = world.sandbox.salesforce.org
    sink, org.change_sink = org.change_sink, Lost()
    try:
        yield
    finally:
        org.change_sink = sink


def paired_with(world: World, item_id: str) -> list[dict[str, Any]]:
    """The events paired with the item Outlook (EWS) shows as `item_id` (R-PAIR-1), under either provider."""
    return world.desk.query("SELECT Id FROM Event WHERE Exchange_Item_Id__c = {}", world.stored_id(item_id))


def one_event(world: World, owner: str, subject: str, timeout: float = 20.0) -> dict[str, Any]:
    """The single event the bridge made for `subject`; fails on none or on a duplicate."""
    found, _ = wait_until(lambda: world.desk.events_of(owner, subject), timeout=timeout)
    assert len(found) == 1, f"{len(found)} events for {subject!r}"
    return found[0]


def item_of(world: World, index: int, event_id: str, timeout: float = 20.0) -> Any:
    """The item the bridge made for an event, found through the event's pairing field (R-PAIR-1), as Outlook
    (EWS) shows it whichever provider wrote it."""
    outlook = world.outlook(index)

    def probe() -> Any:
        item_id = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return outlook.by_id(world.ews_id(item_id)) if item_id else None

    return wait_until(probe, timeout=timeout)[0]


def sync_now(world: World, address: str, timeout: float = 240) -> None:
    """`calbridge sync-now` for the user: a window reconcile, run to its end before it returns (R-TIME-5)."""
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "sync-now", "--config", str(world.bridge.config), address],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
