"""UpdateItem: SetItemField, DeleteItemField, AppendToItemField, ConflictResolution, meeting updates.

Changes apply to a copy of the item first, so a change list that fails half-way leaves the item untouched.
"""

from __future__ import annotations

import copy

from . import meetings, series
from .context import RequestContext
from .items_xml import CLEARERS, append_item_element, apply_item_element, local
from .model import CalendarItem, property_key
from .ops_items import validate_times
from .store import check_change_key
from .wire import Element, EWSError, Response, attrs, m, sub, t

CONFLICT_MODES = ("NeverOverwrite", "AutoResolve", "AlwaysOverwrite")
# Properties the server computes or that are fixed once an item exists: setting one is ErrorInvalidPropertySet
READ_ONLY = frozenset(
    {f"item:{name}" for name in (
        "ItemId", "ParentFolderId", "ItemClass", "TextBody", "DateTimeReceived", "Size", "IsSubmitted",
        "IsDraft", "IsFromMe", "IsResend", "IsUnmodified", "InternetMessageHeaders", "DateTimeSent",
        "DateTimeCreated", "ResponseObjects", "DisplayCc", "DisplayTo", "HasAttachments", "EffectiveRights",
        "LastModifiedName", "LastModifiedTime", "IsAssociated", "WebClientReadFormQueryString",
        "WebClientEditFormQueryString", "ConversationId", "UniqueBody", "MimeContent",
    )}
    | {f"calendar:{name}" for name in (
        "RecurrenceId", "OriginalStart", "IsMeeting", "IsCancelled", "IsRecurring", "MeetingRequestWasSent",
        "CalendarItemType", "MyResponseType", "Organizer", "ConflictingMeetingCount", "AdjacentMeetingCount",
        "ConflictingMeetings", "AdjacentMeetings", "Duration", "AppointmentReplyTime",
        "AppointmentSequenceNumber", "AppointmentState", "FirstOccurrence", "LastOccurrence",
        "ModifiedOccurrences", "DeletedOccurrences", "IsOnlineMeeting",
    )}
)  # fmt: skip


def _path_and_value(change: Element) -> tuple[Element, Element | None]:
    path: Element | None = None
    value: Element | None = None
    for child in change:
        name = local(child)
        if name in ("FieldURI", "IndexedFieldURI", "ExtendedFieldURI"):
            path = child
        elif name in ("CalendarItem", "Item"):
            value = child
    if path is None:
        raise EWSError("ErrorInvalidPropertyRequest", "The update does not name a property.")
    return path, value


def _apply_change(item: CalendarItem, change: Element) -> None:
    kind = local(change)
    path, value = _path_and_value(change)
    if kind == "DeleteItemField":
        if local(path) == "ExtendedFieldURI":
            item.extended.pop(property_key(attrs(path)), None)
        else:
            clear = CLEARERS.get(path.get("FieldURI") or "")
            if clear is not None:
                clear(item)
        return
    if value is None:
        raise EWSError("ErrorInvalidPropertySet", "The update carries no item element with the new value.")
    if kind == "SetItemField" and (path.get("FieldURI") or "") in READ_ONLY:
        raise EWSError("ErrorInvalidPropertySet", "Set action is invalid for property.")
    if kind == "SetItemField":
        apply_item_element(item, value)
    elif kind == "AppendToItemField":
        append_item_element(item, value)


def _update_one(ctx: RequestContext, change_elem: Element, conflict: str, sending: str) -> CalendarItem:
    id_elem = next(
        (c for c in change_elem if local(c) in ("ItemId", "OccurrenceItemId", "RecurringMasterItemId")), None
    )
    if id_elem is None:
        raise EWSError("ErrorMissingArgument", "ItemChange needs an ItemId.")
    item = ctx.item(id_elem)
    change_key = id_elem.get("ChangeKey")
    if change_key:
        check_change_key(change_key)
    elif conflict == "NeverOverwrite":
        raise EWSError(
            "ErrorChangeKeyRequiredForWriteOperations", "A change key is required for this update."
        )
    if change_key and change_key != item.change_key and conflict == "NeverOverwrite":
        raise EWSError(
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the "
            "request does not match the current change key for the item.",
        )
    previous_invitees = meetings.invitees_of(ctx.store, item)
    draft = copy.deepcopy(item)
    updates = change_elem.find(t("Updates"))
    for change in [] if updates is None else list(updates):
        _apply_change(draft, change)
    validate_times(draft)
    moved = (draft.start, draft.end) != (item.start, item.end)
    if item.master_id is not None:
        return _update_occurrence(ctx, item, draft, sending, moved)
    series.settle(draft, before=item)
    item.__dict__.update(draft.__dict__)
    notify = (
        sending in meetings.SENDING
        and item.my_response_type == "Organizer"
        and bool(item.all_attendees() or previous_invitees)
    )
    if notify:
        item.sequence += 1
        if moved:
            # A new time sent to attendees asks them again: earlier answers no longer hold.
            meetings.reset_responses(item)
    ctx.store.touch(item)
    if notify:
        meetings.send_invitations(ctx.store, item, previous_invitees, time_changed=moved)
    return item


def _update_occurrence(
    ctx: RequestContext, occurrence: CalendarItem, draft: CalendarItem, sending: str, moved: bool
) -> CalendarItem:
    """An updated occurrence becomes an exception on its master; the master is what changes."""
    master = ctx.master_of(occurrence)
    series.store_exception(master, occurrence, draft)
    notify = (
        sending in meetings.SENDING
        and master.my_response_type == "Organizer"
        and bool(master.all_attendees())
    )
    if notify:
        master.sequence += 1
    ctx.store.touch(master)
    if notify:
        meetings.send_invitations(ctx.store, master)
    assert occurrence.original_start is not None
    return series.view(master, occurrence.original_start)


def update_item(ctx: RequestContext, request: Element) -> Response:
    response = Response("UpdateItem")
    conflict = request.get("ConflictResolution") or "AutoResolve"
    sending = request.get("SendMeetingInvitationsOrCancellations") or "SendToNone"
    changes = request.find(m("ItemChanges"))
    for change_elem in [] if changes is None else list(changes):
        try:
            if conflict not in CONFLICT_MODES:
                raise EWSError("ErrorInvalidOperation", f"ConflictResolution '{conflict}' is not valid.")
            item = _update_one(ctx, change_elem, conflict, sending)
        except EWSError as exc:
            response.error(exc.code, exc.text)
            continue
        msg = response.success()
        out = sub(sub(msg, m("Items")), t("CalendarItem"))
        sub(out, t("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
        sub(sub(msg, m("ConflictResults")), t("Count"), "0")
    return response


HANDLERS = {"UpdateItem": update_item}
