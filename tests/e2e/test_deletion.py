"""Deleting and unsyncing (R-DEL): the table of SPEC §8 played by people in Outlook and Salesforce.

Kinds: A appointment made in Outlook, B appointment made in Salesforce, C meeting the user organizes,
D meeting from an outside organizer (accepted), E meeting organized by another enrolled user. The module
ends by restarting the bridge with one user switched off (R-DEL-6) and another on `delete_in_exchange`
(R-DEL-7). Every test runs over EWS and over Graph (R-GRAPH-1): the people's Outlook speaks EWS to the
mailboxes the Graph sandbox serves too, so the same stories play through either provider.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta
from typing import Any

from exchangelib import Attendee, CalendarItem, EWSDateTime, Mailbox

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import Outlook, wait_until

from .conftest import World

SYNC, UNSYNC = "Salesforce", "Salesforce Unsync"
OUTSIDE = "partner@outside.example"
QUIET_S = 2.0  # long enough for the bridge to have acted, when proving that it did not
PROVIDERS = ("ews", "graph")


def cats(outlook: Outlook, item_id: str) -> list[str]:
    found = outlook.by_id(item_id)
    return list(found.categories or []) if found is not None else []


def event_for_item(world: World, item_id: str, owner: str | None = None) -> str:
    def probe() -> str | None:
        rows = world.desk.query(
            "SELECT Id, OwnerId FROM Event WHERE Exchange_Item_Id__c = {}", world.stored_id(item_id)
        )
        return str(rows[0]["Id"]) if rows and (owner is None or rows[0]["OwnerId"] == owner) else None

    return wait_until(probe, timeout=20)[0]


def item_for_event(world: World, index: int, event_id: str) -> Any:
    outlook = world.outlook(index)

    def probe() -> Any:
        item_id = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return outlook.by_id(world.ews_id(item_id)) if item_id else None

    return wait_until(probe, timeout=20)[0]


def synced(outlook: Outlook, item_id: str) -> None:
    wait_until(lambda: SYNC in cats(outlook, item_id))


def send_meeting(world: World, organizer: int, attendees: list[str], subject: str) -> Any:
    """A meeting sent with invitations from a sandbox mailbox (copies land in enrolled attendees')."""
    outlook = world.outlook(organizer)
    start, end = world.slot()
    item = CalendarItem(
        folder=outlook.account.calendar,
        subject=subject,
        start=start,
        end=end,
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=a), response_type="Unknown") for a in attendees
        ],
    )
    item.save(send_meeting_invitations="SendToAllAndSaveCopy")
    return item


def copy_in(outlook: Outlook, subject: str) -> Any:
    return wait_until(lambda: next(iter(outlook.find(subject)), None))[0]


def kind_a(world: World, index: int, subject: str) -> tuple[Any, str]:
    outlook = world.outlook(index)
    start, end = world.slot()
    item = outlook.book(subject, start, end)
    event_id = event_for_item(world, item.id)
    synced(outlook, item.id)
    return item, event_id


def kind_b(world: World, index: int, subject: str) -> tuple[Any, str]:
    owner, _ = world.user(index)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, subject, start, end)
    item = item_for_event(world, index, event_id)
    synced(world.outlook(index), item.id)
    return item, event_id


def kind_c(world: World, subject: str) -> tuple[Any, str]:
    (_, contact), *_ = world.desk.contacts(1)
    outlook = world.outlook(0)
    start, end = world.slot()
    item = outlook.book(subject, start, end)
    outlook.add_attendee(outlook.by_id(item.id), contact)
    event_id = event_for_item(world, item.id)
    synced(outlook, item.id)
    return item, event_id


def kind_d(world: World, subject: str) -> tuple[Any, str, str]:
    _, address = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    uid = world.sandbox.exchange.deliver_external_meeting([address], OUTSIDE, subject, start, end)
    item = copy_in(outlook, subject)
    item.accept()
    event_id = event_for_item(world, item.id)
    synced(outlook, item.id)
    return item, event_id, uid


def kind_e(world: World, subject: str) -> tuple[Any, str]:
    """User 1 organizes, user 0 attends: the attendee's copy and the organizer's event."""
    attendee_id, attendee = world.user(0)
    send_meeting(world, 1, [attendee], subject)
    organizer_copy = copy_in(world.outlook(1), subject)
    event_id = event_for_item(world, organizer_copy.id)
    mine = copy_in(world.outlook(0), subject)
    mine.accept()
    wait_until(lambda: attendee_id in world.desk.invitees(event_id))
    synced(world.outlook(0), mine.id)
    return world.outlook(0).by_id(mine.id), event_id


def gone(world: World, event_id: str) -> bool:
    return world.desk.event(event_id) is None


