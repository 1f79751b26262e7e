"""Mapping between the canonical model and each side's fields (SPEC §1, R-FLD): the adapters' mapping API.

Salesforce fields are the Event REST/CDC field names. Exchange fields are plain values named like
exchangelib's CalendarItem attributes; the Exchange adapter copies them from and to exchangelib objects.

What the adapters call:

- reading: `event_from_salesforce(record, relations)` (an Event record and its `SalesforceRelation` rows)
  and `item_from_exchange(item, policy)` (an `ExchangeItem`) give the canonical `Copy` a `Changed`
  observation carries;
- writing: commands already carry mapped field values (`salesforce_fields`, `exchange_fields`), except
  the `Created` placeholders the runtime fills in;
- the pairing fields of R-PAIR-1 by name: `SF_ITEM_ID_FIELD`, `SF_UID_FIELD` (on the event),
  `EX_EVENT_ID_FIELD` (the item's SalesforceEventId property), and `SF_SYNC_HASH_FIELD`;
- the value tables (`SF_SHOW_AS`, `EX_SHOW_AS_IN`, `SF_STATUS`, `EX_RESPONSE_IN`, ...), Salesforce's limits
  (`SUBJECT_LIMIT`, ..., `fit_salesforce` for W-TRUNCATED) and the time helpers (`parse_datetime`,
  `parse_date`, `format_datetime`, `utc_span`, `duration`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.core.html import html_to_text
from bridge.core.issues import IssueCode
from bridge.core.model import (
    AllDay,
    Attendee,
    Content,
    Copy,
    Policy,
    Relation,
    RelationKind,
    Response,
    ShowAs,
    Side,
    Timed,
    When,
)
from bridge.core.spans import as_utc, duration, format_datetime, parse_date, parse_datetime, utc_span
from bridge.core.versions import VERSION_DIGEST_MARK, salesforce_version, version_stamp
from bridge.core.zones import zone

__all__ = [
    "ATTENDEE_LIMIT",
    "DESCRIPTION_LIMIT",
    "EX_EVENT_ID_FIELD",
    "EX_RESPONSE_IN",
    "EX_RESPONSE_OUT",
    "EX_SHOW_AS",
    "EX_SHOW_AS_IN",
    "LOCATION_LIMIT",
    "MINUTES_PER_DAY",
    "OWNER_FIELD",
    "PRIVATE_SENSITIVITIES",
    "SF_ITEM_ID_FIELD",
    "SF_SHOW_AS",
    "SF_SHOW_AS_IN",
    "SF_STATUS",
    "SF_STATUS_IN",
    "SF_SYNC_HASH_FIELD",
    "SF_UID_FIELD",
    "SUBJECT_LIMIT",
    "VERSION_DIGEST_MARK",
    "ExchangeAttendee",
    "ExchangeItem",
    "SalesforceRelation",
    "duration",
    "event_from_salesforce",
    "exchange_fields",
    "fit_salesforce",
    "format_datetime",
    "item_from_exchange",
    "parse_date",
    "parse_datetime",
    "salesforce_fields",
    "salesforce_version",
    "salesforce_when",
    "utc_span",
    "version_stamp",
]

# The pairing fields of R-PAIR-1, and the event's hash of what the bridge last wrote.
SF_ITEM_ID_FIELD = "Exchange_Item_Id__c"
SF_UID_FIELD = "Exchange_UID__c"
SF_SYNC_HASH_FIELD = "Calbridge_Sync_Hash__c"
EX_EVENT_ID_FIELD = "salesforce_event_id"  # the item's extended property SalesforceEventId
OWNER_FIELD = "OwnerId"  # written only to pass a meeting's event on (R-MULTI-4)

SUBJECT_LIMIT = 255
LOCATION_LIMIT = 255
DESCRIPTION_LIMIT = 32_000
ATTENDEE_LIMIT = 1_000
MINUTES_PER_DAY = 1440

# --------------------------------------------------------------------------------------- value tables

SF_SHOW_AS = {ShowAs.BUSY: "Busy", ShowAs.OUT_OF_OFFICE: "OutOfOffice", ShowAs.FREE: "Free"}
SF_SHOW_AS_IN = {value: show_as for show_as, value in SF_SHOW_AS.items()}
EX_SHOW_AS = {ShowAs.BUSY: "Busy", ShowAs.OUT_OF_OFFICE: "OOF", ShowAs.FREE: "Free"}
# Exchange has six states; Salesforce three (SPEC §1: Tentative and NoData are busy, WorkingElsewhere free).
EX_SHOW_AS_IN = {
    "Busy": ShowAs.BUSY,
    "OOF": ShowAs.OUT_OF_OFFICE,
    "Free": ShowAs.FREE,
    "Tentative": ShowAs.BUSY,
    "NoData": ShowAs.BUSY,
    "WorkingElsewhere": ShowAs.FREE,
}
PRIVATE_SENSITIVITIES = frozenset({"Private", "Confidential"})
SF_STATUS = {Response.ACCEPTED: "Accepted", Response.DECLINED: "Declined", Response.UNDECIDED: "New"}
SF_STATUS_IN = {value: response for response, value in SF_STATUS.items()}
# R-ATT-5: Tentative, NoResponseReceived, Organizer and Unknown are all "undecided" to Salesforce.
EX_RESPONSE_IN = {"Accept": Response.ACCEPTED, "Decline": Response.DECLINED}
EX_RESPONSE_OUT = {Response.ACCEPTED: "Accept", Response.DECLINED: "Decline", Response.UNDECIDED: "Unknown"}


def _attendees(found: Iterable[Attendee]) -> tuple[Attendee, ...]:
    return tuple(sorted(found, key=lambda attendee: attendee.email))


# ------------------------------------------------------------------------------------------ Salesforce


@dataclass(frozen=True, slots=True)
class SalesforceRelation:
    """An EventRelation invitee row, with the email of the User, Contact or Lead it points at."""

    relation_id: str
    kind: RelationKind
    email: str | None
    status: str = "New"
    owned_by_user: bool = False


def salesforce_when(record: Mapping[str, object]) -> When:
    """Start and end of an event, from StartDateTime/EndDateTime or, as change events carry them,
    ActivityDateTime/ActivityDate and DurationInMinutes (R-FLD-3)."""
    minutes = record.get("DurationInMinutes")
    if record.get("IsAllDayEvent"):
        first = parse_date(record.get("ActivityDate")) or parse_date(record.get("StartDateTime"))
        if first is None:
            raise ValueError("all-day event without ActivityDate or StartDateTime")
        if isinstance(minutes, int) and minutes > 0:
            days = max(1, -(-minutes // MINUTES_PER_DAY))
        else:
            last = parse_date(record.get("EndDateTime"))
            days = (last - first).days + 1 if last else 1
        return AllDay(first, first + timedelta(days=days))
    start = parse_datetime(record.get("StartDateTime")) or parse_datetime(record.get("ActivityDateTime"))
    if start is None:
        raise ValueError("timed event without StartDateTime or ActivityDateTime")
    end = parse_datetime(record.get("EndDateTime"))
    if end is None:
        end = start + timedelta(minutes=minutes if isinstance(minutes, int) else 0)
    return Timed(start, end)


def event_from_salesforce(record: Mapping[str, object], relations: Sequence[SalesforceRelation]) -> Copy:
    """The canonical copy of a Salesforce Event and its invitees. The owner is the organizer, not an
    attendee (R-ATT-9); invitees without an email address cannot reach Exchange and are left out."""
    owner = record.get(OWNER_FIELD)
    attendees = _attendees(
        Attendee(
            email=row.email.lower(),
            response=SF_STATUS_IN.get(row.status, Response.UNDECIDED),
            relation=Relation(row.relation_id, row.kind, row.owned_by_user),
        )
        for row in relations
        if row.email and row.relation_id != owner
    )
    content = Content(
        subject=str(record.get("Subject") or ""),
        when=salesforce_when(record),
        description=str(record.get("Description") or ""),
        location=str(record.get("Location") or ""),
        show_as=SF_SHOW_AS_IN.get(str(record.get("ShowAs") or "Busy"), ShowAs.BUSY),
        private=bool(record.get("IsPrivate")),
        attendees=attendees,
    )
    modified = parse_datetime(record.get("LastModifiedDate")) or datetime(1970, 1, 1, tzinfo=UTC)
    who = record.get("WhoId")
    copy = Copy(
        side=Side.SALESFORCE,
        id=str(record["Id"]),
        version="",
        modified=modified,
        content=content,
        paired_id=_text_or_none(record.get(SF_ITEM_ID_FIELD)),
        uid=_text_or_none(record.get(SF_UID_FIELD)),
        owner_id=_text_or_none(owner),
        who_ids=(str(who),) if who else (),
        is_child=bool(record.get("IsChild")),
        is_recurring=bool(record.get("IsRecurrence") or record.get("IsRecurrence2")),
    )
    stamp = record.get("SystemModstamp") or record.get("LastModifiedDate") or ""
    return replace(copy, version=salesforce_version(str(stamp), copy)) if stamp else copy


def salesforce_fields(content: Content, names: Iterable[str]) -> dict[str, object]:
    """Event field values for the canonical fields `names` (attendees are relations, not fields)."""
    values: dict[str, object] = {}
    for name in names:
        if name == "subject":
            values["Subject"] = content.subject
        elif name == "when":
            values.update(_salesforce_when_fields(content.when))
        elif name == "description":
            values["Description"] = content.description
        elif name == "location":
            values["Location"] = content.location
        elif name == "show_as":
            values["ShowAs"] = SF_SHOW_AS[content.show_as]
        elif name == "private":
            values["IsPrivate"] = content.private
    return values


def _salesforce_when_fields(when: When) -> dict[str, object]:
    if isinstance(when, AllDay):
        return {
            "IsAllDayEvent": True,
            "ActivityDate": when.first.isoformat(),
            "DurationInMinutes": MINUTES_PER_DAY * when.days,
        }
    return {
        "IsAllDayEvent": False,
        "StartDateTime": format_datetime(when.start),
        "EndDateTime": format_datetime(when.end),
    }


def fit_salesforce(content: Content) -> tuple[Content, bool]:
    """`content` within Salesforce's limits, and whether anything was cut (W-TRUNCATED)."""
    if (
        len(content.subject) <= SUBJECT_LIMIT
        and len(content.location) <= LOCATION_LIMIT
        and len(content.description) <= DESCRIPTION_LIMIT
        and len(content.attendees) <= ATTENDEE_LIMIT
    ):
        return content, False  # the common case, without building a copy
    fitted = replace(
        content,
        subject=content.subject[:SUBJECT_LIMIT],
        location=content.location[:LOCATION_LIMIT],
        description=content.description[:DESCRIPTION_LIMIT],
        attendees=content.attendees[:ATTENDEE_LIMIT],
    )
    return fitted, fitted != content


