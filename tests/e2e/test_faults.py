"""Every fault the sandboxes can play, each recovered with nothing lost (R-TIME-3, R-MERGE-4, R-MERGE-5).

Faults are set the way an operator's chaos script would: `POST <admin_url>/faults` on each sandbox
(docs/sandbox.md). REST faults count every caller's calls, so each test makes its change on the side the
fault does not touch and only looks at Salesforce once the fault is used up.

The Exchange faults run over EWS and over Graph (R-GRAPH-1) but those about an EWS mechanism Graph has not
(ServerBusy back-off, streaming notifications, sync states, the EWS ChangeKey refused by SyncFolderItems'
fault hook); Salesforce's faults run over EWS only (see SALESFORCE_FAULT). Graph's own faults (429 with
Retry-After, a refused delta state, a removed subscription) are played in test_graph_provider.py, and
Graph's stale etag (412) in test_merge_and_attendees.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bridge.sandbox.people import wait_until

from .conftest import World
from .helpers import change_events_lost, fault, item_of, one_event, sandbox_state

SYNC_CATEGORY = "Salesforce"
PROVIDERS = ("ews", "graph")
# Salesforce's faults are met by the Salesforce client whichever provider writes Exchange; over Graph the
# Exchange side of these stories is a plain create or update, proven by test_two_ways.py (keeps suites fast).
SALESFORCE_FAULT = "a Salesforce fault; the provider's part is a plain write, as in test_two_ways"


def events_named(world: World, owner: str, subject: str) -> list[dict[str, Any]]:
    return world.desk.events_of(owner, subject)


def failures_counted(world: World, kind: str) -> float:
    """`calbridge_failures_total{kind=...}` from the bridge's /metrics (0 when absent)."""
    pattern = re.compile(rf'^calbridge_failures_total\{{kind="{kind}"\}} ([0-9.e+]+)$', re.M)
    match = pattern.search(world.bridge.metrics())
    return float(match.group(1)) if match else 0.0


@pytest.fixture(autouse=True)
def no_fault_left(world: World) -> Iterator[None]:
    yield
    fault(world, "salesforce", {"fault": "clear"})
    fault(world, world.exchange_side, {"fault": "clear"})


# ------------------------------------------------------------------------------------------ Salesforce


@pytest.mark.providers("ews", reason=SALESFORCE_FAULT)
@pytest.mark.parametrize("kind", ["429", "503", "REQUEST_LIMIT_EXCEEDED"])
def test_r_merge_4_salesforce_refusing_for_a_while_delays_an_item_but_loses_and_doubles_nothing(
    world: World, kind: str
) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    subject = f"Throttled create {kind}"
    fault(world, "salesforce", {"fault": "fail_next", "count": 3, "kind": kind})
    item = outlook.book(subject, start, end)
    wait_until(lambda: sandbox_state(world, "salesforce")["pending_failures"] == 0, timeout=20)
    event = one_event(world, owner, subject)
    assert event["Exchange_Item_Id__c"] == world.stored_id(item.id)
    wait_until(lambda: SYNC_CATEGORY in (outlook.by_id(item.id).categories or []))


