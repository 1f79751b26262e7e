"""The Salesforce API budget (R-API-1, R-API-2): idle users cost nothing, the bridge reports its calls,
and past `api_budget` of the daily limit its Salesforce writes wait (W-API-BUDGET) and go through once
usage falls.

The org's usage is set through the sandbox's `api_usage` fault (docs/sandbox.md); the bridge learns it from
the `Sforce-Limit-Info` header of its own calls, as it would from a real org. Idle users cost nothing over
Graph's delta polling too (R-GRAPH-1).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from typing import Any

import pytest
import requests

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import wait_until

from .conftest import World

LIMIT = 100_000
# While writes wait past the budget the bridge asks Salesforce for the org's usage every second here (a
# minute by default), so the tests see it learn that usage fell without waiting a minute.
BRIDGE_ENV = {"CALBRIDGE_SALESFORCE__BUDGET_POLL_SECONDS": "1"}
PROVIDERS = ("ews", "graph")
# The budget holds Salesforce writes whichever provider reads the item: over EWS only (keeps the suite fast).
HELD_IN_SALESFORCE = "the budget holds Salesforce writes; the provider only reads the item"


def admin(world: World, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    conf = world.endpoints["admin"]["salesforce"]
    answer = requests.request(
        method,
        conf["admin_url"] + path,
        json=body,
        headers={"Authorization": f"Bearer {conf['admin_token']}"},
        verify=world.endpoints["ca_bundle"],
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def set_usage(world: World, used: int) -> None:
    admin(world, "POST", "/faults", {"fault": "api_usage", "used": used, "limit": LIMIT})


def usage(world: World) -> int:
    return int(admin(world, "GET", "/state")["api_usage"])


def open_codes(world: World) -> list[str]:
    """Codes of the open issues, as the ops page lists them."""
    with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
        return [issue["code"] for issue in json.loads(answer.read())["issues"]]


def test_r_api_1_idle_users_cost_no_api_calls(world: World) -> None:
    wait_until(lambda: world.bridge.readiness(), timeout=30)
    time.sleep(1.0)  # the start-up passes settle
    before = usage(world)
    time.sleep(2.0)
    assert usage(world) == before


def test_r_api_1_the_bridge_reports_the_salesforce_calls_it_made(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    world.desk.create_event(owner, "Counted", start, end)
    pattern = re.compile(r'^calbridge_salesforce_calls_total\{kind="(\w+)"\} ([0-9.e+]+)$', re.M)

    def writes_reported() -> float:
        counts = {kind: float(n) for kind, n in pattern.findall(world.bridge.metrics())}
        return counts.get("write", 0.0)

    wait_until(writes_reported)  # the pairing fields written back to the new event


@pytest.mark.providers("ews", reason=HELD_IN_SALESFORCE)
def test_r_api_2_past_the_budget_writes_wait_with_w_api_budget_and_go_through_when_usage_falls(
    world: World,
) -> None:
    owner, _ = world.user(1)
    outlook = world.outlook(1)
    start, end = world.slot()
    set_usage(world, int(0.9 * LIMIT))  # past the default budget of 80 %
    try:
        item = outlook.book("Booked while the org is near its limit", start, end)
        wait_until(lambda: "W-API-BUDGET" in open_codes(world), timeout=20)
        time.sleep(1.0)
        assert world.desk.events_of(owner, "Booked while the org is near its limit") == []
    finally:
        set_usage(world, 1_000)
    # The held write asks Salesforce for the usage (`budget_poll_seconds`) and goes through once it fell.
    found, _ = wait_until(lambda: world.desk.events_of(owner, "Booked while the org is near its limit"), 30)
    assert len(found) == 1 and found[0]["Exchange_Item_Id__c"] == world.stored_id(item.id)
    wait_until(lambda: "W-API-BUDGET" not in open_codes(world), timeout=20)


@pytest.mark.providers("ews", reason=HELD_IN_SALESFORCE)
def test_r_api_2_a_stop_while_writes_wait_for_the_budget_exits_0_and_the_restart_makes_them_once(
    world: World,
) -> None:
    owner, _ = world.user(2)
    outlook = world.outlook(2)
    subject = "Booked just before a shutdown"
    set_usage(world, int(0.9 * LIMIT))
    item = outlook.book(subject, *world.slot())
    wait_until(lambda: "W-API-BUDGET" in open_codes(world), timeout=20)
    began = time.monotonic()
    assert world.bridge.stop(timeout=15) == 0, world.bridge.tail()
    assert time.monotonic() - began < 10, "the stop waited for the budget"
    assert world.desk.events_of(owner, subject) == []
    set_usage(world, 1_000)
    world.bridge = BridgeProcess(
        world.bridge.config, env=world.bridge.env
    ).start()  # the held create: made now
    found, _ = wait_until(lambda: world.desk.events_of(owner, subject), timeout=20)
    assert len(found) == 1 and found[0]["Exchange_Item_Id__c"] == world.stored_id(item.id)
    time.sleep(1.5)  # long enough for a second copy to show up if one were coming
    assert len(world.desk.events_of(owner, subject)) == 1
