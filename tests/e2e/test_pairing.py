"""Pairing (SPEC §3, R-PAIR): how the bridge knows an event and an item are one, and never doubles them.

Adoption and duplicates need copies the bridge has not seen: they are made while the bridge is stopped, so
its next start meets them together, as a first sync would. Over EWS and Graph (R-GRAPH-1).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from exchangelib import Attendee, CalendarItem, Mailbox

from bridge.core.fields import EX_EVENT_ID_FIELD
from bridge.exchange.ews.items import register_properties
from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import wait_until

from .conftest import World

PROVIDERS = ("ews", "graph")


def _event_for_item(world: World, item_id: str) -> dict[str, Any]:
    item_id = world.stored_id(item_id)

    def probe() -> dict[str, Any] | None:
        rows = world.desk.query(
            "SELECT Id, Subject, Exchange_Item_Id__c, Exchange_UID__c FROM Event "
            "WHERE Exchange_Item_Id__c = {}",
            item_id,
        )
        return rows[0] if rows else None

    return wait_until(probe)[0]


def _issues(world: World, code: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
        body = json.loads(answer.read())
    return [issue for issue in body["issues"] if issue["code"] == code]


def _events_like(world: World, owner: str, subject: str) -> list[str]:
    """Ids of the owner's events whose subject contains `subject` (spaces around it may differ)."""
    rows = world.desk.query(
        "SELECT Id FROM Event WHERE OwnerId = {} AND IsChild = false AND Subject LIKE {}",
        owner,
        f"%{subject}%",
    )
    return [row["Id"] for row in rows]


@pytest.fixture
def stopped(world: World) -> Iterator[World]:
    """The bridge is stopped for the test's body and started again after it."""
    assert world.bridge.stop() == 0, world.bridge.tail()
    try:
        yield world
    finally:
        if world.bridge.process is None or world.bridge.process.poll() is not None:
            world.bridge = BridgeProcess(world.bridge.config).start()


def _start(world: World) -> None:
    world.bridge = BridgeProcess(world.bridge.config).start()


def test_r_pair_1_a_pair_is_written_on_the_event_and_on_the_item(world: World) -> None:
    register_properties()  # exchangelib reads the named property once it knows its GUID and name
    outlook = world.outlook(0)
    item = outlook.book("Pairing fields", *world.slot())
    event = _event_for_item(world, item.id)
    found = wait_until(lambda: (i := outlook.by_id(item.id)) and getattr(i, EX_EVENT_ID_FIELD) and i)[0]
    assert getattr(found, EX_EVENT_ID_FIELD) == event["Id"]
    assert event["Exchange_UID__c"] == found.uid


def test_r_pair_2_copies_with_the_same_subject_and_time_are_adopted_and_nothing_is_created(
    stopped: World,
) -> None:
    owner, _ = stopped.user(0)
    outlook = stopped.outlook(0)
    start, end = stopped.slot()
    event_id = stopped.desk.create_event(owner, "Adopt: supplier call", start, end, Location="Phone")
    item = outlook.book("  Adopt: supplier call ", start, end)  # trimmed subjects match (R-PAIR-2)
    _start(stopped)
    wait_until(
        lambda: (stopped.desk.event(event_id) or {}).get("Exchange_Item_Id__c") == stopped.stored_id(item.id)
    )
    assert _events_like(stopped, owner, "Adopt: supplier call") == [event_id]  # no event was created
    both_spellings = outlook.find("Adopt: supplier call") + outlook.find("  Adopt: supplier call ")
    assert {found.id for found in both_spellings} == {item.id}  # no item was created
    # R-PAIR-4: once paired, subject and time are ordinary fields.
    moved = start + timedelta(hours=1)
    outlook.change(
        outlook.by_id(item.id),
        subject="Adopt: supplier call (moved)",
        start=moved,
        end=end + timedelta(hours=1),
    )
    wait_until(lambda: (stopped.desk.event(event_id) or {}).get("Subject") == "Adopt: supplier call (moved)")
    assert _events_like(stopped, owner, "Adopt: supplier call") == [event_id]
    assert len(outlook.find("Adopt: supplier call (moved)")) == 1


