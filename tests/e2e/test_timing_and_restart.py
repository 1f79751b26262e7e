"""Timing (R-TIME-1..5): changes cross within seconds, survive a stopped bridge, a gap brings a reconcile,
the periodic reconcile is a cheap safety net, and `sync now` works from the CLI and from Salesforce.

The module's last tests restart the bridge with a reconcile period of a few seconds; the ones before run
with the default (6 h), so nothing but the mechanism under test can repair what they break. Over Graph
(R-GRAPH-1) run the tests whose outcome the provider can change: latency, a stopped bridge, the periodic
reconcile and its cost.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import wait_until

from .conftest import World
from .helpers import change_events_lost, fault, item_of, one_event, sandbox_state, sync_now

WITHIN_SECONDS = 5.0  # R-TIME-1's "within seconds", on a busy 2-core machine
RECONCILE_HOURS = 0.0005  # 1.8 s: the periodic reconcile of this module's last tests
PROVIDERS = ("ews", "graph")
# A lost or expired Salesforce change event is the Salesforce side's; the provider then makes a plain write
# (sync now over Graph: test_ops_and_cli.py). Over EWS only, to keep the suite fast.
SALESFORCE_LOSS = "a lost Salesforce change event; sync now over Graph: test_ops_and_cli"


def pubsub_fault(world: World, body: dict[str, Any]) -> None:
    fault(world, "salesforce", {"target": "pubsub", **body})


def api_usage(world: World) -> int:
    """The org's API usage as the sandbox counts it (the admin endpoint is not an API call)."""
    return int(sandbox_state(world, "salesforce")["api_usage"])


# ----------------------------------------------------------------------------------------------- R-TIME-1


