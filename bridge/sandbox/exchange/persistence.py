"""Saving the mailbox store to a JSON file and loading it back, so a restarted sandbox keeps its data.

Everything a client may hold on to survives: mailboxes and rights, folder and item ids, ChangeKeys, UIDs, the
folder journals and the secret that signs sync states (a stored SyncState stays valid across the restart).
Subscriptions do not: a restarted Exchange loses them too, and clients then resubscribe.
The snapshot is built on the server's loop (the store is single-threaded); only the file write may run
elsewhere. The file is written under a temporary name and renamed, so a crash mid-save keeps the previous one.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

from . import recurrence
from .model import ATTENDEE_LISTS, Attendee, CalendarItem, ExtendedProperty, Folder, Mailbox
from .store import Store

FORMAT_VERSION = 1
_FOLDER_SCALARS = ("folder_id", "change_key", "mailbox", "distinguished", "display_name", "folder_class")


def _attendee(who: Attendee) -> dict[str, Any]:
    data: dict[str, Any] = {f.name: getattr(who, f.name) for f in fields(Attendee)}
    data["last_response_time"] = who.last_response_time.isoformat() if who.last_response_time else None
    return data


def _read_attendee(data: dict[str, Any]) -> Attendee:
    when = data.get("last_response_time")
    return Attendee(**{**data, "last_response_time": datetime.fromisoformat(when) if when else None})


_SERIES = ("recurrence", "exceptions", "deleted_occurrences", "master_id", "original_start", "is_exception")


def _item(item: CalendarItem) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in fields(CalendarItem):
        if f.name in _SERIES:
            continue
        value = getattr(item, f.name)
        if isinstance(value, datetime):
            value = value.isoformat()
        data[f.name] = value
    if item.recurrence is not None:
        data["recurrence"] = recurrence.to_json(item.recurrence)
        data["deleted_occurrences"] = [d.isoformat() for d in item.deleted_occurrences]
        data["exceptions"] = [_exception(item, start, fields_) for start, fields_ in item.exceptions.items()]
    data["organizer"] = _attendee(item.organizer) if item.organizer else None
    data["attendees"] = {kind: [_attendee(a) for a in item.attendees[kind]] for kind in ATTENDEE_LISTS}
    data["extended"] = [
        {"uri": prop.uri, "values": prop.values, "is_array": prop.is_array} for prop in item.extended.values()
    ]
    return data


def _exception(master: CalendarItem, start: datetime, overrides: dict[str, Any]) -> dict[str, Any]:
    """An exception as the fields it overrides, written with the master's shape (so one reader serves)."""
    carrier = CalendarItem(**{f.name: getattr(master, f.name) for f in fields(CalendarItem) if f.init})
    carrier.recurrence, carrier.exceptions, carrier.deleted_occurrences = None, {}, []
    for name, value in overrides.items():
        setattr(carrier, name, value)
    return {"original_start": start.isoformat(), "fields": sorted(overrides), "item": _item(carrier)}


def _read_item(data: dict[str, Any]) -> CalendarItem:
    known = {f.name for f in fields(CalendarItem)} - set(_SERIES)
    values = {k: v for k, v in data.items() if k in known}
    for name in ("created", "last_modified", "start", "end", "reminder_due_by"):
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name])
    organizer = values.pop("organizer", None)
    attendees = values.pop("attendees", {})
    extended = values.pop("extended", [])
    item = CalendarItem(**values)
    item.organizer = _read_attendee(organizer) if organizer else None
    item.attendees = {kind: [_read_attendee(a) for a in attendees.get(kind, [])] for kind in ATTENDEE_LISTS}
    for entry in extended:
        prop = ExtendedProperty(dict(entry["uri"]), list(entry["values"]), bool(entry["is_array"]))
        item.extended[prop.key] = prop
    if data.get("recurrence"):
        item.recurrence = recurrence.from_json(data["recurrence"])
        item.deleted_occurrences = [datetime.fromisoformat(d) for d in data.get("deleted_occurrences", [])]
        for entry in data.get("exceptions", []):
            carrier = _read_item(entry["item"])
            item.exceptions[datetime.fromisoformat(entry["original_start"])] = {
                name: getattr(carrier, name) for name in entry["fields"]
            }
    return item


