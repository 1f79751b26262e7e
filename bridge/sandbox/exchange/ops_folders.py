"""GetFolder, and ConvertId as far as exchangelib's version probe needs it."""

from __future__ import annotations

from .context import RequestContext
from .model import Folder
from .wire import Element, EWSError, Response, m, sub, t


def _write_folder(parent: Element, folder: Folder, ctx: RequestContext) -> None:
    tag = "CalendarFolder" if folder.distinguished == "calendar" else "Folder"
    out = sub(parent, t(tag))
    sub(out, t("FolderId"), Id=folder.folder_id, ChangeKey=folder.change_key)
    if folder.parent_id:
        parent_folder = ctx.store.folders[folder.parent_id]
        sub(out, t("ParentFolderId"), Id=parent_folder.folder_id, ChangeKey=parent_folder.change_key)
    if folder.folder_class:
        sub(out, t("FolderClass"), folder.folder_class)
    sub(out, t("DisplayName"), folder.display_name)
    if tag == "Folder":
        sub(out, t("TotalCount"), str(len(folder.items)))
        siblings = ctx.store.mailboxes[folder.mailbox.lower()].folders.values()
        children = sum(1 for f in siblings if f.parent_id == folder.folder_id)
        sub(out, t("ChildFolderCount"), str(children))
        sub(out, t("UnreadCount"), "0")
    else:
        sub(out, t("TotalCount"), str(len(folder.items)))
        sub(out, t("ChildFolderCount"), "0")


def get_folder(ctx: RequestContext, request: Element) -> Response:
    response = Response("GetFolder")
    folder_ids = request.find(m("FolderIds"))
    for folder_elem in [] if folder_ids is None else list(folder_ids):
        try:
            folder = ctx.folder(folder_elem)
        except EWSError as exc:
            response.error(exc.code, exc.text)
            continue
        msg = response.success()
        _write_folder(sub(msg, m("Folders")), folder, ctx)
    return response


def convert_id(ctx: RequestContext, request: Element) -> Response:
    """Ids are not convertible here; exchangelib's version probe only needs a well-formed answer."""
    response = Response("ConvertId")
    source_ids = request.find(m("SourceIds"))
    for _ in [] if source_ids is None else list(source_ids):
        response.error("ErrorInvalidIdMalformed", "Id is malformed.")
    return response


HANDLERS = {"GetFolder": get_folder, "ConvertId": convert_id}
