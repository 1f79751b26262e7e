"""Private items and descriptions (SPEC §6, §7: R-PRIV, R-DESC) under each policy, end to end.

The org keeps the defaults (`private = "mask"`, `safe_description = true`); the second user is `skip` with
descriptions that sync like any field, the third is `full`. Their settings go into their `[[users]]`
tables, then the bridge restarts once. Over EWS and Graph (R-GRAPH-1).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bridge.sandbox.people import wait_until

from .conftest import World

USER_SETTINGS: dict[int, str] = {
    1: 'private = "skip"\nsafe_description = false',
    2: 'private = "full"',
}
QUIET = 2.0
PROVIDERS = ("ews", "graph")
EVENT_FIELDS = "Id, Subject, IsPrivate, Description, Location, ShowAs"


@pytest.fixture(scope="module")
def policies(world: World) -> World:
    text = world.bridge.config.read_text()
    for index, keys in USER_SETTINGS.items():
        anchor = f'salesforce_user_id = "{world.user(index)[0]}"'
        assert anchor in text
        text = text.replace(anchor, anchor + "\n" + keys)
    world.bridge.config.write_text(text)
    world.restart()
    return world


def _event_for_item(world: World, item_id: str) -> dict[str, Any]:
    item_id = world.stored_id(item_id)

    def probe() -> dict[str, Any] | None:
        rows = world.desk.query(f"SELECT {EVENT_FIELDS} FROM Event WHERE Exchange_Item_Id__c = {{}}", item_id)
        return rows[0] if rows else None

    return wait_until(probe)[0]


def _item_for_event(world: World, index: int, event_id: str) -> Any:
    outlook = world.outlook(index)

    def probe() -> Any:
        item_id = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return outlook.by_id(world.ews_id(item_id)) if item_id else None

    return wait_until(probe)[0]


def _event(world: World, event_id: str) -> dict[str, Any]:
    return world.desk.query(f"SELECT {EVENT_FIELDS} FROM Event WHERE Id = {{}}", event_id)[0]


# -- R-PRIV ---------------------------------------------------------------------------------------------


def test_r_priv_1_mask_a_private_event_reaches_outlook_as_a_busy_block(policies: World) -> None:
    owner, _ = policies.user(0)
    outlook = policies.outlook(0)
    (contact_id, _), _ = policies.desk.contacts(2)
    event_id = policies.desk.create_event(
        owner,
        "Masked: salary review",
        *policies.slot(),
        IsPrivate=True,
        Location="HR office",
        Description="Confidential numbers",
    )
    policies.desk.invite(event_id, contact_id)
    item = _item_for_event(policies, 0, event_id)
    assert item.subject == "Private" and item.sensitivity == "Private"
    assert not item.location and not item.body and outlook.attendees(item) == set()
    assert item.legacy_free_busy_status == "Busy"
    # The mask never flows back over the real values.
    outlook.change(item, location="Somewhere else")
    time.sleep(QUIET)
    event = _event(policies, event_id)
    assert (event["Subject"], event["Location"]) == ("Masked: salary review", "HR office")
    assert event["Description"] == "Confidential numbers"


def test_r_priv_2_skip_a_private_item_is_not_synced_unless_opted_in(policies: World) -> None:
    owner, _ = policies.user(1)
    outlook = policies.outlook(1)
    start, end = policies.slot()
    outlook.book("Skipped: therapy", start, end, sensitivity="Private")
    opted = outlook.book(
        "Skipped but opted in: board dinner",
        start,
        end,
        sensitivity="Private",
        location="Club",
        categories=["Salesforce"],
    )
    event = _event_for_item(policies, opted.id)
    assert event["Subject"] == "Skipped but opted in: board dinner" and event["Location"] == "Club"
    assert event["IsPrivate"] is False  # in full, without the private flag
    assert policies.desk.events_of(owner, "Skipped: therapy") == []
    private_event = policies.desk.create_event(
        owner, "Skipped: private in Salesforce", start, end, IsPrivate=True
    )
    time.sleep(QUIET)
    assert outlook.find("Skipped: private in Salesforce") == []
    assert not (policies.desk.event(private_event) or {}).get("Exchange_Item_Id__c")


def test_r_priv_3_full_a_private_item_syncs_in_full_with_the_flag(policies: World) -> None:
    outlook = policies.outlook(2)
    item = outlook.book(
        "Full: surgery consult",
        *policies.slot(),
        sensitivity="Private",
        location="Clinic",
        body="Bring scans",
    )
    event = _event_for_item(policies, item.id)
    assert (event["Subject"], event["Location"], event["IsPrivate"]) == (
        "Full: surgery consult",
        "Clinic",
        True,
    )
    assert "Bring scans" in (event["Description"] or "")


# -- R-DESC ---------------------------------------------------------------------------------------------


def test_r_desc_1_safe_description_is_copied_once_and_later_edits_stay_on_their_side(policies: World) -> None:
    owner, _ = policies.user(0)
    outlook = policies.outlook(0)
    event_id = policies.desk.create_event(
        owner, "Safe: negotiation", *policies.slot(), Description="Shared agenda"
    )
    item = _item_for_event(policies, 0, event_id)
    assert "Shared agenda" in str(item.body)
    policies.desk.update_event(event_id, Description="Private note: walk away below 40k", Location="Room 2")
    wait_until(lambda: outlook.by_id(item.id).location == "Room 2")  # the same write carried no note
    assert "walk away" not in str(outlook.by_id(item.id).body)
    outlook.change(outlook.by_id(item.id), body="Outlook notes", subject="Safe: negotiation (round 2)")
    wait_until(lambda: _event(policies, event_id)["Subject"] == "Safe: negotiation (round 2)")
    assert _event(policies, event_id)["Description"] == "Private note: walk away below 40k"


def test_r_desc_2_off_the_description_syncs_like_any_field(policies: World) -> None:
    owner, _ = policies.user(1)
    outlook = policies.outlook(1)
    event_id = policies.desk.create_event(owner, "Plain: kickoff", *policies.slot(), Description="v1")
    item = _item_for_event(policies, 1, event_id)
    policies.desk.update_event(event_id, Description="v2 from Salesforce")
    wait_until(lambda: "v2 from Salesforce" in str(outlook.by_id(item.id).body))
    outlook.change(outlook.by_id(item.id), body="v3 from Outlook")
    wait_until(lambda: (_event(policies, event_id)["Description"] or "").strip() == "v3 from Outlook")
