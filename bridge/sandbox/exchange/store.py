"""The mailbox store: mailboxes, folders, calendar items, ids and change keys, the per-folder journal.

Pure state, no I/O and no XML. Every change goes through ``_record`` which advances a global sequence, stamps
the folder journal (SyncFolderItems reads it) and tells the listeners (subscriptions) what happened.
Not thread-safe: the server touches it from its event loop only.
"""

from __future__ import annotations

import base64
import os
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .model import CalendarItem, Folder, Mailbox
from .wire import EWSError

_ITEM_TAG = b"\x00\x00\x49"  # opaque prefixes so malformed ids can be told from unknown ones
_FOLDER_TAG = b"\x00\x00\x46"
_CHANGE_KEY_TAG = b"CK"
CHANGE_KEY_BYTES = 30  # 40 base64 characters, the length of Exchange's ChangeKeys
GONE_LIMIT = 10_000  # deletions each folder's journal remembers; older sync states are refused

FOLDER_LAYOUT = (
    # distinguished id, display name, folder class, parent
    ("root", "Root", None, None),
    ("msgfolderroot", "Top of Information Store", None, "root"),
    ("calendar", "Calendar", "IPF.Appointment", "msgfolderroot"),
    ("inbox", "Inbox", "IPF.Note", "msgfolderroot"),
    ("sentitems", "Sent Items", "IPF.Note", "msgfolderroot"),
    ("deleteditems", "Deleted Items", "IPF.Note", "msgfolderroot"),
    ("recoverableitemsdeletions", "Deletions", None, "root"),
)
CALENDAR_LIKE = ("calendar", "deleteditems", "recoverableitemsdeletions")


@dataclass(frozen=True)
class StoreEvent:
    """What subscriptions hear about: ``kind`` is Created, Modified, Deleted or Moved."""

    kind: str
    sequence: int
    mailbox: str
    item_id: str
    change_key: str
    folder_id: str
    timestamp: datetime
    old_item_id: str | None = None
    old_folder_id: str | None = None


