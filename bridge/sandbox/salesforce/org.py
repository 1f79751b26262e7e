"""The sandbox's in-memory org: objects, records, users, connected apps, sessions and API usage.

Reads go straight to the store; every write goes through `transaction()`, which commits once and then hands
the change sink one list of RecordChanges for the objects with Change Data Capture enabled. The org is the
SOQL engine's Catalog. A re-entrant lock makes it safe to use from the REST event loop and from Python
callers in other threads.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Collection, Hashable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.changes import ChangeSink, RecordChange
from bridge.sandbox.salesforce.errors import entity_is_deleted, not_found
from bridge.sandbox.salesforce.records import Record, RecordStore, TransactionLog
from bridge.sandbox.salesforce.schema import DEFAULT_METADATA_DIR, METADATA_NS, SObjectDef, load_objects
from bridge.sandbox.salesforce.soql.predicates import index_key
from bridge.sandbox.salesforce.values import utc_now
from bridge.sandbox.salesforce.writes import Writer

DEFAULT_API_VERSION = "62.0"
# EventRelation fields that exist only while Shared Activities is on.
SHARED_ACTIVITY_FIELDS = frozenset({"isparent", "iswhat", "accountid"})
SHARED_ACTIVITY_EVENT_FIELDS = frozenset({"eventwhoids"})


@dataclass
class ConnectedApp:
    """An OAuth client: its secret, the certificates that may sign its JWTs, and its run-as user."""

    client_id: str
    client_secret: str
    run_as_user_id: str
    certificates: list[str] = field(default_factory=list)


@dataclass
class Session:
    user_id: str
    client_id: str
    expires_at: float | None = None


class _NullSink:
    def publish_transaction(self, changes: Any) -> None:
        return None


def _effective_objects(objects: Mapping[str, SObjectDef], shared_activities: bool) -> dict[str, SObjectDef]:
    """The objects as this org describes them: without Shared Activities, the fields that need it are gone
    (so describe is where a client sees the setting, as on Salesforce)."""
    result = dict(objects)
    if shared_activities:
        return result
    for name, absent in (("eventrelation", SHARED_ACTIVITY_FIELDS), ("event", SHARED_ACTIVITY_EVENT_FIELDS)):
        if name in result:
            kept = tuple(f for f in result[name].fields if f.name.lower() not in absent)
            result[name] = replace(result[name], fields=kept, field_index={})
    return result


def _autonumber_formats(metadata_dir: Path) -> dict[str, str]:
    """Custom objects whose Name is an AutoNumber, with their display format (`CBI-{000000}`)."""
    formats: dict[str, str] = {}
    for path in (metadata_dir / "force-app" / "main" / "default" / "objects").glob("*/*.object-meta.xml"):
        name_field = ElementTree.parse(path).getroot().find(METADATA_NS + "nameField")
        if name_field is None:
            continue
        kind = name_field.find(METADATA_NS + "type")
        display = name_field.find(METADATA_NS + "displayFormat")
        if kind is not None and kind.text == "AutoNumber" and display is not None and display.text:
            formats[path.parent.name.lower()] = display.text
    return formats


class Org:
    """One Salesforce org. Construct, then add users with `writes` through `transaction()` or `seed`."""

    def __init__(
        self,
        objects: Mapping[str, SObjectDef] | None = None,
        *,
        metadata_dir: Path = DEFAULT_METADATA_DIR,
        shared_activities: bool = True,
        api_limit: int = 100_000,
        org_id: str | None = None,
        name: str = "Calbridge Sandbox",
        change_sink: ChangeSink | None = None,
    ) -> None:
        self.shared_activities = shared_activities
        self.objects = _effective_objects(objects or load_objects(metadata_dir), shared_activities)
        self.autonumbers = _autonumber_formats(metadata_dir)
        self.store = RecordStore()
        self.api_limit = api_limit
        self.api_usage = 0
        self.commit_number = 0
        self.change_sink: ChangeSink = change_sink or _NullSink()
        self.clients: dict[str, ConnectedApp] = {}
        self.sessions: dict[str, Session] = {}
        # Salesforce documents Sforce-Call-Options for single-record calls, not for sObject Collections;
        # whether `client=` reaches changeOrigin there is unverified, so tests can switch it off.
        self.collections_carry_client = True
        self.lock = threading.RLock()
        self.org_id = org_id or ids.make_id("00D", secrets.randbelow(62**6))
        self.name = name
        self.store.put("Organization", self._organization_record())

    def _organization_record(self) -> Record:
        now = utc_now()
        return {
            "Id": self.org_id,
            "Name": self.name,
            "OrganizationType": "Developer Edition",
            "IsSandbox": True,
            "TimeZoneSidKey": "America/Los_Angeles",
            "CreatedDate": now,
            "CreatedById": None,
            "LastModifiedDate": now,
            "LastModifiedById": None,
        }

    # -- Catalog (the SOQL engine's view of the org) ------------------------------------------------------

    def describe(self, sobject: str) -> SObjectDef | None:
        return self.objects.get(sobject.lower())

    def rows(self, sobject: str, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        return _visible(self.store.rows(sobject), include_deleted)

    def ids_with_keys(self, sobject: str, field: str, kind: str, keys: Collection[Hashable]) -> set[str]:
        return self.store.index(sobject, field, kind, index_key(kind)).ids(keys)

    def rows_with_ids(
        self, sobject: str, record_ids: Collection[str], include_deleted: bool
    ) -> list[Mapping[str, Any]]:
        return _visible(self.store.rows_with_ids(sobject, record_ids), include_deleted)

    def lookup(self, record_id: str) -> tuple[SObjectDef, Mapping[str, Any]] | None:
        normal = ids.normalize(record_id)
        record = self.store.get(normal) if normal else None
        if record is None or normal is None:
            return None
        sobject = self.describe(self.store.entity_of[normal])
        return (sobject, record) if sobject else None

    # -- reads ------------------------------------------------------------------------------------------

    def get_record(self, sobject: SObjectDef | None, record_id: str) -> tuple[SObjectDef, Record]:
        """The live record with this id (of this object, when given); 404 errors as REST reports them."""
        normal = ids.normalize(record_id)
        record = self.store.get(normal) if normal else None
        if normal is None or record is None:
            raise not_found()
        owner = self.describe(self.store.entity_of[normal])
        if owner is None or (sobject is not None and owner.name != sobject.name):
            raise not_found()
        if record.get("IsDeleted"):
            raise entity_is_deleted()
        return owner, record

    def users(self) -> list[Record]:
        return [r for r in self.store.rows("User") if not r.get("IsDeleted")]

    # -- writes -----------------------------------------------------------------------------------------

    @contextmanager
    def transaction(
        self, user_id: str, client: str | None = None, api_version: str = DEFAULT_API_VERSION
    ) -> Iterator[Writer]:
        """A Writer for one transaction. Leaving the block normally commits and publishes the changes;
        an exception rolls every write of the block back and propagates."""
        with self.lock:
            log = TransactionLog(self.store)
            writer = Writer(self, log, user_id, utc_now())
            writer.api_version = api_version
            try:
                yield writer
            except BaseException:
                log.rollback()
                raise
            self._commit(log, user_id, client, api_version)

    def _commit(self, log: TransactionLog, user_id: str, client: str | None, api_version: str) -> None:
        if not log.pending:
            return
        self.commit_number += 1
        origin = f"com/salesforce/api/rest/{api_version}" + (f";client={client}" if client else "")
        changes: list[RecordChange] = log.changes(
            lambda entity: bool((d := self.describe(entity)) and d.change_events),
            origin,
            uuid.uuid4().hex[:8] + "-" + uuid.uuid4().hex[:4] + "-" + uuid.uuid4().hex[:4],
            int(time.time() * 1000),
            self.commit_number,
            user_id,
        )
        if changes:
            self.change_sink.publish_transaction(changes)

    # -- auth -------------------------------------------------------------------------------------------

    def register_client(
        self, run_as_user_id: str, client_id: str | None = None, client_secret: str | None = None
    ) -> ConnectedApp:
        app = ConnectedApp(
            client_id=client_id
            or "3MVG9" + secrets.token_urlsafe(60).replace("-", "A").replace("_", "B")[:80],
            client_secret=client_secret or secrets.token_hex(32).upper(),
            run_as_user_id=run_as_user_id,
        )
        self.clients[app.client_id] = app
        return app

    def issue_token(self, user_id: str, client_id: str, lifetime_s: float | None = None) -> str:
        token = f"{self.org_id[:15]}!" + secrets.token_urlsafe(72)
        expires = time.time() + lifetime_s if lifetime_s else None
        with self.lock:
            self.sessions[token] = Session(user_id, client_id, expires)
        return token

    def session_user(self, token: str) -> str | None:
        session = self.sessions.get(token)
        if session is None or (session.expires_at is not None and session.expires_at < time.time()):
            return None
        record = self.store.get(session.user_id)
        if record is None or record.get("IsDeleted") or not record.get("IsActive", True):
            return None
        return session.user_id

    def user_by_username(self, username: str) -> Record | None:
        """The live User with this Username (case-insensitive), through the store's index."""
        user_id = self.store.user_by_username.get(username.lower())
        user = self.store.records.get(user_id) if user_id else None
        if user is None or user.get("IsDeleted"):
            return None
        return user

    def count_api_call(self) -> bool:
        """Count one API request; False when the daily limit was already reached (the call is refused)."""
        with self.lock:
            if self.api_usage >= self.api_limit:
                return False
            self.api_usage += 1
            return True


def _visible(rows: list[Any], include_deleted: bool) -> list[Any]:
    """The rows a query sees, of a fresh list of the store's: deleted ones (IsDeleted true) only for
    queryAll."""
    return rows if include_deleted else [row for row in rows if not row.get("IsDeleted")]
