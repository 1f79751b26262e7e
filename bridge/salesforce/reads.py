"""Reading events, their invitees and the directory with few SOQL calls (every value escaped, R-SEC-4).

`read_events` and `window_events` give each event as an `EventRecord`: the Event's REST fields and its
invitee relations with the email of the User, Contact or Lead behind each. `LastModifiedDate` is the
Event's own, in REST text, as the change events carry it; the core's version adds a digest of the invitees
(`bridge.core.versions`), since adding one leaves the Event's stamp alone.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from datetime import UTC, datetime
from typing import Any

from bridge.core.fields import SalesforceRelation
from bridge.core.model import Directory, Relation, RelationKind
from bridge.ports import EventRecord
from bridge.salesforce import soql, versions
from bridge.salesforce.rest import RestClient

EVENT_FIELDS = (
    "Id",
    "OwnerId",
    "Subject",
    "StartDateTime",
    "EndDateTime",
    "IsAllDayEvent",
    "ActivityDateTime",
    "ActivityDate",
    "DurationInMinutes",
    "Description",
    "Location",
    "ShowAs",
    "IsPrivate",
    "WhoId",
    "Who.Email",
    "Who.Type",
    "IsChild",
    "IsRecurrence",
    "RecurrenceActivityId",
    "IsRecurrence2",  # a Lightning series' row (SPEC §15): never synced as a single event
    "Exchange_Item_Id__c",
    "Exchange_UID__c",
    "Calbridge_Sync_Hash__c",
    "CreatedDate",
    "LastModifiedDate",
)
RELATION_FIELDS = (
    "Id",
    "EventId",
    "RelationId",
    "Relation.Email",
    "Relation.Type",
    "Status",
    "LastModifiedDate",
)
_KIND_BY_PREFIX = {"005": RelationKind.USER, "003": RelationKind.CONTACT, "00Q": RelationKind.LEAD}
_KIND_BY_TYPE = {"User": RelationKind.USER, "Contact": RelationKind.CONTACT, "Lead": RelationKind.LEAD}
# Owners per query: 200 quoted ids keep a GET query under URL limits (soql.IN_CHUNK); a window query's
# answer may take several pages, a digest query's (one row per owner) takes one. The runtime's periodic
# reconcile asks for the same number of owners at a time (bridge.runtime.reconcile.BATCH_OWNERS).
OWNERS_PER_QUERY = soql.IN_CHUNK
# What tells that an owner's window changed, without reading it: how many events, the newest change, and
# the window's edges (an event entering at the far end raises the latest start; one leaving at the near end
# raises the earliest end), so a window that changed membership differs even when no record did.
_DIGEST = "COUNT(Id), MAX(SystemModstamp), MIN(EndDateTime), MAX(StartDateTime)"
# SystemModstamp counts whole seconds: a window changed this recently may change again within the same
# second without its digest showing it, so its digest is made unequal to any other (a margin for skew).
UNSETTLED_S = 2.0


def _relation(row: dict[str, Any]) -> SalesforceRelation | None:
    target = row.get("Relation") or {}
    relation_id = str(row["RelationId"])
    kind = _KIND_BY_TYPE.get(str(target.get("Type") or "")) or _KIND_BY_PREFIX.get(relation_id[:3])
    if kind is None:
        return None  # a resource or other record: not an attendee
    email = target.get("Email")
    return SalesforceRelation(
        relation_id, kind, str(email) if email else None, str(row.get("Status") or "New")
    )


def _primary_who(fields: dict[str, Any], invitees: Iterable[SalesforceRelation]) -> list[SalesforceRelation]:
    """The event's primary Who as one more attendee row when no invitee row holds it (R-ATT-9): read from
    the Event itself (`Who.Email`), so it counts with Shared Activities on or off. Its status is New (the
    Who was never asked); taking it off in Exchange leaves it the event's Who (R-ATT-10), so it is shown
    again at the event's next change. `Who` is kept out of the stored fields: it is not an Event field."""
    who = fields.pop("Who", None) or {}
    who_id = fields.get("WhoId")
    if not who_id or any(r.relation_id[:15] == str(who_id)[:15] for r in invitees):
        return []
    row = _relation({"RelationId": who_id, "Relation": who, "Status": "New"})
    return [row] if row is not None else []


def event_records(
    events: Iterable[dict[str, Any]], relations: Iterable[dict[str, Any]]
) -> dict[str, EventRecord]:
    """Event records by id from event rows and their EventRelation rows (window reads, series reads)."""
    by_event: dict[str, list[dict[str, Any]]] = {}
    for row in relations:
        by_event.setdefault(str(row["EventId"])[:15], []).append(row)
    out: dict[str, EventRecord] = {}
    for event in events:
        rows = by_event.get(str(event["Id"])[:15], [])
        fields = dict(event)
        fields["LastModifiedDate"] = versions.normalised(event.get("LastModifiedDate"))
        found = [r for r in (_relation(r) for r in rows) if r is not None]
        primary = _primary_who(fields, found)
        ordered = sorted([*found, *primary], key=lambda r: r.relation_id)
        out[str(event["Id"])] = EventRecord(fields, tuple(ordered))
    return out


def _digest(row: dict[str, Any]) -> str:
    digest = "|".join(str(row.get(f"expr{n}")) for n in range(4))
    changed = versions.parse(row.get("expr1"))
    if changed is None or (datetime.now(UTC) - changed).total_seconds() < UNSETTLED_S:
        digest += f"|unsettled {time.monotonic_ns()}"
    return digest


