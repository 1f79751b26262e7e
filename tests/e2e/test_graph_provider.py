"""The bridge process with `[exchange] provider = "graph"` (R-GRAPH-1): the same stories as over EWS, with
Exchange reached through the Graph sandbox (which serves the EWS sandbox's mailboxes, where the people's
Outlook works) and changes announced by change notifications posted to the bridge's ops server
(`notification_url`, R-GRAPH-2). Delta polling is slowed to 30 s here, so a change seen within seconds was
announced by a notification. (tests/e2e/test_two_ways.py runs over Graph with delta polling alone.)

The faults Graph has and EWS has not are played here through the Graph sandbox's fault hooks: throttling
(429 with Retry-After), a delta state refused (410 SyncStateNotFound) and a removed subscription."""

from __future__ import annotations

import time
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import SalesforceDesk, wait_until
from bridge.sandbox.runner import running_sandbox

from .conftest import World, use_graph
from .helpers import fault, sandbox_state

SYNC_CATEGORY = "Salesforce"
QUIET = 2.0  # long enough for a doubled create to show, when proving there is none


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("e2e-graph")
    with running_sandbox(root / "sandbox") as sandbox:
        config = sandbox.write_bridge_config(root / "bridge")
        endpoints = sandbox.endpoints()
        # Notifications posted to the ops server; a delta poll too slow to explain a change seen in seconds.
        ops_port = tomllib.loads(config.read_text())["ops"]["port"]
        settings = (
            f'notification_url = "http://127.0.0.1:{ops_port}"\npoll_seconds = 30\npoll_fast_seconds = 30\n'
        )
        use_graph(config, endpoints["graph"], settings)
        bridge = BridgeProcess(config).start()
        world = World(sandbox, endpoints, SalesforceDesk(endpoints), bridge, root, "graph")
        try:
            yield world
        finally:
            code = world.bridge.stop()
            assert code == 0, f"calbridge run exited with {code}:\n{world.bridge.tail()}"


def _event_titled(world: World, owner: str, subject: str) -> dict[str, Any]:
    return wait_until(lambda: next(iter(world.desk.events_of(owner, subject)), None))[0]


