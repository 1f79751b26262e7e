"""CalendarItem <-> XML: reading item elements from requests, writing items in the shape a request asked for.

Readers are keyed by element local name so CreateItem, SetItemField and AppendToItemField share them. Elements
and FieldURIs the sandbox does not model are ignored, as the bridge's client sends many it never reads back.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from . import series
from .model import ATTENDEE_LISTS, RESPONSE_TYPES, Attendee, CalendarItem, ExtendedProperty, property_key
from .recurrence import read_recurrence
from .timezones import snap_all_day
from .wire import Element, EWSError, attrs, fmt_bool, fmt_time, parse_bool, parse_time, sub, t

T_PREFIX = "{http://schemas.microsoft.com/exchange/services/2006/types}"


def local(elem: Element) -> str:
    tag = elem.tag
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


# ---- reading -----------------------------------------------------------------------------------------------


def read_mailbox(elem: Element | None) -> Attendee | None:
    if elem is None:
        return None
    email = (elem.findtext(t("EmailAddress")) or "").strip()
    if not email:
        return None
    return Attendee(
        email=email,
        name=elem.findtext(t("Name")),
        routing_type=elem.findtext(t("RoutingType")) or "SMTP",
        mailbox_type=elem.findtext(t("MailboxType")) or "Mailbox",
    )


def read_attendees(elem: Element) -> list[Attendee]:
    out: list[Attendee] = []
    for att in elem.findall(t("Attendee")):
        who = read_mailbox(att.find(t("Mailbox")))
        if who is None:
            continue
        response = att.findtext(t("ResponseType")) or "Unknown"
        who.response_type = response if response in RESPONSE_TYPES else "Unknown"
        out.append(who)
    return out


def read_extended(elem: Element) -> ExtendedProperty:
    uri_elem = elem.find(t("ExtendedFieldURI"))
    if uri_elem is None:
        raise EWSError("ErrorSchemaValidation", "ExtendedProperty without ExtendedFieldURI.")
    uri = attrs(uri_elem)
    values_elem = elem.find(t("Values"))
    if values_elem is not None:
        return ExtendedProperty(uri, [v.text or "" for v in values_elem.findall(t("Value"))], is_array=True)
    return ExtendedProperty(uri, [elem.findtext(t("Value")) or ""])


def _set_text(attr: str) -> Callable[[CalendarItem, Element], None]:
    def setter(item: CalendarItem, elem: Element) -> None:
        setattr(item, attr, elem.text or "")

    return setter


def _set_bool(attr: str) -> Callable[[CalendarItem, Element], None]:
    def setter(item: CalendarItem, elem: Element) -> None:
        setattr(item, attr, parse_bool(elem.text))

    return setter


def _set_time(attr: str) -> Callable[[CalendarItem, Element], None]:
    def setter(item: CalendarItem, elem: Element) -> None:
        setattr(item, attr, parse_time(elem.text))

    return setter


def _set_tz(attr: str) -> Callable[[CalendarItem, Element], None]:
    def setter(item: CalendarItem, elem: Element) -> None:
        setattr(item, attr, elem.get("Id") or "UTC")

    return setter


def _set_subject(item: CalendarItem, elem: Element) -> None:
    """Exchange keeps at most 255 characters of a subject (docs/sandbox-series.md: truncate or refuse)."""
    text = elem.text or ""
    if len(text) > SUBJECT_LIMIT:
        if TEXT_LIMITS.subject == "refuse":
            raise EWSError(
                "ErrorPropertyValidationFailure", f"The Subject is longer than {SUBJECT_LIMIT} characters."
            )
        text = text[: SUBJECT_LIMIT - 3] + "..."
    item.subject = text


def _set_recurrence(item: CalendarItem, elem: Element) -> None:
    if item.master_id is not None:
        raise EWSError("ErrorInvalidPropertySet", "The recurrence of an occurrence cannot be set.")
    item.recurrence = read_recurrence(elem)


def _set_optional_text(attr: str) -> Callable[[CalendarItem, Element], None]:
    def setter(item: CalendarItem, elem: Element) -> None:
        setattr(item, attr, elem.text or None)

    return setter


def _set_body(item: CalendarItem, elem: Element) -> None:
    item.body = elem.text or ""
    item.body_type = "HTML" if (elem.get("BodyType") or "Text").upper() == "HTML" else "Text"


def _set_categories(item: CalendarItem, elem: Element) -> None:
    item.categories = [s.text or "" for s in elem.findall(t("String"))]


def _set_reminder_minutes(item: CalendarItem, elem: Element) -> None:
    try:
        item.reminder_minutes = int((elem.text or "0").strip())
    except ValueError:
        raise EWSError(
            "ErrorInvalidValueForProperty", "ReminderMinutesBeforeStart is not a number."
        ) from None


def _set_attendees(kind: str) -> Callable[[CalendarItem, Element], None]:
    def setter(item: CalendarItem, elem: Element) -> None:
        item.attendees[kind] = read_attendees(elem)

    return setter


def _set_extended(item: CalendarItem, elem: Element) -> None:
    prop = read_extended(elem)
    item.extended[prop.key] = prop


def _set_uid(item: CalendarItem, elem: Element) -> None:
    if item.master_id is not None:
        return  # an occurrence keeps its series' UID (exchangelib sends it back unchanged on an exception)
    if elem.text:
        item.uid = elem.text.strip()


def _set_choice(attr: str, choices: tuple[str, ...]) -> Callable[[CalendarItem, Element], None]:
    def setter(item: CalendarItem, elem: Element) -> None:
        value = (elem.text or "").strip()
        if value not in choices:
            raise EWSError("ErrorInvalidValueForProperty", f"'{value}' is not a valid {local(elem)}.")
        setattr(item, attr, value)

    return setter


SUBJECT_LIMIT = 255


@dataclass
class TextLimits:
    """``subject``: "truncate" (Exchange keeps 252 characters and "...", the default) or "refuse"."""

    subject: str = "truncate"


TEXT_LIMITS = TextLimits()

SETTERS: dict[str, Callable[[CalendarItem, Element], None]] = {
    "Subject": _set_subject,
    "Recurrence": _set_recurrence,
    "When": _set_optional_text("when"),
    "MeetingWorkspaceUrl": _set_optional_text("meeting_workspace_url"),
    "NetShowUrl": _set_optional_text("net_show_url"),
    "ConferenceType": _set_optional_text("conference_type"),
    "InReplyTo": _set_optional_text("in_reply_to"),
    "Culture": _set_optional_text("culture"),
    "ReminderDueBy": _set_time("reminder_due_by"),
    "Body": _set_body,
    "Categories": _set_categories,
    "Importance": _set_choice("importance", ("Low", "Normal", "High")),
    "Sensitivity": _set_choice("sensitivity", ("Normal", "Personal", "Private", "Confidential")),
    "ReminderIsSet": _set_bool("reminder_is_set"),
    "ReminderMinutesBeforeStart": _set_reminder_minutes,
    "ExtendedProperty": _set_extended,
    "UID": _set_uid,
    "Start": _set_time("start"),
    "End": _set_time("end"),
    "IsAllDayEvent": _set_bool("is_all_day"),
    "LegacyFreeBusyStatus": _set_choice(
        "free_busy", ("Free", "Tentative", "Busy", "OOF", "NoData", "WorkingElsewhere")
    ),
    "Location": _set_text("location"),
    "IsResponseRequested": _set_bool("is_response_requested"),
    "AllowNewTimeProposal": _set_bool("allow_new_time_proposal"),
    "RequiredAttendees": _set_attendees("RequiredAttendees"),
    "OptionalAttendees": _set_attendees("OptionalAttendees"),
    "Resources": _set_attendees("Resources"),
    "StartTimeZone": _set_tz("start_tz"),
    "EndTimeZone": _set_tz("end_tz"),
    "IsRead": _set_bool("is_read"),
}

# FieldURI -> what DeleteItemField resets. FieldURIs not listed are accepted and change nothing.
CLEARERS: dict[str, Callable[[CalendarItem], None]] = {
    "item:Subject": lambda i: setattr(i, "subject", None),
    "item:Body": lambda i: setattr(i, "body", None),
    "item:Categories": lambda i: setattr(i, "categories", []),
    "calendar:Location": lambda i: setattr(i, "location", None),
    "calendar:RequiredAttendees": lambda i: i.attendees.__setitem__("RequiredAttendees", []),
    "calendar:OptionalAttendees": lambda i: i.attendees.__setitem__("OptionalAttendees", []),
    "calendar:Resources": lambda i: i.attendees.__setitem__("Resources", []),
    "item:ReminderIsSet": lambda i: setattr(i, "reminder_is_set", False),
    "item:ReminderDueBy": lambda i: setattr(i, "reminder_due_by", None),
    "item:InReplyTo": lambda i: setattr(i, "in_reply_to", None),
    "calendar:When": lambda i: setattr(i, "when", None),
    "calendar:MeetingWorkspaceUrl": lambda i: setattr(i, "meeting_workspace_url", None),
    "calendar:NetShowUrl": lambda i: setattr(i, "net_show_url", None),
    "calendar:Recurrence": lambda i: setattr(i, "recurrence", None),
}


def apply_item_element(item: CalendarItem, item_elem: Element) -> None:
    """Apply every known child of a ``t:CalendarItem`` to ``item``; unknown children are ignored."""
    for child in item_elem:
        setter = SETTERS.get(local(child))
        if setter is not None:
            setter(item, child)


def append_item_element(item: CalendarItem, item_elem: Element) -> None:
    """AppendToItemField: attendee lists and categories grow, Body gets text appended."""
    for child in item_elem:
        name = local(child)
        if name in ATTENDEE_LISTS:
            known = {a.email.lower() for a in item.attendees[name]}
            item.attendees[name].extend(a for a in read_attendees(child) if a.email.lower() not in known)
        elif name == "Categories":
            item.categories.extend(s.text or "" for s in child.findall(t("String")))
        elif name == "Body":
            item.body = (item.body or "") + (child.text or "")
        else:
            raise EWSError("ErrorInvalidPropertyAppend", f"The property {name} cannot be appended to.")


def normalise_all_day(item: CalendarItem) -> None:
    """Exchange snaps all-day items to local midnight in their time zones."""
    if item.is_all_day and item.start and item.end:
        item.start, item.end = snap_all_day(item.start, item.end, item.start_tz, item.end_tz)


# ---- writing -----------------------------------------------------------------------------------------------


@dataclass
class Shape:
    """What the client asked to see: field URIs, extended property URIs (as sent), the body type.

    ``text_limit``: FindItem answers with at most this many characters of each text value (Exchange: 255);
    GetItem and SyncFolderItems return them whole.
    """

    all_fields: bool = False
    field_uris: set[str] = field(default_factory=set)
    extended: list[dict[str, str]] = field(default_factory=list)
    body_type: str = "Best"
    text_limit: int | None = None

    def wants(self, uri: str) -> bool:
        return self.all_fields or uri in self.field_uris

    def clip(self, text: str) -> str:
        return text if self.text_limit is None else text[: self.text_limit]


def read_shape(shape_elem: Element | None) -> Shape:
    if shape_elem is None:
        return Shape()
    base = shape_elem.findtext(t("BaseShape")) or "IdOnly"
    shape = Shape(all_fields=base in ("Default", "AllProperties"))
    shape.body_type = shape_elem.findtext(t("BodyType")) or "Best"
    props = shape_elem.find(t("AdditionalProperties"))
    if props is not None:
        for child in props:
            name = local(child)
            if name == "FieldURI":
                shape.field_uris.add(child.get("FieldURI") or "")
            elif name == "ExtendedFieldURI":
                shape.extended.append(attrs(child))
    return shape


def write_mailbox(parent: Element, who: Attendee, tag: str = "Mailbox") -> None:
    box = sub(parent, t(tag))
    if who.name:
        sub(box, t("Name"), who.name)
    sub(box, t("EmailAddress"), who.email)
    sub(box, t("RoutingType"), who.routing_type)
    sub(box, t("MailboxType"), who.mailbox_type)


def _body_as(item: CalendarItem, wanted: str) -> tuple[str, str]:
    body = item.body or ""
    if wanted == "Text" and item.body_type == "HTML":
        return "Text", html.unescape(re.sub(r"<[^>]+>", "", body))
    if wanted == "HTML" and item.body_type == "Text":
        return "HTML", f"<html><body>{html.escape(body)}</body></html>"
    return item.body_type, body


def write_item(parent: Element, item: CalendarItem, shape: Shape, parent_folder_ck: str) -> Element:
    """Append ``t:CalendarItem`` with the item id and the fields ``shape`` asks for, in schema order."""
    out = sub(parent, t("CalendarItem"))
    sub(out, t("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
    w = shape.wants
    if w("item:ParentFolderId"):
        sub(out, t("ParentFolderId"), Id=item.folder_id, ChangeKey=parent_folder_ck)
    if w("item:ItemClass"):
        sub(out, t("ItemClass"), "IPM.Appointment")
    if w("item:Subject") and item.subject is not None:
        sub(out, t("Subject"), shape.clip(item.subject))
    if w("item:Sensitivity"):
        sub(out, t("Sensitivity"), item.sensitivity)
    if w("item:Body") and item.body is not None:
        body_type, text = _body_as(item, shape.body_type)
        sub(out, t("Body"), shape.clip(text), BodyType=body_type)
    if w("item:Categories") and item.categories:
        cats = sub(out, t("Categories"))
        for name in item.categories:
            sub(cats, t("String"), name)
    if w("item:Importance"):
        sub(out, t("Importance"), item.importance)
    if w("item:InReplyTo") and item.in_reply_to is not None:
        sub(out, t("InReplyTo"), shape.clip(item.in_reply_to))
    if w("item:DateTimeCreated"):
        sub(out, t("DateTimeCreated"), fmt_time(item.created))
    if w("item:ReminderDueBy") and item.reminder_due_by is not None:
        sub(out, t("ReminderDueBy"), fmt_time(item.reminder_due_by))
    if w("item:ReminderIsSet"):
        sub(out, t("ReminderIsSet"), fmt_bool(item.reminder_is_set))
    if w("item:ReminderMinutesBeforeStart"):
        sub(out, t("ReminderMinutesBeforeStart"), str(item.reminder_minutes))
    for uri in shape.extended:
        prop = item.extended.get(property_key(uri))
        if prop is not None:
            ext = sub(out, t("ExtendedProperty"))
            sub(ext, t("ExtendedFieldURI"), **uri)  # echoed exactly as the request spelled it
            if prop.is_array:
                values = sub(ext, t("Values"))
                for value in prop.values:
                    sub(values, t("Value"), shape.clip(value))
            else:
                sub(ext, t("Value"), shape.clip(prop.values[0] if prop.values else ""))
    if w("item:Culture") and item.culture is not None:
        sub(out, t("Culture"), item.culture)
    if w("item:LastModifiedTime"):
        sub(out, t("LastModifiedTime"), fmt_time(item.last_modified))
    if w("item:TextBody") and item.body is not None:
        sub(out, t("TextBody"), shape.clip(_body_as(item, "Text")[1]), BodyType="Text")
    _write_calendar_fields(out, item, shape)
    return out


def _write_calendar_fields(out: Element, item: CalendarItem, shape: Shape) -> None:
    w = shape.wants
    if w("calendar:UID"):
        sub(out, t("UID"), item.uid)
    if w("calendar:RecurrenceId") and item.original_start is not None:
        sub(out, t("RecurrenceId"), fmt_time(item.original_start))
    if w("calendar:Start") and item.start:
        sub(out, t("Start"), fmt_time(item.start))
    if w("calendar:End") and item.end:
        sub(out, t("End"), fmt_time(item.end))
    if w("calendar:OriginalStart") and item.original_start is not None:
        sub(out, t("OriginalStart"), fmt_time(item.original_start))
    if w("calendar:IsAllDayEvent"):
        sub(out, t("IsAllDayEvent"), fmt_bool(item.is_all_day))
    if w("calendar:LegacyFreeBusyStatus"):
        sub(out, t("LegacyFreeBusyStatus"), item.free_busy)
    if w("calendar:Location") and item.location is not None:
        sub(out, t("Location"), shape.clip(item.location))
    if w("calendar:When") and item.when is not None:
        sub(out, t("When"), shape.clip(item.when))
    if w("calendar:IsMeeting"):
        sub(out, t("IsMeeting"), fmt_bool(item.is_meeting))
    if w("calendar:IsCancelled"):
        sub(out, t("IsCancelled"), fmt_bool(item.is_cancelled))
    if w("calendar:IsRecurring"):
        sub(out, t("IsRecurring"), fmt_bool(series.is_recurring(item)))
    if w("calendar:MeetingRequestWasSent"):
        sub(out, t("MeetingRequestWasSent"), fmt_bool(item.meeting_request_was_sent))
    if w("calendar:IsResponseRequested"):
        sub(out, t("IsResponseRequested"), fmt_bool(item.is_response_requested))
    if w("calendar:CalendarItemType"):
        sub(out, t("CalendarItemType"), item.calendar_type)
    if w("calendar:MyResponseType"):
        sub(out, t("MyResponseType"), item.my_response_type)
    if w("calendar:Organizer") and item.organizer is not None:
        write_mailbox(sub(out, t("Organizer")), item.organizer)
    for kind in ATTENDEE_LISTS:
        if w(f"calendar:{kind}") and item.attendees[kind]:
            group = sub(out, t(kind))
            for who in item.attendees[kind]:
                att = sub(group, t("Attendee"))
                write_mailbox(att, who)
                sub(att, t("ResponseType"), who.response_type)
                if who.last_response_time is not None:
                    sub(att, t("LastResponseTime"), fmt_time(who.last_response_time))
    if w("calendar:AppointmentSequenceNumber"):
        sub(out, t("AppointmentSequenceNumber"), str(item.sequence))
    series.write_series_fields(out, item, w)
    if w("calendar:StartTimeZone") and item.start_tz:
        sub(out, t("StartTimeZone"), Id=item.start_tz)
    if w("calendar:EndTimeZone") and item.end_tz:
        sub(out, t("EndTimeZone"), Id=item.end_tz)
    if w("calendar:ConferenceType") and item.conference_type is not None:
        sub(out, t("ConferenceType"), item.conference_type)
    if w("calendar:AllowNewTimeProposal"):
        sub(out, t("AllowNewTimeProposal"), fmt_bool(item.allow_new_time_proposal))
    if w("calendar:MeetingWorkspaceUrl") and item.meeting_workspace_url is not None:
        sub(out, t("MeetingWorkspaceUrl"), item.meeting_workspace_url)
    if w("calendar:NetShowUrl") and item.net_show_url is not None:
        sub(out, t("NetShowUrl"), item.net_show_url)
