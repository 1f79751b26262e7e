"""A Lightning series' invitees on its Outlook copies (R-REC-7 with SPEC §5): on the Outlook series made
for it, and on each single item of a series expanded because Outlook cannot hold its pattern (R-REC-6).
And the other way, an Outlook series' attendee whose address resolved to nobody is tried again at the next
window reconcile (R-ATT-8), as for a single event.

The series' primary Who (a Contact) is an invitee of every row from the start (R-ATT-9); an invitee added
later in Salesforce is added to the Outlook copy (R-ATT-1), and one removed there stays in Outlook
(R-ATT-2). Under Graph an item the bridge makes lists its invitees in its body instead of inviting them
(R-GRAPH-3). Series repeat at 16:00 UTC, the same date in the owner's zone (Europe/Madrid).
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import Attendee, Mailbox
from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from bridge.sandbox.people import Outlook, book_series, wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
QUIET_S = 2.0  # long enough for a wrong write to show, when proving that none comes
WAIT_S = 30
LISTED = "(kept by calbridge; not invited) --"


def _people(world: World, outlook: Outlook, item_id: str) -> set[str] | None:
    """The addresses an item the bridge made names as its people: its attendees over EWS; over Graph,
    which cannot add an attendee without mailing them, the addresses listed in its body (R-GRAPH-3)."""
    found = outlook.by_id(item_id)
    if found is None:
        return None
    if world.provider == "graph":
        assert not outlook.attendees(found)
        listing = str(found.body or "").partition(LISTED)[2]
        return {line.split()[0].lower() for line in listing.splitlines() if "@" in line}
    return outlook.attendees(found)


def _singles(outlook: Outlook, subject: str, count: int) -> dict[datetime, Any]:
    def probe() -> dict[datetime, Any] | None:
        found = {datetime.fromtimestamp(i.start.timestamp(), UTC): i for i in outlook.find(subject)}
        return found if len(found) == count else None

    return wait_until(probe, timeout=WAIT_S)[0]


def test_r_rec_7_a_lightning_rows_invitees_reach_its_expanded_outlook_item(world: World) -> None:
    """R-REC-6 with R-ATT-9/1/2: each item of an expanded series lists its row's invitees."""
    outlook = world.outlook(0)
    (who_id, who_email), (guest_id, guest_email) = world.desk.contacts(2)
    subject = "Invitees: Alder Freight quarter check"
    offsets = (4, 9, 14)
    days = ",".join(str(steps.day(o).day) for o in offsets)
    rule = f"RRULE:FREQ=MONTHLY;BYMONTHDAY={days};COUNT={len(offsets)}"
    rows = steps.book(world, subject, rule, steps.day(offsets[0]), len(offsets), WhoId=who_id)
    items = _singles(outlook, subject, len(rows))
    who = {who_email.lower()}
    for row in rows:  # the primary Who is an invitee of every row, so of every item (R-ATT-9)
        item_id = items[steps.start_of(row)].id
        wait_until(lambda i=item_id: _people(world, outlook, i) == who or None, timeout=WAIT_S)

    # An invitee added to one row reaches its item only (R-ATT-1); removed again, it stays (R-ATT-2).
    middle = rows[1]
    world.desk.invite(middle["Id"], guest_id)
    both = {who_email.lower(), guest_email.lower()}
    target = items[steps.start_of(middle)].id
    wait_until(lambda: _people(world, outlook, target) == both or None, timeout=WAIT_S)
    world.desk.uninvite(middle["Id"], guest_id)
    time.sleep(QUIET_S)
    assert _people(world, outlook, target) == both
    others = [_people(world, outlook, items[steps.start_of(r)].id) for r in (rows[0], rows[2])]
    assert others == [{who_email.lower()}, {who_email.lower()}]


def test_r_rec_7_a_lightning_series_invitees_reach_the_outlook_series_attendees(world: World) -> None:
    """R-REC-1/7 with R-ATT-9/1: the Outlook series made for a Lightning series lists its invitees."""
    outlook = world.outlook(0)
    _, (who_id, who_email), (guest_id, guest_email) = world.desk.contacts(3)
    subject = "Invitees: Birch Logistics weekly"
    first = steps.day(20)
    day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[first.weekday()]
    rows = steps.book(
        world, subject, f"RRULE:FREQ=WEEKLY;BYDAY={day};INTERVAL=1;COUNT=3", first, 3, WhoId=who_id
    )

    def master() -> Any:
        found = [i for i in outlook.find(subject) if i.type == "RecurringMaster"]
        return found[0] if found else None

    made, _ = wait_until(master, timeout=WAIT_S)
    wait_until(lambda: _people(world, outlook, made.id) == {who_email.lower()} or None, timeout=WAIT_S)

    # Salesforce puts a series' invitee on each of its rows: the Outlook series gains the attendee.
    for row in rows:
        world.desk.invite(row["Id"], guest_id)
    both = {who_email.lower(), guest_email.lower()}
    wait_until(lambda: _people(world, outlook, made.id) == both or None, timeout=WAIT_S)
    time.sleep(QUIET_S)
    assert [i.type for i in outlook.find(subject)] == ["RecurringMaster"]


def test_r_att_8_an_outlook_series_attendee_unknown_to_salesforce_is_tried_again_at_the_next_reconcile(
    world: World,
) -> None:
    """R-REC-7 with R-ATT-8: the address resolves to nobody when the series syncs; once a Contact has it,
    a window reconcile (here `calbridge sync-now`, R-TIME-5) makes it an invitee of every row, though the
    series' attendees did not change."""
    _, address = world.user(0)
    outlook = world.outlook(0)
    subject = "Unresolved: Elm Street pilot calls"
    guest = "pilot.lead@elmstreet-prospect.example"
    start = steps.day(22)
    local = start.astimezone(ZoneInfo("Europe/Madrid"))
    weekly = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[local.isoweekday()], first_day_of_week=1),
        boundary=NumberedPattern(start=local.date(), number=3),
    )
    master = book_series(outlook, subject, start, start + timedelta(minutes=30), weekly, "Europe/Madrid")
    outlook.change(
        outlook.by_id(master.id),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=guest), response_type="Unknown")],
    )
    rows, _ = wait_until(lambda: (r := steps.rows(world, subject)) and len(r) == 3 and r, timeout=WAIT_S)
    wait_until(lambda: "Salesforce" in (outlook.by_id(master.id).categories or []) or None, timeout=WAIT_S)
    time.sleep(QUIET_S)  # the attendee's change has been planned: nobody to invite yet
    assert [world.desk.invitees(r["Id"]) for r in rows] == [set(), set(), set()]

    contact = world.desk.sobject("Contact").create(
        {"FirstName": "Pilot", "LastName": "Lead", "Email": "Pilot.Lead@ElmStreet-Prospect.example"}
    )["id"]
    asked = subprocess.run(
        [sys.executable, "-m", "bridge", "sync-now", "--config", str(world.bridge.config), address],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert asked.returncode == 0, asked.stderr
    wait_until(
        lambda: all(world.desk.invitees(r["Id"]) == {contact} for r in steps.rows(world, subject)) or None,
        timeout=WAIT_S,
    )
