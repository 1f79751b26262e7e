"""CreateItem (calendar items and meeting responses/cancellations), GetItem, DeleteItem."""

from __future__ import annotations

from datetime import timedelta

from . import meetings, series
from .context import RequestContext
from .items_xml import apply_item_element, local, normalise_all_day, read_shape, write_item
from .model import CalendarItem, Folder, Mailbox
from .store import CALENDAR_LIKE
from .wire import Element, EWSError, Response, m, sub, t

DELETE_TYPES = ("HardDelete", "SoftDelete", "MoveToDeletedItems")


def validate_times(item: CalendarItem) -> None:
    if item.start is None:
        item.start = item.created.replace(minute=0, second=0) + timedelta(hours=1)
    if item.end is None:
        item.end = item.start + timedelta(minutes=30)
    if item.end < item.start:
        raise EWSError("ErrorCalendarEndDateIsEarlierThanStartDate", "EndDate is earlier than StartDate")
    item.start_tz = item.start_tz or "UTC"
    item.end_tz = item.end_tz or item.start_tz
    normalise_all_day(item)


def _mailbox_of(ctx: RequestContext, folder: Folder) -> Mailbox:
    mailbox = ctx.store.mailbox(folder.mailbox)
    assert mailbox is not None
    return mailbox


def _create_calendar_item(
    ctx: RequestContext, folder: Folder, elem: Element, invitations: str | None
) -> CalendarItem:
    if folder.distinguished not in CALENDAR_LIKE:
        raise EWSError(
            "ErrorCannotCreateCalendarItemInNonCalendarFolder",
            "Calendar items can only be created in a calendar folder.",
        )
    if invitations is None:
        raise EWSError(
            "ErrorSendMeetingInvitationsRequired", "SendMeetingInvitations is required for calendar items."
        )
    mailbox = _mailbox_of(ctx, folder)
    item = ctx.store.new_item(folder)
    apply_item_element(item, elem)
    validate_times(item)
    series.settle(item)
    item.organizer = meetings.organizer_for(mailbox)
    item.my_response_type = "Organizer"
    sending = invitations in meetings.SENDING and bool(item.all_attendees())
    item.meeting_request_was_sent = sending
    ctx.store.insert(item)
    if sending:
        meetings.send_invitations(ctx.store, item)
    return item


def _reference(ctx: RequestContext, elem: Element) -> CalendarItem:
    ref = elem.find(t("ReferenceItemId"))
    if ref is None:
        raise EWSError("ErrorMissingArgument", "ReferenceItemId is required.")
    return ctx.item(ref)


def _cancel(ctx: RequestContext, elem: Element) -> None:
    item = _reference(ctx, elem)
    if item.my_response_type != "Organizer":
        raise EWSError("ErrorInvalidOperation", "Only the organizer can cancel a meeting.")
    if item.master_id is not None:  # one occurrence: it leaves the series, for the attendees too
        remove(ctx, item, "MoveToDeletedItems", "SendToAllAndSaveCopy")
        return
    meetings.cancel_meeting(ctx.store, item)
    mailbox = ctx.store.mailbox(item.mailbox)
    assert mailbox is not None
    ctx.store.move(item, mailbox.folder("deleteditems"))


