"""Reading a calendar: items by id (GetItem), a window (CalendarView), and changes (SyncFolderItems).

These functions block (exchangelib); `EwsMailboxes` runs them on worker threads. Every read asks for
`READ_FIELDS` only. Items come back as `ExchangeItem`s keyed by their ItemId.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections import OrderedDict
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from exchangelib import Account, CalendarItem, EWSDateTime
from exchangelib.errors import ErrorInvalidIdMalformed, ErrorItemNotFound
from exchangelib.fields import FieldPath
from exchangelib.properties import ItemId
from exchangelib.services import GetItem, SyncFolderItems
from exchangelib.util import TNS

from bridge.ports import MailboxChanges

from .items import READ_FIELDS, to_exchange_item

# exchangelib warns on every item whose zone its table does not know; we keep the id and the core reports
# it (E-TIMEZONE), so the warning would only repeat that in the log.
warnings.filterwarnings(
    "ignore", message=r"Cannot convert value .* \(unknown timezone ID\)", category=UserWarning
)

PAGE_SIZE = 100  # changes per SyncFolderItems page, and items per GetItem request
RECENT_ITEMS = 4_096  # items kept by `RecentItems`, over every mailbox
_GONE = (ErrorItemNotFound, ErrorInvalidIdMalformed)


class _IdOnlySync(SyncFolderItems):  # type: ignore[misc]  # exchangelib is untyped
    """SyncFolderItems whose created and updated items come back as their ItemId alone. The page is asked
    for IdOnly, yet exchangelib builds a whole item from each (every field of the model looked up in the
    element): at a first sync of a hundred items that was a tenth of the bridge's CPU."""

    def _elem_to_obj(self, elem: Any) -> tuple[str, Any]:
        change_type = self.change_types_map[elem.tag]
        if change_type not in (self.CREATE, self.UPDATE):
            return super()._elem_to_obj(elem)  # type: ignore[no-any-return]
        found = elem[0].find(ItemId.response_tag())
        return change_type, ItemId.from_xml(elem=found, account=self.account)


class RecentItems:
    """Items read lately, by mailbox, id and ChangeKey. A ChangeKey names one version of an item, so an item
    listed again at the same ChangeKey (a first sync lists a calendar through its zone evidence, the mailbox
    sync and the window) is taken from here instead of parsed from another GetItem. Bounded, over every
    mailbox: the least recently used go first, so idle mailboxes cost nothing per user."""

    def __init__(self, size: int = RECENT_ITEMS) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._lock = threading.Lock()  # read from the EWS worker threads

    def get(self, mailbox: str, item_id: str, change_key: str | None) -> Any | None:
        if not change_key:
            return None
        key = (mailbox.lower(), item_id, change_key)
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, mailbox: str, item: Any) -> None:
        if not item.change_key:
            return
        key = (mailbox.lower(), item.item_id, item.change_key)
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


class _GetCalendarItems(GetItem):  # type: ignore[misc]
    """GetItem that also keeps each item's StartTimeZone id as Exchange sent it: exchangelib maps the id to
    a zone and drops one its table does not know, which the core must see to report E-TIMEZONE.

    A calendar item is built from the fields asked for only (`_read_fields`): exchangelib's own parse looks
    up all 80 fields of the model in every element, and that was 40% of parsing a first sync's calendar.
    Fields not asked for are None instead of their default; `to_exchange_item` reads none of them."""

    def _elem_to_obj(self, elem: Any) -> tuple[Any, str | None]:
        zone = elem.find(f"{{{TNS}}}StartTimeZone")
        zone_id = None if zone is None else zone.get("Id") or zone.get("Name")
        if elem.tag != CalendarItem.response_tag():
            return super()._elem_to_obj(elem), zone_id
        return _calendar_item(elem, self.account), zone_id


def _calendar_item(elem: Any, account: Account) -> CalendarItem:
    """`CalendarItem.from_xml` over the fields read (the same per-field parse, and the same all-day dates:
    the last day, in the item's zone)."""
    item = CalendarItem(**{f.name: f.from_xml(elem=elem, account=account) for f in _read_fields()})
    CalendarItem._clear(elem)  # as exchangelib does: the answer's tree is let go item by item
    item.account = account
    if item.is_all_day:
        if item.start is not None:
            item.start = item.start.astimezone(item._start_timezone).date()
        if item.end is not None:
            item.end = (item.end - timedelta(days=1)).astimezone(item._end_timezone).date()
    return item


@functools.cache
def _read_fields() -> tuple[Any, ...]:
    """The model's fields a read asks for, with the item's id and folder (after the extended property
    is registered, so on first use)."""
    names = {*READ_FIELDS, "_id", "parent_folder_id"}
    return tuple(f for f in CalendarItem.FIELDS if f.name in names)


