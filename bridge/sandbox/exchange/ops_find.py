"""FindItem: CalendarView (overlap with a window) and IndexedPageItemView with a Restriction subset.

The Restriction subset: And, Or, Not, Exists, IsEqualTo, IsNotEqualTo, IsGreaterThan(OrEqualTo),
IsLessThan(OrEqualTo) and Contains, over extended properties, categories and every calendar item field
exchangelib can search (text, booleans, numbers and times; attendee lists and time zones are not searchable).
Anything else is ErrorUnsupportedPathForQuery, as Exchange says for paths it
cannot search.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import series
from .context import RequestContext
from .items_xml import local, read_shape, write_item
from .model import CalendarItem, property_key
from .wire import Element, EWSError, Response, attrs, fmt_bool, m, parse_bool, parse_time, sub, t

Predicate = Callable[[CalendarItem], bool]
FIND_TEXT_LIMIT = 255  # FindItem returns the start of long text values; GetItem returns them whole

_TEXT_FIELDS: dict[str, Callable[[CalendarItem], Any]] = {
    "item:Subject": lambda i: i.subject,
    "calendar:Location": lambda i: i.location,
    "calendar:UID": lambda i: i.uid,
    "item:ItemClass": lambda i: "IPM.Appointment",
    "item:Body": lambda i: i.body,
    "item:Importance": lambda i: i.importance,
    "item:Sensitivity": lambda i: i.sensitivity,
    "item:InReplyTo": lambda i: i.in_reply_to,
    "item:Culture": lambda i: i.culture,
    "calendar:When": lambda i: i.when,
    "calendar:LegacyFreeBusyStatus": lambda i: i.free_busy,
    "calendar:CalendarItemType": lambda i: i.calendar_type,
    "calendar:MyResponseType": lambda i: i.my_response_type,
    "calendar:ConferenceType": lambda i: i.conference_type,
    "calendar:MeetingWorkspaceUrl": lambda i: i.meeting_workspace_url,
    "calendar:NetShowUrl": lambda i: i.net_show_url,
}
_BOOL_FIELDS: dict[str, Callable[[CalendarItem], Any]] = {
    "calendar:IsAllDayEvent": lambda i: i.is_all_day,
    "calendar:IsCancelled": lambda i: i.is_cancelled,
    "calendar:IsMeeting": lambda i: i.is_meeting,
    "calendar:IsRecurring": lambda i: series.is_recurring(i),
    "calendar:IsResponseRequested": lambda i: i.is_response_requested,
    "calendar:MeetingRequestWasSent": lambda i: i.meeting_request_was_sent,
    "calendar:AllowNewTimeProposal": lambda i: i.allow_new_time_proposal,
    "item:ReminderIsSet": lambda i: i.reminder_is_set,
    "item:IsRead": lambda i: i.is_read,
}
_INT_FIELDS: dict[str, Callable[[CalendarItem], Any]] = {
    "item:ReminderMinutesBeforeStart": lambda i: i.reminder_minutes,
    "calendar:AppointmentSequenceNumber": lambda i: i.sequence,
}
_TIME_FIELDS: dict[str, Callable[[CalendarItem], Any]] = {
    "calendar:Start": lambda i: i.start,
    "calendar:End": lambda i: i.end,
    "item:LastModifiedTime": lambda i: i.last_modified,
    "item:DateTimeCreated": lambda i: i.created,
    "item:ReminderDueBy": lambda i: i.reminder_due_by,
}
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": operator.eq,
    "IsNotEqualTo": operator.ne,
    "IsGreaterThan": operator.gt,
    "IsGreaterThanOrEqualTo": operator.ge,
    "IsLessThan": operator.lt,
    "IsLessThanOrEqualTo": operator.le,
}


def _unsupported(what: str) -> EWSError:
    return EWSError(
        "ErrorUnsupportedPathForQuery", f"The property path {what} can't be used in a restriction."
    )


Values = Callable[[CalendarItem], list[Any]]
Convert = Callable[[str], Any]


def _numeric(kind: type[int] | type[float]) -> Convert:
    def convert(raw: str) -> Any:
        try:
            return kind(raw.strip())
        except ValueError:
            raise EWSError("ErrorInvalidValueForProperty", f"'{raw}' is not a valid number.") from None

    return convert


# Extended property types compared as what they hold, not as text (so 9 < 10).
_TYPED: dict[str, Convert] = {
    **dict.fromkeys(("Integer", "Long", "Short"), _numeric(int)),
    **dict.fromkeys(("Double", "Float", "Currency"), _numeric(float)),
    "SystemTime": parse_time,
    "Boolean": parse_bool,
}


def _values_of(path: Element) -> tuple[Values, Convert]:
    """The item's values for ``path`` (a list: some are multi-valued), and how to read a constant for it."""
    name = local(path)
    if name == "ExtendedFieldURI":
        uri = attrs(path)
        key = property_key(uri)
        convert = _TYPED.get((uri.get("PropertyType") or "String").removesuffix("Array"), str)

        def extended(item: CalendarItem) -> list[Any]:
            prop = item.extended.get(key)
            values: list[Any] = []
            for raw in [] if prop is None else prop.values:
                try:
                    values.append(convert(raw))
                except EWSError:
                    continue  # a stored value of another type matches nothing
            return values

        return extended, convert
    uri_name = path.get("FieldURI") or ""
    if name == "FieldURI" and uri_name == "item:Categories":
        return (lambda item: list(item.categories)), str
    if name == "FieldURI" and uri_name in _TEXT_FIELDS:
        getter = _TEXT_FIELDS[uri_name]
        return (lambda item: [] if getter(item) is None else [getter(item)]), str
    for table, kind in ((_BOOL_FIELDS, parse_bool), (_INT_FIELDS, _numeric(int))):
        if name == "FieldURI" and uri_name in table:
            vgetter = table[uri_name]
            return (lambda item, g=vgetter: [] if g(item) is None else [g(item)]), kind
    if name == "FieldURI" and uri_name in _TIME_FIELDS:
        tgetter = _TIME_FIELDS[uri_name]
        return (lambda item: [] if tgetter(item) is None else [tgetter(item)]), parse_time
    raise _unsupported(uri_name or name)


