"""What the SOQL engine needs from the org: object definitions, rows, and records by id."""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..schema import SObjectDef


class Catalog(Protocol):
    def describe(self, sobject: str) -> SObjectDef | None:
        """The definition of `sobject` (matched case-insensitively); None when the org has no such object."""
        ...

    def rows(self, sobject: str, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        """Every record of `sobject` in creation order, keyed by the schema's field names; deleted ones
        (IsDeleted true) only when `include_deleted`."""
        ...

    def lookup(self, record_id: str) -> tuple[SObjectDef, Mapping[str, Any]] | None:
        """The record with this id, of whatever object, with its definition; None when there is none."""
        ...


@runtime_checkable
class IndexedCatalog(Catalog, Protocol):
    """A Catalog that can find records by field value without reading every record of the object."""

    def ids_with_keys(self, sobject: str, field: str, kind: str, keys: Collection[Hashable]) -> set[str]:
        """Ids of `sobject`'s records (deleted ones included) whose `field` holds a text value with one of
        `keys` as its `predicates.index_key(kind)`; it may name a few more records, never fewer."""
        ...

    def rows_with_ids(
        self, sobject: str, record_ids: Collection[str], include_deleted: bool
    ) -> list[Mapping[str, Any]]:
        """The records of `sobject` among `record_ids`, in the order `rows` gives them."""
        ...


class FullScan:
    """A catalog seen without its indexes, so every query reads every row: what an indexed read must equal
    (tests) and what it is measured against (bench/soql.py)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def describe(self, sobject: str) -> SObjectDef | None:
        return self.catalog.describe(sobject)

    def rows(self, sobject: str, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        return self.catalog.rows(sobject, include_deleted)

    def lookup(self, record_id: str) -> tuple[SObjectDef, Mapping[str, Any]] | None:
        return self.catalog.lookup(record_id)