Listener = Callable[[StoreEvent], None]


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Store:
    """All mailboxes of one sandbox."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self.clock = clock
        self.mailboxes: dict[str, Mailbox] = {}
        self.folders: dict[str, Folder] = {}
        self.items: dict[str, CalendarItem] = {}
        self.sequence = 0
        self.change_key_version = 0  # numbers ChangeKeys; saved, so keys never repeat
        self._listeners: list[Listener] = []
        self.secret = os.urandom(16)  # signs opaque tokens (sync states, watermarks)

    # ---- mailboxes and folders -----------------------------------------------------------------------------

    def add_mailbox(self, address: str, display_name: str | None = None) -> Mailbox:
        key = address.lower()
        if key in self.mailboxes:
            return self.mailboxes[key]
        name = display_name or address.split("@")[0].replace(".", " ").title()
        mailbox = Mailbox(address=address, display_name=name)
        for distinguished, display, folder_class, parent in FOLDER_LAYOUT:
            parent_id = mailbox.folders[parent].folder_id if parent else None
            folder = Folder(
                folder_id=self._new_id(_FOLDER_TAG),
                change_key=self._new_change_key(),
                mailbox=address,
                distinguished=distinguished,
                display_name=display,
                folder_class=folder_class,
                parent_id=parent_id,
            )
            mailbox.folders[distinguished] = folder
            self.folders[folder.folder_id] = folder
        self.mailboxes[key] = mailbox
        return mailbox

    def mailbox(self, address: str) -> Mailbox | None:
        return self.mailboxes.get(address.lower())

    def folder_by_id(self, folder_id: str) -> Folder:
        check_id(folder_id, _FOLDER_TAG)
        folder = self.folders.get(folder_id)
        if folder is None:
            raise EWSError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
        return folder

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    # ---- items ---------------------------------------------------------------------------------------------

    def get_item(self, item_id: str) -> CalendarItem:
        check_id(item_id, _ITEM_TAG)
        item = self.items.get(item_id)
        if item is None:
            raise EWSError("ErrorItemNotFound", "The specified object was not found in the store.")
        return item

    def new_item(self, folder: Folder, uid: str | None = None) -> CalendarItem:
        """A blank item bound to ``folder`` but not yet stored; fill it, then ``insert`` it."""
        now = self.clock()
        return CalendarItem(
            item_id=self._new_id(_ITEM_TAG),
            change_key=self._new_change_key(),
            mailbox=folder.mailbox,
            folder_id=folder.folder_id,
            created=now,
            last_modified=now,
            uid=uid or uuid.uuid4().hex.upper(),
        )

    def insert(self, item: CalendarItem) -> None:
        folder = self.folders[item.folder_id]
        self._emit("Created", self._place(item, folder), item)

    def touch(self, item: CalendarItem) -> None:
        """Call after changing an item: new change key, new LastModifiedTime, journal and notification."""
        item.change_key = self._new_change_key()
        item.last_modified = max(self.clock(), item.last_modified)
        self._emit("Modified", self._record(self.folders[item.folder_id], item), item)

    def move(self, item: CalendarItem, destination: Folder) -> CalendarItem:
        """Move keeps the item (new id, as Exchange gives moved items); returns the moved item."""
        source = self.folders[item.folder_id]
        self._leave(source, item)
        old_id = item.item_id
        item.item_id = self._new_id(_ITEM_TAG)
        item.change_key = self._new_change_key()
        item.folder_id = destination.folder_id
        item.last_modified = max(self.clock(), item.last_modified)
        seq = self._place(item, destination)
        self._emit("Moved", seq, item, old_item_id=old_id, old_folder_id=source.folder_id)
        return item

    def hard_delete(self, item: CalendarItem) -> None:
        seq = self._leave(self.folders[item.folder_id], item)
        self._emit("Deleted", seq, item, timestamp=self.clock())

    # ---- journal -------------------------------------------------------------------------------------------

    def _record(self, folder: Folder, item: CalendarItem, entering: bool = False) -> int:
        self.sequence += 1
        if entering or item.item_id not in folder.present:
            folder.present[item.item_id] = (self.sequence, self.sequence)
            folder.gone.pop(item.item_id, None)
        else:
            added, _ = folder.present[item.item_id]
            folder.present[item.item_id] = (added, self.sequence)
        return self.sequence

    def _place(self, item: CalendarItem, folder: Folder) -> int:
        self.items[item.item_id] = item
        folder.items[item.item_id] = item
        return self._record(folder, item, entering=True)

    def _leave(self, folder: Folder, item: CalendarItem) -> int:
        self.sequence += 1
        added, _ = folder.present.pop(item.item_id, (0, 0))
        folder.gone[item.item_id] = (added, self.sequence, item.change_key)
        folder.items.pop(item.item_id, None)
        self.items.pop(item.item_id, None)
        if len(folder.gone) > GONE_LIMIT:
            oldest = sorted(folder.gone.items(), key=lambda entry: entry[1][1])[
                : len(folder.gone) - GONE_LIMIT
            ]
            for item_id, (_, removed, _) in oldest:
                del folder.gone[item_id]
                folder.forgotten = max(folder.forgotten, removed)
        return self.sequence

    def _emit(
        self,
        kind: str,
        sequence: int,
        item: CalendarItem,
        timestamp: datetime | None = None,
        old_item_id: str | None = None,
        old_folder_id: str | None = None,
    ) -> None:
        event = StoreEvent(
            kind,
            sequence,
            item.mailbox,
            item.item_id,
            item.change_key,
            item.folder_id,
            timestamp or item.last_modified,
            old_item_id=old_item_id,
            old_folder_id=old_folder_id,
        )
        for listener in self._listeners:
            listener(event)

    # ---- ids -----------------------------------------------------------------------------------------------

    def _new_id(self, tag: bytes) -> str:
        return base64.b64encode(tag + uuid.uuid4().bytes + os.urandom(5)).decode()

    def _new_change_key(self) -> str:
        self.change_key_version += 1
        return base64.b64encode(
            _CHANGE_KEY_TAG + struct.pack(">Q", self.change_key_version) + os.urandom(CHANGE_KEY_BYTES - 10)
        ).decode()


def check_id(value: str, tag: bytes) -> None:
    """Exchange tells a malformed id (ErrorInvalidIdMalformed) from a well-formed unknown one."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) != 24 or not raw.startswith(tag):
        raise EWSError("ErrorInvalidIdMalformed", "Id is malformed.")


def check_change_key(value: str) -> None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (ValueError, TypeError):
        raw = b""
    if len(raw) not in (12, CHANGE_KEY_BYTES) or not raw.startswith(_CHANGE_KEY_TAG):  # 12: older saves
        raise EWSError("ErrorInvalidChangeKey", "The change key is invalid.")
