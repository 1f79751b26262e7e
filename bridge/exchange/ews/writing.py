"""Writing calendar items: create, conditional update, conditional delete (blocking; run on workers).

R-MERGE-5: every update is conditional on the ChangeKey it was planned from, with ConflictResolution
NeverOverwrite, so Exchange refuses it (ErrorIrresolvableConflict -> ConflictError) when the item changed.
Without a planned version the update is conditional on the ChangeKey just read. Categories (R-CAT-1) are
read and merged: only the named ones are added or removed, the user's others are kept.

Exchange does not check a ChangeKey on DeleteItem, so a conditional delete compares it just before: a
narrow race remains, which the next sync reports as a deletion of a changed item (the core handles that).

Meeting invitations and cancellations are sent only when the command says so (R-ATT-12); otherwise
SendToNone. Deleted items go to Deleted Items, where the user can still recover them.

Creates and updates come in lists (`create_many`, `update_many`): many items of one mailbox cost one
CreateItem, or one UpdateItem and at most one GetItem (issue 10, a first sync of a hundred events), each
item keeping its own result or failure. A new item's UID is ours: EWS takes a client's UID on CreateItem
(as for an iCalendar import) and answers a create with the ItemId only, so choosing it spares a GetItem
round trip and its parsing for every create.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from exchangelib import Account, CalendarItem
from exchangelib.errors import ErrorItemNotFound
from exchangelib.items import (
    MOVE_TO_DELETED_ITEMS,
    NEVER_OVERWRITE,
    SAVE_ONLY,
    SEND_TO_ALL_AND_SAVE_COPY,
    SEND_TO_NONE,
)

from bridge.core.model import Side
from bridge.errors import ConflictError, MappingError, NotFoundError
from bridge.ports import Written

from .items import apply_fields, merged_categories


def _invitations(send: bool) -> str:
    return str(SEND_TO_ALL_AND_SAVE_COPY if send else SEND_TO_NONE)


def _single(results: Sequence[Any]) -> Any:
    """exchangelib's bulk calls return failures in place of results: raise them."""
    (result,) = results
    return _raised(result)


def _current(account: Account, item_id: str) -> CalendarItem:
    """The item's ChangeKey, UID, categories and all-day flag as they are now."""
    return _raised(_currents(account, [item_id])[item_id])


@dataclass(frozen=True, slots=True)
class NewItem:
    """One item to create: the command's fields, categories and whether invitations go out."""

    fields: Mapping[str, object]
    categories: Sequence[str]
    send: bool


@dataclass(frozen=True, slots=True)
class ItemUpdate:
    """One conditional update (R-MERGE-5) of an existing item."""

    item_id: str
    if_version: str | None
    fields: Mapping[str, object]
    add_categories: Sequence[str] = ()
    remove_categories: Sequence[str] = ()
    send: bool = False

    def needs_current(self) -> bool:
        """Whether the item must be read first: no planned ChangeKey, categories to merge (R-CAT-1), or
        new dates without the all-day flag that says how to write them."""
        return (
            self.if_version is None
            or bool(self.add_categories or self.remove_categories)
            or (("start" in self.fields or "end" in self.fields) and "is_all_day" not in self.fields)
        )


Outcome = TypeVar("Outcome")


def _currents(account: Account, item_ids: Sequence[str]) -> dict[str, CalendarItem | Exception]:
    """The ChangeKey, UID, categories and all-day flag of each item as it is now, in one GetItem; a gone
    item maps to NotFoundError, another failure to itself."""
    if not item_ids:
        return {}
    ids = list(dict.fromkeys(item_ids))
    found = account.fetch(ids=[(i, None) for i in ids], only_fields=["categories", "uid", "is_all_day"])
    out: dict[str, CalendarItem | Exception] = {}
    for item_id, item in zip(ids, found, strict=True):
        out[item_id] = NotFoundError(Side.EXCHANGE, item_id) if isinstance(item, ErrorItemNotFound) else item
    return out


def create(account: Account, fields: Mapping[str, object], categories: Sequence[str], send: bool) -> Written:
    return _raised(create_many(account, [NewItem(fields, categories, send)])[0])


def create_many(account: Account, wanted: Sequence[NewItem]) -> list[Written | Exception]:
    """Each new item's id, ChangeKey and UID, or its own failure, in order: one CreateItem for all the items
    that send alike, each with a UID of ours (a random one, in the shape Exchange gives its own)."""
    label = f"new item for {account.primary_smtp_address}"
    out: list[Written | Exception] = [AssertionError("not written")] * len(wanted)
    built: dict[bool, list[tuple[int, CalendarItem]]] = {}
    for n, new in enumerate(wanted):
        item = CalendarItem(account=account, folder=account.calendar)
        try:
            apply_fields(item, new.fields, label=label)
        except MappingError as error:
            out[n] = error
            continue
        item.categories = list(dict.fromkeys(new.categories)) or None
        item.uid = uuid.uuid4().hex.upper()
        built.setdefault(new.send, []).append((n, item))
    for send, group in built.items():
        results = _each(
            [item for _, item in group],
            lambda items, send=send: account.bulk_create(  # type: ignore[misc]
                folder=account.calendar,
                items=items,
                message_disposition=SAVE_ONLY,
                send_meeting_invitations=_invitations(send),
            ),
        )
        for (n, item), result in zip(group, results, strict=True):
            failed = isinstance(result, Exception)
            out[n] = result if failed else Written(result.id, result.changekey, item.uid)
    return out