def test_r_time_1_an_item_booked_in_outlook_reaches_salesforce_through_graph(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    outlook.book("Graph discovery call", start, end, location="Zoom")
    event, took = wait_until(lambda: next(iter(world.desk.events_of(owner, "Graph discovery call")), None))
    assert event["Location"] == "Zoom"
    assert took < 10, f"took {took:.1f} s"
    # R-CAT-1: the bridge's category reaches the item, written through Graph.
    wait_until(
        lambda: any(SYNC_CATEGORY in (i.categories or []) for i in outlook.find("Graph discovery call"))
    )


def test_r_time_1_an_event_created_in_salesforce_reaches_outlook_through_graph(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Graph contract review", start, end, Location="HQ")
    (item,), _ = wait_until(lambda: outlook.find("Graph contract review") or None)
    assert (item.start, item.end, item.location) == (start, end, "HQ")
    item_id, _ = wait_until(lambda: (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c"))  # R-PAIR-1
    assert item_id == world.stored_id(item.id) != item.id  # the immutable id Graph gave: Graph wrote it
    assert world.sandbox.graph.router.requests > 0


def test_r_graph_3_an_event_with_invitees_creates_an_item_that_invites_nobody(world: World) -> None:
    owner, _ = world.user(0)
    colleague_id, colleague = world.user(1)
    contact_id, contact_email = world.desk.contacts(1)[0]
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Graph quarterly review", start, end)
    world.desk.invite(event_id, contact_id)
    world.desk.invite(event_id, colleague_id)
    outlook = world.outlook(0)

    def listed() -> Any:
        found = outlook.find("Graph quarterly review")
        body = str(found[0].body or "") if found else ""
        return found[0] if contact_email in body and colleague in body else None

    item, _ = wait_until(listed)
    assert not item.required_attendees and not item.optional_attendees  # listed in the body, not invited
    time.sleep(2)  # long enough for an invitation or a lost relation to show
    assert world.outlook(1).find("Graph quarterly review") == []  # the enrolled colleague got no copy
    assert world.desk.invitees(event_id) == {contact_id, colleague_id}  # the event keeps its invitees


def test_r_graph_2_every_mailbox_is_subscribed_and_a_removed_subscription_is_replaced(world: World) -> None:
    hub = world.sandbox.graph.state.hub
    notify = world.bridge.ops_url + "/graph/notify"

    def subscriptions() -> dict[str, Any]:
        live = list(hub.subscriptions.values())
        return {s.mailbox.lower(): s for s in live if s.notification_url == notify}

    mailboxes = {user["email"].lower() for user in world.endpoints["users"]}
    wait_until(lambda: set(subscriptions()) == mailboxes or None)
    owner, mailbox = world.user(0)
    removed = subscriptions()[mailbox.lower()]
    assert world.sandbox.graph.faults.lifecycle("subscriptionRemoved", removed.id) == 1
    replaced, _ = wait_until(lambda: (s := subscriptions().get(mailbox.lower())) and s.id != removed.id and s)
    assert replaced.lifecycle_url == world.bridge.ops_url + "/graph/lifecycle"
    delivered = hub.stats.delivered
    start, end = world.slot()
    world.outlook(0).book("Graph pushed after removal", start, end)
    _, took = wait_until(lambda: next(iter(world.desk.events_of(owner, "Graph pushed after removal")), None))
    assert took < 10, f"took {took:.1f} s"  # polling runs every 30 s: a notification announced it
    assert hub.stats.delivered > delivered


def test_r_graph_4_throttled_requests_wait_for_retry_after_and_nothing_is_lost(world: World) -> None:
    """More 429s than one request retries: the client waits each Retry-After, then hands the wait to the
    runtime, whose pass runs again; the Salesforce event and the Outlook booking both land, once each."""
    owner, mailbox = world.user(2)
    outlook = world.outlook(2)
    throttled = sandbox_state(world, "graph")["throttled"]
    fault(world, "graph", {"fault": "throttle", "count": 6, "retry_after": 1, "mailbox": mailbox})
    event_id = world.desk.create_event(owner, "Graph throttled: from Salesforce", *world.slot(), Location="A")
    world.desk.update_event(event_id, Location="Room 12")
    outlook.book("Graph throttled: from Outlook", *world.slot())
    subject = "Graph throttled: from Salesforce"
    wait_until(lambda: [i for i in outlook.find(subject) if i.location == "Room 12"])
    _event_titled(world, owner, "Graph throttled: from Outlook")
    assert sandbox_state(world, "graph")["throttled"] >= throttled + 6  # every injected 429 was met
    time.sleep(QUIET)
    assert len(outlook.find(subject)) == 1
    assert len(world.desk.events_of(owner, "Graph throttled: from Outlook")) == 1


def test_r_graph_2_a_refused_delta_state_is_reconciled_with_nothing_lost_or_doubled(world: World) -> None:
    """The mailbox's delta states answer 410 SyncStateNotFound: the bridge reconciles its window, so an edit
    and a new booking made meanwhile both reach Salesforce, and nothing is created twice."""
    owner, mailbox = world.user(1)
    outlook = world.outlook(1)
    start, end = world.slot()
    earlier = outlook.book("Graph refused: booked before", start, end)
    event = _event_titled(world, owner, "Graph refused: booked before")
    refused = sandbox_state(world, "graph")["delta_refused"].get(mailbox.lower(), 0)
    assert fault(world, "graph", {"fault": "expire_delta_tokens", "mailbox": mailbox})["result"] == 1
    outlook.change(outlook.by_id(earlier.id), location="Edited meanwhile")
    outlook.book("Graph refused: booked meanwhile", *world.slot())
    wait_until(lambda: (world.desk.event(event["Id"]) or {}).get("Location") == "Edited meanwhile")
    _event_titled(world, owner, "Graph refused: booked meanwhile")
    assert sandbox_state(world, "graph")["delta_refused"][mailbox.lower()] > refused  # the 410 was met
    time.sleep(QUIET)
    assert len(world.desk.events_of(owner, "Graph refused: booked before")) == 1
    assert len(world.desk.events_of(owner, "Graph refused: booked meanwhile")) == 1
