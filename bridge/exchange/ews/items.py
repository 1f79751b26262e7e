"""Calendar items between exchangelib's objects and the core's `ExchangeItem` (bridge.core.fields).

Reading: `to_exchange_item` turns a CalendarItem (read with `READ_FIELDS` only) into plain values: UTC
datetimes for timed items; for all-day items dates with an exclusive end (exchangelib gives the last day).
Time zones: Exchange names them by Windows id; the core knows IANA names only. They are mapped with the CLDR
table exchangelib ships; an id the table does not know is passed through as it is, so the core raises
E-TIMEZONE for that item instead of the adapter guessing.

Writing: `apply_fields` sets a command's field values (exchangelib attribute names, as `exchange_fields`
makes them) on a CalendarItem and says which attributes to save. Bad values raise `MappingError` naming the
item and the field.

The Salesforce event id lives in a named extended property of our own property set (R-PAIR-1), registered
once with exchangelib as the attribute `salesforce_event_id`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfoNotFoundError

from exchangelib import CalendarItem, EWSDate, EWSDateTime, EWSTimeZone, ExtendedProperty
from exchangelib.items.calendar_item import CalendarItem as _CalendarItem
from exchangelib.properties import Attendee, Mailbox
from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP

from bridge.core.fields import EX_EVENT_ID_FIELD, ExchangeAttendee, ExchangeItem
from bridge.errors import MappingError
from bridge.ports import ITEM_COMMAND_FIELDS

# Our own property set: the GUID is fixed forever, or pairs already stored in items are lost (R-PAIR-1).
PROPERTY_SET_ID = "9d5e3b1c-6f2a-4c8e-a7d4-2b1f0e9c8a63"
PROPERTY_NAME = "SalesforceEventId"


class SalesforceEventId(ExtendedProperty):  # type: ignore[misc]
    """The named property `SalesforceEventId` (a string) in calbridge's property set."""

    property_set_id = PROPERTY_SET_ID
    property_name = PROPERTY_NAME
    property_type = "String"


def register_properties() -> None:
    """Register `salesforce_event_id` on CalendarItem once per process (exchangelib's registry is global)."""
    if EX_EVENT_ID_FIELD not in {f.name for f in _CalendarItem.FIELDS}:
        CalendarItem.register(EX_EVENT_ID_FIELD, SalesforceEventId)


register_properties()

# What the core reads of an item (ExchangeItem), and nothing more: GetItem asks for exactly these.
READ_FIELDS = (
    "subject",
    "start",
    "end",
    "last_modified_time",
    "is_all_day",
    "body",
    "location",
    "legacy_free_busy_status",
    "sensitivity",
    "categories",
    "required_attendees",
    "optional_attendees",
    "uid",
    EX_EVENT_ID_FIELD,
    "is_cancelled",
    "is_meeting",
    "is_recurring",
    "type",  # IsRecurring is false on the organizer's own master (reference/recurrence.md §3)
    "my_response_type",
    "organizer",
    "_start_timezone",
    "_end_timezone",
)

_IN_SERIES = ("RecurringMaster", "Occurrence", "Exception")

_TEXT_FIELDS = ("subject", "location", "legacy_free_busy_status", "sensitivity")

# ------------------------------------------------------------------------------------------- time zones


def iana_zone(windows_id: str | None) -> str | None:
    """The IANA name for a Windows zone id; an unknown id unchanged (the core reports it, E-TIMEZONE)."""
    if not windows_id:
        return None
    if windows_id == "UTC":
        return "UTC"
    return str(MS_TIMEZONE_TO_IANA_MAP.get(windows_id, windows_id))


def ews_zone(name: str, *, item: str) -> EWSTimeZone:
    """exchangelib's zone for an IANA name (exchangelib sends the Windows id it maps to)."""
    try:
        return EWSTimeZone(name)
    except (ZoneInfoNotFoundError, ValueError, KeyError) as exc:
        raise MappingError(f"{item}: time_zone {name!r} is not an IANA time zone Exchange can take") from exc


# ------------------------------------------------------------------------------------------------- read


def _utc(value: datetime) -> datetime:
    return datetime.fromtimestamp(value.timestamp(), UTC)


def _plain_date(value: date) -> date:
    return date(value.year, value.month, value.day)


def _attendees(found: Iterable[Attendee] | None) -> tuple[ExchangeAttendee, ...]:
    return tuple(
        ExchangeAttendee(a.mailbox.email_address, a.response_type or "Unknown")
        for a in found or ()
        if a.mailbox is not None and a.mailbox.email_address
    )


