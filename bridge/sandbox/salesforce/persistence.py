"""Saving the org to a JSON file and loading it back, so a restarted sandbox keeps its data, sessions and
retained change events (a subscriber's stored replay id stays valid across the restart, as on Salesforce).

Values are written as REST writes them and read back through the field's describe type. The file is written
to a temporary name and renamed, so a crash mid-save leaves the previous file intact.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bridge.sandbox.salesforce.eventbus import EventBus
from bridge.sandbox.salesforce.org import ConnectedApp, Org, Session
from bridge.sandbox.salesforce.values import from_json, to_json

FORMAT_VERSION = 1


def snapshot(org: Org) -> dict[str, Any]:
    """The org's whole state as JSON-ready data."""
    with org.lock:
        records = [
            {"entity": org.store.entity_of[rid], "fields": {k: to_json(v) for k, v in rec.items()}}
            for rid, rec in org.store.records.items()
        ]
        return {
            "format": FORMAT_VERSION,
            "org_id": org.org_id,
            "name": org.name,
            "api_usage": org.api_usage,
            "commit_number": org.commit_number,
            "serials": dict(org.store.serials),
            "child_events": dict(org.store.child_events),
            "deleted_with": dict(org.store.deleted_with),
            "records": records,
            "clients": [asdict(app) for app in org.clients.values()],
            "sessions": {token: asdict(s) for token, s in org.sessions.items()},
        }


def restore(org: Org, state: dict[str, Any]) -> None:
    """Replace the org's data with a snapshot (objects and settings stay as constructed)."""
    if state.get("format") != FORMAT_VERSION:
        raise ValueError(f"unsupported sandbox state format {state.get('format')!r}")
    with org.lock:
        org.org_id = state["org_id"]
        org.name = state["name"]
        org.api_usage = int(state["api_usage"])
        org.commit_number = int(state["commit_number"])
        store = org.store
        store.records.clear()
        store.by_object.clear()
        store.entity_of.clear()
        store.relations_by_event.clear()
        store.serials = {k: int(v) for k, v in state["serials"].items()}
        store.child_events = dict(state["child_events"])
        store.deleted_with = dict(state.get("deleted_with", {}))
        for item in state["records"]:
            sobject = org.describe(item["entity"])
            if sobject is None:
                continue  # an object the current metadata no longer has
            record = {}
            for name, value in item["fields"].items():
                fdef = sobject.field(name)
                if fdef is not None:
                    record[fdef.name] = from_json(fdef, value)
            for fdef in sobject.fields:
                record.setdefault(fdef.name, fdef.default)
            store.put(sobject.name, record)
        org.clients = {c["client_id"]: ConnectedApp(**c) for c in state["clients"]}
        org.sessions = {token: Session(**s) for token, s in state["sessions"].items()}


def save(org: Org, path: Path, bus: EventBus | None = None) -> None:
    """Write the org (and the event bus's retained log, when given) to `path`."""
    state = snapshot(org)
    if bus is not None:
        state["event_bus"] = bus.snapshot()
    data = json.dumps(state, separators=(",", ":"))
    # One temporary name per thread: a periodic save may still be running when the final one starts.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(data, encoding="utf-8")
    os.replace(temporary, path)


def load(org: Org, path: Path, bus: EventBus | None = None) -> bool:
    """Restore `org` (and `bus`, when given and saved) from `path`; False when there is no file yet."""
    if not path.exists():
        return False
    state = json.loads(path.read_text(encoding="utf-8"))
    restore(org, state)
    if bus is not None and "event_bus" in state:
        bus.restore(state["event_bus"])
    return True
