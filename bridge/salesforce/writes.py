"""Event and EventRelation writes, batched through sObject Collections (R-API-3) and conditional (R-MERGE-5).

Every write waits while the org is over its API budget (R-API-2), then joins a batch: creates, updates and
deletes of all callers within the linger go out as one collection call each (up to 200 records).

How R-MERGE-5 is kept. Salesforce puts no condition on collection writes, so:
- a batch holding one conditional update is a single-record PATCH with `If-Unmodified-Since` set to the
  version it was planned from: Salesforce applies it atomically, and a 412 is a ConflictError;
- a batch of several first reads the current LastModifiedDate of its conditional records in one SOQL query;
  a record modified after its planned version gets ConflictError (re-plan) and stays out of the write, the
  rest are written in one collection call. The window between that query and the write is milliseconds;
  an edit landing inside it is not lost: its change event arrives after our echo, and the pair re-plans.
- conditional deletes are checked the same way (Salesforce has no conditional DELETE).
The condition compares the Event's own LastModifiedDate with the stamp part of the planned version; adding
or removing an invitee leaves that stamp alone, so a relation change never conflicts with a field write.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.core.fields import SF_STATUS
from bridge.core.model import Response, Side
from bridge.errors import CalbridgeError, ConflictError, NotFoundError
from bridge.ports import Written
from bridge.salesforce import failures, soql, versions
from bridge.salesforce.batching import Batcher
from bridge.salesforce.budget import ApiBudget
from bridge.salesforce.connection import SalesforceConnection
from bridge.salesforce.rest import RestClient

COLLECTION = "composite/sobjects"


@dataclass(frozen=True, slots=True)
class Create:
    sobject: str
    fields: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Update:
    sobject: str
    record_id: str
    fields: Mapping[str, Any]
    if_version: str | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    record_id: str
    if_version: str | None = None  # Events only


@dataclass(frozen=True, slots=True)
class RelationKey:
    event_id: str
    relation_id: str


def _key(record_id: str) -> str:
    """Ids compare on their case-sensitive 15-character form (an 18-character id adds a checksum)."""
    return record_id[:15]


class Writer:
    """The write half of the adapter."""

    def __init__(self, connection: SalesforceConnection, rest: RestClient, budget: ApiBudget) -> None:
        self._connection = connection
        self._rest = rest
        self._budget = budget
        linger, size = connection.batch_linger_s, connection.batch_size
        self.creates: Batcher[Create, str] = Batcher(self._send_creates, linger, size)
        self.updates: Batcher[Update, None] = Batcher(self._send_updates, linger, size)
        self.deletes: Batcher[Delete, None] = Batcher(self._send_deletes, linger, size)
        self.relations: Batcher[RelationKey, dict[str, Any] | None] = Batcher(self._find_relations, linger)

    async def close(self) -> None:
        for batcher in (self.creates, self.updates, self.deletes, self.relations):
            await batcher.close()

    async def _room(self) -> None:
        await self._budget.wait_for_room(self._rest.probe_limits, self._connection.budget_poll_s)

    # -- events -----------------------------------------------------------------------------------------

    async def create_event(self, fields: Mapping[str, object], who_ids: Sequence[str]) -> Written:
        values = dict(fields)
        # One Who is WhoId in either Shared Activities mode; several need Shared Activities (EventWhoIds).
        if len(who_ids) == 1:
            values["WhoId"] = who_ids[0]
        elif who_ids:
            values["EventWhoIds"] = list(who_ids)
        new_id = await self.creates.submit(Create("Event", values))
        return Written(new_id)

    async def update_event(
        self, event_id: str, if_version: str | None, fields: Mapping[str, object]
    ) -> Written:
        soql.record_id(event_id)  # a bad id fails its own caller here, not the whole batch later
        await self.updates.submit(Update("Event", event_id, dict(fields), if_version))
        # The new LastModifiedDate is not in the answer; the echo of this write carries it (R-MERGE-3).
        return Written(event_id)

    async def delete_event(self, event_id: str, if_version: str | None) -> None:
        soql.record_id(event_id)
        await self.deletes.submit(Delete(event_id, if_version))

    # -- relations --------------------------------------------------------------------------------------

    async def _relation(self, event_id: str, relation_id: str) -> dict[str, Any] | None:
        soql.record_id(event_id)
        soql.record_id(relation_id)
        return await self.relations.submit(RelationKey(event_id, relation_id))

    async def add_relation(self, event_id: str, relation_id: str, status: Response) -> None:
        row = await self._relation(event_id, relation_id)
        wanted = SF_STATUS[status]
        if row is None:
            fields = {"EventId": event_id, "RelationId": relation_id, "IsInvitee": True, "Status": wanted}
            await self.creates.submit(Create("EventRelation", fields))
        elif not row.get("IsInvitee") or row.get("Status") != wanted:
            # A Who row (IsParent) of the same record becomes an invitee too: one row per event and record.
            await self.updates.submit(
                Update("EventRelation", str(row["Id"]), {"IsInvitee": True, "Status": wanted})
            )

    async def update_relation(self, event_id: str, relation_id: str, status: Response) -> None:
        row = await self._relation(event_id, relation_id)
        if row is None or not row.get("IsInvitee"):
            raise NotFoundError(Side.SALESFORCE, f"{event_id}/{relation_id}")
        wanted = SF_STATUS[status]
        if row.get("Status") != wanted:
            await self.updates.submit(Update("EventRelation", str(row["Id"]), {"Status": wanted}))

    async def remove_relation(self, event_id: str, relation_id: str) -> None:
        """Removes the invitee; a row that is also the event's Who stays, as a Who. Already gone: done."""
        row = await self._relation(event_id, relation_id)
        if row is None or not row.get("IsInvitee"):
            return
        try:
            if row.get("IsParent"):
                await self.updates.submit(Update("EventRelation", str(row["Id"]), {"IsInvitee": False}))
            else:
                await self.deletes.submit(Delete(str(row["Id"])))
        except NotFoundError:
            return

    # -- batches ----------------------------------------------------------------------------------------

    async def _find_relations(self, keys: Sequence[RelationKey]) -> list[dict[str, Any] | None]:
        events = sorted({k.event_id for k in keys})
        targets = sorted({k.relation_id for k in keys})
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for event_chunk in soql.chunks(events, 100):
            for target_chunk in soql.chunks(targets, 100):
                found = await self._rest.query(
                    "SELECT Id, EventId, RelationId, IsInvitee, IsParent, Status FROM EventRelation "
                    f"WHERE EventId IN {soql.id_list(event_chunk)} "
                    f"AND RelationId IN {soql.id_list(target_chunk)}"
                )
                for row in found:
                    rows[(_key(str(row["EventId"])), _key(str(row["RelationId"])))] = row
        return [rows.get((_key(k.event_id), _key(k.relation_id))) for k in keys]

    async def _send_creates(self, items: Sequence[Create]) -> list[str | BaseException]:
        await self._room()
        records = [{"attributes": {"type": item.sobject}, **item.fields} for item in items]
        answer = await self._rest.restful(
            "write", COLLECTION, "POST", json={"allOrNone": False, "records": records}
        )
        out: list[str | BaseException] = []
        for result in answer:
            if result.get("success"):
                out.append(str(result["id"]))
            else:
                out.append(failures.from_result(result, None, by_id=False))
        return out

    async def _stale(self, items: Sequence[Update | Delete]) -> dict[int, CalbridgeError]:
        """Conditional items whose Event changed since the version they were planned from, or is gone."""
        conditional = {i: item for i, item in enumerate(items) if item.if_version}
        if not conditional:
            return {}
        ids = sorted({item.record_id for item in conditional.values()})
        current: dict[str, object] = {}
        for chunk in soql.chunks(ids):
            for row in await self._rest.query(
                f"SELECT Id, LastModifiedDate FROM Event WHERE Id IN {soql.id_list(chunk)}"
            ):
                current[_key(str(row["Id"]))] = row.get("LastModifiedDate")
        stale: dict[int, CalbridgeError] = {}
        for i, item in conditional.items():
            if _key(item.record_id) not in current:
                stale[i] = NotFoundError(Side.SALESFORCE, item.record_id)
                continue
            now, planned = versions.parse(current[_key(item.record_id)]), versions.parse(item.if_version)
            if now is None or planned is None or now > planned:
                stale[i] = ConflictError(Side.SALESFORCE, item.record_id)
        return stale

    async def _send_updates(self, items: Sequence[Update]) -> list[BaseException | None]:
        await self._room()
        if len(items) == 1 and items[0].if_version:
            return [await self._conditional_patch(items[0])]
        stale = await self._stale(items)
        out: list[BaseException | None] = [stale.get(i) for i in range(len(items))]
        todo = [i for i, result in enumerate(out) if result is None]
        while todo:
            # A collection names each record once; a second update of the same record goes in the next call.
            now: list[int] = []
            seen: set[str] = set()
            for i in todo:
                if _key(items[i].record_id) not in seen:
                    seen.add(_key(items[i].record_id))
                    now.append(i)
            todo = [i for i in todo if i not in now]
            records = [
                {"attributes": {"type": items[i].sobject}, "id": items[i].record_id, **items[i].fields}
                for i in now
            ]
            answer = await self._rest.restful(
                "write", COLLECTION, "PATCH", json={"allOrNone": False, "records": records}
            )
            for i, result in zip(now, answer, strict=True):
                if not result.get("success"):
                    out[i] = failures.from_result(result, items[i].record_id, by_id=True)
        return out

    async def _conditional_patch(self, item: Update) -> BaseException | None:
        planned = versions.parse(item.if_version)
        if planned is None:
            return ConflictError(Side.SALESFORCE, item.record_id, f"unreadable version {item.if_version!r}")
        since = email.utils.format_datetime(planned, usegmt=True)
        try:
            await self._rest.restful(
                "write",
                f"sobjects/{item.sobject}/{item.record_id}",
                "PATCH",
                record_id=item.record_id,
                json=dict(item.fields),
                headers={"If-Unmodified-Since": since},
            )
        except CalbridgeError as error:
            return error
        return None

    async def _send_deletes(self, items: Sequence[Delete]) -> list[BaseException | None]:
        await self._room()
        stale = await self._stale(items)
        out: list[BaseException | None] = [stale.get(i) for i in range(len(items))]
        todo = [i for i, result in enumerate(out) if result is None]
        if todo:
            ids = ",".join(items[i].record_id for i in todo)
            answer = await self._rest.restful(
                "write", COLLECTION, "DELETE", params={"ids": ids, "allOrNone": "false"}
            )
            for i, result in zip(todo, answer, strict=True):
                if not result.get("success"):
                    out[i] = failures.from_result(result, items[i].record_id, by_id=True)
        return out
