"""An Outlook series' attendee whose address resolves to no User, Contact or Lead (R-ATT-8 with R-REC-7): the
series syncs without them, and an info entry I-UNRESOLVED-ATTENDEE names the address, as for a single event
(no `Sync Error` category). Once a Contact has the address, the next change of the series makes it an
invitee of every row and the entry closes.

The series repeats weekly at 16:00 UTC, in the owner's zone (Europe/Madrid).
"""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib import Attendee, Mailbox
from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from bridge.sandbox.people import book_series, wait_until

from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
CODE = "I-UNRESOLVED-ATTENDEE"
ZONE = "Europe/Madrid"
WAIT_S = 30


def _rows(world: World, subject: str) -> list[dict[str, Any]]:
    return world.desk.query(
        "SELECT Id FROM Event WHERE Subject = {} AND GroupEventType != '3' ORDER BY StartDateTime", subject
    )


def _entries(world: World, master_id: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
        body = json.loads(answer.read())
    stored = world.stored_id(master_id)  # Graph's immutable id under provider graph
    return [i for i in body["issues"] if i["code"] == CODE and i["exchange_id"] == stored]


def test_r_att_8_an_outlook_series_attendee_unknown_to_salesforce_is_listed_in_an_info_entry(
    world: World,
) -> None:
    outlook = world.outlook(0)
    subject = "Unresolved entry: Rowan Quay pilot calls"
    guest = "pilot.owner@rowanquay-prospect.example"
    start = datetime.now(UTC).replace(hour=16, minute=0, second=0, microsecond=0) + timedelta(days=23)
    local = start.astimezone(ZoneInfo(ZONE))
    weekly = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[local.isoweekday()], first_day_of_week=1),
        boundary=NumberedPattern(start=local.date(), number=3),
    )
    master = book_series(outlook, subject, start, start + timedelta(minutes=30), weekly, ZONE)
    outlook.change(
        outlook.by_id(master.id),
        required_attendees=[Attendee(mailbox=Mailbox(email_address=guest), response_type="Unknown")],
    )
    wait_until(lambda: len(_rows(world, subject)) == 3 or None, timeout=WAIT_S)
    entries, _ = wait_until(lambda: _entries(world, master.id), timeout=WAIT_S)
    assert len(entries) == 1 and guest in entries[0]["message"]
    assert "Sync Error" not in (outlook.by_id(master.id).categories or [])  # an info entry (R-CAT-1)

    contact = world.desk.sobject("Contact").create(
        {"FirstName": "Pilot", "LastName": "Owner", "Email": guest}
    )["id"]
    outlook.change(outlook.by_id(master.id), location="Rowan Quay office")  # the series' next change
    wait_until(
        lambda: all(world.desk.invitees(r["Id"]) == {contact} for r in _rows(world, subject)) or None,
        timeout=WAIT_S,
    )
    wait_until(lambda: _entries(world, master.id) == [] or None, timeout=WAIT_S)