def create_item(ctx: RequestContext, request: Element) -> Response:
    response = Response("CreateItem")
    invitations = request.get("SendMeetingInvitations")
    items = request.find(m("Items"))
    saved = request.find(m("SavedItemFolderId"))
    for elem in [] if items is None else list(items):
        try:
            kind = local(elem)
            if kind == "CalendarItem":
                if saved is not None and len(saved):
                    folder = ctx.folder(saved[0])
                else:
                    folder = ctx.mailbox_named(None).folder("calendar")
                item = _create_calendar_item(ctx, folder, elem, invitations)
                msg = response.success()
                out = sub(sub(msg, m("Items")), t("CalendarItem"))
                sub(out, t("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
            elif kind in meetings.RESPONSES:
                reference = _reference(ctx, elem)
                answer = meetings.RESPONSES[kind]
                if reference.master_id is not None:
                    master = ctx.master_of(reference)
                    if answer == "Decline":  # declining one occurrence removes it from the attendee's series
                        assert reference.original_start is not None
                        series.delete_occurrence(master, reference.original_start)
                        ctx.store.touch(master)
                        sub(response.success(), m("Items"))
                        continue
                    reference = master
                meetings.respond(ctx.store, reference, answer)
                sub(response.success(), m("Items"))
            elif kind == "CancelCalendarItem":
                _cancel(ctx, elem)
                sub(response.success(), m("Items"))
            else:
                raise EWSError(
                    "ErrorInvalidOperation", f"The sandbox only stores calendar items, not {kind}."
                )
        except EWSError as exc:
            response.error(exc.code, exc.text)
    return response


def get_item(ctx: RequestContext, request: Element) -> Response:
    response = Response("GetItem")
    shape = read_shape(request.find(m("ItemShape")))
    ids = request.find(m("ItemIds"))
    for id_elem in [] if ids is None else list(ids):
        try:
            item = ctx.item(id_elem)
        except EWSError as exc:
            response.error(exc.code, exc.text)
            continue
        msg = response.success()
        folder = ctx.store.folders[item.folder_id]
        write_item(sub(msg, m("Items")), item, shape, folder.change_key)
    return response


def delete_item(ctx: RequestContext, request: Element) -> Response:
    response = Response("DeleteItem")
    delete_type = request.get("DeleteType") or ""
    cancellations = request.get("SendMeetingCancellations") or "SendToNone"
    ids = request.find(m("ItemIds"))
    for id_elem in [] if ids is None else list(ids):
        try:
            if delete_type not in DELETE_TYPES:
                raise EWSError("ErrorInvalidOperation", f"DeleteType '{delete_type}' is not valid.")
            item = ctx.item(id_elem)
            remove(ctx, item, delete_type, cancellations)
            response.success()
        except EWSError as exc:
            response.error(exc.code, exc.text)
    return response


def remove(ctx: RequestContext, item: CalendarItem, delete_type: str, cancellations: str) -> None:
    """Delete as Exchange does: hard is gone; soft is a move to Recoverable Items; else to Deleted Items."""
    store = ctx.store
    mailbox = store.mailbox(item.mailbox)
    assert mailbox is not None
    folder = store.folders[item.folder_id]
    if item.master_id is not None:
        _remove_occurrence(ctx, item, cancellations)
        return
    if (
        folder.distinguished == "calendar"
        and item.my_response_type == "Organizer"
        and item.meeting_request_was_sent
        and cancellations in meetings.SENDING | {"SendToAllAndSaveCopy"}
    ):
        meetings.cancel_meeting(store, item)
    if delete_type == "HardDelete":
        store.hard_delete(item)
    elif delete_type == "SoftDelete" or folder.distinguished == "deleteditems":
        store.move(item, mailbox.folder("recoverableitemsdeletions"))
    else:
        store.move(item, mailbox.folder("deleteditems"))


def _remove_occurrence(ctx: RequestContext, occurrence: CalendarItem, cancellations: str) -> None:
    """Deleting an occurrence (any delete type) lists it in the master's DeletedOccurrences."""
    master = ctx.master_of(occurrence)
    assert occurrence.original_start is not None
    series.delete_occurrence(master, occurrence.original_start)
    ctx.store.touch(master)
    if (
        master.my_response_type == "Organizer"
        and master.meeting_request_was_sent
        and cancellations in meetings.SENDING | {"SendToAllAndSaveCopy"}
    ):
        meetings.send_invitations(ctx.store, master)


def move_item(ctx: RequestContext, request: Element) -> Response:
    """MoveItem: the item gets a new id in the destination (a move out of the calendar reads as a delete)."""
    response = Response("MoveItem")
    destination = request.find(m("ToFolderId"))
    ids = request.find(m("ItemIds"))
    for id_elem in [] if ids is None else list(ids):
        try:
            if destination is None or not len(destination):
                raise EWSError("ErrorMissingArgument", "ToFolderId is required.")
            folder = ctx.folder(destination[0])
            item = ctx.item(id_elem)
            if item.master_id is not None:
                raise EWSError(
                    "ErrorCalendarCannotMoveOrCopyOccurrence",
                    "Occurrences and exceptions cannot be moved or copied.",
                )
            if item.mailbox.lower() != folder.mailbox.lower():
                raise EWSError("ErrorInvalidOperation", "Items can only be moved within one mailbox here.")
            if folder.folder_id != item.folder_id:
                ctx.store.move(item, folder)
        except EWSError as exc:
            response.error(exc.code, exc.text)
            continue
        out = sub(sub(response.success(), m("Items")), t("CalendarItem"))
        sub(out, t("ItemId"), Id=item.item_id, ChangeKey=item.change_key)
    return response


HANDLERS = {"CreateItem": create_item, "GetItem": get_item, "DeleteItem": delete_item, "MoveItem": move_item}
