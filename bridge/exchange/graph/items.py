"""Graph events <-> the core's `ExchangeItem` (bridge.core.fields), the same item the EWS provider gives.

Reading: `to_exchange_item` turns an event (read with `Prefer: outlook.timezone="UTC"` and text bodies)
into plain values in EWS's vocabulary (showAs `oof` -> "OOF", response `accepted` -> "Accept", ...), so
the runtime cannot tell the providers apart. Timed items give UTC datetimes; all-day items give dates with
an exclusive end, read in the zone the event was made in. Windows zone names are mapped with the CLDR
table exchangelib ships; an unknown name passes through, so the core raises E-TIMEZONE.

Writing: `event_body` turns a command's field values (exchangelib attribute names, as `exchange_fields`
makes them) into a POST or PATCH body. Bad values raise `MappingError` naming the item and the field.

The Salesforce event id is the single-value extended property with the GUID and name the EWS provider
uses (R-PAIR-1): one MAPI named property, so pairs survive a switch of provider.

R-GRAPH-3: Graph mails every attendee of an event it creates or updates. When invitations must not be
sent, the attendees are not written as attendees: they are listed at the end of the body for the user,
and kept in a second extended property (`CalbridgeListedAttendees`) from which the item reads back with
those attendees, so the event's relations follow R-ATT as with EWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP, MS_TIMEZONE_TO_IANA_MAP

from bridge.core.fields import EX_EVENT_ID_FIELD, ExchangeAttendee, ExchangeItem
from bridge.errors import MappingError
from bridge.ports import ITEM_COMMAND_FIELDS

# The EWS provider's property set and name (bridge.exchange.ews.items): fixed forever (R-PAIR-1).
PROPERTY_SET_ID = "9d5e3b1c-6f2a-4c8e-a7d4-2b1f0e9c8a63"
EVENT_ID_PROPERTY = f"String {{{PROPERTY_SET_ID}}} Name SalesforceEventId"
LISTED_PROPERTY = f"String {{{PROPERTY_SET_ID}}} Name CalbridgeListedAttendees"
EXPAND = (
    "singleValueExtendedProperties($filter=id eq '"
    + EVENT_ID_PROPERTY
    + "' or id eq '"
    + LISTED_PROPERTY
    + "')"
)
# What separates the user's text from the attendee list the bridge keeps at the end of a body.
LISTED_MARK = "\n\n-- Attendees (kept by calbridge; not invited) --\n"

SHOW_AS_IN = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "OOF",
    "workingElsewhere": "WorkingElsewhere",
    "unknown": "NoData",
}
SHOW_AS_OUT = {value: key for key, value in SHOW_AS_IN.items()}
RESPONSE_IN = {
    "none": "Unknown",
    "organizer": "Organizer",
    "tentativelyAccepted": "Tentative",
    "accepted": "Accept",
    "declined": "Decline",
    "notResponded": "NoResponseReceived",
}
SENSITIVITIES = {
    "normal": "Normal",
    "personal": "Personal",
    "private": "Private",
    "confidential": "Confidential",
}

ATTENDEE_FIELDS = ("required_attendees", "optional_attendees")

# ------------------------------------------------------------------------------------------- time zones


def iana_zone(windows_id: str | None) -> str | None:
    """The IANA name for a Windows zone name; an unknown one unchanged (the core reports it, E-TIMEZONE)."""
    if not windows_id:
        return None
    if windows_id in ("UTC", "tzone://Microsoft/Utc"):
        return "UTC"
    if windows_id in MS_TIMEZONE_TO_IANA_MAP:
        return str(MS_TIMEZONE_TO_IANA_MAP[windows_id])
    return windows_id


def windows_zone(name: str, *, item: str) -> str:
    """The Windows name Graph takes for an IANA zone."""
    if name == "UTC":
        return "UTC"
    found = IANA_TO_MS_TIMEZONE_MAP.get(name)
    if found is None:
        raise MappingError(f"{item}: time_zone {name!r} is not an IANA time zone Exchange can take")
    return str(found[0] if isinstance(found, tuple) else found)


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# ------------------------------------------------------------------------------------------------- read


def parse_moment(value: Any, *, where: str) -> datetime:
    """A `dateTimeTimeZone` as an aware datetime (Graph gives seven fraction digits, and no offset)."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise MappingError(f"{where} has no start or end")
    text = value["dateTime"].strip().removesuffix("Z")
    head = text.partition(".")[0]
    try:
        moment = datetime.fromisoformat(head)
    except ValueError:
        raise MappingError(f"{where}: {value['dateTime']!r} is not a date and time") from None
    if moment.tzinfo is None:
        zone = _zone(iana_zone(value.get("timeZone") or "UTC")) or UTC
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    head = value.strip().removesuffix("Z").split(".")[0]
    try:
        moment = datetime.fromisoformat(head)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _all_day_date(value: Any, zone_name: str | None, *, where: str) -> date:
    """The calendar date of an all-day bound: Graph shows it at midnight in the zone asked for (UTC) or,
    when it was made elsewhere, at that zone's midnight seen in UTC."""
    moment = parse_moment(value, where=where)
    if moment.time() == time(0):
        return moment.date()
    zone = _zone(iana_zone(zone_name)) or UTC
    return moment.astimezone(zone).date()


