"""An admin runs calbridge from Salesforce: enrolment by the `Calbridge User` permission set, policies from
`Calbridge_Settings__c` rows followed as they change (no restart), issues kept as `Calbridge_Issue__c`
records, commands from `Calbridge_Command__e` acted on only when their sender may send them.

The tests are one story, in order, about one person (the third seeded user) whom the bridge starts without;
the story is told once over EWS and once over Graph (R-GRAPH-1), each in its own world.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import SalesforceDesk, wait_until
from bridge.sandbox.salesforce.org import ConnectedApp

from .conftest import World
from .helpers import paired_with

BRIDGE_SETTINGS = '[sync]\nsettings_source = "salesforce"\nissues_to_salesforce = true\n'
SYNC = "Salesforce"
QUIET_S = 2.0  # long enough for the bridge to have acted, when proving that it did not
PERSON = 2  # the person the admin enrols; user 0 is the admin, user 1 a colleague without rights
PROVIDERS = ("ews", "graph")


def _assignment(world: World, user_id: str, set_name: str) -> str | None:
    rows = world.desk.query(
        "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {} AND PermissionSet.Name = {}",
        user_id,
        set_name,
    )
    return str(rows[0]["Id"]) if rows else None


def _assign(world: World, user_id: str, set_name: str) -> None:
    set_id = world.desk.query("SELECT Id FROM PermissionSet WHERE Name = {}", set_name)[0]["Id"]
    world.desk.sobject("PermissionSetAssignment").create({"AssigneeId": user_id, "PermissionSetId": set_id})


def _desk_of(world: World, index: int) -> SalesforceDesk:
    """Salesforce as seeded user `index` uses it (their own login, so what they publish is theirs)."""
    user_id, _ = world.user(index)
    client_id, secret = f"desk-{index}", f"secret-{index}"
    world.sandbox.salesforce.org.clients[client_id] = ConnectedApp(client_id, secret, user_id)
    conf = {**world.endpoints["salesforce"], "client_id": client_id, "client_secret": secret}
    return SalesforceDesk({**world.endpoints, "salesforce": conf})


def _records(world: World, code: str, user_id: str) -> list[dict[str, Any]]:
    return world.desk.query(
        "SELECT Id, OwnerId, User__c, Code__c, Message__c, Is_Open__c FROM Calbridge_Issue__c "
        "WHERE Code__c = {} AND User__c = {}",
        code,
        user_id,
    )


def _item_of(world: World, event_id: str) -> Any:
    outlook = world.outlook(PERSON)

    def probe() -> Any:
        item_id = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return outlook.by_id(world.ews_id(item_id)) if item_id else None

    return wait_until(probe, timeout=30)[0]


@pytest.fixture(scope="module")
def admin(world: World) -> SalesforceDesk:
    """User 0 holds Calbridge Admin; the bridge was started while the person did not hold Calbridge User."""
    admin_id, _ = world.user(0)
    person, _ = world.user(PERSON)
    _assign(world, admin_id, "Calbridge_Admin")
    assignment = _assignment(world, person, "Calbridge_User")
    if assignment is not None:
        world.desk.sobject("PermissionSetAssignment").delete(assignment)
        world.restart()
    return _desk_of(world, 0)


def test_r_time_5_assigning_calbridge_user_enrols_the_person_without_a_restart(
    world: World, admin: SalesforceDesk
) -> None:
    person, _ = world.user(PERSON)
    start, end = world.slot()
    before = world.desk.create_event(person, "Admin story: before enrolment", start, end)
    time.sleep(QUIET_S)
    assert (world.desk.event(before) or {}).get("Exchange_Item_Id__c") is None, "synced while not enrolled"
    _assign(world, person, "Calbridge_User")
    # Assignments are not streamed by Salesforce: the admin's Sync Now reads them again at once.
    admin.sobject("Calbridge_Command__e").create({"Command__c": "sync_now", "User_Id__c": person})
    item = _item_of(world, before)
    assert item.subject == "Admin story: before enrolment"
    assert SYNC in (item.categories or [])


def test_r_del_10_a_held_mass_deletion_is_an_issue_record_and_is_confirmed_from_salesforce(
    world: World, admin: SalesforceDesk
) -> None:
    person, _ = world.user(PERSON)
    outlook = world.outlook(PERSON)
    start, _ = world.slot()
    paired = world.desk.query(
        "SELECT Id FROM Event WHERE OwnerId = {} AND Exchange_Item_Id__c != null AND IsChild = false", person
    )
    count = max(11, len(paired) + 2)  # more than 10 and more than half of the person's pairs
    events = [
        world.desk.create_event(
            person,
            f"Admin mass {n:02d}",
            start + timedelta(minutes=30 * n),
            start + timedelta(minutes=30 * n + 20),
        )
        for n in range(count)
    ]
    items = [_item_of(world, e) for e in events]
    outlook.account.bulk_delete(ids=[(i.id, i.changekey) for i in (outlook.by_id(i.id) for i in items)])
    # R-LIM-1: the held deletion is a record the person owns, so they see it in Salesforce.
    held = wait_until(lambda: [r for r in _records(world, "E-MASS-DELETE", person) if r["Is_Open__c"]], 20)[0]
    assert held[0]["OwnerId"][:15] == person[:15]
    assert all(world.desk.event(e) is not None for e in events), "a held deletion went through"
    # A colleague without Calbridge Admin cannot release it: refused, and the refusal is a record too.
    colleague, _ = world.user(1)
    _desk_of(world, 1).sobject("Calbridge_Command__e").create({"Command__c": "confirm", "User_Id__c": person})
    refused = wait_until(lambda: _records(world, "W-COMMAND-REFUSED", person), 20)[0]
    assert colleague in refused[0]["Message__c"]
    time.sleep(QUIET_S)
    assert all(world.desk.event(e) is not None for e in events), "a refused confirm released the deletions"
    # The admin's confirm does.
    admin.sobject("Calbridge_Command__e").create({"Command__c": "confirm", "User_Id__c": person})
    wait_until(lambda: all(world.desk.event(e) is None for e in events), timeout=30)
    wait_until(lambda: not any(r["Is_Open__c"] for r in _records(world, "E-MASS-DELETE", person)), 20)


def test_r_scope_2_a_settings_row_makes_the_person_one_way_without_a_restart(
    world: World, admin: SalesforceDesk
) -> None:
    person, _ = world.user(PERSON)
    outlook = world.outlook(PERSON)
    far = world.slot()[0] + timedelta(days=120)  # past the default 60 days ahead
    later = world.desk.create_event(person, "Admin story: far ahead", far, far + timedelta(hours=1))
    admin.sobject("Calbridge_Settings__c").create(
        {"User__c": person, "Direction__c": "to_exchange", "Future_Days__c": 200}
    )
    # The row is followed as it changes: the wider window brings the far event over...
    assert _item_of(world, later).subject == "Admin story: far ahead"
    # ...and Outlook is now a mirror: what the person books there stays there (R-SCOPE-2).
    start, end = world.slot()
    booked = outlook.book("Admin story: booked in Outlook", start, end)
    time.sleep(QUIET_S)
    assert not paired_with(world, booked.id)


def test_r_del_6_unticking_sync_enabled_switches_the_person_off(world: World, admin: SalesforceDesk) -> None:
    person, _ = world.user(PERSON)
    outlook = world.outlook(PERSON)
    start, end = world.slot()
    event_id = world.desk.create_event(person, "Admin story: made in Salesforce", start, end)
    item = _item_of(world, event_id)
    row = admin.query("SELECT Id FROM Calbridge_Settings__c WHERE User__c = {}", person)[0]["Id"]
    admin.sobject("Calbridge_Settings__c").update(row, {"Sync_Enabled__c": False})
    # R-DEL-6, kind B: an item the bridge made from a Salesforce event is deleted; the event stays.
    wait_until(lambda: outlook.by_id(item.id) is None, timeout=20)
    assert world.desk.event(event_id) is not None
    later = world.desk.create_event(person, "Admin story: after switching off", *world.slot())
    time.sleep(QUIET_S)
    assert (world.desk.event(later) or {}).get("Exchange_Item_Id__c") is None, "synced while switched off"


def test_r_del_6_a_person_switched_off_while_the_bridge_was_stopped_is_switched_off_at_its_start(
    world: World, admin: SalesforceDesk
) -> None:
    person, _ = world.user(PERSON)
    outlook = world.outlook(PERSON)
    row = admin.query("SELECT Id FROM Calbridge_Settings__c WHERE User__c = {}", person)[0]["Id"]
    admin.sobject("Calbridge_Settings__c").update(row, {"Sync_Enabled__c": True})  # back on: a first sync
    event_id = world.desk.create_event(person, "Admin story: before the stop", *world.slot())
    item = _item_of(world, event_id)
    assert world.bridge.stop() == 0, world.bridge.tail()
    # While the bridge is stopped, the admin takes the person's Calbridge User away.
    assignment = _assignment(world, person, "Calbridge_User")
    assert assignment is not None
    world.desk.sobject("PermissionSetAssignment").delete(assignment)
    world.bridge = BridgeProcess(world.bridge.config, env=world.bridge.env).start()
    # R-DEL-6 at start, as if it had been switched off while running: the item goes, the event stays.
    wait_until(lambda: outlook.by_id(item.id) is None, timeout=30)
    assert world.desk.event(event_id) is not None
