"""Categories and limits (SPEC §9, §11: R-CAT, R-LIM): what is too big, too long or unmappable is reported
with a coded issue (ops `/issues` and `calbridge issues`), marked `Sync Error` when it is an error, and
nothing edited meanwhile is lost once the cause is gone. Every test runs over EWS and over Graph
(R-GRAPH-1)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

from exchangelib import Attendee, Mailbox
from prometheus_client.parser import text_string_to_metric_families

from bridge.sandbox.people import wait_until

from .conftest import World

QUIET = 2.0
PROVIDERS = ("ews", "graph")


def _event_for_item(world: World, item_id: str, fields: str = "Id, Subject") -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        rows = world.desk.query(
            f"SELECT {fields} FROM Event WHERE Exchange_Item_Id__c = {{}}", world.stored_id(item_id)
        )
        return rows[0] if rows else None

    return wait_until(probe)[0]


def _issues_of(world: World, item_id: str) -> dict[str, dict[str, Any]]:
    """The open issues of the item, from the ops page (asked again when it is slow to answer: a bridge busy
    with a large pass on a loaded machine)."""

    def page() -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
                return dict(json.loads(answer.read()))
        except TimeoutError:
            return None

    body = wait_until(page, timeout=60)[0]
    stored = world.stored_id(item_id)
    return {issue["code"]: issue for issue in body["issues"] if issue["exchange_id"] == stored}


def _categories(world: World, item_id: str) -> list[str]:
    return list(world.outlook(0).by_id(item_id).categories or [])


def test_r_lim_1_and_r_cat_1_a_15_day_item_gets_e_too_long_and_sync_error_then_syncs_once_shortened(
    world: World,
) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start = world.slot()[0]
    item = outlook.book("Too long: roadshow", start, start + timedelta(days=15), categories=["Blue"])
    issue = wait_until(lambda: _issues_of(world, item.id).get("E-TOO-LONG"))[0]
    assert issue["user_id"] == owner and issue["message"] and issue["first_seen"] and issue["last_seen"]
    wait_until(lambda: "Sync Error" in _categories(world, item.id))
    assert "Blue" in _categories(world, item.id)  # the user's own category is never touched
    assert world.desk.events_of(owner, "Too long: roadshow") == []
    listed = subprocess.run(
        [sys.executable, "-m", "bridge", "issues", "--config", str(world.bridge.config), "--user", owner],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 0 and "E-TOO-LONG" in listed.stdout, listed.stderr
    # R-CAT-2: the category write is the bridge's own; it does not come back as a change.
    settled = outlook.by_id(item.id).changekey
    time.sleep(QUIET)
    assert outlook.by_id(item.id).changekey == settled
    # R-LIM-2: shortened (and renamed meanwhile), it syncs with every edit, and the issue closes.
    outlook.change(
        outlook.by_id(item.id), subject="Roadshow (3 days)", end=start + timedelta(days=3), location="Lyon"
    )
    event = _event_for_item(world, item.id, "Id, Subject, Location, EndDateTime")
    assert (event["Subject"], event["Location"]) == ("Roadshow (3 days)", "Lyon")
    wait_until(lambda: "E-TOO-LONG" not in _issues_of(world, item.id))
    wait_until(lambda: "Sync Error" not in _categories(world, item.id))
    assert set(_categories(world, item.id)) == {"Blue", "Salesforce"}


def test_r_lim_1_a_40000_character_description_is_cut_with_w_truncated_and_no_sync_error(
    world: World,
) -> None:
    outlook = world.outlook(0)
    body = ("Minutes of the steering committee. " * 1200)[:40_000]
    item = outlook.book("Truncated: long minutes", *world.slot(), body=body)
    event = _event_for_item(world, item.id, "Id, Description")
    assert len(event["Description"]) == 32_000 and body.startswith(event["Description"])
    wait_until(lambda: _issues_of(world, item.id).get("W-TRUNCATED"))
    time.sleep(QUIET / 2)
    assert "Sync Error" not in _categories(world, item.id)  # a warning sets no category
    assert len(str(outlook.by_id(item.id).body)) == 40_000  # the item keeps its whole text


def test_r_lim_1_more_than_1000_attendees_sync_truncated_with_w_truncated(world: World) -> None:
    outlook = world.outlook(0)
    emails = [f"guest{n:04d}@conference.example" for n in range(1200)]
    for first in range(0, len(emails), 200):
        batch = [
            {"attributes": {"type": "Contact"}, "LastName": f"Guest {n}", "Email": email}
            for n, email in enumerate(emails[first : first + 200], start=first)
        ]
        answer = world.desk.sf.restful(
            "composite/sobjects", method="POST", data=json.dumps({"allOrNone": True, "records": batch})
        )
        assert all(row["success"] for row in answer)
    writes_before = _bridge_writes(world)
    item = outlook.book(
        "Truncated: user conference",
        *world.slot(),
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=e), response_type="Unknown") for e in emails
        ],
    )
    event = _event_for_item(world, item.id)
    wait_until(lambda: _issues_of(world, item.id).get("W-TRUNCATED"), timeout=60)
    wait_until(lambda: len(world.desk.invitees(event["Id"])) == 1000, timeout=60)
    # R-API-3: the invitees go out in sObject Collections of up to 200, not one call each.
    assert _bridge_writes(world) - writes_before <= 10


def _bridge_writes(world: World) -> float:
    """The bridge's Salesforce write calls so far, from its /metrics."""
    for family in text_string_to_metric_families(world.bridge.metrics()):
        for sample in family.samples:
            if sample.name == "calbridge_salesforce_calls_total" and sample.labels.get("kind") == "write":
                return sample.value
    return 0.0


def test_r_lim_1_an_unmappable_time_zone_gets_e_timezone_and_nothing_is_synced(world: World) -> None:
    owner, address = world.user(0)
    outlook = world.outlook(0)
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=12)
    subject = "Zone: offsite on Mars"
    world.sandbox.exchange.deliver_external_meeting(
        [address],
        "planner@partner.example",
        subject,
        day,
        day + timedelta(days=1),
        is_all_day=True,
        time_zone="Olympus Mons Standard Time",
    )
    copy = wait_until(lambda: outlook.find(subject))[0][0]
    copy.accept()
    wait_until(lambda: _issues_of(world, copy.id).get("E-TIMEZONE"))
    assert world.desk.events_of(owner, subject) == []
