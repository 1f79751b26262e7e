"""The raw copies the store keeps per pair, and the small pure steps that keep them current.

A Salesforce change event is applied onto the stored Event record (R-FLD-3 fields and all), so an ordinary
change costs no REST read; `apply_change` says when it cannot be applied and the record must be read. The
pair key names a pair in the store for its whole life.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace

from bridge.core.fields import SalesforceRelation, event_from_salesforce, parse_datetime
from bridge.core.model import Copy, PairState, Relation, RelationKind, Side
from bridge.ports import ChangeType, EventChange, EventRecord

# Fields a change event carries that are not Event fields.
_NOT_FIELDS = frozenset({"ChangeEventHeader"})
# Fields Salesforce takes on a write but never gives back on a read: not part of the stored record.
_WRITE_ONLY = frozenset({"EventWhoIds"})


def pair_key(state: PairState) -> str:
    """The stable key of a pair: the core's `PairState.key` once it has one, else the origin side's id."""
    key = getattr(state, "key", None)
    if isinstance(key, str) and key:
        return key
    first = state.id_of(state.origin) or state.id_of(state.origin.other) or state.uid or ""
    return f"{state.origin.value[:2]}:{first}"


def waiting_key(copy: Copy) -> str:
    """Key for a state created from a lone copy, when the core gives none."""
    return f"{copy.side.value[:2]}:{copy.id}"


def event_version(record: EventRecord) -> str | None:
    """The version of an Event record, the way the core reads it (`bridge.core.fields`); None when the
    record holds too little to read (only the fields the bridge wrote)."""
    try:
        return event_copy(record).version
    except (ValueError, KeyError):
        return None


def apply_change(stored: EventRecord | None, change: EventChange, event_id: str) -> EventRecord | None:
    """The stored record with `change` applied, or None when the change cannot be applied without a read:
    diff-encoded fields, an unknown record that is not a CREATE, any EventRelation change, or a new Who
    (the primary Who is one of the event's attendees, R-ATT-9, and only a read tells its address)."""
    if change.entity != "Event" or change.diff_fields or "WhoId" in change.fields:
        return None
    fields = {k: v for k, v in change.fields.items() if k not in _NOT_FIELDS}
    if change.change_type in (ChangeType.CREATE, ChangeType.UNDELETE):
        if change.change_type is ChangeType.UNDELETE and stored is None:
            return None
        base: dict[str, object] = dict(stored.fields) if stored is not None else {}
        base.update(fields)
        base["Id"] = event_id
        # A CREATE carries ActivityDateTime + DurationInMinutes: the stored form keeps them as they came.
        return EventRecord(base, stored.relations if stored is not None else ())
    if change.change_type is ChangeType.UPDATE and stored is not None:
        merged = dict(stored.fields)
        merged.update(fields)
        _drop_stale_span(merged, fields)
        return EventRecord(merged, stored.relations)
    return None


def _drop_stale_span(merged: dict[str, object], changed: Mapping[str, object]) -> None:
    """A change event moves an event through ActivityDateTime/ActivityDate and DurationInMinutes
    (R-FLD-3): Start/End stored from an earlier REST read would then win over the new values, so the
    stored span is first restated in the change event's terms and Start/End dropped."""
    span_fields = ("ActivityDateTime", "ActivityDate", "DurationInMinutes", "IsAllDayEvent")
    if not any(k in changed for k in span_fields) or any(
        k in changed for k in ("StartDateTime", "EndDateTime")
    ):
        return
    start, end = merged.get("StartDateTime"), merged.get("EndDateTime")
    if "ActivityDateTime" not in merged and start is not None:
        merged["ActivityDateTime"] = start
    if "DurationInMinutes" not in merged and start is not None and end is not None:
        first, last = parse_datetime(start), parse_datetime(end)
        if first is not None and last is not None:
            merged["DurationInMinutes"] = int((last - first).total_seconds() // 60)
    merged.pop("StartDateTime", None)
    merged.pop("EndDateTime", None)


def event_copy(record: EventRecord) -> Copy:
    return event_from_salesforce(record.fields, record.relations)


def with_fields(record: EventRecord | None, event_id: str, written: Mapping[str, object]) -> EventRecord:
    """The stored record after the bridge wrote `written` onto it."""
    fields: dict[str, object] = dict(record.fields) if record is not None else {"Id": event_id}
    fields.update((name, value) for name, value in written.items() if name not in _WRITE_ONLY)
    if any(k in written for k in ("StartDateTime", "EndDateTime", "ActivityDate", "IsAllDayEvent")):
        for derived in ("ActivityDateTime", "DurationInMinutes"):
            if derived not in written:
                fields.pop(derived, None)
    return EventRecord(fields, record.relations if record is not None else ())


def with_relations(record: EventRecord, relations: Iterable[SalesforceRelation]) -> EventRecord:
    return EventRecord(record.fields, tuple(relations))


def relation_row(relation: Relation, email: str | None, status: str) -> SalesforceRelation:
    return SalesforceRelation(relation.relation_id, relation.kind, email, status, relation.owned_by_user)


def user_relation(user_id: str, email: str, status: str) -> SalesforceRelation:
    return SalesforceRelation(user_id, RelationKind.USER, email, status)


def with_ids(state: PairState, side: Side, record_id: str, version: str | None) -> PairState:
    """`after_write`, also when the service did not say the new version (the echo will bring it)."""
    if version:
        return state.after_write(side, record_id, version)
    if side is Side.SALESFORCE:
        return replace(state, sf_id=record_id, sf_version=None)
    return replace(state, ex_id=record_id, ex_version=None)


def digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:16]
