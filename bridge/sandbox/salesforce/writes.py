"""Creating, updating and deleting records inside one transaction, with Salesforce's generic field checks.

Object-specific rules (Event times, invitees, Who relations) live in `activities.py`; this module calls them
at the points Salesforce applies them: after field validation, before the record is stored, and after.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bridge.sandbox.salesforce import activities, series, values
from bridge.sandbox.salesforce.errors import SalesforceError, not_found, record_error
from bridge.sandbox.salesforce.records import Record, TransactionLog
from bridge.sandbox.salesforce.schema import FieldDef, SObjectDef

if TYPE_CHECKING:
    from bridge.sandbox.salesforce.org import Org

_SYSTEM_FIELDS = ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
_PERSON_OBJECTS = ("user", "contact", "lead")


def _unwritable(names: list[str]) -> SalesforceError:
    joined = ", ".join(names)
    return record_error(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {joined}. Please check the security settings of this field and "
        "verify that it is read/write for your profile or permission set.",
        names,
    )


class Writer:
    """The write half of one open transaction; see `Org.transaction`."""

    def __init__(self, org: Org, log: TransactionLog, user_id: str, now: datetime) -> None:
        self.org = org
        self.log = log
        self.user_id = user_id
        self.now = now
        # Event id -> the Who list an EventWhoIds write sets, from the rule before the write to the one after.
        self.who_lists: dict[str, list[str]] = {}
        self.api_version = "62.0"  # the API version of the call (series edits depend on it)

    # -- field checks ------------------------------------------------------------------------------------

    def sobject(self, name: str) -> SObjectDef:
        found = self.org.describe(name)
        if found is None or found.platform_event or found.name == "Organization":
            raise not_found()
        return found

    def checked_fields(self, sobject: SObjectDef, raw: Mapping[str, Any]) -> dict[str, Any]:
        """`raw` checked as an insert of `sobject` would check it, required fields included; not stored."""
        given = self._given(sobject, raw, creating=True)
        record: Record = {f.name: f.default for f in sobject.fields if f.createable}
        record.update(given)
        self._check_required(sobject, record)
        return given

    def _given(self, sobject: SObjectDef, raw: Mapping[str, Any], creating: bool) -> dict[str, Any]:
        """`raw` (JSON body fields) checked and coerced; keys use the schema's spelling."""
        given: dict[str, Any] = {}
        unwritable: list[str] = []
        for key, value in raw.items():
            if key == "attributes":
                continue
            fdef = sobject.field(key)
            if fdef is None:
                raise record_error(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject.name}"
                )
            if fdef.name == "Id":
                if creating:
                    raise record_error("INVALID_FIELD", "Record ID: cannot specify Id in an insert call")
                continue
            if not (fdef.createable if creating else fdef.updateable):
                unwritable.append(fdef.name)
                continue
            given[fdef.name] = self._coerce(fdef, value)
        if unwritable:
            raise _unwritable(unwritable)
        return given

    def _coerce(self, fdef: FieldDef, raw: Any) -> Any:
        value = values.coerce(fdef, raw)
        restricted = fdef.type == "picklist" and fdef.picklist_values
        if value is not None and restricted and value not in fdef.picklist_values:
            raise record_error(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{fdef.name}: bad value for restricted picklist field: {value}",
                [fdef.name],
            )
        if value is not None and fdef.type == "reference":
            self._check_reference(fdef, value)
        return value

    def _check_reference(self, fdef: FieldDef, record_id: str) -> None:
        target = self.org.store.get(record_id)
        if target is None or target.get("IsDeleted"):
            raise record_error(
                "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {record_id}", [fdef.name]
            )
        entity = self.org.store.entity_of[record_id]
        if fdef.reference_to and entity not in fdef.reference_to:
            raise record_error(
                "FIELD_INTEGRITY_EXCEPTION",
                f"{fdef.name}: id value of incorrect type: {record_id}",
                [fdef.name],
            )

    @staticmethod
    def _check_required(sobject: SObjectDef, record: Record, only: set[str] | None = None) -> None:
        missing = [
            f.name
            for f in sobject.fields
            if not f.nillable
            and f.createable
            and f.type != "boolean"
            and record.get(f.name) is None
            and (only is None or f.name in only)
        ]
        if missing:
            raise record_error(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )

    def _derive(self, sobject: SObjectDef, record: Record) -> None:
        lower = sobject.name.lower()
        if lower in _PERSON_OBJECTS:
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(str(p) for p in parts if p)

    def _stamp(self, record: Record) -> None:
        record["LastModifiedDate"] = self.now
        record["LastModifiedById"] = self.user_id
        record["SystemModstamp"] = self.now

    # -- operations --------------------------------------------------------------------------------------

    def create(self, sobject_name: str, raw: Mapping[str, Any]) -> str:
        """Insert a record from JSON-ish field values; returns its id."""
        sobject = self.sobject(sobject_name)
        given = self._given(sobject, raw, creating=True)
        record: Record = {f.name: f.default for f in sobject.fields}
        record.update(given)
        record_id = self.org.store.new_id(sobject.key_prefix)
        record["Id"] = record_id
        if sobject.field("OwnerId") is not None and record.get("OwnerId") is None:
            record["OwnerId"] = self.user_id
        record["IsDeleted"] = False
        record["CreatedDate"] = self.now
        record["CreatedById"] = self.user_id
        self._stamp(record)
        self._derive(sobject, record)
        if sobject.field("Name") is not None and sobject.name.lower() in self.org.autonumbers:
            record["Name"] = self._autonumber(sobject.name)
        activities.before_create(self, sobject, record, given)
        self._check_required(sobject, record)
        if sobject.name == "Event" and record.get("Recurrence2PatternText") is not None:
            return series.create_lightning(self, sobject, record, self.api_version)
        if sobject.name == "Event" and record.get("IsRecurrence"):
            return series.create_classic(self, sobject, record)
        self.log.insert(sobject.name, record)
        activities.after_create(self, sobject, record)
        return record_id

    def _autonumber(self, sobject_name: str) -> str:
        display = self.org.autonumbers[sobject_name.lower()]
        counter_key = "#" + sobject_name
        serial = self.org.store.serials.get(counter_key, 0) + 1
        self.org.store.serials[counter_key] = serial
        start, end = display.find("{"), display.find("}")
        if start < 0 or end < start:
            return f"{display}{serial}"
        width = end - start - 1
        return f"{display[:start]}{serial:0{width}d}{display[end + 1 :]}"

    def live(self, sobject: SObjectDef | None, record_id: str) -> tuple[SObjectDef, Record]:
        return self.org.get_record(sobject, record_id)

    def update(self, sobject_name: str | None, record_id: str, raw: Mapping[str, Any]) -> None:
        """Apply JSON-ish field values to a live record."""
        expected = self.sobject(sobject_name) if sobject_name else None
        sobject, current = self.live(expected, record_id)
        given = self._given(sobject, raw, creating=False)
        exception = False
        if sobject.name == "Event" and current.get("IsRecurrence2") and not current.get("IsChild"):
            if series.update_lightning(self, sobject, current, given):
                return
            exception = True  # a past occurrence (or API < 58.0): only this row changes
        record = dict(current)
        record.update(given)
        if exception:
            record["IsRecurrence2Exception"] = True
        activities.before_update(self, sobject, current, record, given)
        self._check_required(sobject, record, only=set(given))
        self._derive(sobject, record)
        self._stamp(record)
        self.log.replace(record)
        activities.after_update(self, sobject, current, record)

    def replace_internal(self, record: Record) -> None:
        """Store a changed copy of a record made by a rule (child events, Who upkeep), stamped."""
        self._stamp(record)
        self.log.replace(record)

    def insert_internal(self, sobject_name: str, fields: Mapping[str, Any]) -> Record:
        """Insert a record a rule derives (child events, relation rows), bypassing writability checks."""
        sobject = self.sobject(sobject_name)
        record: Record = {f.name: f.default for f in sobject.fields}
        record.update(fields)
        record["Id"] = self.org.store.new_id(sobject.key_prefix)
        record["IsDeleted"] = False
        record["CreatedDate"] = self.now
        record["CreatedById"] = self.user_id
        self._stamp(record)
        self.log.insert(sobject.name, record)
        return record

    def delete(self, sobject_name: str | None, record_id: str) -> None:
        expected = self.sobject(sobject_name) if sobject_name else None
        sobject, current = self.live(expected, record_id)
        activities.before_delete(self, sobject, current)
        self.delete_internal(current)
        activities.after_delete(self, sobject, current)

    def delete_internal(self, current: Record, deleted_with: str | None = None) -> None:
        """Mark a record deleted; `deleted_with` names the record whose deletion takes this one along."""
        record = dict(current)
        record["IsDeleted"] = True
        record["SystemModstamp"] = self.now
        self.log.replace(record, "DELETE")
        if deleted_with is not None:
            self.log.mark_deleted_with(record["Id"], deleted_with)

    def undelete(self, record_id: str) -> None:
        """Restore a deleted record from the recycle bin (not reachable through REST), with every record
        its deletion took along: an event's relations and their child events, a relation's child event."""
        record = self.org.store.get(record_id)
        if record is None:
            raise not_found()
        if not record.get("IsDeleted"):
            raise record_error("UNDELETE_FAILED", "Entity is not in the recycle bin")
        entity = self.org.store.entity_of[record_id]
        if entity == "Event" and record.get("IsChild"):
            raise record_error(
                "UNDELETE_FAILED", "An invitee's copy of an event is restored with its invitee"
            )
        event = self.org.store.get(record.get("EventId") or "") if entity == "EventRelation" else None
        if event is not None and event.get("IsDeleted"):
            raise record_error("UNDELETE_FAILED", "The event of this relation is in the recycle bin")
        self._restore(record)
        activities.after_undelete(self, self.sobject(entity), self.org.store.records[record_id])

    def _restore(self, record: Record) -> None:
        restored = dict(record)
        restored["IsDeleted"] = False
        self._stamp(restored)
        self.log.replace(restored, "UNDELETE")
        store = self.org.store
        for dependent_id in [rid for rid, cause in store.deleted_with.items() if cause == record["Id"]]:
            self.log.mark_deleted_with(dependent_id, None)
            dependent = store.get(dependent_id)
            if dependent is not None and dependent.get("IsDeleted"):
                self._restore(dependent)

    def savepoint(self) -> Any:
        return self.log.savepoint()

    def rollback(self, savepoint: Any) -> None:
        self.log.rollback(savepoint)
