"""The event endpoints: users, calendars, events (list, get, create, update, delete), meeting responses and
cancellation, and ``calendarView``. Graph cannot save a meeting without mailing its attendees (there is no
``SendToNone``): creating or changing an organizer's meeting always delivers copies to the attendees."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from ..exchange import meetings, series
from ..exchange.model import CalendarItem, Mailbox
from ..exchange.wire import EWSError
from .calls import Call, Reply
from .errors import GraphError, invalid_request
from .events_json import apply_event, etag, render
from .ids import rest_id, user_object_id
from .query import order, page_window, parse_filter
from .recurrence_json import graph_error
from .state import GraphState, Transaction
from .zones import parse_instant

# Changes an organizer's PATCH mails to the attendees as an update.
_MEETING_FIELDS = {"attendees", "start", "end", "location", "locations", "subject", "body", "isAllDay"}


def user_json(call: Call, box: Mailbox) -> dict[str, Any]:
    return {
        "@odata.context": f"{call.base}/$metadata#users/$entity",
        "id": user_object_id(box.address),
        "displayName": box.display_name,
        "mail": box.address,
        "userPrincipalName": box.address,
    }


def calendar_json(box: Mailbox) -> dict[str, Any]:
    folder = box.folder("calendar")
    return {
        "id": rest_id(folder.folder_id),
        "name": folder.display_name,
        "color": "auto",
        "hexColor": "",
        "isDefaultCalendar": True,
        "changeKey": folder.change_key,
        "canShare": True,
        "canViewPrivateItems": True,
        "canEdit": True,
        "isRemovable": False,
        "isTallyingResponses": True,
        "allowedOnlineMeetingProviders": ["teamsForBusiness"],
        "defaultOnlineMeetingProvider": "teamsForBusiness",
        "owner": {"name": box.display_name, "address": box.address},
    }


def _check_calendar(box: Mailbox, calendar_id: str | None) -> None:
    if calendar_id is not None and calendar_id != rest_id(box.folder("calendar").folder_id):
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def _event_reply(state: GraphState, call: Call, box: Mailbox, item: CalendarItem, status: int) -> Reply:
    view = state.view_for(state.view(call), item)
    body = render(item, view, user_object_id(box.address))
    body["@odata.context"] = f"{call.base}/$metadata#users('{box.address}')/events/$entity"
    return Reply(status, {"@odata.context": body.pop("@odata.context"), **body}, {"ETag": etag(item)})


def _if_match(call: Call, item: CalendarItem) -> None:
    wanted = call.header("If-Match")
    if wanted is None or wanted.strip() == "*":
        return
    tags = [t.strip().removeprefix("W/").strip('"') for t in wanted.split(",")]
    if item.change_key not in tags:
        raise GraphError(
            412,
            "ErrorIrresolvableConflict",
            "The send or update operation could not be performed because the change key passed in the "
            "request does not match the current change key for the item.",
        )


def _json_body(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    return call.body


# ---- handlers ----------------------------------------------------------------------------------------------


def get_user(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    return Reply(200, user_json(call, box))


def get_calendar(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    return Reply(
        200,
        {
            "@odata.context": f"{call.base}/$metadata#users('{box.address}')/calendar/$entity",
            **calendar_json(box),
        },
    )


def list_calendars(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    return Reply(
        200,
        {
            "@odata.context": f"{call.base}/$metadata#users('{box.address}')/calendars",
            "value": [calendar_json(box)],
        },
    )


def _page(state: GraphState, call: Call, box: Mailbox, items: list[CalendarItem], context: str) -> Reply:
    test = parse_filter(call.query.get("$filter"))
    chosen = [i for i in items if test is None or test(i)]
    chosen = order(
        sorted(chosen, key=lambda i: (i.start is None, i.start, i.item_id)), call.query.get("$orderby")
    )
    size = call.prefer.max_page_size or state.timings.default_page_size
    skip, top = page_window(call.query, min(size, state.timings.max_page_size), state.timings.max_page_size)
    view = state.view(call)
    user = user_object_id(box.address)
    body: dict[str, Any] = {
        "@odata.context": context,
        "value": [render(i, state.view_for(view, i), user) for i in chosen[skip : skip + top]],
    }
    if skip + top < len(chosen):
        query = {**call.query, "$skip": str(skip + top), "$top": str(top)}
        body["@odata.nextLink"] = f"{call.base}/{call.path}?{urlencode(query, safe='$')}"
    headers = {"Preference-Applied": ", ".join(call.prefer.applied())} if call.prefer.applied() else {}
    return Reply(200, body, headers)


def list_events(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    _check_calendar(box, groups.get("cal"))
    items = list(box.folder("calendar").items.values())
    return _page(state, call, box, items, f"{call.base}/$metadata#users('{box.address}')/events")


def window(call: Call) -> tuple[Any, Any]:
    start, end = call.query.get("startDateTime"), call.query.get("endDateTime")
    if not start or not end:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime and "
            "EndDateTime.",
        )
    return parse_instant(start, "startDateTime"), parse_instant(end, "endDateTime")


def calendar_view(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    _check_calendar(box, groups.get("cal"))
    start, end = window(call)
    items = state.expand(list(box.folder("calendar").items.values()), start, end)
    return _page(state, call, box, items, f"{call.base}/$metadata#users('{box.address}')/calendarView")


def instances(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    """A series' occurrences and exceptions overlapping the window (required); deleted ones are not listed."""
    master = state.item(box, groups["eid"])
    start, end = window(call)
    if master.recurrence is None:
        raise invalid_request("The event is not a series master; only a series master has instances.")
    items = series.in_window(master, start, end)
    context = f"{call.base}/$metadata#users('{box.address}')/events('{groups['eid']}')/instances"
    return _page(state, call, box, items, context)