def _text_or_none(value: object) -> str | None:
    return str(value) if value else None


# -------------------------------------------------------------------------------------------- Exchange


@dataclass(frozen=True, slots=True)
class ExchangeAttendee:
    email: str
    response_type: str = "Unknown"


@dataclass(frozen=True, slots=True)
class ExchangeItem:
    """The fields of an EWS calendar item the bridge reads, as plain values. `start`/`end` are UTC
    datetimes, or dates for all-day items (exchangelib's form: `end` is the day after the last)."""

    item_id: str
    change_key: str
    subject: str
    start: datetime | date
    end: datetime | date
    last_modified_time: datetime
    is_all_day: bool = False
    body: str = ""
    body_type: str = "Text"
    location: str = ""
    legacy_free_busy_status: str = "Busy"
    sensitivity: str = "Normal"
    categories: tuple[str, ...] = ()
    required_attendees: tuple[ExchangeAttendee, ...] = ()
    optional_attendees: tuple[ExchangeAttendee, ...] = ()
    uid: str | None = None
    salesforce_event_id: str | None = None
    is_cancelled: bool = False
    is_meeting: bool = False
    is_recurring: bool = False
    my_response_type: str | None = None
    organizer: str | None = None
    # IANA name of the item's start zone, as the adapter mapped it from the Windows id; unmappable ids make
    # E-TIMEZONE, so the adapter passes them through as they are.
    time_zone: str | None = None