@pytest.mark.providers("ews", reason=SALESFORCE_FAULT)
def test_r_time_3_a_dropped_pubsub_stream_resumes_and_delivers_the_change_made_then(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    fault(world, "salesforce", {"target": "pubsub", "fault": "drop_streams"})
    event_id = world.desk.create_event(owner, "After the stream dropped", start, end)
    item = item_of(world, 0, event_id)
    assert item.subject == "After the stream dropped"


@pytest.mark.providers("ews", reason=SALESFORCE_FAULT)
def test_r_time_3_pubsub_refusing_to_reconnect_still_delivers_the_change(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    fault(world, "salesforce", {"target": "pubsub", "fault": "fail_next", "count": 2})
    fault(world, "salesforce", {"target": "pubsub", "fault": "drop_streams"})
    event_id = world.desk.create_event(owner, "After refused reconnects", start, end)
    assert item_of(world, 0, event_id).subject == "After refused reconnects"


@pytest.mark.providers("ews", reason=SALESFORCE_FAULT)
def test_r_time_3_a_gap_event_makes_the_bridge_read_the_record_whose_change_was_lost(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Gap: before", start, end)
    item = item_of(world, 0, event_id)
    with change_events_lost(world):
        world.desk.update_event(event_id, Subject="Gap: after")
    fault(
        world,
        "salesforce",
        {
            "target": "pubsub",
            "fault": "gap",
            "entity": "Event",
            "record_id": event_id,
            "change_type": "GAP_UPDATE",
        },
    )
    wait_until(lambda: outlook.by_id(item.id).subject == "Gap: after")


@pytest.mark.providers("ews", reason=SALESFORCE_FAULT)
def test_r_time_3_a_gap_overflow_reconciles_every_user(world: World) -> None:
    first, second = world.user(0)[0], world.user(1)[0]
    start, end = world.slot()
    one = world.desk.create_event(first, "Overflow one", start, end)
    two = world.desk.create_event(second, "Overflow two", start, end)
    item_one, item_two = item_of(world, 0, one), item_of(world, 1, two)
    with change_events_lost(world):
        world.desk.update_event(one, Location="Room after overflow 1")
        world.desk.update_event(two, Location="Room after overflow 2")
    fault(world, "salesforce", {"target": "pubsub", "fault": "gap_overflow", "entity": "Event"})
    wait_until(lambda: world.outlook(0).by_id(item_one.id).location == "Room after overflow 1", timeout=30)
    wait_until(lambda: world.outlook(1).by_id(item_two.id).location == "Room after overflow 2", timeout=30)


# -------------------------------------------------------------------------------------------- Exchange


@pytest.mark.providers("ews", reason="ErrorServerBusy's back-off is EWS's; Graph's 429: test_graph_provider")
def test_r_merge_4_exchange_server_busy_delays_an_event_but_loses_and_doubles_nothing(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    fault(world, "exchange", {"fault": "server_busy", "count": 3, "back_off_ms": 300})
    event_id = world.desk.create_event(owner, "Busy server create", start, end)
    item = item_of(world, 0, event_id)
    assert [i.id for i in world.outlook(0).find("Busy server create")] == [item.id]


def test_r_merge_4_exchange_503_delays_an_event_but_loses_and_doubles_nothing(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    if world.provider == "graph":
        fault(world, "graph", {"fault": "unavailable", "count": 3, "status": 503, "retry_after": 1})
    else:
        fault(world, "exchange", {"fault": "unavailable", "count": 3, "retry_after": 1})
    event_id = world.desk.create_event(owner, "Unavailable server create", start, end)
    item = item_of(world, 0, event_id)
    assert [i.id for i in world.outlook(0).find("Unavailable server create")] == [item.id]


@pytest.mark.providers("ews", reason="EWS streaming subscriptions; Graph's removed one: test_graph_provider")
def test_r_time_3_a_lost_exchange_subscription_is_renewed_and_the_change_arrives(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    fault(world, "exchange", {"fault": "expire_subscriptions"})
    item = outlook.book("After the subscription was lost", start, end)
    event = one_event(world, owner, "After the subscription was lost")
    assert event["Exchange_Item_Id__c"] == world.stored_id(item.id)


@pytest.mark.providers("ews", reason="EWS streaming connections; Graph's world here polls delta")
def test_r_time_3_dropped_exchange_notifications_resume_and_the_change_arrives(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    fault(world, "exchange", {"fault": "drop_streams"})
    item = world.outlook(0).book("After the notifications dropped", start, end)
    event = one_event(world, owner, "After the notifications dropped")
    assert event["Exchange_Item_Id__c"] == world.stored_id(item.id)


@pytest.mark.providers("ews", reason="EWS sync states; Graph's refused delta (410): test_graph_provider.py")
def test_r_time_3_a_refused_sync_state_triggers_a_reconcile_and_the_change_arrives(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    fault(world, "exchange", {"fault": "invalidate_sync_states"})
    item = world.outlook(0).book("After the sync state was refused", start, end)
    event = one_event(world, owner, "After the sync state was refused")
    assert event["Exchange_Item_Id__c"] == world.stored_id(item.id)


@pytest.mark.providers(
    "ews", reason="the fault hook blocks SyncFolderItems; Graph's stale etag: test_merge_and_attendees.py"
)
def test_r_merge_5_a_stale_changekey_replans_and_keeps_both_edits(world: World) -> None:
    """The user edits the item while the bridge cannot read the mailbox; the bridge then writes a Salesforce
    edit with the ChangeKey it knew, Exchange refuses it as stale, and the re-plan keeps both edits."""
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Stale key", start, end)
    item = item_of(world, 0, event_id)
    conflicts = failures_counted(world, "ConflictError")
    # The bridge hears of the Outlook edit but cannot sync the mailbox for a while.
    fault(
        world,
        "exchange",
        {"fault": "server_busy", "count": 8, "back_off_ms": 500, "operations": ["SyncFolderItems"]},
    )
    outlook.change(outlook.by_id(item.id), location="Room 4 (set in Outlook)")
    world.desk.update_event(event_id, Subject="Stale key (renamed in Salesforce)")
    wait_until(lambda: outlook.by_id(item.id).subject == "Stale key (renamed in Salesforce)", timeout=30)
    wait_until(lambda: (world.desk.event(event_id) or {}).get("Location") == "Room 4 (set in Outlook)")
    assert outlook.by_id(item.id).location == "Room 4 (set in Outlook)"
    assert failures_counted(world, "ConflictError") > conflicts, "the stale ChangeKey was never met"


def test_r_merge_4_a_write_after_the_faults_needs_no_second_try(world: World) -> None:
    """After all of the above, the bridge is healthy: a change crosses within seconds."""
    owner, _ = world.user(0)
    start, _ = world.slot()
    event_id = world.desk.create_event(owner, "All clear", start, start + timedelta(minutes=45))
    _, seconds = wait_until(lambda: (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c"))
    assert seconds < 10