def snapshot(store: Store) -> dict[str, Any]:
    """The store's whole state as JSON-ready data (call on the thread that owns the store)."""
    mailboxes = []
    for mailbox in store.mailboxes.values():
        folders = []
        for folder in mailbox.folders.values():
            entry: dict[str, Any] = {name: getattr(folder, name) for name in _FOLDER_SCALARS}
            entry["parent_id"] = folder.parent_id
            entry["sync_epoch"] = folder.sync_epoch
            entry["forgotten"] = folder.forgotten
            entry["present"] = {k: list(v) for k, v in folder.present.items()}
            entry["gone"] = {k: list(v) for k, v in folder.gone.items()}
            folders.append(entry)
        mailboxes.append(
            {
                "address": mailbox.address,
                "display_name": mailbox.display_name,
                "impersonation": mailbox.impersonation,
                "delegate": mailbox.delegate,
                "folders": folders,
            }
        )
    return {
        "format": FORMAT_VERSION,
        "sequence": store.sequence,
        "version": store.change_key_version,
        "secret": store.secret.hex(),
        "mailboxes": mailboxes,
        "items": [_item(item) for item in store.items.values()],
    }


def restore(store: Store, state: dict[str, Any]) -> None:
    """Replace the (empty) store's contents with a snapshot."""
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported Exchange sandbox state format {state.get('format')!r}")
    store.mailboxes.clear()
    store.folders.clear()
    store.items.clear()
    store.sequence = int(state["sequence"])
    store.change_key_version = int(state["version"])
    store.secret = bytes.fromhex(state["secret"])
    for entry in state["mailboxes"]:
        mailbox = Mailbox(
            address=entry["address"],
            display_name=entry["display_name"],
            impersonation=bool(entry["impersonation"]),
            delegate=bool(entry["delegate"]),
        )
        for raw in entry["folders"]:
            folder = Folder(
                **{name: raw[name] for name in _FOLDER_SCALARS},
                parent_id=raw["parent_id"],
                sync_epoch=int(raw["sync_epoch"]),
                forgotten=int(raw.get("forgotten", 0)),
            )
            folder.present = {k: (int(v[0]), int(v[1])) for k, v in raw["present"].items()}
            folder.gone = {k: (int(v[0]), int(v[1]), str(v[2])) for k, v in raw["gone"].items()}
            mailbox.folders[folder.distinguished] = folder
            store.folders[folder.folder_id] = folder
        store.mailboxes[mailbox.address.lower()] = mailbox
    for raw_item in state["items"]:
        item = _read_item(raw_item)
        home = store.folders.get(item.folder_id)
        if home is None:
            continue  # a folder the saved layout no longer has
        store.items[item.item_id] = item
        home.items[item.item_id] = item


def fingerprint(store: Store) -> tuple[int, int, int, int]:
    """Changes whenever something worth saving changed (journal, ids, mailboxes, sync epochs)."""
    epochs = sum(folder.sync_epoch for folder in store.folders.values())
    return store.sequence, store.change_key_version, len(store.mailboxes), epochs


def write(path: Path, state: dict[str, Any]) -> None:
    """Write a snapshot atomically: a temporary file next to ``path``, then a rename over it."""
    data = json.dumps(state, separators=(",", ":"))
    # One temporary name per thread: a periodic save may still be running when the final one starts.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def load(store: Store, path: Path) -> bool:
    """Restore ``store`` from ``path``; False when there is no file yet."""
    if not path.exists():
        return False
    restore(store, json.loads(path.read_text(encoding="utf-8")))
    return True
