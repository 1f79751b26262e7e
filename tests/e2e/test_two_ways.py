"""One user, both ways: what a sales person sees when they change a meeting on either side, with Exchange
reached through EWS and through Microsoft Graph (R-GRAPH-1: the same tests prove both)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from bridge.sandbox.people import wait_until

from .conftest import World

SYNC_CATEGORY = "Salesforce"
PROVIDERS = ("ews", "graph")


def _event_for_item(world: World, item_id: str) -> dict[str, Any]:
    """The event paired with the item Outlook shows as `item_id` (R-PAIR-1)."""
    item_id = world.stored_id(item_id)

    def probe() -> dict[str, Any] | None:
        rows = world.desk.query(
            "SELECT Id, Subject, StartDateTime, EndDateTime, IsPrivate, Description, Location, "
            "Exchange_Item_Id__c, Exchange_UID__c FROM Event WHERE Exchange_Item_Id__c = {}",
            item_id,
        )
        return rows[0] if rows else None

    return wait_until(probe)[0]


def _item_for_event(world: World, index: int, event_id: str) -> Any:
    """The item the bridge made for an event, found through the event's pairing field (R-PAIR-1)."""
    outlook = world.outlook(index)

    def probe() -> Any:
        item_id = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return outlook.by_id(world.ews_id(item_id)) if item_id else None

    return wait_until(probe)[0]


def test_r_time_1_an_item_booked_in_outlook_appears_in_salesforce_with_the_pairing_fields(
    world: World,
) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    item = outlook.book("Discovery call: Quarry Labs", start, end, location="Zoom")
    event = _event_for_item(world, item.id)
    assert event["Subject"] == "Discovery call: Quarry Labs"
    assert event["Location"] == "Zoom"
    assert event["Exchange_UID__c"]  # R-PAIR-1: the UID is stored on the event too
    rows = world.desk.query("SELECT OwnerId FROM Event WHERE Id = {}", event["Id"])
    assert rows[0]["OwnerId"] == owner
    # R-CAT-1: the synced item carries the bridge's category; the user's others are untouched.
    again = wait_until(
        lambda: (found := outlook.by_id(item.id)) and SYNC_CATEGORY in (found.categories or []) and found
    )
    assert again[0].subject == "Discovery call: Quarry Labs"