def to_exchange_item(item: CalendarItem, start_zone_id: str | None = None) -> ExchangeItem:
    """The plain values of a CalendarItem read with READ_FIELDS. `start_zone_id` is the StartTimeZone id
    as Exchange sent it (exchangelib drops ids its table does not know; the caller keeps them)."""
    where = f"Exchange item {item.id}"
    if item.start is None or item.end is None:
        raise MappingError(f"{where} has no start or end")
    if item.is_all_day:
        if not isinstance(item.start, date) or not isinstance(item.end, date):
            raise MappingError(f"{where} is all-day without dates")
        first = item.start.date() if isinstance(item.start, datetime) else _plain_date(item.start)
        last = item.end.date() if isinstance(item.end, datetime) else _plain_date(item.end)
        start: datetime | date = first
        end: datetime | date = last + timedelta(days=1)  # exchangelib gives the last day; ours is exclusive
    else:
        if not isinstance(item.start, datetime) or not isinstance(item.end, datetime):
            raise MappingError(f"{where} is timed with date-only start or end")
        start, end = _utc(item.start), _utc(item.end)
    zone_id = start_zone_id
    if zone_id is None and item._start_timezone is not None:
        zone_id = item._start_timezone.ms_id
    body = item.body or ""
    return ExchangeItem(
        item_id=item.id,
        change_key=item.changekey,
        subject=item.subject or "",
        start=start,
        end=end,
        last_modified_time=_utc(item.last_modified_time) if item.last_modified_time else datetime.now(UTC),
        is_all_day=bool(item.is_all_day),
        body=str(body),
        body_type="HTML" if type(body).__name__ == "HTMLBody" else "Text",
        location=item.location or "",
        legacy_free_busy_status=item.legacy_free_busy_status or "Busy",
        sensitivity=item.sensitivity or "Normal",
        categories=tuple(item.categories or ()),
        required_attendees=_attendees(item.required_attendees),
        optional_attendees=_attendees(item.optional_attendees),
        uid=item.uid,
        salesforce_event_id=getattr(item, EX_EVENT_ID_FIELD, None) or None,
        is_cancelled=bool(item.is_cancelled),
        is_meeting=bool(item.is_meeting),
        is_recurring=bool(item.is_recurring) or getattr(item, "type", None) in _IN_SERIES,
        my_response_type=item.my_response_type,
        organizer=item.organizer.email_address if item.organizer is not None else None,
        time_zone=iana_zone(zone_id),
    )


# ------------------------------------------------------------------------------------------------ write


def _datetime(value: object, *, item: str, name: str) -> EWSDateTime:
    if not isinstance(value, datetime):
        raise MappingError(f"{item}: {name} must be a datetime for a timed item, not {value!r}")
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return EWSDateTime.from_datetime(aware.astimezone(UTC).replace(microsecond=0))


def _date(value: object, *, item: str, name: str) -> EWSDate:
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        raise MappingError(f"{item}: {name} must be a date for an all-day item, not {value!r}")
    return EWSDate(value.year, value.month, value.day)


def _attendee_list(value: object, *, item: str, name: str) -> list[Attendee]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise MappingError(f"{item}: {name} must be a list of attendees, not {value!r}")
    found = []
    for entry in value:
        if isinstance(entry, ExchangeAttendee):
            email, response = entry.email, entry.response_type
        elif isinstance(entry, str):
            email, response = entry, "Unknown"
        else:
            raise MappingError(f"{item}: {name} holds {entry!r}, not an attendee")
        if "@" not in email:
            raise MappingError(f"{item}: {name} holds {email!r}, not an email address")
        if response not in Attendee.RESPONSE_TYPES:
            raise MappingError(f"{item}: {name} gives {email} the response {response!r}")
        found.append(Attendee(mailbox=Mailbox(email_address=email), response_type=response))
    return found


def apply_fields(
    item: CalendarItem, fields: Mapping[str, object], *, label: str, all_day: bool | None = None
) -> list[str]:
    """Set `fields` on `item`; returns the exchangelib attribute names to save.

    `all_day` says whether the item is all-day when `fields` does not (an update of start alone). Dates
    for all-day items come with an exclusive end, as the core writes them.
    """
    unknown = set(fields) - ITEM_COMMAND_FIELDS
    if unknown:
        raise MappingError(f"{label}: fields the adapter cannot write: {', '.join(sorted(unknown))}")
    names: list[str] = []
    for name in _TEXT_FIELDS:
        if name in fields:
            value = fields[name]
            if value is not None and not isinstance(value, str):
                raise MappingError(f"{label}: {name} must be text, not {value!r}")
            setattr(item, name, value)
            names.append(name)
    if "body" in fields:
        from exchangelib import HTMLBody
        from exchangelib.properties import Body

        body = fields["body"]
        if body is not None and not isinstance(body, str):
            raise MappingError(f"{label}: body must be text, not {body!r}")
        html = str(fields.get("body_type", "Text")).upper() == "HTML"
        item.body = (HTMLBody if html else Body)(body or "")
        names.append("body")
    is_all_day = fields.get("is_all_day", all_day)
    if "is_all_day" in fields:
        item.is_all_day = bool(is_all_day)
        names.append("is_all_day")
    zone_name = fields.get("time_zone")
    zone = ews_zone(str(zone_name), item=label) if zone_name else None
    for name in ("start", "end"):
        if name not in fields:
            continue
        if is_all_day:
            day = _date(fields[name], item=label, name=name)
            # exchangelib adds the day back when it sends an all-day end.
            setattr(item, name, day - timedelta(days=1) if name == "end" else day)
        else:
            setattr(item, name, _datetime(fields[name], item=label, name=name))
        names.append(name)
    if zone is not None:
        item._start_timezone = item._end_timezone = zone
        names += ["_start_timezone", "_end_timezone"]
    elif is_all_day and ("start" in fields or "end" in fields):
        raise MappingError(f"{label}: an all-day item needs its time_zone (the mailbox's) to place its dates")
    for name in ("required_attendees", "optional_attendees"):
        if name in fields:
            setattr(item, name, _attendee_list(fields[name], item=label, name=name) or None)
            names.append(name)
    if EX_EVENT_ID_FIELD in fields:
        value = fields[EX_EVENT_ID_FIELD]
        setattr(item, EX_EVENT_ID_FIELD, str(value) if value else None)
        names.append(EX_EVENT_ID_FIELD)
    return names


def merged_categories(current: Iterable[str], add: Iterable[str], remove: Iterable[str]) -> list[str]:
    """R-CAT-1: the named categories added or removed (case-insensitively, as Outlook compares them), every
    other category of the user kept in its order."""
    removing = {name.lower() for name in remove}
    kept = [name for name in current if name.lower() not in removing]
    present = {name.lower() for name in kept}
    for name in add:
        if name.lower() not in present:
            kept.append(name)
            present.add(name.lower())
    return kept