def compile_restriction(elem: Element) -> Predicate:
    name = local(elem)
    if name in ("And", "Or"):
        parts = [compile_restriction(child) for child in elem]
        combine = all if name == "And" else any
        return lambda item: combine(p(item) for p in parts)
    if name == "Not":
        inner = compile_restriction(elem[0])
        return lambda item: not inner(item)
    if name == "Exists":
        values, _ = _values_of(elem[0])
        return lambda item: bool(values(item))
    if name in _COMPARISONS:
        values, convert = _values_of(elem[0])
        constant = elem.find(f"{t('FieldURIOrConstant')}/{t('Constant')}")
        if constant is None:
            raise _unsupported("FieldURIOrConstant without a constant")
        wanted = convert(constant.get("Value") or "")
        compare = _COMPARISONS[name]
        if name == "IsNotEqualTo":
            return lambda item: all(compare(v, wanted) for v in values(item))
        return lambda item: any(compare(v, wanted) for v in values(item))
    if name == "Contains":
        values, _ = _values_of(elem[0])
        constant = elem.find(t("Constant"))
        needle = "" if constant is None else constant.get("Value") or ""
        mode = elem.get("ContainmentMode") or "Substring"
        ignore_case = "IgnoreCase" in (elem.get("ContainmentComparison") or "")

        def contains(item: CalendarItem) -> bool:
            for value in values(item):
                hay, pin = (str(value), needle)
                if ignore_case:
                    hay, pin = hay.lower(), pin.lower()
                if (mode == "FullString" and hay == pin) or (mode == "Prefixed" and hay.startswith(pin)):
                    return True
                if mode not in ("FullString", "Prefixed") and pin in hay:
                    return True
            return False

        return contains
    raise _unsupported(name)


