"""A small in-memory org for the SOQL tests: the real schema (schema.load_objects) with a handful of
realistic Users, Contacts, Leads, Accounts, Events, EventRelations and one Calbridge_Issue__c."""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bridge.sandbox.salesforce.schema import SObjectDef, load_objects

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
NOW = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)  # the fixed clock for TODAY and friends


def make_id(key_prefix: str, serial: int) -> str:
    """An 18-character id in Salesforce's shape (prefix, instance, serial, case-safe checksum)."""
    digits = ""
    for _ in range(9):
        serial, remainder = divmod(serial, 62)
        digits = _BASE62[remainder] + digits
    body = f"{key_prefix}5g0{digits}"
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(body[start : start + 5]) if char.isupper())
        suffix += (string.ascii_uppercase + "012345")[bits]
    return body + suffix


class MemoryCatalog:
    """Implements soql.Catalog over plain dicts; `add` fills every schema field (None when not given)."""

    def __init__(self) -> None:
        self.objects = load_objects()
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in self.objects}
        self.by_id: dict[str, tuple[SObjectDef, dict[str, Any]]] = {}
        self.lookups = 0

    def describe(self, sobject: str) -> SObjectDef | None:
        return self.objects.get(sobject.lower())

    def rows(self, sobject: str, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        rows = self.tables[sobject.lower()]
        return rows if include_deleted else [row for row in rows if not row.get("IsDeleted")]

    def lookup(self, record_id: str) -> tuple[SObjectDef, Mapping[str, Any]] | None:
        self.lookups += 1
        return self.by_id.get(record_id)

    def add(self, sobject: str, **values: Any) -> dict[str, Any]:
        definition = self.objects[sobject.lower()]
        table = self.tables[sobject.lower()]
        row: dict[str, Any] = {field.name: field.default for field in definition.fields}
        row["Id"] = make_id(definition.key_prefix, len(table) + 1)
        row["CreatedDate"] = row["LastModifiedDate"] = row["SystemModstamp"] = NOW - timedelta(days=30)
        row.update(values)
        if "Name" in row and "LastName" in row and row.get("Name") is None:
            row["Name"] = " ".join(part for part in (row.get("FirstName"), row["LastName"]) if part)
        table.append(row)
        self.by_id[row["Id"]] = (definition, row)
        return row


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def sample_org() -> MemoryCatalog:
    """The org most tests query. Subjects are unique so that tests can name events by subject."""
    org = MemoryCatalog()
    ada = org.add(
        "User",
        Username="ada@example.com",
        Email="ada@example.com",
        FirstName="Ada",
        LastName="Lovelace",
        Alias="alove",
        TimeZoneSidKey="Europe/London",
    )
    grace = org.add(
        "User",
        Username="grace@example.com",
        Email="grace@example.com",
        FirstName="Grace",
        LastName="Hopper",
        Alias="ghopp",
        TimeZoneSidKey="America/New_York",
    )
    for user in (ada, grace):
        user["CreatedById"] = user["LastModifiedById"] = ada["Id"]
    audit = {"CreatedById": ada["Id"], "LastModifiedById": ada["Id"]}
    acme = org.add("Account", Name="Acme Corp", OwnerId=ada["Id"], **audit)
    alan = org.add(
        "Contact",
        FirstName="Alan",
        LastName="Turing",
        Email="alan@acme.example",
        AccountId=acme["Id"],
        OwnerId=ada["Id"],
        **audit,
    )
    edsger = org.add(
        "Contact", FirstName="Edsger", LastName="Dijkstra", Email=None, OwnerId=grace["Id"], **audit
    )
    barbara = org.add(
        "Lead",
        FirstName="Barbara",
        LastName="Liskov",
        Email="barbara@lead.example",
        Company="CLU Inc",
        OwnerId=grace["Id"],
        **audit,
    )
    events = [
        dict(
            Subject="Kickoff",
            StartDateTime=_at(21, 9),
            EndDateTime=_at(21, 10),
            DurationInMinutes=60,
            Location="Room 1",
            WhoId=alan["Id"],
            WhatId=acme["Id"],
            OwnerId=ada["Id"],
            ShowAs="Busy",
            Exchange_Item_Id__c="AAMkAD-kickoff",
            Type="Meeting",
        ),
        dict(
            Subject="Design review",
            StartDateTime=_at(22, 14),
            EndDateTime=_at(22, 15, 30),
            DurationInMinutes=90,
            Location="Room 2",
            WhoId=barbara["Id"],
            OwnerId=grace["Id"],
            ShowAs="Free",
            Description="Review the 50% draft_v2",
        ),
        dict(
            Subject="Holiday",
            IsAllDayEvent=True,
            ActivityDate=date(2026, 11, 20),
            StartDateTime=_at(20, 0),
            EndDateTime=_at(21, 0),
            DurationInMinutes=1440,
            OwnerId=ada["Id"],
            ShowAs="OutOfOffice",
        ),
        dict(
            Subject="1:1 with Grace",
            StartDateTime=_at(18, 16),
            EndDateTime=_at(18, 16, 30),
            DurationInMinutes=30,
            OwnerId=ada["Id"],
            IsPrivate=True,
            Exchange_Item_Id__c="AAMkAD-1on1",
        ),
        dict(
            Subject="Sprint planning",
            StartDateTime=_at(25, 8),
            EndDateTime=_at(25, 9),
            DurationInMinutes=60,
            WhoId=edsger["Id"],
            OwnerId=grace["Id"],
            Location="Room 1",
        ),
        dict(
            Subject="Old standup",
            StartDateTime=_at(2, 9),
            EndDateTime=_at(2, 9, 15),
            DurationInMinutes=15,
            OwnerId=grace["Id"],
            IsDeleted=True,
        ),
        dict(
            Subject=None,
            StartDateTime=_at(23, 12),
            EndDateTime=_at(23, 13),
            DurationInMinutes=60,
            OwnerId=grace["Id"],
        ),
    ]
    added = [org.add("Event", ActivityDateTime=e.get("StartDateTime"), **audit, **e) for e in events]
    kickoff, review = added[0], added[1]
    for relation in (
        dict(EventId=kickoff["Id"], RelationId=grace["Id"], Status="Accepted"),
        dict(EventId=kickoff["Id"], RelationId=alan["Id"], Status="New"),
        dict(EventId=review["Id"], RelationId=barbara["Id"], Status="Declined", Response="Travelling"),
        dict(EventId=review["Id"], RelationId=ada["Id"], Status="New", IsParent=True, IsInvitee=False),
    ):
        org.add("EventRelation", **audit, **relation)
    org.add(
        "Calbridge_Issue__c",
        Name="ISSUE-1",
        Code__c="E-DUPLICATE-KEY",
        User__c=ada["Id"],
        Is_Open__c=True,
        OwnerId=ada["Id"],
        **audit,
    )
    org.add(
        "Calbridge_Issue__c",
        Name="ISSUE-2",
        Code__c="W-TRUNCATED",
        User__c=None,
        Is_Open__c=False,
        OwnerId=ada["Id"],
        **audit,
    )
    return org