def properties(event: Mapping[str, Any]) -> dict[str, str]:
    """The event's expanded single-value extended properties, keyed by id (compared case-insensitively)."""
    found = {}
    for entry in event.get("singleValueExtendedProperties") or ():
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            found[entry["id"].lower()] = str(entry.get("value") or "")
    return found


def _email(recipient: Any) -> str | None:
    address = (recipient or {}).get("emailAddress") if isinstance(recipient, dict) else None
    email = address.get("address") if isinstance(address, dict) else None
    return str(email) if email else None


def listed_attendees(text: str) -> tuple[tuple[ExchangeAttendee, ...], tuple[ExchangeAttendee, ...]]:
    """Required and optional attendees from the `CalbridgeListedAttendees` property (R-GRAPH-3)."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return (), ()
    if not isinstance(data, dict):
        return (), ()
    lists = []
    for key in ("required", "optional"):
        lists.append(tuple(ExchangeAttendee(str(e)) for e in data.get(key) or () if isinstance(e, str) and e))
    return lists[0], lists[1]


def strip_listing(body: str) -> str:
    """The body without the attendee list the bridge appended (R-GRAPH-3)."""
    mark = LISTED_MARK.strip("\n")
    at = body.find(mark)
    return body[:at].rstrip("\r\n ") if at >= 0 else body


def to_exchange_item(event: Mapping[str, Any]) -> ExchangeItem:
    """The plain values of a Graph event read with `EXPAND`, in the EWS provider's vocabulary."""
    item_id = str(event.get("id") or "")
    where = f"Exchange item {item_id}"
    if not item_id:
        raise MappingError("a Graph event without an id")
    zone_name = event.get("originalStartTimeZone") or None
    start: datetime | date
    end: datetime | date
    if event.get("isAllDay"):
        start = _all_day_date(event.get("start"), zone_name, where=where)
        end = _all_day_date(event.get("end"), event.get("originalEndTimeZone") or zone_name, where=where)
    else:
        start = parse_moment(event.get("start"), where=where)
        end = parse_moment(event.get("end"), where=where)
    required: list[ExchangeAttendee] = []
    optional: list[ExchangeAttendee] = []
    for attendee in event.get("attendees") or ():
        email = _email(attendee)
        if not email or attendee.get("type") == "resource":
            continue  # resources are not attendees (R-FLD)
        response = RESPONSE_IN.get(((attendee.get("status") or {}).get("response")) or "none", "Unknown")
        (optional if attendee.get("type") == "optional" else required).append(
            ExchangeAttendee(email, response)
        )
    props = properties(event)
    body = event.get("body") or {}
    content = str(body.get("content") or "") if isinstance(body, dict) else ""
    body_type = "HTML" if isinstance(body, dict) and body.get("contentType") == "html" else "Text"
    listed = props.get(LISTED_PROPERTY.lower())
    if listed is not None and not required and not optional:
        required_listed, optional_listed = listed_attendees(listed)
        required, optional = list(required_listed), list(optional_listed)
    if listed is not None:
        content = strip_listing(content)
    response = RESPONSE_IN.get(((event.get("responseStatus") or {}).get("response")) or "none", "Unknown")
    organizer = _email(event.get("organizer"))
    is_organizer = bool(event.get("isOrganizer", response in ("Organizer", "Unknown")))
    change_key = str(event.get("changeKey") or etag_key(event.get("@odata.etag")) or "")
    location = event.get("location") or {}
    return ExchangeItem(
        item_id=item_id,
        change_key=change_key,
        subject=str(event.get("subject") or ""),
        start=start,
        end=end,
        last_modified_time=parse_instant(event.get("lastModifiedDateTime")) or datetime.now(UTC),
        is_all_day=bool(event.get("isAllDay")),
        body=content,
        body_type=body_type,
        location=str(location.get("displayName") or "") if isinstance(location, dict) else "",
        legacy_free_busy_status=SHOW_AS_IN.get(str(event.get("showAs") or "busy"), "Busy"),
        sensitivity=SENSITIVITIES.get(str(event.get("sensitivity") or "normal"), "Normal"),
        categories=tuple(str(c) for c in event.get("categories") or ()),
        required_attendees=tuple(required),
        optional_attendees=tuple(optional),
        uid=event.get("iCalUId") or None,
        salesforce_event_id=props.get(EVENT_ID_PROPERTY.lower()) or None,
        is_cancelled=bool(event.get("isCancelled")),
        is_meeting=bool(required or optional) or not is_organizer,
        is_recurring=str(event.get("type") or "singleInstance") != "singleInstance",
        my_response_type=response,
        organizer=organizer,
        time_zone=iana_zone(zone_name or "UTC"),
    )


