"""An Event's Who relations (the contacts or lead it is about), kept as Salesforce keeps them.

Shared Activities on: each Who is an EventRelation with IsParent = true and IsWhat = false; an event has up
to 50 Contacts or one Lead, never both; WhoId is the primary one (the first, until it is removed, when the
next one takes its place). `EventWhoIds` (a JunctionIdList) sets the whole list on create or update: WhoId
becomes its first id unless the write names a WhoId of its own, and null or an empty list removes every
Who but the WhoId. The list is write-only here: read it back through EventRelation (IsParent = true,
IsWhat = false). Shared Activities off: WhoId alone, one Contact or Lead, and no EventWhoIds field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.sandbox.salesforce.errors import field_integrity, record_error
from bridge.sandbox.salesforce.records import Record

if TYPE_CHECKING:
    from bridge.sandbox.salesforce.writes import Writer

MAX_WHO_CONTACTS = 50
WHO_IDS = "EventWhoIds"


def entity_of(w: Writer, record_id: str | None) -> str | None:
    return w.org.store.entity_of.get(record_id) if record_id else None


def relations_of(w: Writer, event_id: str) -> list[Record]:
    return [r for r in w.org.store.relations(event_id) if not r.get("IsDeleted")]


def who_rows(w: Writer, event_id: str) -> list[Record]:
    return [r for r in relations_of(w, event_id) if r.get("IsParent") and not r.get("IsWhat")]


def check_who_mix(w: Writer, event_id: str, new_who: str, ignore: str | None = None) -> None:
    """One Lead or up to 50 Contacts, never both, counting the Who rows the event will have."""
    others = [r["RelationId"] for r in who_rows(w, event_id) if r["RelationId"] not in (new_who, ignore)]
    _check_who_list(w, [*others, new_who], "WhoId")


def _check_who_list(w: Writer, who_ids: list[str], field: str) -> None:
    kinds = [entity_of(w, rid) for rid in who_ids]
    if "Lead" in kinds and len(who_ids) > 1:
        raise field_integrity("An event can be related to one lead or up to 50 contacts, not both.", [field])
    if len(who_ids) > MAX_WHO_CONTACTS:
        raise field_integrity("An event can be related to up to 50 contacts.", [field])


def _checked_ids(w: Writer, raw: list[str]) -> list[str]:
    """The listed ids, duplicates dropped, each a live Contact or Lead."""
    unique: list[str] = []
    for record_id in raw:
        target = w.org.store.get(record_id)
        if target is None or target.get("IsDeleted"):
            raise record_error(
                "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id: {record_id}", [WHO_IDS]
            )
        if entity_of(w, record_id) not in ("Contact", "Lead"):
            raise field_integrity(f"{WHO_IDS}: id value of incorrect type: {record_id}", [WHO_IDS])
        if record_id not in unique:
            unique.append(record_id)
    return unique


def take_who_ids(w: Writer, record: Record, given: dict[str, Any]) -> list[str] | None:
    """Before an Event write: the Who list the write sets (None when it sets none), with WhoId placed.

    Removes EventWhoIds from `record` (nothing stores it) and sets `record["WhoId"]` to the primary Who."""
    if WHO_IDS not in given:
        record.pop(WHO_IDS, None)
        return None
    listed = _checked_ids(w, list(record.pop(WHO_IDS, None) or []))
    primary = record.get("WhoId")
    if not listed:
        target = [primary] if primary else []
    else:
        if primary is None or ("WhoId" not in given and primary not in listed):
            primary = listed[0]
        target = listed if primary is None or primary in listed else [primary, *listed]
        record["WhoId"] = primary
    _check_who_list(w, target, WHO_IDS)
    return target


def set_who_list(w: Writer, event: Record, target: list[str]) -> None:
    """After an Event write: make its Who rows exactly `target` (the primary WhoId's row included)."""
    for row in who_rows(w, event["Id"]):
        if row["RelationId"] not in target:
            remove_who_row(w, event["Id"], row["RelationId"])
    for relation_id in target:
        add_who_row(w, event, relation_id)


def add_who_row(w: Writer, event: Record, relation_id: str) -> None:
    existing = next((r for r in relations_of(w, event["Id"]) if r["RelationId"] == relation_id), None)
    if existing is not None:
        if not existing.get("IsParent"):
            w.replace_internal(dict(existing, IsParent=True))
        return
    account = None
    if entity_of(w, relation_id) == "Contact":
        contact = w.org.store.get(relation_id)
        account = contact.get("AccountId") if contact else None
    w.insert_internal(
        "EventRelation",
        {
            "EventId": event["Id"],
            "RelationId": relation_id,
            "IsParent": True,
            "IsWhat": False,
            "IsInvitee": False,
            "Status": "New",
            "AccountId": account,
        },
    )


def remove_who_row(w: Writer, event_id: str, relation_id: str) -> None:
    for row in who_rows(w, event_id):
        if row["RelationId"] != relation_id:
            continue
        if row.get("IsInvitee"):
            w.replace_internal(dict(row, IsParent=False))
        else:
            w.delete_internal(row)


def replace_primary_who(w: Writer, event: Record, old: str | None, new: str | None) -> None:
    if old:
        remove_who_row(w, event["Id"], old)
    if new:
        add_who_row(w, event, new)
    else:
        promote_next_who(w, event["Id"], removed=old)


def promote_next_who(w: Writer, event_id: str, removed: str | None) -> None:
    """After the primary Who is removed, the next remaining Who row (oldest first) becomes WhoId."""
    event = w.org.store.get(event_id)
    if event is None or event.get("IsDeleted") or (event.get("WhoId") and event["WhoId"] != removed):
        return
    remaining = sorted(
        (r for r in who_rows(w, event_id) if r["RelationId"] != removed), key=lambda r: r["CreatedDate"]
    )
    next_who = remaining[0]["RelationId"] if remaining else None
    if event.get("WhoId") != next_who:
        w.replace_internal(dict(event, WhoId=next_who))
