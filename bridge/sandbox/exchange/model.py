"""The mailbox data the sandbox keeps: calendar items, attendees, extended properties, folders.

Plain mutable records owned by the store; the XML layer reads and fills them, the store versions them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .recurrence import Recurrence

RESPONSE_TYPES = ("Unknown", "Organizer", "Tentative", "Accept", "Decline", "NoResponseReceived")
ATTENDEE_LISTS = ("RequiredAttendees", "OptionalAttendees", "Resources")


@dataclass
class Attendee:
    email: str
    name: str | None = None
    routing_type: str = "SMTP"
    mailbox_type: str = "Mailbox"
    response_type: str = "Unknown"
    last_response_time: datetime | None = None


@dataclass
class ExtendedProperty:
    """An extended property. ``uri`` keeps the ExtendedFieldURI attributes exactly as the client sent them
    (exchangelib matches them verbatim on the way back); ``key`` is the normalised identity for lookups."""

    uri: dict[str, str]
    values: list[str]
    is_array: bool = False

    @property
    def key(self) -> tuple[tuple[str, str], ...]:
        return property_key(self.uri)


def property_key(uri: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Identity of an extended property: GUIDs compare case-insensitively, tags as numbers."""
    normalised: list[tuple[str, str]] = []
    for name, value in uri.items():
        if name == "PropertyType":
            continue
        if name in ("PropertySetId", "DistinguishedPropertySetId"):
            value = value.lower()
        if name in ("PropertyTag", "PropertyId"):
            value = str(int(value, 0)) if value.lower().startswith("0x") else value
        normalised.append((name, value))
    return tuple(sorted(normalised))


@dataclass
class CalendarItem:
    """A calendar item. Times are aware UTC datetimes; time zones are Windows ids as sent."""

    item_id: str
    change_key: str
    mailbox: str
    folder_id: str
    created: datetime
    last_modified: datetime
    uid: str
    subject: str | None = None
    body: str | None = None
    body_type: str = "Text"
    start: datetime | None = None
    end: datetime | None = None
    start_tz: str | None = None
    end_tz: str | None = None
    is_all_day: bool = False
    location: str | None = None
    free_busy: str = "Busy"
    sensitivity: str = "Normal"
    importance: str = "Normal"
    reminder_is_set: bool = False
    reminder_minutes: int = 15
    is_response_requested: bool = True
    allow_new_time_proposal: bool = True
    categories: list[str] = field(default_factory=list)
    organizer: Attendee | None = None
    attendees: dict[str, list[Attendee]] = field(default_factory=lambda: {k: [] for k in ATTENDEE_LISTS})
    extended: dict[tuple[tuple[str, str], ...], ExtendedProperty] = field(default_factory=dict)
    is_cancelled: bool = False
    meeting_request_was_sent: bool = False
    my_response_type: str = "Organizer"
    sequence: int = 0
    is_read: bool = True
    when: str | None = None
    meeting_workspace_url: str | None = None
    net_show_url: str | None = None
    conference_type: str | None = None
    culture: str | None = None
    reminder_due_by: datetime | None = None
    in_reply_to: str | None = None
    # Series (masters only): the pattern, the exceptions by original start (each the fields that differ
    # from the master, as attribute name -> value) and the original starts of deleted occurrences.
    recurrence: Recurrence | None = None
    exceptions: dict[datetime, dict[str, Any]] = field(default_factory=dict)
    deleted_occurrences: list[datetime] = field(default_factory=list)
    # Set only on the transient views of an occurrence or exception (never stored in a folder).
    master_id: str | None = None
    original_start: datetime | None = None
    is_exception: bool = False

    @property
    def calendar_type(self) -> str:
        if self.master_id is not None:
            return "Exception" if self.is_exception else "Occurrence"
        return "RecurringMaster" if self.recurrence is not None else "Single"

    @property
    def is_meeting(self) -> bool:
        return any(self.attendees[k] for k in ATTENDEE_LISTS) or self.my_response_type != "Organizer"

    def all_attendees(self) -> list[Attendee]:
        return [a for k in ATTENDEE_LISTS for a in self.attendees[k]]


@dataclass
class Folder:
    """A folder with its own change journal (feeds SyncFolderItems)."""

    folder_id: str
    change_key: str
    mailbox: str
    distinguished: str
    display_name: str
    folder_class: str | None
    parent_id: str | None
    items: dict[str, CalendarItem] = field(default_factory=dict)
    # item id -> (sequence when it entered this folder, sequence of its last change here)
    present: dict[str, tuple[int, int]] = field(default_factory=dict)
    # item id -> (sequence when it entered, sequence when it left, change key it left with)
    gone: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    sync_epoch: int = 0
    forgotten: int = 0  # the journal no longer knows deletions up to this sequence (it is bounded)


@dataclass
class Mailbox:
    address: str
    display_name: str
    folders: dict[str, Folder] = field(default_factory=dict)  # by distinguished id
    impersonation: bool = True
    delegate: bool = True

    def folder(self, distinguished: str) -> Folder:
        return self.folders[distinguished]
