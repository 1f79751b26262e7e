"""What the SOQL engine needs from the org: object definitions, rows, and records by id."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

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
