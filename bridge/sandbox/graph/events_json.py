"""Calendar items of the shared store as Graph ``event`` JSON, and Graph JSON applied to them.

``render`` answers GET/POST/PATCH, calendarView and delta; ``apply_event`` validates a POST or PATCH body and
writes it onto a draft item. Values map one to one onto the EWS model (showAs <-> FreeBusyStatus, attendee
``type`` <-> Required/Optional/Resources, ``response`` <-> ResponseType), so either protocol reads the other's
writes.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote

from ..exchange.model import ATTENDEE_LISTS, Attendee, CalendarItem, ExtendedProperty
from . import extended
from .errors import GraphError, bad_body, invalid_request
from .ids import IdBook
from .recurrence_json import from_graph, to_graph
from .zones import format_dtz, iso_precise, iso_utc, parse_dtz, windows_zone, zone_info

SHOW_AS = {
    "free": "Free",
    "tentative": "Tentative",
    "busy": "Busy",
    "oof": "OOF",
    "workingElsewhere": "WorkingElsewhere",
    "unknown": "NoData",
}
_SHOW_AS_OUT = {v: k for k, v in SHOW_AS.items()}
SENSITIVITY = {
    "normal": "Normal",
    "personal": "Personal",
    "private": "Private",
    "confidential": "Confidential",
}
IMPORTANCE = {"low": "Low", "normal": "Normal", "high": "High"}
ATTENDEE_TYPE = {"required": "RequiredAttendees", "optional": "OptionalAttendees", "resource": "Resources"}
_TYPE_OUT = {v: k for k, v in ATTENDEE_TYPE.items()}
RESPONSE_OUT = {
    "Unknown": "none",
    "Organizer": "organizer",
    "Tentative": "tentativelyAccepted",
    "Accept": "accepted",
    "Decline": "declined",
    "NoResponseReceived": "notResponded",
}
_RESPONSE_IN = {v: k for k, v in RESPONSE_OUT.items()}
# Properties a client may send but that Graph computes; they are ignored rather than refused.
READ_ONLY = {
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "iCalUId", "uid", "bodyPreview",
    "isOrganizer", "isCancelled", "responseStatus", "organizer", "webLink", "type", "seriesMasterId",
    "originalStartTimeZone",
    "originalEndTimeZone", "hasAttachments", "occurrenceId", "isDraft", "onlineMeeting", "onlineMeetingUrl",
    "@odata.etag", "@odata.type", "@odata.context",
}  # fmt: skip
WRITABLE = {
    "subject", "body", "start", "end", "isAllDay", "location", "locations", "showAs", "sensitivity",
    "importance",
    "categories", "attendees", "isReminderOn", "reminderMinutesBeforeStart", "responseRequested",
    "allowNewTimeProposals", "singleValueExtendedProperties", "transactionId", "hideAttendees",
    "isOnlineMeeting",
    "onlineMeetingProvider", "recurrence",
}  # fmt: skip
_TAG = re.compile(r"<[^>]+>")
_OWA = "https://outlook.office365.com/owa/"
_TYPES = {"Single": "singleInstance", "RecurringMaster": "seriesMaster", "Occurrence": "occurrence",
          "Exception": "exception"}  # fmt: skip


@dataclass(frozen=True)
class View:
    """How one request wants events shown."""

    ids: IdBook
    immutable: bool = False
    timezone: str | None = None
    body_type: str | None = None  # None: HTML, as Outlook stores bodies
    select: frozenset[str] | None = None
    expand: tuple[tuple[tuple[str, str], ...], ...] | None = None  # property keys; () means all
    transaction_id: str | None = None

    @property
    def zone(self) -> tzinfo:
        return zone_info(self.timezone)


def etag(item: CalendarItem) -> str:
    return f'W/"{item.change_key}"'


def html_body(text: str) -> str:
    lines = "<br>\r\n".join(html.escape(line) for line in text.split("\n"))
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\r\n'
        "</head>\r\n"
        f"<body>\r\n<div>{lines}</div>\r\n</body>\r\n</html>\r\n"
    )


def text_body(markup: str) -> str:
    body = re.sub(r"(?is)<head>.*?</head>", "", markup)
    body = re.sub(r"(?i)<br\s*/?>\s*", "\n", body)
    return html.unescape(_TAG.sub("", body)).strip("\r\n")


def _body(item: CalendarItem, wanted: str | None) -> dict[str, str]:
    content = item.body or ""
    stored = "html" if item.body_type.lower() == "html" else "text"
    kind = wanted or "html"
    if kind == stored:
        return {"contentType": kind, "content": content}
    if kind == "html":
        return {"contentType": "html", "content": html_body(content) if content else ""}
    return {"contentType": "text", "content": text_body(content)}


def _email(who: Attendee) -> dict[str, Any]:
    return {"name": who.name or who.email, "address": who.email}


def _attendees(item: CalendarItem) -> list[dict[str, Any]]:
    out = []
    for kind in ATTENDEE_LISTS:
        for who in item.attendees[kind]:
            response = RESPONSE_OUT.get(who.response_type, "none")
            out.append(
                {
                    "type": _TYPE_OUT[kind],
                    "status": {"response": response, "time": iso_utc(who.last_response_time)},
                    "emailAddress": _email(who),
                }
            )
    return out


def render(item: CalendarItem, view: View, user_id: str) -> dict[str, Any]:
    """The event as Graph returns it (``$select`` trims it; ``id`` and ``@odata.etag`` always stay)."""
    text = _body(item, "text")["content"]
    organizer = item.my_response_type == "Organizer"
    location = {"displayName": item.location or "", "locationType": "default", "uniqueIdType": "unknown"}
    if item.location:
        location.update({"uniqueId": item.location, "uniqueIdType": "private"})
    data: dict[str, Any] = {
        "@odata.etag": etag(item),
        "id": view.ids.render(item.item_id, view.immutable),
        "createdDateTime": iso_precise(item.created),
        "lastModifiedDateTime": iso_precise(item.last_modified),
        "changeKey": item.change_key,
        "categories": list(item.categories),
        "transactionId": view.transaction_id,
        "originalStartTimeZone": item.start_tz or "UTC",
        "originalEndTimeZone": item.end_tz or item.start_tz or "UTC",
        "iCalUId": item.uid,
        "uid": item.uid,
        "reminderMinutesBeforeStart": item.reminder_minutes,
        "isReminderOn": item.reminder_is_set,
        "hasAttachments": False,
        "subject": item.subject or "",
        "bodyPreview": text[:255],
        "importance": item.importance.lower(),
        "sensitivity": item.sensitivity.lower(),
        "isAllDay": item.is_all_day,
        "isCancelled": item.is_cancelled,
        "isOrganizer": organizer,
        "responseRequested": item.is_response_requested,
        "seriesMasterId": view.ids.render(item.master_id, view.immutable) if item.master_id else None,
        "showAs": _SHOW_AS_OUT.get(item.free_busy, "unknown"),
        "type": _TYPES.get(item.calendar_type, "singleInstance"),
        "webLink": f"{_OWA}?itemid={quote(item.item_id, safe='')}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": False,
        "onlineMeetingProvider": "unknown",
        "allowNewTimeProposals": item.allow_new_time_proposal,
        "occurrenceId": None,
        "originalStart": iso_utc(item.original_start) if item.original_start else None,
        "isDraft": organizer and bool(item.all_attendees()) and not item.meeting_request_was_sent,
        "hideAttendees": False,
        "responseStatus": {
            "response": RESPONSE_OUT.get(item.my_response_type, "none"),
            "time": "0001-01-01T00:00:00Z",
        },
        "body": _body(item, view.body_type),
        "start": format_dtz(item.start, view.timezone) if item.start else None,
        "end": format_dtz(item.end, view.timezone) if item.end else None,
        "location": location,
        "locations": [{"displayName": item.location, "locationType": "default"}] if item.location else [],
        "recurrence": to_graph(item.recurrence, item.start_tz) if item.recurrence is not None else None,
        "attendees": _attendees(item),
        "organizer": {"emailAddress": _email(item.organizer)} if item.organizer else None,
        "onlineMeeting": None,
    }
    if view.transaction_id is None:
        del data["transactionId"]  # Graph returns it only when the client set one
    if view.select is not None:
        keep = view.select | {"id", "@odata.etag"}
        data = {k: v for k, v in data.items() if k in keep}
    if view.expand is not None:
        props = [p for p in item.extended.values() if not p.is_array]
        if view.expand:
            props = [p for p in props if p.key in view.expand]
        data["singleValueExtendedProperties"] = [
            {"id": extended.graph_id(p), "value": p.values[0] if p.values else ""} for p in props
        ]
    return data


# ---- writing -----------------------------------------------------------------------------------------------


def _enum(value: object, table: dict[str, str], type_name: str) -> str:
    if isinstance(value, str):
        for key, stored in table.items():
            if key.lower() == value.lower():
                return stored
    raise bad_body(
        f"Cannot convert the literal '{value}' to the expected type 'microsoft.graph.{type_name}'."
    )


def _bool(body: dict[str, Any], name: str) -> bool:
    value = body[name]
    if not isinstance(value, bool):
        raise bad_body(f"Cannot convert the literal '{value}' to the expected type 'Edm.Boolean'.")
    return value


def _string(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise bad_body(f"Cannot convert a value of the property '{name}' to the expected type 'Edm.String'.")


def _read_attendees(value: object, previous: CalendarItem) -> dict[str, list[Attendee]]:
    if not isinstance(value, list):
        raise bad_body("The property 'attendees' must be a collection.")
    known = {a.email.lower(): a for a in previous.all_attendees()}
    lists: dict[str, list[Attendee]] = {k: [] for k in ATTENDEE_LISTS}
    for entry in value:
        address = entry.get("emailAddress", {}) if isinstance(entry, dict) else {}
        email = address.get("address") if isinstance(address, dict) else None
        if not isinstance(email, str) or "@" not in email:
            raise invalid_request("Every attendee needs an emailAddress with an address.")
        kind = ATTENDEE_TYPE[
            _enum(entry.get("type", "required"), {k: k for k in ATTENDEE_TYPE}, "attendeeType")
        ]
        before = known.get(email.lower())
        status = entry.get("status") if isinstance(entry.get("status"), dict) else None
        response = before.response_type if before else "Unknown"
        if status and status.get("response") in _RESPONSE_IN:
            response = _RESPONSE_IN[status["response"]]
        lists[kind].append(
            Attendee(
                email=email,
                name=address.get("name") or (before.name if before else None),
                response_type=response,
                last_response_time=before.last_response_time if before else None,
            )
        )
    if sum(len(v) for v in lists.values()) > 500:
        raise invalid_request("An event can have at most 500 attendees.")
    return lists


def _read_properties(item: CalendarItem, value: object) -> None:
    if not isinstance(value, list):
        raise bad_body("The property 'singleValueExtendedProperties' must be a collection.")
    for entry in value:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise bad_body("An extended property needs an 'id' and a 'value'.")
        uri = extended.uri_for(entry["id"])
        prop = ExtendedProperty(uri=uri, values=[str(entry.get("value") or "")])
        item.extended[prop.key] = prop


def _check_times(item: CalendarItem) -> None:
    if item.start is None or item.end is None:
        raise invalid_request("An event needs both a start and an end.")
    if item.end < item.start:
        raise GraphError(
            400, "ErrorCalendarEndDateIsEarlierThanStartDate", "The end date occurs before the start date."
        )
    if item.is_all_day:
        start_local = item.start.astimezone(zone_info(item.start_tz))
        end_local = item.end.astimezone(zone_info(item.end_tz or item.start_tz))
        midnight = start_local.time() == end_local.time() == datetime.min.time()
        if not midnight or item.end - item.start < timedelta(hours=23):
            raise GraphError(
                400,
                "ErrorPropertyValidationFailure",
                "An all-day event must start and end at midnight and last at least one day.",
            )


def apply_event(item: CalendarItem, body: dict[str, Any], creating: bool) -> None:
    """Write a POST or PATCH body onto ``item`` (a draft: raise and the stored item is untouched)."""
    for name in body:
        if name not in WRITABLE and name not in READ_ONLY and not name.startswith("@"):
            raise bad_body(
                f"The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure to only "
                "use property names that are defined by the type or mark the type as open type."
            )
    if "subject" in body:
        item.subject = _string(body["subject"], "subject")
    if "body" in body:
        value = body["body"] or {}
        if not isinstance(value, dict):
            raise bad_body("The property 'body' must be an itemBody.")
        kind = _enum(value.get("contentType", "text"), {"text": "Text", "html": "HTML"}, "bodyType")
        item.body, item.body_type = _string(value.get("content"), "content") or "", kind
    for name in ("start", "end"):
        if name in body:
            moment, zone = parse_dtz(body[name], name)
            setattr(item, name, moment)
            setattr(item, f"{name}_tz", zone)
    if "isAllDay" in body:
        item.is_all_day = _bool(body, "isAllDay")
    if "locations" in body and "location" not in body:
        first = (body["locations"] or [{}])[0] if isinstance(body["locations"], list) else {}
        item.location = (first or {}).get("displayName") or None
    if "location" in body:
        value = body["location"]
        item.location = (value or {}).get("displayName") or None if isinstance(value, dict | None) else None
    if "showAs" in body:
        item.free_busy = _enum(body["showAs"], SHOW_AS, "freeBusyStatus")
    if "sensitivity" in body:
        item.sensitivity = _enum(body["sensitivity"], SENSITIVITY, "sensitivity")
    if "importance" in body:
        item.importance = _enum(body["importance"], IMPORTANCE, "importance")
    if "categories" in body:
        cats = body["categories"] or []
        if not isinstance(cats, list) or not all(isinstance(c, str) for c in cats):
            raise bad_body("The property 'categories' must be a collection of strings.")
        item.categories = list(cats)
    if "isReminderOn" in body:
        item.reminder_is_set = _bool(body, "isReminderOn")
    if "reminderMinutesBeforeStart" in body:
        minutes = body["reminderMinutesBeforeStart"]
        if not isinstance(minutes, int) or isinstance(minutes, bool):
            raise bad_body("Cannot convert the literal to the expected type 'Edm.Int32'.")
        item.reminder_minutes = minutes
    if "responseRequested" in body:
        item.is_response_requested = _bool(body, "responseRequested")
    if "allowNewTimeProposals" in body:
        item.allow_new_time_proposal = _bool(body, "allowNewTimeProposals")
    if "attendees" in body:
        item.attendees = _read_attendees(body["attendees"] or [], item)
    if "singleValueExtendedProperties" in body:
        _read_properties(item, body["singleValueExtendedProperties"])
    if creating and not ("start" in body and "end" in body):
        raise invalid_request("An event needs both a start and an end.")
    if "recurrence" in body:
        _apply_recurrence(item, body["recurrence"], creating)
    _check_times(item)


def _apply_recurrence(item: CalendarItem, value: object, creating: bool) -> None:
    """A series' pattern and range (a POST makes a master; a PATCH of a master changes its pattern). The
    range's ``recurrenceTimeZone`` is the zone the series is expanded in, as the start's zone is in EWS."""
    if item.master_id is not None:
        raise invalid_request(
            "An occurrence or exception has no recurrence of its own; change its series master."
        )
    if value is None:
        if creating or item.recurrence is None:
            return
        raise invalid_request("A series master's recurrence cannot be removed; delete the series instead.")
    rec, zone = from_graph(value)
    item.recurrence = rec
    if zone:
        item.start_tz = item.end_tz = windows_zone(zone)