# ------------------------------------------------------------------------------------------- R-DEL-1


def test_r_del_1_the_sync_category_removed_in_outlook_is_restored_for_kinds_a_b_c_d_e(world: World) -> None:
    attendee_id, _ = world.user(0)
    outlook = world.outlook(0)
    items = [
        kind_a(world, 0, "Del-1 A")[0],
        kind_b(world, 0, "Del-1 B")[0],
        kind_c(world, "Del-1 C")[0],
        kind_d(world, "Del-1 D")[0],
    ]
    attended, attended_event = kind_e(world, "Del-1 E")
    items.append(attended)
    for item in items:
        outlook.change(outlook.by_id(item.id), categories=None)
    for item in items:
        synced(outlook, item.id)
    time.sleep(QUIET_S)
    assert attendee_id in world.desk.invitees(attended_event)  # kind E: only the category came back


# ------------------------------------------------------------------------------------------- R-DEL-2


def test_r_del_2_deleted_in_outlook_deletes_the_event_for_kinds_b_c_d(world: World) -> None:
    outlook = world.outlook(0)
    made = [kind_b(world, 0, "Del-2 B"), kind_c(world, "Del-2 C"), kind_d(world, "Del-2 D")[:2]]
    for item, _ in made:
        outlook.delete(outlook.by_id(item.id))
    for _, event_id in made:
        wait_until(lambda event_id=event_id: gone(world, event_id))


def test_r_del_2_kind_e_deleted_by_the_attendee_removes_only_their_relation(world: World) -> None:
    attendee_id, _ = world.user(0)
    item, event_id = kind_e(world, "Del-2 E")
    world.outlook(0).delete(item)
    wait_until(lambda: attendee_id not in world.desk.invitees(event_id))
    assert world.desk.event(event_id) is not None


# ------------------------------------------------------------------------------------------- R-DEL-3


def test_r_del_3_the_unsync_category_deletes_the_event_for_kinds_a_b(world: World) -> None:
    outlook = world.outlook(0)
    made = [kind_a(world, 0, "Del-3 A"), kind_b(world, 0, "Del-3 B")]
    for item, _ in made:
        outlook.change(outlook.by_id(item.id), categories=[UNSYNC])
    for item, event_id in made:
        wait_until(lambda event_id=event_id: gone(world, event_id))
        assert outlook.by_id(item.id) is not None


def test_r_del_3_kind_e_unsynced_by_the_attendee_removes_only_their_relation(world: World) -> None:
    attendee_id, _ = world.user(0)
    item, event_id = kind_e(world, "Del-3 E")
    world.outlook(0).change(item, categories=[UNSYNC])
    wait_until(lambda: attendee_id not in world.desk.invitees(event_id))
    assert world.desk.event(event_id) is not None


# ------------------------------------------------------------------------------------------- R-DEL-4


def test_r_del_4_leaving_the_window_removes_the_category_of_a_and_deletes_the_item_of_b(world: World) -> None:
    outlook = world.outlook(0)
    a_item, a_event = kind_a(world, 0, "Del-4 A")
    b_item, b_event = kind_b(world, 0, "Del-4 B")
    far = world.slot()[0] + timedelta(days=90)  # past the default 60 days ahead
    start, end = EWSDateTime.from_datetime(far), EWSDateTime.from_datetime(far + timedelta(hours=1))
    outlook.change(outlook.by_id(a_item.id), start=start, end=end)
    world.desk.move_event(b_event, far, far + timedelta(hours=1))
    wait_until(lambda: SYNC not in cats(outlook, a_item.id))
    wait_until(lambda: outlook.by_id(b_item.id) is None)
    assert world.desk.event(a_event) is not None and world.desk.event(b_event) is not None


# ------------------------------------------------------------------------------------------- R-DEL-5


def test_r_del_5_deleted_in_salesforce_removes_the_category_of_c_and_d(world: World) -> None:
    outlook = world.outlook(0)
    made = [kind_c(world, "Del-5 C"), kind_d(world, "Del-5 D")[:2]]
    for _, event_id in made:
        world.desk.delete_event(event_id)
    for item, _ in made:
        wait_until(lambda item=item: SYNC not in cats(outlook, item.id))
        assert outlook.by_id(item.id) is not None


# ------------------------------------------------------------------------------------------- R-DEL-8


def test_r_del_8_a_meeting_cancelled_by_its_outside_organizer_deletes_the_event(world: World) -> None:
    _, event_id, uid = kind_d(world, "Del-8 D")
    world.sandbox.exchange.cancel_external_meeting(uid)
    wait_until(lambda: gone(world, event_id))