class Reader:
    """The read half of the adapter, with the directory cache."""

    def __init__(self, rest: RestClient, directory_ttl_s: float) -> None:
        self._rest = rest
        self._ttl = directory_ttl_s
        self._directory: dict[str, tuple[float, tuple[Relation, ...]]] = {}

    async def read_events(self, event_ids: Collection[str]) -> dict[str, EventRecord]:
        """The events with their invitees (two queries per 200 ids); an id missing from the answer is
        deleted. Keys are the ids as asked (15 or 18 characters)."""
        asked = sorted(set(event_ids))
        events: list[dict[str, Any]] = []
        relations: list[dict[str, Any]] = []
        for chunk in soql.chunks(asked):
            ids = soql.id_list(chunk)
            events += await self._rest.query(f"SELECT {', '.join(EVENT_FIELDS)} FROM Event WHERE Id IN {ids}")
            if events:
                relations += await self._rest.query(
                    f"SELECT {', '.join(RELATION_FIELDS)} FROM EventRelation "
                    f"WHERE EventId IN {ids} AND IsInvitee = true"
                )
        found = event_records(events, relations)
        by_key = {record_id[:15]: record for record_id, record in found.items()}
        return {record_id: by_key[record_id[:15]] for record_id in asked if record_id[:15] in by_key}

    async def window_events(
        self, owner_ids: Collection[str], start: datetime, end: datetime
    ) -> dict[str, list[EventRecord]]:
        """Every event of these owners overlapping [start, end), child events included, grouped by owner:
        one events query and one relations query per 200 owners (plus pages)."""
        owners = sorted(set(owner_ids))
        grouped: dict[str, list[EventRecord]] = {owner: [] for owner in owners}
        owner_key = {owner[:15]: owner for owner in owners}
        after, before = soql.datetime_literal(start), soql.datetime_literal(end)
        for chunk in soql.chunks(owners, OWNERS_PER_QUERY):
            ids = soql.id_list(chunk)
            events = await self._rest.query(
                f"SELECT {', '.join(EVENT_FIELDS)} FROM Event WHERE OwnerId IN {ids} "
                f"AND StartDateTime < {before} AND EndDateTime > {after} ORDER BY StartDateTime, Id"
            )
            relations = []
            if events:
                relations = await self._rest.query(
                    f"SELECT {', '.join(RELATION_FIELDS)} FROM EventRelation WHERE Event.OwnerId IN {ids} "
                    f"AND Event.StartDateTime < {before} AND Event.EndDateTime > {after} AND IsInvitee = true"
                )
            for record in event_records(events, relations).values():
                owner = owner_key.get(str(record.owner_id)[:15])
                if owner is not None:
                    grouped[owner].append(record)
        return grouped

    async def window_digests(
        self, owner_ids: Collection[str], start: datetime, end: datetime
    ) -> dict[str, str]:
        """A digest of each owner's window [start, end) from one aggregate query per 200 owners (R-TIME-4):
        equal digests on two passes mean the Event rows of the window are the same (no event created,
        changed, deleted, entering or leaving). Invitee rows do not count: adding one leaves its Event
        alone. An owner with no events has the digest ""; a window changed in the last `UNSETTLED_S`
        seconds has a digest equal to no other."""
        owners = sorted(set(owner_ids))
        digests = dict.fromkeys(owners, "")
        owner_key = {owner[:15]: owner for owner in owners}
        after, before = soql.datetime_literal(start), soql.datetime_literal(end)
        for chunk in soql.chunks(owners, OWNERS_PER_QUERY):
            rows = await self._rest.query(
                f"SELECT OwnerId, {_DIGEST} FROM Event WHERE OwnerId IN {soql.id_list(chunk)} "
                f"AND StartDateTime < {before} AND EndDateTime > {after} GROUP BY OwnerId"
            )
            for row in rows:
                owner = owner_key.get(str(row.get("OwnerId"))[:15])
                if owner is not None:
                    digests[owner] = _digest(row)
        return digests

    async def resolve(self, emails: Collection[str]) -> Directory:
        """Users, then Contacts, then Leads per address, case-insensitively (R-ATT-8). Addresses found are
        cached for the TTL, so a busy mailbox does not ask again for every change; a miss is not, since
        R-ATT-8 tries an unresolved address again at the next change (a Contact may have been added)."""
        now = time.monotonic()
        wanted = sorted({e.strip().lower() for e in emails if e and e.strip()})
        missing = [e for e in wanted if e not in self._directory or self._directory[e][0] < now]
        if missing:
            found: dict[str, list[Relation]] = {e: [] for e in missing}
            kinds = (
                ("User", RelationKind.USER, " AND IsActive = true"),
                ("Contact", RelationKind.CONTACT, ""),
                ("Lead", RelationKind.LEAD, " AND IsConverted = false"),
            )
            # The three lookups of each 100 addresses go in one composite call: one API call, not three.
            asked = [
                (kind, f"SELECT Id, Email FROM {sobject} WHERE Email IN {addresses}{extra} ORDER BY Id")
                for chunk in soql.chunks(missing, 100)
                for addresses in (soql.string_list(chunk),)
                for sobject, kind, extra in kinds
            ]
            answers = await self._rest.queries([text for _, text in asked])
            for (kind, _), rows in zip(asked, answers, strict=True):
                for row in rows:
                    email = str(row.get("Email") or "").lower()
                    if email in found:
                        found[email].append(Relation(str(row["Id"]), kind))
            expires = now + self._ttl
            for email, relations in found.items():
                if relations:
                    self._directory[email] = (expires, tuple(relations))
                else:
                    self._directory.pop(email, None)
        return Directory(tuple((e, self._directory[e][1] if e in self._directory else ()) for e in wanted))