def _exchange_when(item: ExchangeItem, mailbox_zone: ZoneInfo) -> When:
    if item.is_all_day:
        return AllDay(_local_date(item.start, mailbox_zone), _local_date(item.end, mailbox_zone))
    if not isinstance(item.start, datetime) or not isinstance(item.end, datetime):
        raise ValueError("timed item with date-only start or end")
    return Timed(as_utc(item.start), as_utc(item.end))


def _local_date(value: datetime | date, mailbox_zone: ZoneInfo) -> date:
    if isinstance(value, datetime):
        return as_utc(value).astimezone(mailbox_zone).date()
    return value


def item_from_exchange(item: ExchangeItem, policy: Policy) -> Copy:
    """The canonical copy of an Exchange item. The user's own address is not an attendee (their answer
    is `my_response`); an organizer equal to the user is recorded as None ("organized by the user")."""
    found_zone = zone(policy.mailbox_time_zone)
    # Dates are read in UTC only to give the copy a shape: the problem stops it from syncing (E-TIMEZONE).
    mailbox_zone = found_zone or ZoneInfo("UTC")
    mappable = found_zone is not None and zone(item.time_zone) is not None
    problem = None if mappable else IssueCode.TIMEZONE
    user = policy.user_email.lower()
    attendees = _attendees(
        Attendee(
            email=a.email.lower(),
            response=EX_RESPONSE_IN.get(a.response_type, Response.UNDECIDED),
            optional=optional,
        )
        for optional, group in ((False, item.required_attendees), (True, item.optional_attendees))
        for a in group
        if a.email and a.email.lower() != user
    )
    body = html_to_text(item.body) if item.body_type.upper() == "HTML" else item.body
    organizer = item.organizer.lower() if item.organizer else None
    content = Content(
        subject=item.subject or "",
        when=_exchange_when(item, mailbox_zone),
        description=body.strip(),
        location=item.location or "",
        show_as=EX_SHOW_AS_IN.get(item.legacy_free_busy_status, ShowAs.BUSY),
        private=item.sensitivity in PRIVATE_SENSITIVITIES,
        attendees=attendees,
    )
    return Copy(
        side=Side.EXCHANGE,
        id=item.item_id,
        version=item.change_key,
        modified=as_utc(item.last_modified_time),
        content=content,
        paired_id=item.salesforce_event_id,
        uid=item.uid,
        categories=frozenset(item.categories),
        organizer=None if organizer in (None, user) else organizer,
        my_response=item.my_response_type,
        is_meeting=item.is_meeting,
        is_recurring=item.is_recurring,
        is_cancelled=item.is_cancelled,
        problem=problem,
    )