def test_r_del_8_a_meeting_cancelled_by_the_enrolled_organizer_deletes_the_event(world: World) -> None:
    _, event_id = kind_e(world, "Del-8 E")
    organizer_copy = copy_in(world.outlook(1), "Del-8 E")
    organizer_copy.cancel()
    wait_until(lambda: gone(world, event_id))


# ------------------------------------------------------------------------------------------- R-DEL-9


def test_r_del_9_a_deleted_pair_is_not_recreated_until_the_user_sets_the_category(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    item, event_id = kind_a(world, 0, "Del-9 tombstone")
    world.desk.delete_event(event_id)
    wait_until(lambda: SYNC not in cats(outlook, item.id))
    outlook.change(outlook.by_id(item.id), location="Edited after the delete")
    time.sleep(QUIET_S)
    assert world.desk.events_of(owner, "Del-9 tombstone") == []
    outlook.change(outlook.by_id(item.id), categories=[SYNC])
    wait_until(lambda: world.desk.events_of(owner, "Del-9 tombstone"))


# ------------------------------------------------------------------------------------------ R-DEL-10


def test_r_del_10_a_mass_delete_is_held_with_e_mass_delete_until_confirmed(world: World) -> None:
    owner, _ = world.user(2)
    outlook = world.outlook(2)
    start, _ = world.slot()
    paired = world.desk.query(
        "SELECT Id FROM Event WHERE OwnerId = {} AND Exchange_Item_Id__c != null AND IsChild = false", owner
    )
    count = max(11, len(paired) + 2)  # more than 10 and more than half of the user's pairs
    items = [
        outlook.book(
            f"Mass {n:02d}", start + timedelta(minutes=30 * n), start + timedelta(minutes=30 * n + 20)
        )
        for n in range(count)
    ]
    events = [event_for_item(world, item.id) for item in items]
    wait_until(lambda: all(SYNC in cats(outlook, i.id) for i in items), timeout=30)
    outlook.account.bulk_delete(ids=[(i.id, i.changekey) for i in (outlook.by_id(i.id) for i in items)])

    def open_codes() -> list[str]:
        with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
            return [i["code"] for i in json.loads(answer.read())["issues"]]

    wait_until(lambda: "E-MASS-DELETE" in open_codes(), timeout=20)
    time.sleep(QUIET_S)
    assert all(world.desk.event(e) is not None for e in events), "a held deletion went through"
    world.desk.sobject("Calbridge_Command__e").create({"Command__c": "confirm", "User_Id__c": owner})
    wait_until(lambda: all(gone(world, e) for e in events), timeout=30)
    wait_until(lambda: "E-MASS-DELETE" not in open_codes())


# ------------------------------------------------------------------------------------------ R-DEL-11


def test_r_del_11_an_item_moved_out_of_the_calendar_deletes_the_event(world: World) -> None:
    outlook = world.outlook(0)
    item, event_id = kind_a(world, 0, "Del-11 moved away")
    outlook.by_id(item.id).move(outlook.account.trash)
    wait_until(lambda: gone(world, event_id))


# ----------------------------------------------------------------------------------- R-DEL-6, R-DEL-7


def _restart_with_user_2_off_and_user_1_on_delete_in_exchange(world: World) -> None:
    if world.bridge.config.name == "calbridge-del-6-7.toml":
        return
    off_id, strict_id = world.user(2)[0], world.user(1)[0]
    text = world.bridge.config.read_text()
    text = text.replace(
        f'salesforce_user_id = "{off_id}"', f'salesforce_user_id = "{off_id}"\nenabled = false'
    ).replace(
        f'salesforce_user_id = "{strict_id}"',
        f'salesforce_user_id = "{strict_id}"\ndelete_in_exchange = true',
    )
    config = world.bridge.config.with_name("calbridge-del-6-7.toml")
    config.write_text(text)
    assert world.bridge.stop() == 0, world.bridge.tail()
    world.bridge = BridgeProcess(config).start()


def test_r_del_6_a_user_switched_off_loses_the_category_of_a_and_the_item_of_b(world: World) -> None:
    off_a, _ = kind_a(world, 2, "Del-6 A")
    off_b, _ = kind_b(world, 2, "Del-6 B")
    _restart_with_user_2_off_and_user_1_on_delete_in_exchange(world)
    off = world.outlook(2)
    wait_until(lambda: SYNC not in cats(off, off_a.id), timeout=8)
    wait_until(lambda: off.by_id(off_b.id) is None, timeout=8)


def test_r_del_7_with_delete_in_exchange_an_event_deleted_in_salesforce_deletes_an_outlook_made_item(
    world: World,
) -> None:
    _restart_with_user_2_off_and_user_1_on_delete_in_exchange(world)
    item, event_id = kind_a(world, 1, "Del-7 A")
    world.desk.delete_event(event_id)
    wait_until(lambda: world.outlook(1).by_id(item.id) is None)