def get_event(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    item = state.item(box, groups["eid"])
    return _event_reply(state, call, box, item, 200)


def _fingerprint(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def create_event(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    _check_calendar(box, groups.get("cal"))
    body = _json_body(call)
    transaction_id = body.get("transactionId")
    key = f"{box.address.lower()}|{transaction_id}"
    if transaction_id is not None:
        if not isinstance(transaction_id, str) or not transaction_id:
            raise invalid_request("The transactionId must be a non-empty string.")
        earlier = state.transactions.get(key)
        current = (
            state.store.items.get(state.ids.current.get(earlier.origin, earlier.origin)) if earlier else None
        )
        if earlier is not None and current is not None:
            if earlier.fingerprint != _fingerprint(body):
                raise invalid_request_duplicate()
            return _event_reply(state, call, box, current, 201)  # a retry: the event it already made
    item = state.store.new_item(box.folder("calendar"))
    item.organizer = meetings.organizer_for(box)
    item.my_response_type = "Organizer"
    item.reminder_is_set = True
    item.body_type = "HTML"
    apply_event(item, body, creating=True)
    try:
        series.settle(item)  # a series starts on its first occurrence
    except EWSError as exc:
        raise graph_error(exc) from None
    state.store.insert(item)
    if item.all_attendees():
        meetings.send_invitations(state.store, item)  # always: Graph has no way to save without sending
    if transaction_id is not None:
        state.transactions[key] = Transaction(item.item_id, _fingerprint(body))
        state.transaction_of[item.item_id] = transaction_id
    return _event_reply(state, call, box, item, 201)


def invalid_request_duplicate() -> GraphError:
    return GraphError(
        400,
        "ErrorDuplicateTransactionId",
        "Your request can't be completed. The TransactionId specified in the request has already been used "
        "to create a different event.",
    )


def _writable(item: CalendarItem) -> CalendarItem:
    if item.master_id is not None or item.recurrence is not None:
        raise invalid_request("Changing recurring series is not reproduced by the Graph sandbox yet.")
    return item


def _master_of(state: GraphState, occurrence: CalendarItem) -> CalendarItem:
    assert occurrence.master_id is not None
    master = state.store.items.get(occurrence.master_id)
    if master is None:
        raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
    return master


def _update_occurrence(
    state: GraphState, call: Call, box: Mailbox, occurrence: CalendarItem, body: dict[str, Any]
) -> Reply:
    """An edited occurrence becomes an exception kept on its master, which is what changes (its changeKey,
    its notification), as Exchange stores it."""
    master = _master_of(state, occurrence)
    draft = copy.deepcopy(occurrence)
    apply_event(draft, {k: v for k, v in body.items() if k != "transactionId"}, creating=False)
    try:
        series.store_exception(master, occurrence, draft)
    except EWSError as exc:
        raise graph_error(exc) from None
    state.store.touch(master)
    assert occurrence.original_start is not None
    return _event_reply(state, call, box, series.view(master, occurrence.original_start), 200)


def update_event(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    item = state.item(box, groups["eid"])
    body = _json_body(call)
    _if_match(call, item)
    if item.master_id is not None:
        return _update_occurrence(state, call, box, item, body)
    previous = meetings.invitees_of(state.store, item)
    draft = copy.deepcopy(item)
    apply_event(draft, {k: v for k, v in body.items() if k != "transactionId"}, creating=False)
    try:
        # A new pattern or time drops the exceptions and deletions, as Outlook warns it will.
        series.settle(draft, before=item)
    except EWSError as exc:
        raise graph_error(exc) from None
    moved = (draft.start, draft.end) != (item.start, item.end)
    item.__dict__.update(draft.__dict__)
    notify = (
        item.my_response_type == "Organizer"
        and bool(item.all_attendees() or previous)
        and bool(_MEETING_FIELDS & body.keys())
        and state.store.folders[item.folder_id].distinguished == "calendar"
    )
    if notify:
        item.sequence += 1
        if moved:
            meetings.reset_responses(item)
    state.store.touch(item)
    if notify:
        meetings.send_invitations(state.store, item, previous, time_changed=moved)
    return _event_reply(state, call, box, item, 200)


def _remove(state: GraphState, box: Mailbox, item: CalendarItem) -> None:
    folder = state.store.folders[item.folder_id]
    if folder.distinguished == "deleteditems":
        state.store.move(item, box.folder("recoverableitemsdeletions"))
    else:
        state.store.move(item, box.folder("deleteditems"))


def delete_event(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    item = state.item(box, groups["eid"])
    _if_match(call, item)
    if item.master_id is not None:  # one occurrence: listed as deleted on its master, gone from instances
        master = _master_of(state, item)
        assert item.original_start is not None
        series.delete_occurrence(master, item.original_start)
        state.store.touch(master)
        return Reply(204)
    in_calendar = state.store.folders[item.folder_id].distinguished == "calendar"
    if in_calendar and item.my_response_type == "Organizer" and item.meeting_request_was_sent:
        meetings.cancel_meeting(state.store, item)  # the organizer deleting a meeting cancels it
    _remove(state, box, item)
    return Reply(204)


_ANSWERS = {"accept": "Accept", "tentativelyaccept": "Tentative", "decline": "Decline"}


def _answer_locally(state: GraphState, box: Mailbox, item: CalendarItem, response: str) -> None:
    """An answer with ``sendResponse: false``: the attendee's copy changes, the organizer hears nothing."""
    if item.is_cancelled:
        raise EWSError("ErrorInvalidOperation", "The meeting has been cancelled.")
    item.my_response_type = response
    item.free_busy = {"Accept": "Busy", "Tentative": "Tentative", "Decline": "Free"}[response]
    state.store.touch(item)
    if response == "Decline":
        state.store.move(item, box.folder("deleteditems"))


def respond(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    item = _writable(state.item(box, groups["eid"]))
    action = groups["action"].lower()
    body = call.body if isinstance(call.body, dict) else {}
    if action == "cancel":
        if item.my_response_type != "Organizer":
            raise invalid_request(
                "Your request can't be completed. You need to be an organizer to cancel a meeting."
            )
        meetings.cancel_meeting(state.store, item)
        _remove(state, box, item)
        return Reply(202)
    if item.my_response_type == "Organizer":
        raise GraphError(
            400,
            "ErrorInvalidRequest",
            "Your request can't be completed. You can't respond to a meeting you organized.",
        )
    send = body.get("sendResponse", True)
    try:
        if send is False:
            _answer_locally(state, box, item, _ANSWERS[action])
        else:
            meetings.respond(state.store, item, _ANSWERS[action])
    except EWSError as exc:
        raise GraphError(400, "ErrorInvalidRequest", f"Your request can't be completed. {exc.text}") from None
    return Reply(202)