def exchange_fields(content: Content, names: Iterable[str], policy: Policy) -> dict[str, object]:
    """Item field values for the canonical fields `names`, in exchangelib attribute terms."""
    values: dict[str, object] = {}
    for name in names:
        if name == "subject":
            values["subject"] = content.subject
        elif name == "when":
            values.update(_exchange_when_fields(content.when, policy))
        elif name == "description":
            values["body"] = content.description
            values["body_type"] = "Text"
        elif name == "location":
            values["location"] = content.location
        elif name == "show_as":
            values["legacy_free_busy_status"] = EX_SHOW_AS[content.show_as]
        elif name == "private":
            values["sensitivity"] = "Private" if content.private else "Normal"
        elif name == "attendees":
            for key, optional in (("required_attendees", False), ("optional_attendees", True)):
                values[key] = tuple(
                    ExchangeAttendee(a.email, EX_RESPONSE_OUT[a.response])
                    for a in content.attendees
                    if a.optional is optional
                )
    return values


def _exchange_when_fields(when: When, policy: Policy) -> dict[str, object]:
    if isinstance(when, AllDay):
        if zone(policy.mailbox_time_zone) is None:  # the planner holds such pairs (E-TIMEZONE)
            raise ValueError(f"all-day dates in an unmappable time zone: {policy.mailbox_time_zone!r}")
        return {
            "is_all_day": True,
            "start": when.first,
            "end": when.end,
            "time_zone": policy.mailbox_time_zone,
        }
    return {"is_all_day": False, "start": when.start, "end": when.end}