def _field_paths(account: Account) -> set[FieldPath]:
    folder = account.calendar
    # The parent folder tells an item still in the calendar from one moved out of it under the same id.
    names = (*READ_FIELDS, "parent_folder_id")
    return {f for f in folder.normalize_fields(fields=names) if not f.field.is_attribute}


def read(
    account: Account,
    item_ids: Collection[str],
    recent: RecentItems | None = None,
    change_keys: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`ExchangeItem`s by id; ids Exchange no longer has are left out (gone, or moved out: R-DEL-11). An id
    listed with its ChangeKey (`change_keys`) at a version `recent` holds is not read again."""
    found: dict[str, Any] = {}
    mailbox = account.primary_smtp_address
    if recent is not None and change_keys:
        for item_id in item_ids:
            hit = recent.get(mailbox, item_id, change_keys.get(item_id))
            if hit is not None:
                found[item_id] = hit
        item_ids = [i for i in item_ids if i not in found]
    if not item_ids:
        return found
    service = _GetCalendarItems(account=account, chunk_size=PAGE_SIZE)
    calendar_id = account.calendar.id
    answers = service.call(
        items=[(item_id, None) for item_id in item_ids],
        additional_fields=_field_paths(account),
        shape="IdOnly",
    )
    for answer in answers:
        if isinstance(answer, _GONE):
            continue
        if isinstance(answer, Exception):
            raise answer
        item, zone_id = answer
        if not isinstance(item, CalendarItem):
            continue  # not a calendar item (an id of another folder's message): not ours to sync
        parent = getattr(item, "parent_folder_id", None)
        if parent is not None and calendar_id and parent.id != calendar_id:
            continue  # moved out of the calendar counts as deleted (R-DEL-11)
        found[item.id] = read_item = to_exchange_item(item, zone_id)
        if recent is not None:
            recent.put(mailbox, read_item)
    return found


def window(account: Account, start: datetime, end: datetime, recent: RecentItems | None = None) -> list[Any]:
    """Every item overlapping [start, end): CalendarView for the ids, then GetItem for the fields."""
    view = account.calendar.view(
        start=EWSDateTime.from_datetime(start.astimezone(UTC)),
        end=EWSDateTime.from_datetime(end.astimezone(UTC)),
    ).only("id", "changekey")
    # IdOnly answers are plain Items; GetItem tells calendar items apart.
    change_keys = {item.id: item.changekey for item in view}
    items = read(account, list(change_keys), recent, change_keys)
    return [items[item_id] for item_id in change_keys if item_id in items]


def sync_page(
    account: Account,
    sync_state: str | None,
    known: Mapping[str, str] | None = None,
    recent: RecentItems | None = None,
) -> MailboxChanges:
    """One SyncFolderItems page of the calendar since `sync_state`; created and updated items read again
    with GetItem (fields of the core only), deleted ids as given. Read-flag changes mean nothing here.
    An item at the ChangeKey `known` gives is not read (`unchanged`): each of the bridge's own writes
    comes back this way, and reading it would double the GetItems of a change from Salesforce."""
    service = _IdOnlySync(account=account)
    changed_ids: list[str] = []
    change_keys: dict[str, str] = {}
    deleted: list[str] = []
    unchanged: dict[str, None] = {}
    known = known or {}
    for change_type, value in service.call(
        folder=account.calendar,
        shape="IdOnly",
        additional_fields=set(),
        sync_state=sync_state,
        ignore=None,
        max_changes_returned=PAGE_SIZE,
        sync_scope=None,
    ):
        if isinstance(value, Exception):
            raise value
        if change_type in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE):
            if value.changekey and known.get(value.id) == value.changekey:
                unchanged[value.id] = None
            else:
                changed_ids.append(value.id)
                change_keys[value.id] = value.changekey
                unchanged.pop(value.id, None)
        elif change_type == SyncFolderItems.DELETE:
            deleted.append(value.id)
            unchanged.pop(value.id, None)
    items = read(account, list(dict.fromkeys(changed_ids)), recent, change_keys)
    # An item changed and then gone before we read it is a deletion too.
    gone = [item_id for item_id in dict.fromkeys(changed_ids) if item_id not in items]
    more = service.includes_last_item_in_range is False and service.sync_state != sync_state
    return MailboxChanges(
        changed=tuple(items.values()),
        deleted=tuple(dict.fromkeys([*deleted, *gone])),
        sync_state=service.sync_state,
        more=more,
        unchanged=tuple(i for i in unchanged if i not in items),
    )
