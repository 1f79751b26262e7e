"""Runs a parsed query against a Catalog: filter, sort, page, and shape records the way the REST API does
(before it adds attributes.url and pages the result)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..schema import SObjectDef
from . import nodes
from .aggregate import aggregate_records
from .catalog import Catalog, IndexedCatalog
from .errors import INVALID_FIELD, SoqlError, unsupported_sobject
from .fields import FieldResolver, Relationship, ResolvedField, Row, parent_value
from .parser import parse
from .predicates import ConditionCompiler, equality_keys, index_key, order_key


@dataclass
class QueryResult:
    """Every matching record after OFFSET and LIMIT; `records` is empty for `SELECT COUNT()`, whose count
    is `total_size`. `ids` holds each record's Id, selected or not (REST builds `attributes.url` from it)."""

    sobject: SObjectDef = field(repr=False)
    records: list[dict[str, Any]]
    total_size: int
    ids: list[str | None] = field(default_factory=list, repr=False)


def run(
    text: str, catalog: Catalog, *, include_deleted: bool = False, now: datetime | None = None
) -> QueryResult:
    """Parse, check and evaluate one SOQL query. `include_deleted` is queryAll: rows with IsDeleted true
    take part only then. `now` fixes the clock for TODAY and friends (default: the current UTC time).
    Raises SoqlError with Salesforce's error code and message for anything Salesforce would refuse."""
    query = parse(text)
    sobject = catalog.describe(query.sobject)
    if sobject is None or not sobject.queryable:
        raise unsupported_sobject(text, query.sobject_position, query.sobject)
    resolver = FieldResolver(text, sobject, catalog)
    selected = _resolve_selection(text, resolver, query.fields)
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    matches = ConditionCompiler(text, resolver, today).compile(query.where) if query.where else None
    indexed = _indexed_rows(resolver, catalog, sobject, query.where, include_deleted)
    candidates = catalog.rows(sobject.name, include_deleted) if indexed is None else indexed
    rows = [
        row
        for row in candidates
        if (include_deleted or not row.get("IsDeleted")) and (matches is None or matches(row))
    ]
    if query.aggregates or query.group_by:
        records = aggregate_records(text, query, resolver, rows)
        return QueryResult(sobject, records, len(records), [None] * len(records))
    sort_keys = [(order_key(text, resolver, item), item.descending) for item in query.order_by]
    # Stable sorts from the last key to the first give the multi-key order.
    for key, descending in reversed(sort_keys):
        rows.sort(key=key, reverse=descending)
    start = query.offset or 0
    end = None if query.limit is None else start + query.limit
    rows = rows[start:end]
    if query.count_only:
        return QueryResult(sobject, [], len(rows))
    shape = _Shape(sobject, selected, resolver)
    return QueryResult(
        sobject, [shape.record(row) for row in rows], len(rows), [row.get("Id") for row in rows]
    )


def _indexed_rows(
    resolver: FieldResolver,
    catalog: Catalog,
    sobject: SObjectDef,
    where: nodes.Condition | None,
    include_deleted: bool,
) -> list[Row] | None:
    """The rows a WHERE can match, read through the catalog's indexes, in the order a full read gives
    them; None when no conjunct of the WHERE names values of a text or id field (then every row is read).
    The caller still tests the whole WHERE on each row, so the index only has to never miss one."""
    if where is None or not isinstance(catalog, IndexedCatalog):
        return None
    narrowest: set[str] | None = None
    for conjunct in _conjuncts(where):
        found = _ids_for(resolver, catalog, sobject, conjunct)
        if found is not None and (narrowest is None or len(found) < len(narrowest)):
            narrowest = found
    if narrowest is None:
        return None
    return catalog.rows_with_ids(sobject.name, narrowest, include_deleted)


def _conjuncts(condition: nodes.Condition) -> list[nodes.Condition]:
    if isinstance(condition, nodes.And):
        return [part for operand in condition.operands for part in _conjuncts(operand)]
    return [condition]


def _ids_for(
    resolver: FieldResolver, catalog: IndexedCatalog, sobject: SObjectDef, condition: nodes.Condition
) -> set[str] | None:
    """Ids of the rows that may satisfy one conjunct, or None when an index cannot tell. A parent field
    (`Event.OwnerId IN (...)`) goes through two indexes: the parents with those values, then the rows
    whose reference holds one of those parents (a reference only ever holds its target's ids)."""
    keyed = equality_keys(resolver, condition)
    if keyed is None:
        return None
    field_name, relationship = keyed.field.field.name, keyed.field.relationship
    if relationship is None:
        return catalog.ids_with_keys(sobject.name, field_name, keyed.kind, keyed.keys)
    if relationship.target is None:
        return None  # polymorphic: the parent may be of several objects
    parents = catalog.ids_with_keys(relationship.target.name, field_name, keyed.kind, keyed.keys)
    id_key = index_key("id")
    parent_keys = frozenset(id_key(parent_id) for parent_id in parents)
    return catalog.ids_with_keys(sobject.name, relationship.reference.name, "id", parent_keys)


def _resolve_selection(text: str, resolver: FieldResolver, paths: tuple[Any, ...]) -> list[ResolvedField]:
    selected: list[ResolvedField] = []
    seen: set[str] = set()
    for path in paths:
        resolved = resolver.resolve(path)
        label = resolved.label
        if label.lower() in seen:
            raise SoqlError(INVALID_FIELD, f"duplicate field selected: {label}")
        seen.add(label.lower())
        selected.append(resolved)
    return selected


class _Shape:
    """Turns a row into a REST record: selected fields in select order, parent fields grouped under their
    relationship (None when the reference is empty or its target is gone)."""

    def __init__(self, sobject: SObjectDef, selected: list[ResolvedField], resolver: FieldResolver) -> None:
        self.type_name = sobject.name
        self.parents = resolver.parents
        # Output slots in first-appearance order: a field name, or a relationship with its fields.
        self.slots: list[str | tuple[Relationship, list[ResolvedField]]] = []
        groups: dict[str, list[ResolvedField]] = {}
        for resolved in selected:
            if resolved.relationship is None:
                self.slots.append(resolved.field.name)
                continue
            name = resolved.relationship.name
            if name not in groups:
                groups[name] = []
                self.slots.append((resolved.relationship, groups[name]))
            groups[name].append(resolved)

    def record(self, row: Row) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": self.type_name}}
        for slot in self.slots:
            if isinstance(slot, str):
                record[slot] = row.get(slot)
            else:
                relationship, fields = slot
                record[relationship.name] = self._parent(row, relationship, fields)
        return record

    def _parent(
        self, row: Row, relationship: Relationship, fields: list[ResolvedField]
    ) -> dict[str, Any] | None:
        parent_id = row.get(relationship.reference.name)
        parent = self.parents.get(parent_id) if parent_id else None
        if parent is None:
            return None
        nested: dict[str, Any] = {"attributes": {"type": parent[0].name}}
        polymorphic = relationship.target is None
        for resolved in fields:
            wants_type = polymorphic and resolved.field.name == "Type"
            nested[resolved.field.name] = parent_value(parent, resolved.field, wants_type)
        return nested


__all__ = ["QueryResult", "run"]
