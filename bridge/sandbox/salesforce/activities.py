"""Salesforce's rules for Events and EventRelations, applied by the Writer at each write.

- Time fields stay consistent (`events.resolve`).
- Each User invitee (EventRelation, IsInvitee, RelationId a User) has a child Event: IsChild = true, owned by
  the invitee, with the parent's subject, times, location and description, kept in step with the parent.
  Deleting the relation (or the parent) deletes it; undeleting brings the same child back (see
  `Writer.undelete`). A child can only have its reminder changed.
- Who relations (WhoId, EventWhoIds and their EventRelation rows): see `who_relations.py`.
- A private event has no Who or What.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bridge.sandbox.salesforce import events
from bridge.sandbox.salesforce.errors import field_integrity, record_error
from bridge.sandbox.salesforce.records import Record
from bridge.sandbox.salesforce.schema import SObjectDef
from bridge.sandbox.salesforce.who_relations import (
    add_who_row,
    check_who_mix,
    entity_of,
    promote_next_who,
    relations_of,
    replace_primary_who,
    set_who_list,
    take_who_ids,
    who_rows,
)

if TYPE_CHECKING:
    from bridge.sandbox.salesforce.writes import Writer

CHILD_EDITABLE = frozenset({"IsReminderSet", "ReminderDateTime"})
# Parent fields a child event mirrors.
MIRRORED = (
    "Subject",
    "Location",
    "Description",
    "ShowAs",
    "IsPrivate",
    "Type",
    *events.TIME_FIELDS,
)


def _private_error() -> Exception:
    return field_integrity(
        "You can't associate a private event with a contact, lead, or other record.", ["IsPrivate"]
    )


# -- dispatch ------------------------------------------------------------------------------------------


def before_create(w: Writer, sobject: SObjectDef, record: Record, given: dict[str, Any]) -> None:
    if sobject.name == "User":
        _check_username(w, record)
    elif sobject.name == "Event":
        record["GroupEventType"] = "0"
        _event_before_write(w, None, record, given)
    elif sobject.name == "EventRelation":
        _relation_before_create(w, record, given)


def after_create(w: Writer, sobject: SObjectDef, record: Record) -> None:
    if sobject.name == "Event" and w.org.shared_activities:
        if record.get("WhoId"):
            add_who_row(w, record, record["WhoId"])
        if record["Id"] in w.who_lists:
            set_who_list(w, record, w.who_lists.pop(record["Id"]))
    elif sobject.name == "EventRelation":
        _relation_after_change(w, None, record)
        _update_group_flag(w, record["EventId"])


def before_update(
    w: Writer, sobject: SObjectDef, current: Record, record: Record, given: dict[str, Any]
) -> None:
    if sobject.name == "User" and "Username" in given and given["Username"] != current.get("Username"):
        _check_username(w, record)
    elif sobject.name == "Event":
        if current.get("IsChild") and set(given) - CHILD_EDITABLE:
            raise field_integrity(
                "You can't edit an invitee's copy of an event; only its reminder can be changed.",
                sorted(set(given) - CHILD_EDITABLE),
            )
        _event_before_write(w, current, record, given)
    elif sobject.name == "EventRelation":
        _relation_before_update(w, current, record, given)


def after_update(w: Writer, sobject: SObjectDef, before: Record, record: Record) -> None:
    if sobject.name == "Event":
        if w.org.shared_activities and before.get("WhoId") != record.get("WhoId"):
            replace_primary_who(w, record, before.get("WhoId"), record.get("WhoId"))
        if record["Id"] in w.who_lists:
            set_who_list(w, record, w.who_lists.pop(record["Id"]))
        if any(before.get(name) != record.get(name) for name in MIRRORED):
            _mirror_to_children(w, record)
    elif sobject.name == "EventRelation":
        _relation_after_change(w, before, record)
        _update_group_flag(w, record["EventId"])


def before_delete(w: Writer, sobject: SObjectDef, record: Record) -> None:
    if sobject.name == "Event":
        if record.get("IsChild"):
            raise field_integrity(
                "You can't delete an invitee's copy of an event; remove the invitee instead."
            )
        for relation in relations_of(w, record["Id"]):
            _drop_child(w, relation, deleting=True)
            w.delete_internal(relation, deleted_with=record["Id"])
    elif sobject.name == "EventRelation":
        _drop_child(w, record, deleting=True)
        if record.get("IsParent") and not record.get("IsWhat"):
            promote_next_who(w, record["EventId"], removed=record["RelationId"])


def after_delete(w: Writer, sobject: SObjectDef, record: Record) -> None:
    if sobject.name == "EventRelation":
        _update_group_flag(w, record["EventId"])


def _check_username(w: Writer, record: Record) -> None:
    username = str(record.get("Username") or "")
    if username and w.org.user_by_username(username) is not None:
        raise record_error(
            "DUPLICATE_USERNAME",
            "Duplicate Username. The username already exists in this or another Salesforce organization. "
            "Usernames must be unique across all Salesforce organizations.",
            ["Username"],
        )


# -- Event ---------------------------------------------------------------------------------------------


def _event_before_write(w: Writer, current: Record | None, record: Record, given: dict[str, Any]) -> None:
    who_list = take_who_ids(w, record, given)
    if who_list is not None:
        w.who_lists[record["Id"]] = who_list
    if current is None or events.touches_times(given):
        record.update(events.resolve(current, given))
    if record.get("IsPrivate") and (record.get("WhoId") or record.get("WhatId")):
        raise _private_error()
    if current is not None and record.get("IsPrivate") and who_rows(w, record["Id"]):
        raise _private_error()
    if record.get("WhatId") and entity_of(w, record["WhatId"]) == "Account":
        record["AccountId"] = record["WhatId"]
    elif record.get("WhoId") and entity_of(w, record["WhoId"]) == "Contact":
        contact = w.org.store.get(record["WhoId"])
        record["AccountId"] = contact.get("AccountId") if contact else None
    else:
        record["AccountId"] = None
    if "WhoId" in given and who_list is None and record.get("WhoId") and w.org.shared_activities and current:
        check_who_mix(w, record["Id"], record["WhoId"], ignore=current.get("WhoId"))


def _mirror_to_children(w: Writer, parent: Record) -> None:
    for relation in relations_of(w, parent["Id"]):
        child_id = w.org.store.child_events.get(relation["Id"])
        child = w.org.store.get(child_id) if child_id else None
        if child is None or child.get("IsDeleted"):
            continue
        updated = dict(child)
        updated.update({name: parent.get(name) for name in MIRRORED})
        if updated != child:
            w.replace_internal(updated)


# -- EventRelation -------------------------------------------------------------------------------------


def _relation_before_create(w: Writer, record: Record, given: dict[str, Any]) -> None:
    shared = w.org.shared_activities
    if "IsInvitee" not in given and (given.get("IsParent") or given.get("IsWhat")):
        record["IsInvitee"] = False
    event = w.org.store.get(record.get("EventId") or "")
    if event is None:
        return  # REQUIRED_FIELD_MISSING follows
    if event.get("IsChild"):
        raise field_integrity("You can't add an EventRelation to a child event.", ["EventId"])
    relation_id = record.get("RelationId")
    if relation_id is None:
        return
    duplicate = next((r for r in relations_of(w, event["Id"]) if r["RelationId"] == relation_id), None)
    if duplicate is not None:
        raise record_error(
            "DUPLICATE_VALUE",
            f"duplicate value found: RelationId duplicates value on record with id: {duplicate['Id']}",
            ["RelationId"],
        )
    kind = entity_of(w, relation_id)
    if record.get("IsWhat") and not record.get("IsParent"):
        raise field_integrity("IsWhat can be true only when IsParent is true.", ["IsWhat"])
    if shared and record.get("IsParent"):
        _check_parent_relation(w, event, record, kind)
    if record.get("IsInvitee") and kind not in ("User", "Contact", "Lead"):
        raise field_integrity(f"RelationId: id value of incorrect type: {relation_id}", ["RelationId"])
    if not (record.get("IsInvitee") or record.get("IsParent")):
        raise field_integrity("An EventRelation must be an invitee or a parent relation.", ["IsInvitee"])
    if kind == "Contact" and shared:
        contact = w.org.store.get(relation_id)
        record["AccountId"] = contact.get("AccountId") if contact else None
    if record.get("Status") in ("Accepted", "Declined") and record.get("RespondedDate") is None:
        record["RespondedDate"] = w.now


def _check_parent_relation(w: Writer, event: Record, record: Record, kind: str | None) -> None:
    if event.get("IsPrivate"):
        raise _private_error()
    if record.get("IsWhat"):
        if kind in ("User", "Contact", "Lead"):
            raise field_integrity(
                f"RelationId: id value of incorrect type: {record['RelationId']}", ["RelationId"]
            )
        if event.get("WhatId") and event["WhatId"] != record["RelationId"]:
            raise field_integrity("An event can be related to only one record as its What.", ["RelationId"])
        return
    if kind not in ("Contact", "Lead"):
        raise field_integrity(
            f"RelationId: id value of incorrect type: {record['RelationId']}", ["RelationId"]
        )
    check_who_mix(w, event["Id"], record["RelationId"])


def _relation_before_update(w: Writer, current: Record, record: Record, given: dict[str, Any]) -> None:
    event = w.org.store.get(record["EventId"])
    kind = entity_of(w, record["RelationId"])
    if record.get("IsParent") and not current.get("IsParent") and event is not None:
        _check_parent_relation(w, event, record, kind)
    if not (record.get("IsInvitee") or record.get("IsParent")):
        raise field_integrity("An EventRelation must be an invitee or a parent relation.", ["IsInvitee"])
    if (
        "Status" in given
        and record.get("Status") != current.get("Status")
        and record.get("Status") in ("Accepted", "Declined")
        and "RespondedDate" not in given
    ):
        record["RespondedDate"] = w.now


def _relation_after_change(w: Writer, before: Record | None, record: Record) -> None:
    was_invitee = bool(before and before.get("IsInvitee"))
    is_user = entity_of(w, record["RelationId"]) == "User"
    if is_user and record.get("IsInvitee") and not was_invitee:
        _make_child(w, record)
    elif is_user and was_invitee and not record.get("IsInvitee"):
        _drop_child(w, record)
    was_who = bool(before and before.get("IsParent") and not before.get("IsWhat"))
    is_who = bool(record.get("IsParent") and not record.get("IsWhat"))
    event = w.org.store.get(record["EventId"])
    if event is None:
        return
    if is_who and not was_who and not event.get("WhoId"):
        w.replace_internal(dict(event, WhoId=record["RelationId"]))
    elif was_who and not is_who:
        promote_next_who(w, event["Id"], removed=record["RelationId"])
    if record.get("IsWhat") and record.get("IsParent") and not event.get("WhatId"):
        w.replace_internal(dict(event, WhatId=record["RelationId"]))


def _make_child(w: Writer, relation: Record) -> None:
    parent = w.org.store.get(relation["EventId"])
    if parent is None:
        return
    fields = {name: parent.get(name) for name in MIRRORED}
    fields.update(
        {"OwnerId": relation["RelationId"], "IsChild": True, "IsGroupEvent": True, "GroupEventType": "1"}
    )
    child = w.insert_internal("Event", fields)
    w.log.link_child(relation["Id"], child["Id"])


def _update_group_flag(w: Writer, event_id: str) -> None:
    """An event with invitees of any kind is a group event (GroupEventType 1); without, it is not (0)."""
    event = w.org.store.get(event_id)
    if event is None or event.get("IsDeleted") or event.get("IsChild"):
        return
    grouped = any(r.get("IsInvitee") for r in relations_of(w, event_id))
    if bool(event.get("IsGroupEvent")) != grouped:
        w.replace_internal(dict(event, IsGroupEvent=grouped, GroupEventType="1" if grouped else "0"))


def _drop_child(w: Writer, relation: Record, deleting: bool = False) -> None:
    """Delete the relation's child event. When the relation itself is being deleted, the child stays
    linked to it, so undeleting the relation restores the same child."""
    child_id = w.org.store.child_events.get(relation["Id"])
    child = w.org.store.get(child_id) if child_id else None
    if child is not None and not child.get("IsDeleted"):
        w.delete_internal(child, deleted_with=relation["Id"] if deleting else None)
    if child_id and not deleting:
        w.log.link_child(relation["Id"], None)


def after_undelete(w: Writer, sobject: SObjectDef, record: Record) -> None:
    """A relation restored on its own: its event's group flag and primary Who follow."""
    if sobject.name != "EventRelation":
        return
    event = w.org.store.get(record["EventId"])
    is_who = record.get("IsParent") and not record.get("IsWhat")
    if is_who and event is not None and not event.get("WhoId"):
        w.replace_internal(dict(event, WhoId=record["RelationId"]))
    _update_group_flag(w, record["EventId"])