def apply_sort_order(items: list[CalendarItem], sort_order: Element | None) -> list[CalendarItem]:
    """``m:SortOrder``: FieldOrders, most significant first; empty values sort before any value."""
    if sort_order is None:
        return items
    for order in reversed(list(sort_order)):
        path = next(iter(order), None)
        if path is None:
            continue
        values, _ = _values_of(path)

        def key(item: CalendarItem, values: Values = values) -> tuple[bool, Any]:
            found = values(item)
            return (bool(found), found[0] if found else "")

        items = sorted(items, key=key, reverse=order.get("Order") == "Descending")
    return items


def _overlaps(item: CalendarItem, start: datetime, end: datetime) -> bool:
    # Exchange includes items ending exactly at the window start (exchangelib's own tests rely on it).
    return item.start is not None and item.end is not None and item.start < end and item.end >= start


def find_item(ctx: RequestContext, request: Element) -> Response:
    response = Response("FindItem")
    shape = read_shape(request.find(m("ItemShape")))
    shape.text_limit = FIND_TEXT_LIMIT
    view = request.find(m("CalendarView"))
    paged = request.find(m("IndexedPageItemView"))
    restriction = request.find(m("Restriction"))
    parents = request.find(m("ParentFolderIds"))
    for folder_elem in [] if parents is None else list(parents):
        try:
            folder = ctx.folder(folder_elem)
            items = sorted(folder.items.values(), key=lambda i: (i.start or i.created, i.item_id))
            if view is not None and restriction is not None:
                raise EWSError(
                    "ErrorInvalidOperation",
                    "Restrictions and sort order may not be specified for a CalendarView.",
                )
            if restriction is not None and len(restriction):
                predicate = compile_restriction(restriction[0])
                items = [i for i in items if predicate(i)]
            if view is None:
                items = apply_sort_order(items, request.find(m("SortOrder")))
            attrs: dict[str, str]
            if view is not None:
                start = parse_time(view.get("StartDate"))
                end = parse_time(view.get("EndDate"))
                if end < start:
                    raise EWSError(
                        "ErrorInvalidRequest", "EndDate is earlier than StartDate in the CalendarView."
                    )
                if end - start > series.MAX_VIEW_SPAN:
                    raise EWSError(
                        "ErrorCalendarViewRangeTooBig",
                        "The calendar view range is too big: it may not exceed two years.",
                    )
                expanded: list[CalendarItem] = []
                for i in items:
                    if i.recurrence is not None:
                        expanded.extend(series.in_window(i, start, end))
                    elif _overlaps(i, start, end):
                        expanded.append(i)
                items = sorted(expanded, key=lambda i: (i.start or i.created, i.item_id))
                limit = view.get("MaxEntriesReturned")
                total = len(items)
                if limit is not None:
                    items = items[: int(limit)]
                attrs = {
                    "TotalItemsInView": str(total),
                    "IncludesLastItemInRange": fmt_bool(len(items) == total),
                }
            else:
                total = len(items)
                offset = int(paged.get("Offset") or 0) if paged is not None else 0
                size = int(paged.get("MaxEntriesReturned") or total or 1) if paged is not None else total
                if paged is not None and paged.get("BasePoint") == "End":
                    window = items[max(0, total - offset - size) : max(0, total - offset)]
                else:
                    window = items[offset : offset + size]
                items = window
                next_offset = offset + len(items)
                attrs = {
                    "IndexedPagingOffset": str(next_offset),
                    "TotalItemsInView": str(total),
                    "IncludesLastItemInRange": fmt_bool(next_offset >= total),
                }
        except EWSError as exc:
            response.error(exc.code, exc.text)
            continue
        except ValueError:
            response.error("ErrorInvalidPagingMaxRows", "The paging values are not valid.")
            continue
        msg = response.success()
        root = sub(msg, m("RootFolder"), **attrs)
        container = sub(root, t("Items"))
        for item in items:
            write_item(container, item, shape, folder.change_key)
    return response


HANDLERS = {"FindItem": find_item}
