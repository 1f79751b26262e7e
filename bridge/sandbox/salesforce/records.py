"""The org's record storage and the bookkeeping of one write transaction (undo log, pending changes).

No Salesforce rules live here: `writes.py` and `activities.py` decide what to write; this module only makes
the writes reversible (savepoints for sObject Collections, rollback for allOrNone) and turns a committed
transaction into the `RecordChange`s the change sink expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.changes import ChangeType, RecordChange

Record = dict[str, Any]
# Fields Salesforce reports as changed by every update, whatever the writer sent.
ALWAYS_CHANGED = frozenset({"LastModifiedDate"})
# Long text fields whose changes Salesforce sends as diffs.
DIFF_FIELDS = frozenset({"Description"})


class RecordStore:
    """Every record of the org by id and by object, deleted ones included (IsDeleted = true)."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.by_object: dict[str, dict[str, Record]] = {}
        self.entity_of: dict[str, str] = {}
        self.serials: dict[str, int] = {}
        # EventRelation id -> the child Event created for that User invitee.
        self.child_events: dict[str, str] = {}
        # A record deleted because another was (relation with its event, child event with its relation) ->
        # that other record's id, so undeleting it brings the record back too.
        self.deleted_with: dict[str, str] = {}
        # Event id -> ids of its EventRelations (EventId never changes after create).
        self.relations_by_event: dict[str, set[str]] = {}
        # Lower-cased Username -> id of the User last stored with it (deleted or not): creating users checks
        # Username uniqueness, which a scan of every user would make quadratic in an org of thousands.
        self.user_by_username: dict[str, str] = {}

    def new_id(self, key_prefix: str) -> str:
        serial = self.serials.get(key_prefix, 0) + 1
        self.serials[key_prefix] = serial
        return ids.make_id(key_prefix, serial)

    def get(self, record_id: str) -> Record | None:
        return self.records.get(record_id)

    def put(self, entity: str, record: Record) -> None:
        record_id = record["Id"]
        if entity == "User":
            self._index_username(self.records.get(record_id), record)
        self.records[record_id] = record
        self.entity_of[record_id] = entity
        self.by_object.setdefault(entity.lower(), {})[record_id] = record
        if entity == "EventRelation":
            self.relations_by_event.setdefault(record["EventId"], set()).add(record_id)

    def drop(self, record_id: str) -> None:
        entity = self.entity_of.pop(record_id)
        del self.records[record_id]
        record = self.by_object[entity.lower()].pop(record_id)
        if entity == "User":
            self._index_username(record, None)
        if entity == "EventRelation":
            self.relations_by_event.get(record["EventId"], set()).discard(record_id)

    def _index_username(self, before: Record | None, after: Record | None) -> None:
        old = str((before or {}).get("Username") or "").lower()
        if old and self.user_by_username.get(old) == (before or {}).get("Id"):
            del self.user_by_username[old]
        new = str((after or {}).get("Username") or "").lower()
        if new and after is not None:
            self.user_by_username[new] = after["Id"]

    def relations(self, event_id: str) -> list[Record]:
        """The EventRelations of an event, deleted ones included, oldest first."""
        found = [self.records[i] for i in self.relations_by_event.get(event_id, ())]
        return sorted(found, key=lambda r: r["Id"])

    def rows(self, entity: str) -> list[Record]:
        return list(self.by_object.get(entity.lower(), {}).values())


@dataclass
class _Pending:
    entity: str
    change_type: ChangeType
    before: Record | None


@dataclass
class _Savepoint:
    undo_length: int
    pending: dict[str, _Pending]


@dataclass
class TransactionLog:
    """Undo log and pending changes of one open transaction over a RecordStore."""

    store: RecordStore
    undo: list[tuple[str, str, Any]] = field(default_factory=list)
    pending: dict[str, _Pending] = field(default_factory=dict)

    def insert(self, entity: str, record: Record) -> None:
        self.undo.append(("record", record["Id"], None))
        self.store.put(entity, record)
        self.pending[record["Id"]] = _Pending(entity, "CREATE", None)

    def replace(self, record: Record, change_type: ChangeType = "UPDATE") -> None:
        """Store `record` (a new dict) in place of the stored one with the same id."""
        record_id = record["Id"]
        previous = self.store.records[record_id]
        entity = self.store.entity_of[record_id]
        self.undo.append(("record", record_id, previous))
        self.store.put(entity, record)
        seen = self.pending.get(record_id)
        if seen is None:
            self.pending[record_id] = _Pending(entity, change_type, dict(previous))
        elif change_type == "DELETE":
            if seen.change_type == "CREATE":
                del self.pending[record_id]
            else:
                self.pending[record_id] = _Pending(entity, "DELETE", seen.before)

    def link_child(self, relation_id: str, child_id: str | None) -> None:
        self._link("child", relation_id, child_id)

    def mark_deleted_with(self, record_id: str, cause_id: str | None) -> None:
        """Note (or, with None, forget) that `record_id` was deleted because `cause_id` was."""
        self._link("deleted_with", record_id, cause_id)

    def _mapping(self, kind: str) -> dict[str, str]:
        return self.store.child_events if kind == "child" else self.store.deleted_with

    def _link(self, kind: str, key: str, value: str | None) -> None:
        mapping = self._mapping(kind)
        self.undo.append((kind, key, mapping.get(key)))
        if value is None:
            mapping.pop(key, None)
        else:
            mapping[key] = value

    def savepoint(self) -> _Savepoint:
        return _Savepoint(len(self.undo), dict(self.pending))

    def rollback(self, savepoint: _Savepoint | None = None) -> None:
        keep = savepoint.undo_length if savepoint else 0
        while len(self.undo) > keep:
            kind, key, previous = self.undo.pop()
            if kind == "record":
                if previous is None:
                    self.store.drop(key)
                else:
                    self.store.put(self.store.entity_of[key], previous)
            elif previous is None:
                self._mapping(kind).pop(key, None)
            else:
                self._mapping(kind)[key] = previous
        self.pending = dict(savepoint.pending) if savepoint else {}

    def changes(
        self,
        published: Callable[[str], bool],
        origin: str,
        transaction_key: str,
        commit_ms: int,
        commit_number: int,
        commit_user: str,
    ) -> list[RecordChange]:
        """The committed transaction as RecordChanges of the entities `published` accepts, in the order
        records were first touched, numbered 1..n."""
        result: list[RecordChange] = []
        for record_id, pending in self.pending.items():
            if not published(pending.entity):
                continue
            after = self.store.records[record_id]
            changed: frozenset[str] = frozenset()
            nulled: frozenset[str] = frozenset()
            diff: frozenset[str] = frozenset()
            values: Record = dict(after)
            if pending.change_type == "UPDATE" and pending.before is not None:
                before = pending.before
                changed = frozenset(k for k, v in after.items() if before.get(k) != v) | ALWAYS_CHANGED
                changed -= {"SystemModstamp"}
                nulled = frozenset(k for k in changed if after.get(k) is None)
                diff = frozenset(k for k in changed & DIFF_FIELDS if after.get(k) is not None)
            elif pending.change_type == "DELETE" and pending.before is not None:
                values = dict(pending.before)
            result.append(
                RecordChange(
                    entity=pending.entity,
                    change_type=pending.change_type,
                    record_id=record_id,
                    values=values,
                    changed=changed,
                    nulled=nulled,
                    diff=diff,
                    origin=origin,
                    transaction_key=transaction_key,
                    sequence=len(result) + 1,
                    commit_timestamp_ms=commit_ms,
                    commit_number=commit_number,
                    commit_user=commit_user,
                )
            )
        return result
