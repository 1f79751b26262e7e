"""The org's record storage and the bookkeeping of one write transaction (undo log, pending changes).

No Salesforce rules live here: `writes.py` and `activities.py` decide what to write; this module only makes
the writes reversible (savepoints for sObject Collections, rollback for allOrNone) and turns a committed
transaction into the `RecordChange`s the change sink expects.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.changes import ChangeType, RecordChange

Record = dict[str, Any]
# A field value as an index keys it (SOQL's comparison form); None leaves the record out of the index.
IndexKey = Callable[[Any], Hashable | None]
# Fields Salesforce reports as changed by every update, whatever the writer sent.
ALWAYS_CHANGED = frozenset({"LastModifiedDate"})
# Long text fields whose changes Salesforce sends as diffs.
DIFF_FIELDS = frozenset({"Description"})


class FieldIndex:
    """The ids of one object's records by the key of one field's value, so that a query naming values
    of the field reads only those records instead of every record of the object."""

    def __init__(self, field_name: str, key: IndexKey) -> None:
        self.field_name = field_name
        self.key = key
        self.ids_by_key: dict[Hashable, set[str]] = {}

    def add(self, record: Record) -> None:
        value_key = self.key(record.get(self.field_name))
        if value_key is not None:
            self.ids_by_key.setdefault(value_key, set()).add(record["Id"])

    def remove(self, record: Record) -> None:
        value_key = self.key(record.get(self.field_name))
        holders = self.ids_by_key.get(value_key) if value_key is not None else None
        if holders is not None:
            holders.discard(record["Id"])
            if not holders:
                del self.ids_by_key[value_key]

    def ids(self, keys: Iterable[Hashable]) -> set[str]:
        found: set[str] = set()
        for value_key in keys:
            found |= self.ids_by_key.get(value_key, set())
        return found


class RecordStore:
    """Every record of the org by id and by object, deleted ones included (IsDeleted = true).

    Field indexes are built on first use and kept in step by `put` and `drop`, the only ways records
    change (writes store new dicts, never edit a stored one). An index may also hold ids the store no
    longer has (a state reload clears the maps directly); readers look every id up again."""

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
        # Id -> position in its object's creation order, to give indexed reads that order.
        self.ordinals: dict[str, int] = {}
        self._next_ordinal = 0
        # Lower-cased object name -> (field, key name) -> index.
        self.indexes: dict[str, dict[tuple[str, str], FieldIndex]] = {}

    def new_id(self, key_prefix: str) -> str:
        serial = self.serials.get(key_prefix, 0) + 1
        self.serials[key_prefix] = serial
        return ids.make_id(key_prefix, serial)

    def get(self, record_id: str) -> Record | None:
        return self.records.get(record_id)

    def put(self, entity: str, record: Record) -> None:
        record_id = record["Id"]
        before = self.records.get(record_id)
        if entity == "User":
            self._index_username(before, record)
        objects = self.by_object.setdefault(entity.lower(), {})
        if record_id not in objects:
            self._next_ordinal += 1
            self.ordinals[record_id] = self._next_ordinal
        self.records[record_id] = record
        self.entity_of[record_id] = entity
        objects[record_id] = record
        for index in self.indexes.get(entity.lower(), {}).values():
            if before is not None:
                index.remove(before)
            index.add(record)
        if entity == "EventRelation":
            self.relations_by_event.setdefault(record["EventId"], set()).add(record_id)

    def drop(self, record_id: str) -> None:
        entity = self.entity_of.pop(record_id)
        del self.records[record_id]
        record = self.by_object[entity.lower()].pop(record_id)
        self.ordinals.pop(record_id, None)
        for index in self.indexes.get(entity.lower(), {}).values():
            index.remove(record)
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

    def index(self, entity: str, field_name: str, key_name: str, key: IndexKey) -> FieldIndex:
        """The index of `entity`'s `field_name` under `key` (named `key_name`), built on first use."""
        by_field = self.indexes.setdefault(entity.lower(), {})
        index = by_field.get((field_name, key_name))
        if index is None:
            index = FieldIndex(field_name, key)
            for record in self.by_object.get(entity.lower(), {}).values():
                index.add(record)
            by_field[(field_name, key_name)] = index
        return index

    def rows_with_ids(self, entity: str, record_ids: Collection[str]) -> list[Record]:
        """The records of `entity` among `record_ids`, in creation order (as `rows` gives them)."""
        objects = self.by_object.get(entity.lower(), {})
        found = [record_id for record_id in record_ids if record_id in objects]
        found.sort(key=self.ordinals.__getitem__)
        return [objects[record_id] for record_id in found]


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