def update(
    account: Account,
    item_id: str,
    if_version: str | None,
    fields: Mapping[str, object],
    add_categories: Sequence[str],
    remove_categories: Sequence[str],
    send: bool,
) -> Written:
    change = ItemUpdate(item_id, if_version, fields, add_categories, remove_categories, send)
    return _raised(update_many(account, [change])[0])


@dataclass(frozen=True)
class _Known:
    """An item as a read of this process left it at the ChangeKey the update is planned from: what
    `_currents` would have fetched again (the UpdateItem is conditional on that ChangeKey all the same)."""

    changekey: str
    categories: list[str] | None
    uid: str | None
    is_all_day: bool


def _known(account: Account, changes: Sequence[ItemUpdate], recent: Any) -> dict[str, Any]:
    """The items to read that `recent` (`reading.RecentItems`) holds at the ChangeKey planned from."""
    if recent is None:
        return {}
    mailbox = account.primary_smtp_address
    known: dict[str, Any] = {}
    for change in changes:
        if change.if_version is None or not change.needs_current():
            continue
        hit = recent.get(mailbox, change.item_id, change.if_version)
        if hit is not None:
            categories = list(hit.categories) or None
            known[change.item_id] = _Known(hit.change_key, categories, hit.uid, hit.is_all_day)
    return known


def update_many(
    account: Account, changes: Sequence[ItemUpdate], recent: Any = None
) -> list[Written | Exception]:
    """Each update's new id and ChangeKey, or its own failure, in order: the items that need it read in one
    GetItem (not those `recent` holds at the planned ChangeKey: a first sync's pairing fields go onto
    items its window has just read), then one UpdateItem (per invitation choice) for all, each
    conditional on its own ChangeKey (NeverOverwrite: a changed item is ErrorIrresolvableConflict, for
    that item alone)."""
    out: list[Written | Exception] = [AssertionError("not written")] * len(changes)
    currents: dict[str, Any] = _known(account, changes, recent)
    currents.update(
        _currents(account, [c.item_id for c in changes if c.needs_current() and c.item_id not in currents])
    )
    grouped: dict[bool, list[tuple[int, tuple[CalendarItem, list[str]]]]] = {}
    for n, change in enumerate(changes):
        label = f"Exchange item {change.item_id} in {account.primary_smtp_address}"
        current = currents.get(change.item_id) if change.needs_current() else None
        if isinstance(current, Exception):
            out[n] = current
            continue
        if change.if_version is not None and current is not None and current.changekey != change.if_version:
            out[n] = ConflictError(Side.EXCHANGE, change.item_id, f"{label} changed since it was read")
            continue
        changekey = change.if_version or (current.changekey if current else None)
        item = CalendarItem(account=account, folder=account.calendar, id=change.item_id, changekey=changekey)
        try:
            names = apply_fields(
                item, change.fields, label=label, all_day=bool(current and current.is_all_day)
            )
        except MappingError as error:
            out[n] = error
            continue
        if current is not None and (change.add_categories or change.remove_categories):
            before = list(current.categories or ())
            after = merged_categories(before, change.add_categories, change.remove_categories)
            if after != before:
                item.categories = after or None
                names.append("categories")
        if not names:
            out[n] = Written(id=change.item_id, version=changekey, uid=current.uid if current else None)
            continue
        grouped.setdefault(change.send, []).append((n, (item, names)))
    for send, group in grouped.items():
        results = _each(
            [pair for _, pair in group],
            lambda items, send=send: account.bulk_update(  # type: ignore[misc]
                items=items,
                conflict_resolution=NEVER_OVERWRITE,
                message_disposition=SAVE_ONLY,
                send_meeting_invitations_or_cancellations=_invitations(send),
            ),
        )
        for (n, _), result in zip(group, results, strict=True):
            if isinstance(result, Exception):
                out[n] = result
                continue
            current = currents.get(changes[n].item_id)
            uid = current.uid if current is not None and not isinstance(current, Exception) else None
            new_id, new_changekey = result
            out[n] = Written(id=new_id, version=new_changekey, uid=uid)
    return out


def _each(items: Sequence[Any], bulk: Callable[[list[Any]], list[Any]]) -> list[Any]:
    """`bulk(items)`'s results, one per item. exchangelib checks every item before it sends any, so one bad
    value fails the whole call: then each item is sent alone, and only the bad one fails."""
    try:
        results = list(bulk(list(items)))
    except (ValueError, TypeError):
        if len(items) == 1:
            raise
        results = []
        for item in items:
            try:
                results.append(bulk([item])[0])
            except (ValueError, TypeError) as error:
                results.append(error)
    return results


def _raised(result: Outcome | Exception) -> Outcome:
    if isinstance(result, Exception):
        raise result
    return result


def delete(account: Account, item_id: str, if_version: str | None, send_cancellations: bool) -> None:
    label = f"Exchange item {item_id} in {account.primary_smtp_address}"
    current = _current(account, item_id)
    if if_version is not None and current.changekey != if_version:
        raise ConflictError(Side.EXCHANGE, item_id, f"{label} changed since it was read")
    _single(
        account.bulk_delete(
            ids=[(item_id, current.changekey)],
            delete_type=MOVE_TO_DELETED_ITEMS,
            send_meeting_cancellations=_invitations(send_cancellations),
        )
    )
