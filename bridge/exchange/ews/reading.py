"""Reading a calendar: items by id (GetItem), a window (CalendarView), and changes (SyncFolderItems).

These functions block (exchangelib); `EwsMailboxes` runs them on worker threads. Every read asks for
`READ_FIELDS` only. Items come back as `ExchangeItem`s keyed by their ItemId.
"""

from __future__ import annotations

import warnings
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

from exchangelib import Account, CalendarItem, EWSDateTime
from exchangelib.errors import ErrorInvalidIdMalformed, ErrorItemNotFound
from exchangelib.fields import FieldPath
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
_GONE = (ErrorItemNotFound, ErrorInvalidIdMalformed)


class _GetCalendarItems(GetItem):  # type: ignore[misc]
    """GetItem that also keeps each item's StartTimeZone id as Exchange sent it: exchangelib maps the id to
    a zone and drops one its table does not know, which the core must see to report E-TIMEZONE."""

    def _elem_to_obj(self, elem: Any) -> tuple[Any, str | None]:
        zone = elem.find(f"{{{TNS}}}StartTimeZone")
        zone_id = None if zone is None else zone.get("Id") or zone.get("Name")
        return super()._elem_to_obj(elem), zone_id


def _field_paths(account: Account) -> set[FieldPath]:
    folder = account.calendar
    # The parent folder tells an item still in the calendar from one moved out of it under the same id.
    names = (*READ_FIELDS, "parent_folder_id")
    return {f for f in folder.normalize_fields(fields=names) if not f.field.is_attribute}


def read(account: Account, item_ids: Collection[str]) -> dict[str, Any]:
    """`ExchangeItem`s by id; ids Exchange no longer has are left out (gone, or moved out: R-DEL-11)."""
    if not item_ids:
        return {}
    service = _GetCalendarItems(account=account, chunk_size=PAGE_SIZE)
    calendar_id = account.calendar.id
    found: dict[str, Any] = {}
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
        found[item.id] = to_exchange_item(item, zone_id)
    return found


def window(account: Account, start: datetime, end: datetime) -> list[Any]:
    """Every item overlapping [start, end): CalendarView for the ids, then GetItem for the fields."""
    view = account.calendar.view(
        start=EWSDateTime.from_datetime(start.astimezone(UTC)),
        end=EWSDateTime.from_datetime(end.astimezone(UTC)),
    ).only("id", "changekey")
    ids = [item.id for item in view]  # IdOnly answers are plain Items; GetItem tells calendar items apart
    items = read(account, ids)
    return [items[item_id] for item_id in ids if item_id in items]


def sync_page(
    account: Account, sync_state: str | None, known: Mapping[str, str] | None = None
) -> MailboxChanges:
    """One SyncFolderItems page of the calendar since `sync_state`; created and updated items read again
    with GetItem (fields of the core only), deleted ids as given. Read-flag changes mean nothing here.
    An item at the ChangeKey `known` gives is not read (`unchanged`): each of the bridge's own writes
    comes back this way, and reading it would double the GetItems of a change from Salesforce."""
    service = SyncFolderItems(account=account)
    changed_ids: list[str] = []
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
                unchanged.pop(value.id, None)
        elif change_type == SyncFolderItems.DELETE:
            deleted.append(value.id)
            unchanged.pop(value.id, None)
    items = read(account, list(dict.fromkeys(changed_ids)))
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