def test_r_pair_3_two_candidates_for_one_key_are_not_adopted_and_get_e_duplicate_key(stopped: World) -> None:
    owner, _ = stopped.user(0)
    outlook = stopped.outlook(0)
    start, end = stopped.slot()
    first = stopped.desk.create_event(owner, "Duplicate: weekly sync", start, end)
    second = stopped.desk.create_event(owner, "Duplicate: weekly sync", start, end)
    item = outlook.book("Duplicate: weekly sync", start, end)
    _start(stopped)
    flagged = wait_until(
        lambda: (
            {i["salesforce_id"] for i in _issues(stopped, "E-DUPLICATE-KEY")} >= {first, second}
            and _issues(stopped, "E-DUPLICATE-KEY")
        )
    )[0]
    assert any(i["exchange_id"] == stopped.stored_id(item.id) for i in flagged)
    assert all(i["message"] for i in flagged)
    assert len(stopped.desk.events_of(owner, "Duplicate: weekly sync")) == 2
    assert len(outlook.find("Duplicate: weekly sync")) == 1
    for event_id in (first, second):
        assert not (stopped.desk.event(event_id) or {}).get("Exchange_Item_Id__c")


def test_r_pair_1_losing_the_store_creates_no_duplicate(stopped: World) -> None:
    owner, _ = stopped.user(1)
    outlook = stopped.outlook(1)
    _start(stopped)
    from_outlook = outlook.book("Store loss: from Outlook", *stopped.slot())
    event = _event_for_item(stopped, from_outlook.id)
    from_salesforce = stopped.desk.create_event(owner, "Store loss: from Salesforce", *stopped.slot())
    wait_until(lambda: (stopped.desk.event(from_salesforce) or {}).get("Exchange_Item_Id__c"))
    assert stopped.bridge.stop() == 0
    database = stopped.bridge.config.parent / "calbridge.db"
    assert database.exists(), "the bridge keeps its SQLite store beside its config"
    for leftover in database.parent.glob("calbridge.db*"):
        leftover.unlink()
    _start(stopped)
    # The recovered pair carries the next change; nothing was created twice.
    outlook.change(outlook.by_id(from_outlook.id), location="After the store was lost")
    wait_until(
        lambda: (
            stopped.desk.query("SELECT Location FROM Event WHERE Id = {}", event["Id"])[0]["Location"]
            == "After the store was lost"
        )
    )
    stopped.desk.update_event(from_salesforce, Location="Also after")
    wait_until(lambda: any(i.location == "Also after" for i in outlook.find("Store loss: from Salesforce")))
    assert len(stopped.desk.events_of(owner, "Store loss: from Outlook")) == 1
    assert len(stopped.desk.events_of(owner, "Store loss: from Salesforce")) == 1
    assert len(outlook.find("Store loss: from Outlook")) == 1
    assert len(outlook.find("Store loss: from Salesforce")) == 1


def test_r_pair_5_one_meeting_in_two_enrolled_mailboxes_is_one_event_by_its_uid(world: World) -> None:
    organizer, _ = world.user(0)
    colleague_id, colleague = world.user(2)
    outlook = world.outlook(0)
    (_, customer), _ = world.desk.contacts(2)
    start, end = world.slot()
    meeting = CalendarItem(
        folder=outlook.account.calendar,
        subject="Shared: customer workshop",
        start=start,
        end=end,
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=colleague)),
            Attendee(mailbox=Mailbox(email_address=customer)),
        ],
    )
    meeting.save(send_meeting_invitations="SendToAllAndSaveCopy")
    theirs = world.outlook(2)
    copy = wait_until(lambda: theirs.find("Shared: customer workshop"))[0][0]
    uid = outlook.by_id(meeting.id).uid
    assert copy.uid == uid
    event = _event_for_item(world, meeting.id)
    assert event["Exchange_UID__c"] == uid
    copy.accept()
    wait_until(lambda: colleague_id in world.desk.invitees(event["Id"]))
    assert len(world.desk.events_of(organizer, "Shared: customer workshop")) == 1
    assert world.desk.events_of(colleague_id, "Shared: customer workshop") == []  # a child event at most
    rows = world.desk.query("SELECT Id FROM Event WHERE Exchange_UID__c = {} AND IsChild = false", uid)
    assert [row["Id"] for row in rows] == [event["Id"]]
