"""`query` and `queryAll`: run SOQL, page the result in batches, and serve later pages by cursor.

A result larger than one batch is kept under a cursor (`01g...`) for `nextRecordsUrl`
(`/services/data/vXX.X/query/<cursor>-<offset>`); cursors expire after 15 minutes, as Salesforce's do, and
only the newest few hundred are kept.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from bridge.sandbox.salesforce import soql
from bridge.sandbox.salesforce.calls import Call, Reply, record_url, serialize
from bridge.sandbox.salesforce.errors import SalesforceError
from bridge.sandbox.salesforce.schema import SObjectDef

DEFAULT_BATCH = 2000
MIN_BATCH = 200
CURSOR_TTL_S = 15 * 60
MAX_CURSORS = 500


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    total_size: int
    batch: int
    created: float


class QueryCursors:
    """Open query results by cursor id. Thread-safe."""

    def __init__(self) -> None:
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, cursor: _Cursor) -> str:
        cursor_id = "01g5g" + secrets.token_hex(5).upper()
        with self._lock:
            self._cursors[cursor_id] = cursor
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.popitem(last=False)
        return cursor_id

    def get(self, cursor_id: str) -> _Cursor | None:
        with self._lock:
            cursor = self._cursors.get(cursor_id)
            if cursor is not None and time.monotonic() - cursor.created > CURSOR_TTL_S:
                del self._cursors[cursor_id]
                return None
            return cursor


def batch_size(call: Call) -> int:
    options = call.headers.get("Sforce-Query-Options", "")
    for part in options.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip() == "batchSize" and value.strip().isdigit():
            return max(MIN_BATCH, min(DEFAULT_BATCH, int(value)))
    return DEFAULT_BATCH


def _page(call: Call, cursors: QueryCursors, cursor_id: str, cursor: _Cursor, offset: int) -> Reply:
    chunk = cursor.records[offset : offset + cursor.batch]
    end = offset + len(chunk)
    body: dict[str, Any] = {
        "totalSize": cursor.total_size,
        "done": end >= len(cursor.records),
        "records": chunk,
    }
    if not body["done"]:
        body["nextRecordsUrl"] = f"/services/data/v{call.version}/query/{cursor_id}-{end}"
    return Reply(200, body)


def _link(call: Call, row: dict[str, Any], row_id: str | None, references: dict[str, str]) -> None:
    """Give the record and its related records (`Who`, `Owner`, ...) their `attributes.url`, as Salesforce
    does whether or not Id was selected (caller holds the org lock). `references` maps each lower-cased
    relationship name of the row's object to its reference field."""
    stored = call.org.store.get(row_id) if row_id else None
    if row_id is None or stored is None:
        return
    own = row["attributes"]
    row["attributes"] = {**own, "url": record_url(call.version, own["type"], row_id)}
    for key, value in row.items():
        if not (isinstance(value, dict) and isinstance(value.get("attributes"), dict)):
            continue
        reference = references.get(key.lower())
        target = stored.get(reference) if reference is not None else None
        if isinstance(target, str):
            attributes = value["attributes"]
            value["attributes"] = {**attributes, "url": record_url(call.version, attributes["type"], target)}


def _references(sobject: SObjectDef) -> dict[str, str]:
    """Lower-cased relationship name -> reference field name (the first field with that name), worked out
    once per query rather than by a search of every field for every row."""
    references: dict[str, str] = {}
    for field in sobject.fields:
        if field.relationship_name:
            references.setdefault(field.relationship_name.lower(), field.name)
    return references


def handle(call: Call, cursors: QueryCursors) -> Reply:
    """`query[/<cursor>-<offset>]` and `queryAll[...]`, GET only."""
    if call.method != "GET":
        raise SalesforceError(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{call.method}' not allowed. Allowed are GET,HEAD"
        )
    if len(call.path) >= 2 and call.path[1]:
        cursor_id, _, offset_text = call.path[1].rpartition("-")
        cursor = cursors.get(cursor_id) if offset_text.isdigit() else None
        if cursor is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return _page(call, cursors, cursor_id, cursor, int(offset_text))
    text = call.params.get("q")
    if not text:
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
    include_deleted = call.path[0] == "queryAll"
    with call.org.lock:
        try:
            result = soql.run(text, call.org, include_deleted=include_deleted)
        except soql.SoqlError as error:
            raise SalesforceError(400, error.error_code, error.message) from None
        references = _references(result.sobject)
        for row, row_id in zip(result.records, result.ids, strict=True):
            _link(call, row, row_id, references)
    records = serialize(result.records, call.version)
    cursor = _Cursor(records, result.total_size, batch_size(call), time.monotonic())
    if len(records) <= cursor.batch:
        return Reply(200, {"totalSize": result.total_size, "done": True, "records": records})
    return _page(call, cursors, cursors.open(cursor), cursor, 0)
