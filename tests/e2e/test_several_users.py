"""Several enrolled users on one meeting (R-MULTI-1..3): invitations sent between sandbox mailboxes make one
Salesforce event, owned by the organizer, with the enrolled attendees as User invitees; an attendee's answer
changes only their own status. Over EWS and Graph (R-GRAPH-1).

A single meeting an outside organizer sends to two enrolled people who both accept before the bridge sees
either answer (it is stopped meanwhile) is one event too, owned by one of them, the other an invitee: the
bridge claims the meeting's UID for one recipient's pass at a time (`bridge.runtime.meeting_claims`); the
second waits for the first's event to be stored, then joins it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from exchangelib import Attendee, CalendarItem, Mailbox

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import Outlook, wait_until

from . import series_steps as steps
from .conftest import World
from .helpers import sync_now

QUIET_S = 2.0
WAIT_S = 30
PROVIDERS = ("ews", "graph")


def send_meeting(world: World, organizer: int, attendees: list[str], subject: str) -> Any:
    outlook = world.outlook(organizer)
    start, end = world.slot()
    item = CalendarItem(
        folder=outlook.account.calendar,
        subject=subject,
        start=start,
        end=end,
        location="Board room",
        required_attendees=[
            Attendee(mailbox=Mailbox(email_address=a), response_type="Unknown") for a in attendees
        ],
    )
    item.save(send_meeting_invitations="SendToAllAndSaveCopy")
    return item


def copy_in(outlook: Outlook, subject: str) -> Any:
    return wait_until(lambda: next(iter(outlook.find(subject)), None))[0]


def events_titled(world: World, subject: str) -> list[dict[str, Any]]:
    return world.desk.query(
        "SELECT Id, OwnerId, Location, Exchange_UID__c FROM Event WHERE Subject = {} AND IsChild = false",
        subject,
    )


def statuses(world: World, event_id: str) -> dict[str, str]:
    rows = world.desk.query(
        "SELECT RelationId, Status FROM EventRelation WHERE EventId = {} AND IsInvitee = true", event_id
    )
    return {row["RelationId"]: row["Status"] for row in rows}


def test_r_multi_1_a_meeting_of_three_enrolled_users_is_one_event_owned_by_the_organizer(
    world: World,
) -> None:
    organizer, _ = world.user(0)
    (second, second_mail), (third, third_mail) = world.user(1), world.user(2)
    subject = "Quarterly plan (three enrolled)"
    sent = send_meeting(world, 0, [second_mail, third_mail], subject)
    for index in (1, 2):
        copy_in(world.outlook(index), subject).accept()
    found, _ = wait_until(lambda: (rows := events_titled(world, subject)) and rows)
    event = found[0]
    assert event["OwnerId"] == organizer
    wait_until(lambda: {second, third} <= set(statuses(world, event["Id"])))
    time.sleep(QUIET_S)  # the attendees' copies had their chance to make events of their own
    assert len(events_titled(world, subject)) == 1
    assert event["Exchange_UID__c"] == world.outlook(0).by_id(sent.id).uid


def test_r_multi_2_an_event_with_enrolled_invitees_is_created_only_in_the_owners_mailbox(
    world: World,
) -> None:
    owner, _ = world.user(0)
    invitee, _ = world.user(1)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Made in Salesforce for two", start, end)
    world.desk.invite(event_id, invitee)
    wait_until(lambda: world.outlook(0).find("Made in Salesforce for two"))
    time.sleep(QUIET_S)
    assert world.outlook(1).find("Made in Salesforce for two") == []  # invitations = none: no copy there
    assert invitee in world.desk.invitees(event_id)


def test_r_multi_3_an_attendees_answer_changes_only_their_status(world: World) -> None:
    organizer, _ = world.user(0)
    (second, second_mail), (third, third_mail) = world.user(1), world.user(2)
    subject = "Answers only (three enrolled)"
    send_meeting(world, 0, [second_mail, third_mail], subject)
    copy_in(world.outlook(2), subject).accept()
    found, _ = wait_until(lambda: events_titled(world, subject))
    event = found[0]
    wait_until(lambda: statuses(world, event["Id"]).get(third) == "Accepted")
    mine = world.outlook(2)
    mine.change(copy_in(mine, subject), location="My desk")  # an attendee's own edit stays theirs
    declined = copy_in(world.outlook(1), subject)
    declined.decline()
    wait_until(lambda: statuses(world, event["Id"]).get(second) == "Declined")
    assert statuses(world, event["Id"]).get(third) == "Accepted"
    again = events_titled(world, subject)
    assert len(again) == 1 and again[0]["OwnerId"] == organizer and again[0]["Location"] == "Board room"


@pytest.mark.timeout(300)  # a restart and two sync-now runs, besides the module's sandbox
def test_r_multi_1_two_recipients_accepting_at_once_get_one_event(world: World) -> None:
    subject = "At once: Partner call with Oak Yard"
    start, end = world.slot()
    assert world.bridge.stop() == 0, world.bridge.tail()
    try:
        addresses = [world.user(1)[1], world.user(2)[1]]
        world.sandbox.exchange.deliver_external_meeting(addresses, steps.OUTSIDE, subject, start, end)
        for index in (1, 2):
            found, _ = wait_until(lambda i=index: world.outlook(i).find(subject), timeout=WAIT_S)
            found[0].accept()
    finally:
        world.bridge = BridgeProcess(world.bridge.config, env=world.bridge.env).start()

    def events() -> list[dict[str, object]]:
        return world.desk.query(
            "SELECT Id, OwnerId FROM Event WHERE Subject = {} AND IsChild = false", subject
        )

    wait_until(events, timeout=WAIT_S)
    for index in (1, 2):
        sync_now(world, world.user(index)[1])
    found = events()
    assert len(found) == 1, f"{len(found)} events for one meeting"
    (owner,) = {str(e["OwnerId"]) for e in found}
    (other,) = {world.user(1)[0], world.user(2)[0]} - {owner}
    assert other in world.desk.invitees(str(found[0]["Id"]))