def test_r_time_1_a_change_crosses_each_way_within_seconds(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Latency from Salesforce", start, end)
    item = item_of(world, 0, event_id)
    world.desk.update_event(event_id, Location="Room 12")
    _, to_exchange = wait_until(lambda: outlook.by_id(item.id).location == "Room 12")
    outlook.change(outlook.by_id(item.id), location="Room 14")
    _, to_salesforce = wait_until(lambda: (world.desk.event(event_id) or {}).get("Location") == "Room 14")
    assert to_exchange < WITHIN_SECONDS, f"{to_exchange:.1f} s to Exchange"
    assert to_salesforce < WITHIN_SECONDS, f"{to_salesforce:.1f} s to Salesforce"


# ----------------------------------------------------------------------------------------------- R-TIME-2


def test_r_time_2_changes_made_on_both_sides_while_the_bridge_is_stopped_are_applied_once(
    world: World,
) -> None:
    owner, _ = world.user(1)
    outlook = world.outlook(1)
    start, end = world.slot()
    moved_event = world.desk.create_event(owner, "Down: moved in Salesforce", start, end)
    moved_item = item_of(world, 1, moved_event)
    renamed = outlook.book("Down: renamed in Outlook", start, end)
    renamed_event = one_event(world, owner, "Down: renamed in Outlook")

    assert world.bridge.stop() == 0, world.bridge.tail()
    later = start + timedelta(hours=1)
    world.desk.move_event(moved_event, later, later + timedelta(minutes=30))
    created_event = world.desk.create_event(owner, "Down: new in Salesforce", start, end)
    outlook.change(outlook.by_id(renamed.id), subject="Down: renamed in Outlook (v2)")
    created_item = outlook.book("Down: new in Outlook", start, end)
    world.bridge = BridgeProcess(world.bridge.config).start()

    wait_until(lambda: outlook.by_id(moved_item.id).start == later)
    assert outlook.by_id(moved_item.id).end == later + timedelta(minutes=30)
    wait_until(
        lambda: (world.desk.event(renamed_event["Id"]) or {}).get("Subject") == renamed.subject + " (v2)"
    )
    assert item_of(world, 1, created_event).subject == "Down: new in Salesforce"
    new_in_outlook = one_event(world, owner, "Down: new in Outlook")
    assert new_in_outlook["Exchange_Item_Id__c"] == world.stored_id(created_item.id)
    time.sleep(1.5)  # long enough for a second copy to show up if one were coming
    assert len(outlook.find("Down: new in Salesforce")) == 1
    assert len(world.desk.events_of(owner, "Down: new in Outlook")) == 1
    assert len(world.desk.events_of(owner, "Down: renamed in Outlook (v2)")) == 1


# ----------------------------------------------------------------------------------------------- R-TIME-3


@pytest.mark.providers("ews", reason=SALESFORCE_LOSS)
def test_r_time_3_a_replay_id_past_retention_brings_a_window_reconcile_on_restart(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    assert world.bridge.stop() == 0, world.bridge.tail()
    event_id = world.desk.create_event(owner, "Created while the replay id expired", start, end)
    pubsub_fault(world, {"fault": "expire_replay"})
    world.bridge = BridgeProcess(world.bridge.config).start()
    assert item_of(world, 0, event_id).subject == "Created while the replay id expired"


# ----------------------------------------------------------------------------------------------- R-TIME-5


@pytest.mark.providers("ews", reason=SALESFORCE_LOSS)
def test_r_time_5_calbridge_sync_now_user_brings_a_change_whose_event_was_lost(world: World) -> None:
    owner, address = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Sync now (CLI)", start, end)
    item = item_of(world, 0, event_id)
    with change_events_lost(world):
        world.desk.update_event(event_id, Location="Moved to the lab")
    time.sleep(1.0)
    assert outlook.by_id(item.id).location != "Moved to the lab"  # nothing else would bring it
    sync_now(world, address, timeout=120)
    wait_until(lambda: outlook.by_id(item.id).location == "Moved to the lab")


@pytest.mark.providers("ews", reason=SALESFORCE_LOSS)
def test_r_time_5_a_sync_now_command_published_in_salesforce_brings_a_lost_change(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Sync now (command)", start, end)
    item = item_of(world, 0, event_id)
    with change_events_lost(world):
        world.desk.update_event(event_id, Subject="Sync now (command), renamed")
    time.sleep(1.0)
    assert outlook.by_id(item.id).subject == "Sync now (command)"
    world.desk.sobject("Calbridge_Command__e").create({"Command__c": "sync_now", "User_Id__c": owner})
    wait_until(lambda: outlook.by_id(item.id).subject == "Sync now (command), renamed")


@pytest.mark.providers("ews", reason=SALESFORCE_LOSS)
def test_r_time_5_a_sync_now_command_for_one_event_brings_its_lost_change(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Sync one event", start, end)
    item = item_of(world, 0, event_id)
    with change_events_lost(world):
        world.desk.update_event(event_id, Location="Only this one")
    world.desk.sobject("Calbridge_Command__e").create({"Command__c": "sync_now", "Event_Id__c": event_id})
    wait_until(lambda: outlook.by_id(item.id).location == "Only this one")


# ----------------------------------------------------------------------------------------------- R-TIME-4


def _with_short_reconcile(world: World) -> None:
    """Restart the bridge on a copy of its config with a reconcile period of a few seconds."""
    if "reconcile_hours" in world.bridge.config.read_text():
        return
    config = world.bridge.config.with_name("calbridge-short-reconcile.toml")
    config.write_text(world.bridge.config.read_text() + f"\n[sync]\nreconcile_hours = {RECONCILE_HOURS}\n")
    assert world.bridge.stop() == 0, world.bridge.tail()
    world.bridge = BridgeProcess(config).start()


def test_r_time_4_the_periodic_reconcile_repairs_a_change_whose_event_was_lost(world: World) -> None:
    _with_short_reconcile(world)
    owner, _ = world.user(2)
    outlook = world.outlook(2)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Periodic safety net", start, end)
    item = item_of(world, 2, event_id)
    with change_events_lost(world):
        world.desk.update_event(event_id, Subject="Periodic safety net (renamed)")
    wait_until(lambda: outlook.by_id(item.id).subject == "Periodic safety net (renamed)", timeout=20)


def test_r_time_4_an_idle_periodic_pass_costs_at_most_one_salesforce_call_for_every_200_users(
    world: World,
) -> None:
    _with_short_reconcile(world)
    period = RECONCILE_HOURS * 3600
    users = len(world.endpoints["users"])
    time.sleep(period)  # let whatever the previous test started settle
    before, started = api_usage(world), time.monotonic()
    time.sleep(2.2 * period)
    used, elapsed = api_usage(world) - before, time.monotonic() - started
    passes_at_most = int(elapsed / period) + 1
    assert used >= 1, "no periodic pass read Salesforce"
    assert used <= passes_at_most * -(-users // 200), f"{used} calls in {passes_at_most} idle passes"
