"""SyncFolderItems: changes since an opaque sync state, read from the folder journal, paged.

A state names the folder, the folder's sync epoch (bumped when the sandbox invalidates states) and the journal
sequence it covers. Changes since then collapse per item: entered after the state and still here -> Create;
here before and changed -> Update; here before and gone -> Delete; came and went in between -> nothing.
"""

from __future__ import annotations

from .context import RequestContext
from .items_xml import read_shape, write_item
from .model import Folder
from .tokens import seal, unseal
from .wire import Element, EWSError, Response, fmt_bool, m, sub, t

MAX_CHANGES = 512


def encode_state(secret: bytes, folder: Folder, sequence: int) -> str:
    return seal(secret, {"f": folder.folder_id, "e": folder.sync_epoch, "s": sequence})


def decode_state(secret: bytes, folder: Folder, token: str | None) -> int:
    if not token:
        return 0
    payload = unseal(secret, token)
    if payload is None or payload.get("f") != folder.folder_id or payload.get("e") != folder.sync_epoch:
        raise EWSError(
            "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
        )
    sequence = payload.get("s")
    if not isinstance(sequence, int) or sequence < folder.forgotten:  # older than the bounded journal
        raise EWSError(
            "ErrorInvalidSyncStateData", "Synchronization state data is corrupt or otherwise invalid."
        )
    return sequence


def pending_changes(folder: Folder, since: int) -> list[tuple[int, str, str]]:
    """(sequence, kind, item id) for every item changed after ``since``, oldest first."""
    changes: list[tuple[int, str, str]] = []
    for item_id, (added, last) in folder.present.items():
        if last > since:
            changes.append((last, "Create" if added > since else "Update", item_id))
    for item_id, (added, removed, _) in folder.gone.items():
        if removed > since and added <= since:
            changes.append((removed, "Delete", item_id))
    changes.sort()
    return changes


def sync_folder_items(ctx: RequestContext, request: Element) -> Response:
    response = Response("SyncFolderItems")
    shape = read_shape(request.find(m("ItemShape")))
    try:
        folder_holder = request.find(m("SyncFolderId"))
        if folder_holder is None or not len(folder_holder):
            raise EWSError("ErrorMissingArgument", "SyncFolderId is required.")
        folder = ctx.folder(folder_holder[0])
        since = decode_state(ctx.store.secret, folder, request.findtext(m("SyncState")))
        try:
            limit = int(request.findtext(m("MaxChangesReturned")) or MAX_CHANGES)
        except ValueError:
            limit = 0
        if not 1 <= limit <= MAX_CHANGES:
            raise EWSError("ErrorInvalidArgument", "MaxChangesReturned must be between 1 and 512.")
        ignore = {e.get("Id") for e in request.findall(f"{m('Ignore')}/{t('ItemId')}")}
    except EWSError as exc:
        msg = response.error(exc.code, exc.text)
        sub(msg, m("SyncState"))  # Exchange includes both even on errors, and exchangelib reads them
        sub(msg, m("IncludesLastItemInRange"), "true")
        return response
    changes = pending_changes(folder, since)
    page = changes[:limit]
    last_page = len(page) == len(changes)
    new_sequence = ctx.store.sequence if last_page else page[-1][0]
    msg = response.success()
    sub(msg, m("SyncState"), encode_state(ctx.store.secret, folder, new_sequence))
    sub(msg, m("IncludesLastItemInRange"), fmt_bool(last_page))
    container = sub(msg, m("Changes"))
    for _, kind, item_id in page:
        if item_id in ignore:
            continue
        wrapper = sub(container, t(kind))
        if kind == "Delete":
            sub(wrapper, t("ItemId"), Id=item_id, ChangeKey=folder.gone[item_id][2])
        else:
            write_item(wrapper, folder.items[item_id], shape, folder.change_key)
    return response


HANDLERS = {"SyncFolderItems": sync_folder_items}
