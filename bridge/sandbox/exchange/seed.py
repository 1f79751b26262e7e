"""Demo data for the Exchange sandbox: a realistic few calendar items in each mailbox over the next week.

Each of the first eight mailboxes gets a working appointment, an all-day day, a private appointment and one
in category ``Personal``; the first mailbox also organizes a meeting with the second, sent, so the same UID
lands in both calendars. Mailboxes beyond the eighth (load tests seed thousands) get a light seed: one
appointment and one in category ``Personal``. Everything is fictional and carries no Salesforce ids: the
bridge is what links items to events. Load tests may add `items_per_user` plain appointments to every
mailbox (`_bulk_plans`), in the afternoons so they never meet the Salesforce seed's load-test mornings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from . import meetings
from .items_xml import normalise_all_day
from .model import Attendee, CalendarItem, Mailbox
from .server import ExchangeSandbox
from .store import Store, utcnow


@dataclass(frozen=True)
class _Plan:
    subject: str
    day: int  # days after today
    hour: int  # UTC start hour; ignored for all-day items
    minutes: int
    location: str | None = None
    body: str | None = None
    all_day: bool = False
    sensitivity: str = "Normal"
    categories: tuple[str, ...] = ()
    free_busy: str = "Busy"


_PLANS = (
    _Plan("Focus time: quarterly report", 1, 8, 90, body="No meetings, please.", free_busy="Busy"),
    _Plan("Team offsite", 3, 0, 0, location="Harbour View Conference Centre", all_day=True),
    _Plan("Dentist", 2, 15, 60, sensitivity="Private", free_busy="OOF"),
    _Plan("School concert", 4, 17, 90, location="Maple Street School", categories=("Personal",)),
)
_LIGHT_PLANS = (_PLANS[0], _PLANS[3])
FULL_SEEDS = 8  # mailboxes given the whole of _PLANS; the rest get _LIGHT_PLANS
_MEETING = _Plan(
    "Quarterly planning", 1, 13, 60, location="Room Orion", body="Agenda: targets, hiring, roadmap."
)


def _build(store: Store, mailbox: Mailbox, plan: _Plan, today: datetime) -> CalendarItem:
    item = store.new_item(mailbox.folder("calendar"))
    day = today + timedelta(days=plan.day)
    item.subject, item.location, item.body = plan.subject, plan.location, plan.body
    item.sensitivity, item.free_busy, item.categories = (
        plan.sensitivity,
        plan.free_busy,
        list(plan.categories),
    )
    item.start_tz = item.end_tz = "UTC"
    if plan.all_day:
        item.is_all_day = True
        item.start, item.end = day, day + timedelta(days=1)
        normalise_all_day(item)
    else:
        item.start = day + timedelta(hours=plan.hour)
        item.end = item.start + timedelta(minutes=plan.minutes)
    item.organizer = meetings.organizer_for(mailbox)
    item.my_response_type = "Organizer"
    item.reminder_is_set = not plan.all_day
    return item


def _bulk_plans(count: int) -> list[_Plan]:
    """Six 30-minute appointments a day from tomorrow on, 14:00 to 19:00 UTC."""
    return [_Plan(f"Load test item {n + 1}", 1 + n // 6, 14 + n % 6, 30) for n in range(count)]


def _seed(store: Store, addresses: list[str], now: datetime, items_per_user: int = 0) -> dict[str, Any]:
    today = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    boxes = [store.mailbox(a) or store.add_mailbox(a) for a in addresses]
    empty = [not box.folder("calendar").items for box in boxes]
    seeded: dict[str, list[str]] = {}
    bulk = _bulk_plans(items_per_user)
    for position, (mailbox, is_empty) in enumerate(zip(boxes, empty, strict=True)):
        if not is_empty:
            continue  # never add demo data on top of real data (e.g. a reloaded state file)
        plans = (_PLANS if position < FULL_SEEDS else _LIGHT_PLANS) + tuple(bulk)
        for plan in plans:
            store.insert(_build(store, mailbox, plan, today))
        seeded[mailbox.address] = [plan.subject for plan in plans]
    meeting_uid: str | None = None
    if len(boxes) >= 2 and empty[0] and empty[1]:
        organizer, attendee = boxes[0], boxes[1]
        item = _build(store, organizer, _MEETING, today)
        item.attendees["RequiredAttendees"] = [
            Attendee(email=attendee.address, name=attendee.display_name, response_type="NoResponseReceived")
        ]
        item.meeting_request_was_sent = True
        store.insert(item)
        meetings.send_invitations(store, item)
        meeting_uid = item.uid
        for box in (organizer, attendee):
            seeded[box.address].append(_MEETING.subject)
    return {"items": seeded, "meeting_uid": meeting_uid}


def seed_mailboxes(
    sandbox: ExchangeSandbox, addresses: Iterable[str], now: datetime | None = None, items_per_user: int = 0
) -> dict[str, Any]:
    """Put demo items in each of ``addresses`` (added as mailboxes if missing), spread over the week after
    ``now`` (default: the current time), and ``items_per_user`` load-test appointments more in each.
    Mailboxes whose calendar already holds items are left alone, so calling it on a reloaded sandbox adds
    nothing. Safe before or after ``start`` and from any thread.

    Returns ``{"items": {address: [subjects]}, "meeting_uid": uid or None}`` for what was added.
    """
    wanted = list(addresses)
    moment = now or utcnow()
    return sandbox.faults.run_in_loop(lambda: _seed(sandbox.store, wanted, moment, items_per_user))
