"""Fields, merging and attendees (SPEC §1, §4, §5: R-FLD, R-MERGE, R-ATT) end to end, default policies.

Attendee answers are set the way Exchange stores them on the organizer's copy (each attendee's
ResponseType), which the sandbox keeps as written. Every test runs over EWS and over Graph (R-GRAPH-1); under
Graph an item made from Salesforce lists its invitees in its body instead of inviting them (R-GRAPH-3).
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from exchangelib import Attendee, HTMLBody, Mailbox

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import WaitedTooLong, wait_until

from .conftest import World

QUIET = 2.0
PROVIDERS = ("ews", "graph")
T = TypeVar("T")


def _event_for_item(world: World, item_id: str, fields: str = "Id, Subject") -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        rows = world.desk.query(
            f"SELECT {fields} FROM Event WHERE Exchange_Item_Id__c = {{}}", world.stored_id(item_id)
        )
        return rows[0] if rows else None

    return wait_until(probe)[0]


def _item_for_event(world: World, index: int, event_id: str) -> Any:
    outlook = world.outlook(index)

    def probe() -> Any:
        item_id = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return outlook.by_id(world.ews_id(item_id)) if item_id else None

    return wait_until(probe)[0]


def _shown_as_attendees(world: World, item: Any) -> set[str]:
    """The addresses an item made from Salesforce names as its people: its attendees over EWS; over Graph,
    which cannot add an attendee without mailing them, the addresses listed in its body (R-GRAPH-3)."""
    found = world.outlook(0).by_id(item.id)
    if world.provider == "graph":
        assert not world.outlook(0).attendees(found)
        listing = str(found.body or "").partition("(kept by calbridge; not invited) --")[2]
        return {line.split()[0].lower() for line in listing.splitlines() if "@" in line}
    return set(world.outlook(0).attendees(found))


def _settles(probe: Callable[[], T], expected: T) -> None:
    """Wait until `probe()` equals `expected`; if it never does, fail showing what it was instead."""
    try:
        wait_until(lambda: probe() == expected)
    except WaitedTooLong:
        assert probe() == expected


def _field(world: World, event_id: str, name: str) -> Any:
    return world.desk.query(f"SELECT {name} FROM Event WHERE Id = {{}}", event_id)[0][name]


def _statuses(world: World, event_id: str) -> dict[str, str]:
    rows = world.desk.query(
        "SELECT RelationId, Status FROM EventRelation WHERE EventId = {} AND IsInvitee = true", event_id
    )
    return {row["RelationId"]: row["Status"] for row in rows}


def _issues(world: World, code: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
        body = json.loads(answer.read())
    return [issue for issue in body["issues"] if issue["code"] == code]


def _exchange_fault(world: World, body: dict[str, Any]) -> None:
    """A fault on the sandbox the bridge's provider talks to (the people's Outlook keeps speaking EWS)."""
    admin = world.endpoints["admin"]["graph" if world.provider == "graph" else "exchange"]
    request = urllib.request.Request(
        admin["admin_url"].rstrip("/") + "/faults",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {admin['admin_token']}", "Content-Type": "application/json"},
        method="POST",
    )
    trusted = ssl.create_default_context(cafile=world.endpoints["ca_bundle"])
    with urllib.request.urlopen(request, timeout=5, context=trusted) as answer:
        assert answer.status == 200


# -- R-FLD ----------------------------------------------------------------------------------------------


def test_r_fld_1_every_field_of_an_event_reaches_outlook(world: World) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    event_id = world.desk.create_event(
        owner,
        "Fields: quarterly business review",
        start,
        end,
        Location="Northwind HQ, room 4",
        Description="Agenda:\n1. Numbers\n2. Renewal",
        ShowAs="OutOfOffice",
    )
    item = _item_for_event(world, 0, event_id)
    assert (item.subject, item.start, item.end) == ("Fields: quarterly business review", start, end)
    assert item.location == "Northwind HQ, room 4"
    assert "2. Renewal" in str(item.body) and "1. Numbers" in str(item.body)
    assert item.legacy_free_busy_status == "OOF"
    assert item.sensitivity == "Normal"


def test_r_fld_1_every_field_of_an_item_reaches_salesforce_and_html_becomes_text(world: World) -> None:
    outlook = world.outlook(0)
    start, end = world.slot()
    item = outlook.book(
        "Fields: site visit",
        start,
        end,
        location="Warehouse 7",
        body=HTMLBody("<html><body><p>Bring <b>safety shoes</b></p><p>Gate&nbsp;B</p></body></html>"),
        legacy_free_busy_status="Tentative",
    )
    event = _event_for_item(
        world, item.id, "Id, Subject, StartDateTime, EndDateTime, Location, Description, ShowAs, IsPrivate"
    )
    assert event["Subject"] == "Fields: site visit" and event["Location"] == "Warehouse 7"
    assert event["StartDateTime"].startswith(start.strftime("%Y-%m-%dT%H:%M:%S"))
    assert event["EndDateTime"].startswith(end.strftime("%Y-%m-%dT%H:%M:%S"))
    assert event["ShowAs"] == "Busy"  # Tentative becomes Busy
    assert event["IsPrivate"] is False
    text = event["Description"]
    assert "safety shoes" in text and "Gate" in text and "<" not in text
    outlook.change(outlook.by_id(item.id), legacy_free_busy_status="WorkingElsewhere")
    wait_until(lambda: _field(world, event["Id"], "ShowAs") == "Free")


def test_r_fld_2_an_all_day_item_is_an_all_day_event_on_the_same_dates_and_back(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    day = datetime.now(UTC).date() + timedelta(days=9)
    zone = outlook.account.default_timezone
    first = datetime(day.year, day.month, day.day, tzinfo=zone)
    item = outlook.book("Fields: customer conference", first, first + timedelta(days=2), is_all_day=True)
    event = _event_for_item(world, item.id, "Id, IsAllDayEvent, ActivityDate, DurationInMinutes")
    assert event["IsAllDayEvent"] is True
    assert event["ActivityDate"] == day.isoformat() and event["DurationInMinutes"] == 2 * 1440
    later = day + timedelta(days=20)
    event_id = world.desk.sobject("Event").create(
        {
            "OwnerId": owner,
            "Subject": "Fields: all-day from Salesforce",
            "IsAllDayEvent": True,
            "ActivityDate": later.isoformat(),
            "DurationInMinutes": 1440,
        }
    )["id"]
    made = _item_for_event(world, 0, event_id)
    assert made.is_all_day is True
    # exchangelib gives an all-day item's dates with the last day included.
    assert (_local_date(made.start), _local_date(made.end)) == (later, later)


def _local_date(value: Any) -> date:
    """EWSDate or EWSDateTime at local midnight: its calendar date."""
    return date(value.year, value.month, value.day)


# -- R-MERGE --------------------------------------------------------------------------------------------


def test_r_merge_2_both_sides_changed_the_later_wins_and_one_sided_fields_still_merge(world: World) -> None:
    owner, _ = world.user(1)
    outlook = world.outlook(1)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Merge: renewal", start, end)
    item = _item_for_event(world, 1, event_id)
    assert world.bridge.stop() == 0
    try:
        world.desk.update_event(event_id, Subject="Merge: renewal (Salesforce)", Location="Salesforce room")
        time.sleep(1.1)  # LastModifiedTime is to the second: the Outlook edit is clearly later
        outlook.change(outlook.by_id(item.id), subject="Merge: renewal (Outlook)")
    finally:
        world.bridge = BridgeProcess(world.bridge.config).start()
    wait_until(lambda: _field(world, event_id, "Subject") == "Merge: renewal (Outlook)")
    wait_until(lambda: outlook.by_id(item.id).location == "Salesforce room")
    assert outlook.by_id(item.id).subject == "Merge: renewal (Outlook)"
    assert _field(world, event_id, "Location") == "Salesforce room"


def test_r_merge_5_an_outlook_edit_racing_the_bridges_write_is_not_overwritten(world: World) -> None:
    """Every answer of the bridge's provider is slowed so its write, planned from the old ChangeKey (or
    etag), lands just after the person's own edit: the stale write is refused and re-planned, and both
    edits survive."""
    owner, _ = world.user(2)
    outlook = world.outlook(2)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Race: pricing", start, end)
    item = _item_for_event(world, 2, event_id)
    fresh = outlook.by_id(item.id)
    _exchange_fault(world, {"fault": "latency", "seconds": 0.4})
    try:
        world.desk.update_event(event_id, Location="Race room")
        outlook.change(fresh, subject="Race: pricing (Outlook)")
    finally:
        _exchange_fault(world, {"fault": "clear"})
    wait_until(lambda: _field(world, event_id, "Subject") == "Race: pricing (Outlook)")
    wait_until(lambda: outlook.by_id(item.id).location == "Race room")
    assert outlook.by_id(item.id).subject == "Race: pricing (Outlook)"


# -- R-ATT ----------------------------------------------------------------------------------------------


def test_r_att_5_answers_in_exchange_become_salesforce_statuses(world: World) -> None:
    outlook = world.outlook(0)
    (accepted_id, accepted), (declined_id, declined), (tentative_id, tentative) = world.desk.contacts(3)
    start, end = world.slot()
    item = outlook.book(
        "Answers: steering committee",
        start,
        end,
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=accepted), response_type="Accept"),
            Attendee(mailbox=Mailbox(email_address=declined), response_type="Decline"),
            Attendee(mailbox=Mailbox(email_address=tentative), response_type="Tentative"),
        ],
    )
    event = _event_for_item(world, item.id)
    wanted = {accepted_id: "Accepted", declined_id: "Declined", tentative_id: "New"}
    _settles(lambda: _statuses(world, event["Id"]), wanted)


def test_r_att_6_and_9_an_item_made_from_an_event_lists_every_invitee_unanswered_but_not_the_owner(
    world: World,
) -> None:
    owner, owner_address = world.user(0)
    colleague_id, colleague = world.user(1)
    outlook = world.outlook(0)
    (accepted_id, accepted_email), (declined_id, declined_email) = world.desk.contacts(2)
    lead = world.desk.query("SELECT Id, Email FROM Lead WHERE Email != null LIMIT 1")[0]
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "People: partner summit", start, end)
    for relation_id, status in ((accepted_id, "Accepted"), (declined_id, "Declined")):
        world.desk.sobject("EventRelation").create(
            {"EventId": event_id, "RelationId": relation_id, "IsInvitee": True, "Status": status}
        )
    world.desk.invite(event_id, lead["Id"])
    world.desk.invite(event_id, colleague_id)
    expected = {accepted_email.lower(), declined_email.lower(), lead["Email"].lower(), colleague.lower()}
    item = _item_for_event(world, 0, event_id)
    _settles(lambda: _shown_as_attendees(world, item), expected)
    assert owner_address.lower() not in _shown_as_attendees(world, item)
    if world.provider == "graph":
        return  # no attendees, so no answers to show (R-GRAPH-3)
    found = outlook.by_id(item.id)
    answers = {
        a.response_type for a in [*(found.required_attendees or []), *(found.optional_attendees or [])]
    }
    assert answers == {"Unknown"}


def test_r_att_9_the_events_primary_who_becomes_an_attendee(world: World) -> None:
    owner, _ = world.user(0)
    (who_id, who_email), _ = world.desk.contacts(2)
    event_id = world.desk.create_event(owner, "People: about one contact", *world.slot(), WhoId=who_id)
    item = _item_for_event(world, 0, event_id)
    _settles(lambda: _shown_as_attendees(world, item), {who_email.lower()})


def test_r_att_9_a_who_set_later_on_a_synced_event_becomes_an_attendee(world: World) -> None:
    owner, _ = world.user(0)
    _, (who_id, who_email) = world.desk.contacts(2)
    event_id = world.desk.create_event(owner, "People: contact named later", *world.slot())
    item = _item_for_event(world, 0, event_id)
    world.desk.update_event(event_id, WhoId=who_id)
    _settles(lambda: _shown_as_attendees(world, item), {who_email.lower()})


def test_r_att_8_an_unresolved_address_is_skipped_then_resolved_at_the_next_change(world: World) -> None:
    outlook = world.outlook(0)
    address = "new.buyer@freshprospect.example"
    start, end = world.slot()
    item = outlook.book("Unresolved: first contact", start, end)
    outlook.add_attendee(outlook.by_id(item.id), address)
    event = _event_for_item(world, item.id)
    stored = world.stored_id(item.id)
    wait_until(lambda: any(i["exchange_id"] == stored for i in _issues(world, "I-UNRESOLVED-ATTENDEE")))
    assert world.desk.invitees(event["Id"]) == set()
    contact_id = world.desk.sobject("Contact").create(
        {"FirstName": "New", "LastName": "Buyer", "Email": "New.Buyer@FreshProspect.example"}
    )["id"]
    outlook.change(outlook.by_id(item.id), location="Their office")
    _settles(lambda: world.desk.invitees(event["Id"]), {contact_id})
    _settles(lambda: [i for i in _issues(world, "I-UNRESOLVED-ATTENDEE") if i["exchange_id"] == stored], [])
    # An info entry sets no category (R-CAT-1: `Sync Error` is for E- issues).
    assert "Sync Error" not in (outlook.by_id(item.id).categories or [])


def test_r_att_10_with_shared_activities_contacts_become_the_events_who(world: World) -> None:
    outlook = world.outlook(0)
    (first_id, first), (second_id, second) = world.desk.contacts(2)
    lead = world.desk.query("SELECT Id, Email FROM Lead WHERE Email != null LIMIT 1")[0]
    start, end = world.slot()
    item = outlook.book(
        "Who: contacts and a lead",
        start,
        end,
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=first), response_type="Unknown"),
            Attendee(mailbox=Mailbox(email_address=second), response_type="Unknown"),
            Attendee(mailbox=Mailbox(email_address=lead["Email"]), response_type="Unknown"),
        ],
    )
    event = _event_for_item(world, item.id, "Id, WhoId")
    wait_until(
        lambda: (
            {
                row["RelationId"]
                for row in world.desk.query(
                    "SELECT RelationId FROM EventRelation WHERE EventId = {} AND IsParent = true "
                    "AND IsWhat = false",
                    event["Id"],
                )
            }
            == {first_id, second_id}
        )
    )
    assert _field(world, event["Id"], "WhoId") in {first_id, second_id}
    only_lead = outlook.book(
        "Who: only a lead",
        start,
        end,
        required_attendees=[Attendee(mailbox=Mailbox(email_address=lead["Email"]), response_type="Unknown")],
    )
    assert _event_for_item(world, only_lead.id, "Id, WhoId")["WhoId"] == lead["Id"]


def test_r_att_12_an_item_written_by_the_bridge_sends_no_invitation(world: World) -> None:
    owner, _ = world.user(0)
    colleague_id, _ = world.user(2)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Invitations: none sent", start, end)
    world.desk.invite(event_id, colleague_id)
    _item_for_event(world, 0, event_id)
    world.desk.update_event(event_id, Location="Moved to the big room")
    wait_until(lambda: _item_for_event(world, 0, event_id).location == "Moved to the big room")
    time.sleep(QUIET)
    assert world.outlook(2).find("Invitations: none sent") == []
