"""Meetings organized outside the sandbox: an external organizer's request arriving, changing, or cancelled.

Real Exchange files such a request as a tentative copy in each recipient's calendar, as it does for internal
meetings; here a test or demo plays the outside organizer through these functions. A recurring request
(``recurrence``) is filed as a recurring master, as an internal organizer's series reaches its attendees
(`series.settle` places it on its first occurrence); updated with a new pattern or time, its exceptions go
as they do for any master. The Graph sandbox serves the same store, so it shows the meeting too.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from . import series
from .items_xml import normalise_all_day
from .meetings import cancel_copies, find_by_uid
from .model import Attendee
from .recurrence import Recurrence
from .store import Store


def deliver_external_meeting(
    store: Store,
    recipients: Iterable[str],
    organizer: str,
    subject: str,
    start: datetime,
    end: datetime,
    uid: str | None = None,
    body: str | None = None,
    location: str | None = None,
    is_all_day: bool = False,
    time_zone: str = "UTC",
    recurrence: Recurrence | None = None,
) -> str:
    """Deliver (or, for a known ``uid``, update) the request in every recipient that is a sandbox mailbox.

    Returns the meeting's UID. Times must be aware; recipients outside the sandbox only appear as attendees.
    With ``recurrence`` (its ``start_date`` the first occurrence's date in ``time_zone``) the request is a
    recurring meeting: each copy is a recurring master.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be timezone-aware")
    start, end = _plain_utc(start), _plain_utc(end)
    uid = uid or uuid.uuid4().hex.upper()
    addresses = list(recipients)
    for address in addresses:
        mailbox = store.mailbox(address)
        if mailbox is None:
            continue
        existing = find_by_uid(store, mailbox, uid)
        before = copy.deepcopy(existing) if existing is not None else None
        item = existing or store.new_item(mailbox.folder("calendar"), uid=uid)
        item.subject, item.body, item.location = subject, body, location
        item.start, item.end, item.is_all_day = start, end, is_all_day
        item.start_tz = item.end_tz = time_zone
        item.organizer = Attendee(email=organizer, response_type="Organizer")
        item.attendees["RequiredAttendees"] = [Attendee(email=a, response_type="Unknown") for a in addresses]
        item.is_cancelled = False
        item.recurrence = copy.deepcopy(recurrence)
        normalise_all_day(item)
        series.settle(item, before)
        if existing is None:
            item.my_response_type = "NoResponseReceived"
            item.free_busy = "Tentative"
            store.insert(item)
        else:
            item.sequence += 1
            store.touch(item)
    return uid


def _plain_utc(value: datetime) -> datetime:
    """A plain UTC datetime, whatever datetime subclass (e.g. a client library's) the caller passed."""
    return datetime.fromtimestamp(value.timestamp(), UTC).replace(microsecond=0)


def cancel_external_meeting(store: Store, uid: str) -> int:
    """The outside organizer cancels: every sandbox copy is marked cancelled. Returns how many."""
    return cancel_copies(store, store.mailboxes.values(), uid)
