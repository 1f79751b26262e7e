"""Writing calendar items: create, conditional update, conditional delete (blocking; run on workers).

R-MERGE-5: every update is conditional on the ChangeKey it was planned from, with ConflictResolution
NeverOverwrite, so Exchange refuses it (ErrorIrresolvableConflict -> ConflictError) when the item changed.
Without a planned version the update is conditional on the ChangeKey just read. Categories (R-CAT-1) are
read and merged: only the named ones are added or removed, the user's others are kept.

Exchange does not check a ChangeKey on DeleteItem, so a conditional delete compares it just before: a
narrow race remains, which the next sync reports as a deletion of a changed item (the core handles that).

Meeting invitations and cancellations are sent only when the command says so (R-ATT-12); otherwise
SendToNone. Deleted items go to Deleted Items, where the user can still recover them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

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
from bridge.errors import ConflictError, NotFoundError
from bridge.ports import Written

from .items import apply_fields, merged_categories


def _invitations(send: bool) -> str:
    return str(SEND_TO_ALL_AND_SAVE_COPY if send else SEND_TO_NONE)


def _single(results: Sequence[Any]) -> Any:
    """exchangelib's bulk calls return failures in place of results: raise them."""
    (result,) = results
    if isinstance(result, Exception):
        raise result
    return result


def _current(account: Account, item_id: str) -> CalendarItem:
    """The item's ChangeKey, UID, categories and all-day flag as they are now."""
    found = list(account.fetch(ids=[(item_id, None)], only_fields=["categories", "uid", "is_all_day"]))
    (item,) = found
    if isinstance(item, ErrorItemNotFound):
        raise NotFoundError(Side.EXCHANGE, item_id)
    if isinstance(item, Exception):
        raise item
    return item


def create(account: Account, fields: Mapping[str, object], categories: Sequence[str], send: bool) -> Written:
    label = f"new item for {account.primary_smtp_address}"
    item = CalendarItem(account=account, folder=account.calendar)
    apply_fields(item, fields, label=label)
    item.categories = list(dict.fromkeys(categories)) or None
    saved = _single(
        account.bulk_create(
            folder=account.calendar,
            items=[item],
            message_disposition=SAVE_ONLY,
            send_meeting_invitations=_invitations(send),
        )
    )
    # CreateItem answers with the ItemId only; the UID is Exchange's to assign, so read it back.
    uid = _current(account, saved.id).uid
    return Written(id=saved.id, version=saved.changekey, uid=uid)


def update(
    account: Account,
    item_id: str,
    if_version: str | None,
    fields: Mapping[str, object],
    add_categories: Sequence[str],
    remove_categories: Sequence[str],
    send: bool,
) -> Written:
    label = f"Exchange item {item_id} in {account.primary_smtp_address}"
    current: CalendarItem | None = None
    if (
        if_version is None
        or add_categories
        or remove_categories
        or (("start" in fields or "end" in fields) and "is_all_day" not in fields)
    ):
        current = _current(account, item_id)
        if if_version is not None and current.changekey != if_version:
            raise ConflictError(Side.EXCHANGE, item_id, f"{label} changed since it was read")
    changekey = if_version or (current.changekey if current else None)
    item = CalendarItem(account=account, folder=account.calendar, id=item_id, changekey=changekey)
    names = apply_fields(item, fields, label=label, all_day=bool(current and current.is_all_day))
    if current is not None and (add_categories or remove_categories):
        before = list(current.categories or ())
        after = merged_categories(before, add_categories, remove_categories)
        if after != before:
            item.categories = after or None
            names.append("categories")
    if not names:
        return Written(id=item_id, version=changekey, uid=current.uid if current else None)
    new_id, new_changekey = _single(
        account.bulk_update(
            items=[(item, names)],
            conflict_resolution=NEVER_OVERWRITE,
            message_disposition=SAVE_ONLY,
            send_meeting_invitations_or_cancellations=_invitations(send),
        )
    )
    return Written(id=new_id, version=new_changekey, uid=current.uid if current else None)


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
