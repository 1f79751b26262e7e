"""Field paths in a query resolved against the schema: which field, through which relationship, and how to
read its value from a row.

A relationship path (`Who.Name`) reads the parent through `Catalog.lookup`, once per id per query.
Polymorphic relationships (Who, What, Relation, Event's Owner) describe their parent as Salesforce's
`Name` entity: only its fields may be asked for, and a field the actual parent lacks reads as None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..schema import FieldDef, SObjectDef
from .catalog import Catalog
from .errors import no_such_column, unknown_relationship
from .nodes import FieldPath

Row = Mapping[str, Any]
Getter = Callable[[Row], Any]

NAME_ENTITY = "Name"
# The fields of Salesforce's polymorphic `Name` entity that the sandbox's objects can carry.
_NAME_FIELDS = {
    f.name.lower(): f
    for f in (
        FieldDef("Id", "id"),
        FieldDef("Name", "string"),
        FieldDef("FirstName", "string"),
        FieldDef("LastName", "string"),
        FieldDef("Alias", "string"),
        FieldDef("Email", "email"),
        FieldDef("Phone", "phone"),
        FieldDef("Title", "string"),
        FieldDef("Type", "picklist"),
        FieldDef("Username", "string"),
        FieldDef("IsActive", "boolean"),
        FieldDef("UserRoleId", "reference"),
        FieldDef("ProfileId", "reference"),
        FieldDef("RecordTypeId", "reference"),
        FieldDef("LastReferencedDate", "datetime"),
        FieldDef("LastViewedDate", "datetime"),
    )
}
# Event.Owner may be a User or a Calendar, so Salesforce treats it as polymorphic there only.
_POLYMORPHIC_OWNER = frozenset({"event"})


@dataclass(frozen=True)
class Relationship:
    name: str  # as the schema spells it: Who, Owner, User__r
    reference: FieldDef  # the id field it follows: WhoId, OwnerId, User__c
    target: SObjectDef | None  # None when polymorphic


@dataclass(frozen=True)
class ResolvedField:
    field: FieldDef  # the leaf field (for a polymorphic parent, the Name entity's definition)
    relationship: Relationship | None
    getter: Getter

    @property
    def label(self) -> str:
        return f"{self.relationship.name}.{self.field.name}" if self.relationship else self.field.name


class ParentCache:
    """Parents looked up by id, once each for the whole query."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._found: dict[str, tuple[SObjectDef, Row] | None] = {}

    def get(self, record_id: str) -> tuple[SObjectDef, Row] | None:
        if record_id not in self._found:
            self._found[record_id] = self._catalog.lookup(record_id)
        return self._found[record_id]


class FieldResolver:
    """Resolves paths of one query against its FROM object; errors point into `query_text`."""

    def __init__(self, query_text: str, sobject: SObjectDef, catalog: Catalog) -> None:
        self.query_text = query_text
        self.sobject = sobject
        self.catalog = catalog
        self.parents = ParentCache(catalog)
        self._relationships = {
            name.lower(): f
            for f in sobject.fields
            if f.type == "reference" and (name := relationship_name(f))
        }

    def resolve(self, path: FieldPath) -> ResolvedField:
        if len(path.parts) == 1:
            field = self.sobject.field(path.parts[0])
            if field is None:
                raise no_such_column(self.query_text, path.position, path.parts[0], self.sobject.name)
            name = field.name
            return ResolvedField(field, None, lambda row: row.get(name))
        head, leaf = path.parts[0], path.parts[1]
        reference = self._relationships.get(head.lower())
        if reference is None:
            raise unknown_relationship(self.query_text, path.position, head)
        relationship = self._relationship(reference, path)
        if len(path.parts) > 2:
            # One level of parent fields is what the sandbox serves.
            raise unknown_relationship(self.query_text, path.position, path.parts[1])
        if relationship.target is None:
            field = _NAME_FIELDS.get(leaf.lower())
            if field is None:
                raise no_such_column(self.query_text, path.position, leaf, NAME_ENTITY)
        else:
            field = relationship.target.field(leaf)
            if field is None:
                raise no_such_column(self.query_text, path.position, leaf, relationship.target.name)
        return ResolvedField(field, relationship, self._parent_getter(relationship, field))

    def _relationship(self, reference: FieldDef, path: FieldPath) -> Relationship:
        name = relationship_name(reference) or ""
        polymorphic = len(reference.reference_to) > 1 or (
            name.lower() == "owner" and self.sobject.name.lower() in _POLYMORPHIC_OWNER
        )
        if polymorphic:
            return Relationship(name, reference, None)
        target = self.catalog.describe(reference.reference_to[0]) if reference.reference_to else None
        if target is None:
            raise unknown_relationship(self.query_text, path.position, path.parts[0])
        return Relationship(name, reference, target)

    def _parent_getter(self, relationship: Relationship, field: FieldDef) -> Getter:
        reference_name = relationship.reference.name
        parents = self.parents
        wants_type = relationship.target is None and field.name == "Type"

        def read(row: Row) -> Any:
            parent_id = row.get(reference_name)
            parent = parents.get(parent_id) if parent_id else None
            if parent is None:
                return None
            return parent_value(parent, field, wants_type)

        return read


def parent_value(parent: tuple[SObjectDef, Row], field: FieldDef, wants_type: bool) -> Any:
    """`field` of a looked-up parent; None when the parent's object has no such field."""
    definition, record = parent
    if wants_type:
        return definition.name
    own = definition.field(field.name)
    return record.get(own.name) if own is not None else None


def relationship_name(reference: FieldDef) -> str | None:
    """The name a query uses to follow `reference`: the schema's relationship name for standard fields,
    `X__r` for a custom lookup `X__c` (the metadata's relationshipName names the child side)."""
    if reference.custom and reference.name.endswith("__c"):
        return reference.name[:-3] + "__r"
    return reference.relationship_name