def test_r_time_1_an_event_created_in_salesforce_appears_in_outlook(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Contract review", start, end, Location="HQ")
    item = _item_for_event(world, 0, event_id)
    assert item.subject == "Contract review"
    assert item.start == start and item.end == end
    assert SYNC_CATEGORY in (item.categories or [])
    event = world.desk.event(event_id)
    assert event is not None and event["Exchange_Item_Id__c"] == world.stored_id(item.id)  # R-PAIR-1


def test_r_merge_1_a_time_changed_in_salesforce_moves_the_item(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Pricing call", start, end)
    item = _item_for_event(world, 0, event_id)
    moved = start + timedelta(hours=1)
    world.desk.move_event(event_id, moved, moved + timedelta(minutes=30))
    wait_until(lambda: (found := outlook.by_id(item.id)) is not None and found.start == moved)
    assert outlook.by_id(item.id).end == moved + timedelta(minutes=30)


def test_r_merge_1_a_subject_changed_in_outlook_changes_the_event(world: World) -> None:
    outlook = world.outlook(0)
    start, end = world.slot()
    item = outlook.book("Renewal", start, end)
    event = _event_for_item(world, item.id)
    outlook.change(outlook.by_id(item.id), subject="Renewal (moved to Q3)")
    wait_until(lambda: (world.desk.event(event["Id"]) or {}).get("Subject") == "Renewal (moved to Q3)")


def test_r_merge_3_the_bridges_own_writes_do_not_come_back_as_changes(world: World) -> None:
    """After one change crosses over, both copies settle: no write ping-pongs between the sides."""
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Echo check", start, end)
    item = _item_for_event(world, 0, event_id)
    time.sleep(1.5)
    settled_item = outlook.by_id(item.id).changekey
    settled_event = world.desk.query("SELECT LastModifiedDate FROM Event WHERE Id = {}", event_id)[0]
    time.sleep(2.0)
    assert outlook.by_id(item.id).changekey == settled_item
    assert world.desk.query("SELECT LastModifiedDate FROM Event WHERE Id = {}", event_id)[0] == settled_event


def test_r_att_1_and_2_an_invitee_added_in_salesforce_reaches_outlook_and_stays_when_removed(
    world: World,
) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    (contact_id, contact_email), _ = world.desk.contacts(2)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Attendees from Salesforce", start, end)
    item = _item_for_event(world, 0, event_id)
    world.desk.invite(event_id, contact_id)

    def shown() -> bool:
        found = outlook.by_id(item.id)
        assert found is not None
        if world.provider == "graph":  # R-GRAPH-3: listed in the body, not invited (invitations = none)
            return contact_email.lower() in str(found.body or "").lower() and not outlook.attendees(found)
        return contact_email.lower() in outlook.attendees(found)

    wait_until(shown)
    world.desk.uninvite(event_id, contact_id)
    time.sleep(2.0)
    assert shown()


def test_r_att_3_and_4_an_attendee_added_in_outlook_reaches_salesforce_and_leaves_when_removed(
    world: World,
) -> None:
    outlook = world.outlook(0)
    _, (contact_id, contact_email) = world.desk.contacts(2)
    start, end = world.slot()
    item = outlook.book("Attendees from Outlook", start, end)
    event = _event_for_item(world, item.id)
    outlook.add_attendee(outlook.by_id(item.id), contact_email)
    wait_until(lambda: contact_id in world.desk.invitees(event["Id"]))
    outlook.remove_attendee(outlook.by_id(item.id), contact_email)
    wait_until(lambda: contact_id not in world.desk.invitees(event["Id"]))


def test_r_priv_1_a_private_item_reaches_salesforce_masked(world: World) -> None:
    outlook = world.outlook(0)
    start, end = world.slot()
    item = outlook.book("Doctor's appointment", start, end, sensitivity="Private", location="Clinic")
    event = _event_for_item(world, item.id)
    assert event["IsPrivate"] is True
    assert event["Subject"] == "Private"
    assert not event["Location"] and not event["Description"]


def test_r_del_2_an_item_deleted_in_outlook_deletes_the_event(world: World) -> None:
    outlook = world.outlook(0)
    start, end = world.slot()
    item = outlook.book("Cancelled lunch", start, end)
    event = _event_for_item(world, item.id)
    outlook.delete(outlook.by_id(item.id))
    wait_until(lambda: world.desk.event(event["Id"]) is None)


def test_r_del_5_an_event_made_in_salesforce_and_deleted_there_deletes_its_item(world: World) -> None:
    """Kind B: an appointment created in Salesforce and deleted there takes its item with it."""
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Salesforce-only appointment", start, end)
    item = _item_for_event(world, 0, event_id)
    world.desk.delete_event(event_id)
    wait_until(lambda: outlook.by_id(item.id) is None)


def test_r_del_5_an_outlook_meeting_deleted_in_salesforce_only_loses_its_category(world: World) -> None:
    """Kind A: the item stays in Outlook; the bridge's category is removed."""
    outlook = world.outlook(0)
    start, end = world.slot()
    item = outlook.book("Outlook-made appointment", start, end)
    event = _event_for_item(world, item.id)
    wait_until(lambda: SYNC_CATEGORY in (outlook.by_id(item.id).categories or []))
    world.desk.delete_event(event["Id"])
    wait_until(lambda: SYNC_CATEGORY not in (outlook.by_id(item.id).categories or []))
    assert outlook.by_id(item.id) is not None


def test_r_scope_4_an_item_in_a_blocked_category_stays_out_of_salesforce(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    outlook.book("Kids' football", start, end, categories=["Personal"])
    # A marker booked after it: once the marker is in Salesforce, the blocked item had its chance too.
    marker = outlook.book("Marker after personal", start, end)
    _event_for_item(world, marker.id)
    assert world.desk.events_of(owner, "Kids' football") == []