def etag_key(tag: Any) -> str | None:
    """The ChangeKey inside an `@odata.etag` (`W/"<changeKey>"`)."""
    if not isinstance(tag, str):
        return None
    return tag.strip().removeprefix("W/").strip('"') or None


def if_match(change_key: str) -> dict[str, str]:
    return {"If-Match": f'W/"{change_key}"'}


# ------------------------------------------------------------------------------------------------ write


def _utc_value(value: object, *, item: str, name: str) -> dict[str, str]:
    if not isinstance(value, datetime):
        raise MappingError(f"{item}: {name} must be a datetime for a timed item, not {value!r}")
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    moment = aware.astimezone(UTC).replace(microsecond=0, tzinfo=None)
    return {"dateTime": moment.isoformat(), "timeZone": "UTC"}


def _date_value(value: object, zone: str, *, item: str, name: str) -> dict[str, str]:
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        raise MappingError(f"{item}: {name} must be a date for an all-day item, not {value!r}")
    return {"dateTime": f"{value.isoformat()}T00:00:00", "timeZone": zone}


def attendee_list(value: object, *, item: str, name: str) -> list[str]:
    """The addresses of an attendee field (statuses are never written: R-ATT-6)."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise MappingError(f"{item}: {name} must be a list of attendees, not {value!r}")
    found = []
    for entry in value:
        if isinstance(entry, ExchangeAttendee):
            email = entry.email
        elif isinstance(entry, str):
            email = entry
        else:
            raise MappingError(f"{item}: {name} holds {entry!r}, not an attendee")
        if "@" not in email:
            raise MappingError(f"{item}: {name} holds {email!r}, not an email address")
        found.append(email)
    return found


def _text(fields: Mapping[str, object], name: str, *, item: str) -> str | None:
    value = fields[name]
    if value is not None and not isinstance(value, str):
        raise MappingError(f"{item}: {name} must be text, not {value!r}")
    return value


def event_body(fields: Mapping[str, object], *, label: str, all_day: bool | None = None) -> dict[str, Any]:
    """The POST/PATCH body for `fields` (attendees excluded: `attendee_body` decides how they go).

    `all_day` says whether the item is all-day when `fields` does not (an update of start alone). Dates
    for all-day items come with an exclusive end, as the core writes them, and need the mailbox's zone.
    """
    unknown = set(fields) - ITEM_COMMAND_FIELDS
    if unknown:
        raise MappingError(f"{label}: fields the adapter cannot write: {', '.join(sorted(unknown))}")
    body: dict[str, Any] = {}
    if "subject" in fields:
        body["subject"] = _text(fields, "subject", item=label) or ""
    if "body" in fields:
        html = str(fields.get("body_type", "Text")).upper() == "HTML"
        body["body"] = {
            "contentType": "html" if html else "text",
            "content": _text(fields, "body", item=label) or "",
        }
    if "location" in fields:
        body["location"] = {"displayName": _text(fields, "location", item=label) or ""}
    if "legacy_free_busy_status" in fields:
        status = _text(fields, "legacy_free_busy_status", item=label) or "Busy"
        if status not in SHOW_AS_OUT:
            raise MappingError(f"{label}: legacy_free_busy_status {status!r} is not an Exchange status")
        body["showAs"] = SHOW_AS_OUT[status]
    if "sensitivity" in fields:
        sensitivity = (_text(fields, "sensitivity", item=label) or "Normal").lower()
        if sensitivity not in SENSITIVITIES:
            raise MappingError(
                f"{label}: sensitivity {fields['sensitivity']!r} is not an Exchange sensitivity"
            )
        body["sensitivity"] = sensitivity
    is_all_day = fields.get("is_all_day", all_day)
    if "is_all_day" in fields:
        body["isAllDay"] = bool(is_all_day)
    zone_name = fields.get("time_zone")
    for name in ("start", "end"):
        if name not in fields:
            continue
        if is_all_day:
            if not zone_name:
                raise MappingError(
                    f"{label}: an all-day item needs its time_zone (the mailbox's) to place its dates"
                )
            zone = windows_zone(str(zone_name), item=label)
            body[name] = _date_value(fields[name], zone, item=label, name=name)
        else:
            body[name] = _utc_value(fields[name], item=label, name=name)
    timed = "start" in body and "end" in body and not is_all_day
    if timed and body["end"]["dateTime"] < body["start"]["dateTime"]:
        raise MappingError(f"{label}: 'end' must be greater than 'start'")
    if EX_EVENT_ID_FIELD in fields:
        value = fields[EX_EVENT_ID_FIELD]
        # Graph cannot remove a property through an event; an empty value reads back as none.
        body.setdefault("singleValueExtendedProperties", []).append(
            {"id": EVENT_ID_PROPERTY, "value": str(value) if value else ""}
        )
    return body


def attendee_body(
    fields: Mapping[str, object], *, label: str, invite: bool, text: str | None
) -> dict[str, Any]:
    """How the attendee fields are written: as attendees when invitations may go (Graph mails them), else
    listed at the end of the body (`text`, the item's description without an earlier list) and in the
    `CalbridgeListedAttendees` property (R-GRAPH-3). Empty when `fields` names no attendees."""
    if not any(name in fields for name in ATTENDEE_FIELDS):
        return {}
    required = attendee_list(fields.get("required_attendees", ()), item=label, name="required_attendees")
    optional = attendee_list(fields.get("optional_attendees", ()), item=label, name="optional_attendees")
    if invite:
        return {
            "attendees": [
                {"type": kind, "emailAddress": {"address": email}}
                for kind, group in (("required", required), ("optional", optional))
                for email in group
            ]
        }
    listing = json.dumps({"required": required, "optional": optional}) if required or optional else ""
    content = strip_listing(text or "")
    if required or optional:
        lines = [*required, *(f"{email} (optional)" for email in optional)]
        content = content + LISTED_MARK + "\n".join(lines)
    return {
        "body": {"contentType": "text", "content": content},
        "singleValueExtendedProperties": [{"id": LISTED_PROPERTY, "value": listing}],
    }


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


def day_after(value: date) -> date:
    return value + timedelta(days=1)
