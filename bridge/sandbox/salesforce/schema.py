"""The sandbox org's sObject definitions: standard objects as Salesforce describes them, plus whatever the
shipped metadata package (salesforce_metadata/) adds, so the org always has the fields our package ships.

Field types are Salesforce describe types ('id', 'reference', 'string', 'textarea', 'boolean', 'datetime',
'date', 'int', 'double', 'picklist', 'email', 'phone', 'combobox', 'junctionidlist'). The REST layer
validates against these, describe returns them, and the change-event schemas are generated from them in
declaration order.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.etree import ElementTree

METADATA_NS = "{http://soap.sforce.com/2006/04/metadata}"
DEFAULT_METADATA_DIR = Path(__file__).resolve().parents[3] / "salesforce_metadata"


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    length: int | None = None
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    custom: bool = False
    picklist_values: tuple[str, ...] = ()
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    default: object = None
    # Salesforce leaves some fields out of change events (IsDeleted, SystemModstamp, derived fields).
    in_change_events: bool = True


@dataclass(frozen=True)
class SObjectDef:
    name: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    custom: bool = False
    platform_event: bool = False
    # Change Data Capture on: a PlatformEventChannelMember in the package, or always for Event/EventRelation.
    change_events: bool = False
    queryable: bool = True
    field_index: dict[str, FieldDef] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.field_index.update({f.name.lower(): f for f in self.fields})

    def field(self, name: str) -> FieldDef | None:
        return self.field_index.get(name.lower())

    def with_fields(self, extra: Iterable[FieldDef]) -> SObjectDef:
        known = {f.name.lower() for f in self.fields}
        added = tuple(f for f in extra if f.name.lower() not in known)
        return replace(self, fields=self.fields + added, field_index={})


def _f(name: str, type_: str, **kw: object) -> FieldDef:
    return FieldDef(name, type_, **kw)  # type: ignore[arg-type]


def _ro(name: str, type_: str, **kw: object) -> FieldDef:
    return FieldDef(name, type_, createable=False, updateable=False, **kw)  # type: ignore[arg-type]


_AUDIT = (
    _ro("CreatedDate", "datetime", nillable=False),
    _ro("CreatedById", "reference", reference_to=("User",), relationship_name="CreatedBy", nillable=False),
    _ro("LastModifiedDate", "datetime", nillable=False),
    _ro(
        "LastModifiedById",
        "reference",
        reference_to=("User",),
        relationship_name="LastModifiedBy",
        nillable=False,
    ),
    _ro("SystemModstamp", "datetime", nillable=False, in_change_events=False),
    _ro("IsDeleted", "boolean", nillable=False, default=False, in_change_events=False),
)

_ID = _ro("Id", "id", nillable=False)
_OWNER = _f("OwnerId", "reference", reference_to=("User",), relationship_name="Owner", nillable=False)

USER = SObjectDef(
    "User",
    "005",
    (
        _ID,
        _f("Username", "string", length=80, nillable=False),
        _f("Email", "email", length=128, nillable=False),
        _f("FirstName", "string", length=40),
        _f("LastName", "string", length=80, nillable=False),
        _ro("Name", "string", length=121),
        _f("Alias", "string", length=8),
        _f("IsActive", "boolean", nillable=False, default=True),
        _f("TimeZoneSidKey", "picklist", length=40, nillable=False, default="America/Los_Angeles"),
        *_AUDIT,
    ),
)

CONTACT = SObjectDef(
    "Contact",
    "003",
    (
        _ID,
        _f("FirstName", "string", length=40),
        _f("LastName", "string", length=80, nillable=False),
        _ro("Name", "string", length=121),
        _f("Email", "email", length=80),
        _f("Phone", "phone", length=40),
        _f("AccountId", "reference", reference_to=("Account",), relationship_name="Account"),
        _OWNER,
        *_AUDIT,
    ),
)

LEAD = SObjectDef(
    "Lead",
    "00Q",
    (
        _ID,
        _f("FirstName", "string", length=40),
        _f("LastName", "string", length=80, nillable=False),
        _ro("Name", "string", length=121),
        _f("Email", "email", length=80),
        _f("Company", "string", length=255, nillable=False),
        _f(
            "Status",
            "picklist",
            length=40,
            nillable=False,
            default="Open - Not Contacted",
            picklist_values=(
                "Open - Not Contacted",
                "Working - Contacted",
                "Closed - Converted",
                "Closed - Not Converted",
            ),
        ),
        _ro("IsConverted", "boolean", nillable=False, default=False),
        _OWNER,
        *_AUDIT,
    ),
)

ACCOUNT = SObjectDef(
    "Account",
    "001",
    (_ID, _f("Name", "string", length=255, nillable=False), _OWNER, *_AUDIT),
)

# Body fields in the order of Salesforce's published EventChangeEvent examples, then the fields that change
# events never carry (StartDateTime/EndDateTime are derived; IsDeleted/SystemModstamp are system).
EVENT = SObjectDef(
    "Event",
    "00U",
    (
        _ID,
        _f("WhoId", "reference", reference_to=("Contact", "Lead"), relationship_name="Who"),
        _f("WhatId", "reference", reference_to=("Account", "Opportunity", "Case"), relationship_name="What"),
        _f("Subject", "combobox", length=255),
        _f("Location", "string", length=255),
        _f("IsAllDayEvent", "boolean", nillable=False, default=False),
        _f("ActivityDateTime", "datetime"),
        _f("ActivityDate", "date"),
        _f("DurationInMinutes", "int"),
        _f("Description", "textarea", length=32000),
        _ro("AccountId", "reference", reference_to=("Account",), relationship_name="Account"),
        _OWNER,
        _f("Type", "picklist", length=40, picklist_values=("Call", "Email", "Meeting", "Other")),
        _f("IsPrivate", "boolean", nillable=False, default=False),
        _f("ShowAs", "picklist", length=40, default="Busy", picklist_values=("Busy", "OutOfOffice", "Free")),
        _ro("IsChild", "boolean", nillable=False, default=False),
        _ro("IsGroupEvent", "boolean", nillable=False, default=False),
        _ro("GroupEventType", "picklist", length=40, picklist_values=("0", "1", "2", "3")),
        _ro("CreatedDate", "datetime", nillable=False),
        _ro(
            "CreatedById", "reference", reference_to=("User",), relationship_name="CreatedBy", nillable=False
        ),
        _ro("LastModifiedDate", "datetime", nillable=False),
        _ro(
            "LastModifiedById",
            "reference",
            reference_to=("User",),
            relationship_name="LastModifiedBy",
            nillable=False,
        ),
        _ro("RecurrenceActivityId", "reference", reference_to=("Event",)),
        _f("IsRecurrence", "boolean", nillable=False, default=False, updateable=False),
        _f("RecurrenceStartDateTime", "datetime"),
        _f("RecurrenceEndDateOnly", "date"),
        _f("RecurrenceTimeZoneSidKey", "picklist", length=40),
        _f(
            "RecurrenceType",
            "picklist",
            length=40,
            picklist_values=(
                "RecursDaily",
                "RecursEveryWeekday",
                "RecursMonthly",
                "RecursMonthlyNth",
                "RecursWeekly",
                "RecursYearly",
                "RecursYearlyNth",
            ),
        ),
        _f("RecurrenceInterval", "int"),
        _f("RecurrenceDayOfWeekMask", "int"),
        _f("RecurrenceDayOfMonth", "int"),
        _f(
            "RecurrenceInstance",
            "picklist",
            length=40,
            picklist_values=("First", "Second", "Third", "Fourth", "Last"),
        ),
        _f(
            "RecurrenceMonthOfYear",
            "picklist",
            length=40,
            picklist_values=(
                "January",
                "February",
                "March",
                "April",
                "May",
                "June",
                "July",
                "August",
                "September",
                "October",
                "November",
                "December",
            ),
        ),
        _f("ReminderDateTime", "datetime"),
        _f("IsReminderSet", "boolean", nillable=False, default=False),
        _ro("IsRecurrence2", "boolean", nillable=False, default=False),
        _ro("IsRecurrence2Exception", "boolean", nillable=False, default=False),
        _ro("IsRecurrence2Exclusion", "boolean", nillable=False, default=False),
        _f("Recurrence2PatternText", "textarea", length=512, updateable=False),
        _ro("Recurrence2PatternVersion", "picklist", length=40, picklist_values=("1",)),
        _ro("Recurrence2PatternStartDate", "datetime"),
        _ro("Recurrence2PatternTimeZone", "string", length=255),
        _ro("ActivityRecurrence2Id", "reference", reference_to=("ActivityRecurrence2",)),
        _ro("ActivityRecurrence2ExceptionId", "reference", reference_to=("ActivityRecurrence2Exception",)),
        _f("StartDateTime", "datetime", in_change_events=False),
        _f("EndDateTime", "datetime", in_change_events=False),
        _ro("EndDate", "date", in_change_events=False),
        # Shared Activities only; a write-only list of the event's Who ids (see who_relations.py).
        _f("EventWhoIds", "junctionidlist", reference_to=("Contact", "Lead"), in_change_events=False),
        _ro("SystemModstamp", "datetime", nillable=False, in_change_events=False),
        _ro("IsDeleted", "boolean", nillable=False, default=False, in_change_events=False),
    ),
    change_events=True,
)

EVENT_RELATION = SObjectDef(
    "EventRelation",
    "0RE",
    (
        _ID,
        _f(
            "RelationId",
            "reference",
            reference_to=("User", "Contact", "Lead"),
            relationship_name="Relation",
            nillable=False,
            updateable=False,
        ),
        _f(
            "EventId",
            "reference",
            reference_to=("Event",),
            relationship_name="Event",
            nillable=False,
            updateable=False,
        ),
        _f("IsWhat", "boolean", nillable=False, default=False, updateable=False),
        _f("IsParent", "boolean", nillable=False, default=False),
        _f("IsInvitee", "boolean", nillable=False, default=True),
        _ro("AccountId", "reference", reference_to=("Account",), relationship_name="Account"),
        _f("Status", "picklist", length=40, default="New", picklist_values=("New", "Declined", "Accepted")),
        _f("RespondedDate", "datetime"),
        _f("Response", "string", length=255),
        *_AUDIT,
    ),
    change_events=True,
)

ORGANIZATION = SObjectDef(
    "Organization",
    "00D",
    (
        _ID,
        _ro("Name", "string", length=80),
        _ro("OrganizationType", "string", length=40),
        _ro("IsSandbox", "boolean", default=True),
        _ro("TimeZoneSidKey", "picklist", length=40),
        *_AUDIT[:4],
    ),
)

# Setup objects, so a client reads the org's setup as on Salesforce (see setup_objects.py for their rows).
# PlatformEventChannelMember is a Tooling API object there; here the one query engine serves it.
PERMISSION_SET = SObjectDef(
    "PermissionSet",
    "0PS",
    (
        _ID,
        _f("Name", "string", length=80, nillable=False),
        _f("Label", "string", length=80, nillable=False),
        _f("Description", "textarea", length=255),
        _ro("IsOwnedByProfile", "boolean", nillable=False, default=False),
        *_AUDIT,
    ),
)

PERMISSION_SET_ASSIGNMENT = SObjectDef(
    "PermissionSetAssignment",
    "0Pa",
    (
        _ID,
        _f(
            "AssigneeId",
            "reference",
            reference_to=("User",),
            relationship_name="Assignee",
            nillable=False,
            updateable=False,
        ),
        _f(
            "PermissionSetId",
            "reference",
            reference_to=("PermissionSet",),
            relationship_name="PermissionSet",
            nillable=False,
            updateable=False,
        ),
        *_AUDIT,
    ),
)

PLATFORM_EVENT_CHANNEL_MEMBER = SObjectDef(
    "PlatformEventChannelMember",
    "0v8",
    (
        _ID,
        _f("DeveloperName", "string", length=80, nillable=False),
        _f("EventChannel", "string", length=80, nillable=False, updateable=False),
        _f("SelectedEntity", "string", length=80, nillable=False, updateable=False),
        *_AUDIT,
    ),
)

STANDARD_OBJECTS: tuple[SObjectDef, ...] = (
    USER,
    CONTACT,
    LEAD,
    ACCOUNT,
    EVENT,
    EVENT_RELATION,
    ORGANIZATION,
    PERMISSION_SET,
    PERMISSION_SET_ASSIGNMENT,
    PLATFORM_EVENT_CHANNEL_MEMBER,
)

# Metadata field types to describe types.
_METADATA_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Checkbox": "boolean",
    "DateTime": "datetime",
    "Date": "date",
    "Number": "double",
    "Picklist": "picklist",
    "Lookup": "reference",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
}


def _text(element: ElementTree.Element, tag: str) -> str | None:
    child = element.find(METADATA_NS + tag)
    return child.text if child is not None else None


def parse_custom_field(path: Path) -> FieldDef:
    """One `*.field-meta.xml` file as a FieldDef; an unknown type names the file that has it."""
    root = ElementTree.parse(path).getroot()
    name = _text(root, "fullName") or path.name.split(".")[0]
    meta_type = _text(root, "type") or ""
    if meta_type not in _METADATA_TYPES:
        raise ValueError(f"{path}: field type {meta_type!r} is not supported by the sandbox")
    length = _text(root, "length")
    values = tuple(
        v.text or ""
        for v in root.iter(METADATA_NS + "fullName")
        if v is not root.find(METADATA_NS + "fullName")
    )
    reference = _text(root, "referenceTo")
    default = _text(root, "defaultValue")
    boolean = meta_type == "Checkbox"
    return FieldDef(
        name=name,
        type=_METADATA_TYPES[meta_type],
        length=int(length) if length else None,
        nillable=not boolean and _text(root, "required") != "true",
        custom=True,
        picklist_values=values,
        reference_to=(reference,) if reference else (),
        # A custom lookup X__c is followed as X__r (<relationshipName> names the child side).
        relationship_name=name.removesuffix("__c") + "__r" if reference else None,
        default=(default == "true") if boolean else default,
    )


def _custom_object(name: str, fields: list[FieldDef], platform_event: bool) -> SObjectDef:
    if platform_event:
        base: tuple[FieldDef, ...] = (
            _ro("ReplayId", "string"),
            _ro("CreatedDate", "datetime", nillable=False),
            _ro("CreatedById", "reference", reference_to=("User",), nillable=False),
            _ro("EventUuid", "string"),
        )
    else:
        base = (_ID, _ro("Name", "string", length=80), _OWNER, *_AUDIT)
    prefix = "e00" if platform_event else "a0" + "0123456789ABCDEF"[zlib.crc32(name.encode()) % 16]
    return SObjectDef(
        name,
        prefix,
        base + tuple(fields),
        custom=True,
        platform_event=platform_event,
        queryable=not platform_event,
    )


def load_objects(metadata_dir: Path = DEFAULT_METADATA_DIR) -> dict[str, SObjectDef]:
    """Standard objects extended with the package's custom fields and objects, keyed by lower-case name."""
    objects = {o.name.lower(): o for o in STANDARD_OBJECTS}
    source = metadata_dir / "force-app" / "main" / "default"
    objects_dir = source / "objects"
    if objects_dir.is_dir():
        for obj_dir in sorted(p for p in objects_dir.iterdir() if p.is_dir()):
            fields = [parse_custom_field(p) for p in sorted((obj_dir / "fields").glob("*.field-meta.xml"))]
            if obj_dir.name == "Activity":
                # Activity fields appear on both Event and Task; the sandbox has no Task.
                objects["event"] = objects["event"].with_fields(fields)
            elif obj_dir.name.lower() in objects:
                objects[obj_dir.name.lower()] = objects[obj_dir.name.lower()].with_fields(fields)
            else:
                is_event = obj_dir.name.endswith("__e")
                objects[obj_dir.name.lower()] = _custom_object(obj_dir.name, fields, is_event)
    members_dir = source / "platformEventChannelMembers"
    if members_dir.is_dir():
        for member in members_dir.glob("*.platformEventChannelMember-meta.xml"):
            entity = _text(ElementTree.parse(member).getroot(), "selectedEntity") or ""
            base_name = entity.removesuffix("ChangeEvent")
            base_name = base_name[:-2] + "__c" if base_name.endswith("__") else base_name
            if base_name.lower() in objects:
                objects[base_name.lower()] = replace(
                    objects[base_name.lower()], change_events=True, field_index={}
                )
    return objects


def change_event_name(sobject: str) -> str:
    """`Event` -> `EventChangeEvent`; `Foo__c` -> `Foo__ChangeEvent`."""
    return sobject[:-1] + "ChangeEvent" if sobject.endswith("__c") else sobject + "ChangeEvent"
