"""`SqlStore`: the `Store` contract over SQLAlchemy Core with an async engine.

Two engines are supported:
- SQLite through aiosqlite, the embedded default: one file in the state directory, in WAL mode (readers never
  wait for the writer) with a busy timeout. Writes in one process take turns on an asyncio lock and begin
  with BEGIN IMMEDIATE, so two commits never meet SQLite's "database is locked"; another process (the CLI
  reading issues) waits up to the busy timeout.
- PostgreSQL through asyncpg, for replicas. Opening an issue is an upsert on a partial unique index, so two
  replicas opening the same issue at once still keep one open row.

Small reads on SQLite (a user's pairs, series, a position, a pair by record: every pass makes several)
run on the calling thread through the sqlite3 module, on a connection of their own to the same file
(`_SyncReads`), not through aiosqlite: each aiosqlite statement is several hand-offs to its thread and back
(cursor, execute, fetch, the transaction's BEGIN and ROLLBACK), and on a process whose other threads parse
XML each hand-off waits for the GIL, so a read of a few rows cost milliseconds of the event loop's time and
far more of a pass's wall time (py-spy at 20 changes a second, issue 10). An indexed read of a local file
takes microseconds; in WAL mode it never waits for a writer. It waits at most `SYNC_READ_BUSY_MS` for the
rare lock a reader can meet (a recovery after a crash), then the read takes the aiosqlite road as before.
Every read still reads the file: another process's commit (`calbridge undo`, an admin command) is seen at
once. Write transactions (a commit, the journal's entries) run the same way (`_SyncWrites`), in turn with
this process's other writers (the asyncio lock below); one that finds another process holding the write lock
does not wait on the calling thread: nothing is written there, and it takes the aiosqlite road, which waits
up to the busy timeout.

Failures of the database itself (unreachable, locked past the timeout, connection lost) are raised as
`TransientError`; a stored row this code cannot read as `MappingError`; a commit no store could keep as
TypeError/ValueError before anything is written (`bridge.store.rules`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import create_engine
from sqlalchemy import event as sa_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bridge.core.model import PairStatus, Side
from bridge.core.serial import state_from_dict, state_to_dict
from bridge.core.series_serial import series_from_dict, series_to_dict
from bridge.errors import ConfigError, MappingError, TransientError
from bridge.ports import Commit, Intent, StoredIssue, StoredPair, StoredSeries
from bridge.store import migrate as migrations
from bridge.store import rules
from bridge.store.codec import dumps, event_from_dict, event_to_dict, item_from_dict, item_to_dict, loads
from bridge.store.leases import Fence, check_fence
from bridge.store.schema import OPEN_CAUSE, intents, issues, meeting_claims, pairs, positions, series

CONFIG_KEY = "store.url"
DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
EXAMPLES = (
    "sqlite+aiosqlite:///STATE_DIR/calbridge.db or postgresql+asyncpg://USER:PASSWORD@HOST:5432/DATABASE"
)
BUSY_TIMEOUT_MS = 15_000
DECODED_KEPT = 4096  # pair rows kept decoded, by a digest of their text (`SqlStore._decoded_pair`)
SYNC_READ_BUSY_MS = 100  # the most a read on the calling thread waits for a lock (see the module doc)
_WRITE = "calbridge_write"  # execution option: this transaction writes (SQLite: BEGIN IMMEDIATE)


def store_url(url: str) -> URL:
    """The async URL for a configured `store.url`, or `ConfigError` naming the fix."""
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ConfigError(CONFIG_KEY, f"{url!r} is not a database URL; use {EXAMPLES}") from error
    driver = DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            CONFIG_KEY,
            f"{parsed.drivername!r} is not a supported database driver; use {EXAMPLES}",
        )
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite"):
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            raise ConfigError(
                CONFIG_KEY,
                f"{url!r} is an in-memory database, which forgets every pair and position when the bridge "
                f"stops; name a file in the state directory, e.g. sqlite+aiosqlite:///STATE_DIR/calbridge.db",
            )
        folder = Path(database).expanduser().resolve().parent
        if not folder.is_dir():
            raise ConfigError(
                CONFIG_KEY,
                f"the folder {str(folder)!r} of the database file does not exist; create it or fix the path",
            )
    elif not parsed.database:
        raise ConfigError(
            CONFIG_KEY,
            f"{parsed.render_as_string(hide_password=True)!r} names no database; add /DATABASE to the URL",
        )
    return parsed


def open_store(
    url: str,
    *,
    schema: str | None = None,
    busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    now: rules.Clock = rules.system_clock,
) -> SqlStore:
    """A store for `url` (`store.url`). Nothing connects yet: the first `migrate()` does. `schema` is a
    PostgreSQL schema to keep the tables in (`migrate()` creates it), instead of the default search path."""
    parsed = store_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.drivername.startswith("postgresql"):
        if schema is not None:
            connect_args["server_settings"] = {"search_path": schema}
    elif schema is not None:
        raise ConfigError("store.schema", "a schema applies to PostgreSQL only; remove it for SQLite")
    # A server connection may drop between uses (a restart, a failover): ping it at checkout. A file cannot.
    pre_ping = parsed.drivername.startswith("postgresql")
    engine = create_async_engine(parsed, connect_args=connect_args, pool_pre_ping=pre_ping)
    if engine.dialect.name == "sqlite":
        _prepare_sqlite(engine, busy_timeout_ms)
    return SqlStore(engine, now=now, schema=schema)


def _prepare_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL, a busy timeout, and SQLAlchemy (not the sqlite3 module) deciding where transactions begin."""

    @sa_event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver emits no BEGIN of its own
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable at every checkpoint; safe with WAL
        cursor.close()

    @sa_event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        # A writer takes the write lock at BEGIN: a deferred transaction that read first and then writes
        # fails at once with "database is locked" when another writer got there in between.
        immediate = connection.get_execution_options().get(_WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_Sql = tuple[str, tuple[str, ...]]  # an SQLite statement and its parameters

# The reads of every pass in SQLite's SQL (`_SyncReads.text`); each names the columns its decoder reads, and
# orders as `_text_order` does on SQLite (BINARY collation: code point order).
_PAIRS_OF = f"SELECT user_id, key, state, event, item FROM {pairs.name} WHERE user_id = ? ORDER BY key"
_PAIR_BY = {
    Side.SALESFORCE: f"SELECT user_id, key, state, event, item FROM {pairs.name} WHERE sf_id = ?",
    Side.EXCHANGE: f"SELECT user_id, key, state, event, item FROM {pairs.name} WHERE ex_id = ?",
}
_CLAIMED_ITEMS = (
    f"SELECT ex_id FROM {pairs.name} WHERE user_id = ? AND status != '{PairStatus.WAITING}'"
    " AND ex_id IS NOT NULL"
)
_SERIES_OF = f"SELECT user_id, key, state FROM {series.name} WHERE user_id = ? ORDER BY key"
_POSITION = f"SELECT value FROM {positions.name} WHERE stream = ?"


class _SyncReads:
    """SQLite in a file: reads through the sqlite3 module on the calling thread (see the module doc)."""

    def __init__(self, url: URL) -> None:
        self.engine: Engine = create_engine(
            url.set(drivername="sqlite"), connect_args={"check_same_thread": False}
        )
        self._path = url.database or ""
        self._lock = threading.Lock()  # the connection of `text`, for one read at a time
        self._connection: sqlite3.Connection | None = None

        @sa_event.listens_for(self.engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            _read_only(dbapi_connection)

    @staticmethod
    def of(engine: AsyncEngine) -> _SyncReads | None:
        """The reads of `engine`'s database when it is an SQLite file; None for any other database."""
        url = engine.url
        database = url.database or ""
        memory = database in ("", ":memory:") or database.startswith("file:") or "mode" in url.query
        return _SyncReads(url) if engine.dialect.name == "sqlite" and not memory else None

    def rows(self, query: sa.Select[Any]) -> Sequence[Mapping[str, Any]] | None:
        """The rows of `query`, or None when SQLite refused the read here (the caller reads the other way)."""
        try:
            with self.engine.connect() as connection:
                return cast(Sequence[Mapping[str, Any]], connection.execute(query).mappings().all())
        except DBAPIError:
            return None

    def text(self, sql: _Sql) -> Sequence[Mapping[str, Any]] | None:
        """The rows of a read written in SQL, straight on the sqlite3 connection (the reads every pass
        makes: SQLAlchemy's execution cost more than SQLite's); None as `rows`."""
        statement, parameters = sql
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = sqlite3.connect(self._path, check_same_thread=False)
                    _read_only(self._connection)
                    self._connection.row_factory = sqlite3.Row
                rows = self._connection.execute(statement, parameters).fetchall()
                return cast(Sequence[Mapping[str, Any]], rows)
            except sqlite3.Error:
                return None

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
        self.engine.dispose()


def _read_only(connection: Any) -> None:
    """A reading connection of `_SyncReads`: no transaction of its own, a short busy timeout, no writes."""
    connection.isolation_level = None  # each SELECT its own snapshot, as on aiosqlite
    cursor = connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SYNC_READ_BUSY_MS}")
    cursor.execute("PRAGMA query_only = ON")
    cursor.close()


_Statement = tuple[sa.Executable, list[dict[str, Any]] | None]  # a statement and its rows (executemany)


class _SyncWrites:
    """SQLite in a file: write transactions on the calling thread (see the module doc). The caller holds
    the store's write lock, so no write of this process is in flight on the async engine meanwhile."""

    def __init__(self, url: URL) -> None:
        self.engine: Engine = create_engine(
            url.set(drivername="sqlite"), connect_args={"check_same_thread": False}
        )

        @sa_event.listens_for(self.engine, "connect")
        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # BEGIN IMMEDIATE and COMMIT are sent here, as below
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA busy_timeout = 0")  # another process writing: the async road waits
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.close()

    def run(self, statements: Callable[[], Iterable[_Statement]], store: SqlStore) -> bool:
        """Run the `statements()` in one transaction; False, with nothing written, when another process holds
        the write lock (or SQLite refused to begin), for the caller to write through the async engine."""
        with self.engine.connect() as connection:
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except DBAPIError:
                return False
            try:
                for statement, rows in statements():
                    if rows is None:
                        connection.execute(statement)
                    else:
                        connection.execute(statement, rows)
                connection.exec_driver_sql("COMMIT")
            except BaseException as error:
                with contextlib.suppress(DBAPIError):
                    connection.exec_driver_sql("ROLLBACK")
                if isinstance(error, OperationalError | InterfaceError):
                    raise TransientError(f"the store at {store!r} failed: {_reason(error)}") from error
                raise
        return True

    def close(self) -> None:
        self.engine.dispose()


class SqlStore:
    """The `bridge.ports.Store` over one async engine; see the module docstring."""

    def __init__(
        self, engine: AsyncEngine, *, now: rules.Clock = rules.system_clock, schema: str | None = None
    ) -> None:
        self.engine = engine
        self.schema = schema
        self._writer = engine.execution_options(**{_WRITE: True})
        self._now = now
        self._sqlite = engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self._sqlite else None
        self._sync_reads = _SyncReads.of(engine)
        self._sync_writes = _SyncWrites(engine.url) if self._sync_reads is not None else None
        self._decoded: dict[bytes, StoredPair] = {}  # `_decoded_pair`, by a digest of the row's text
        # The upserts of a commit, made once: making `excluded` anew for every commit cost more than running
        # the statement (SQLAlchemy builds a proxy of every column each time).
        self._upserts = {table.name: self._upsert(table) for table in (pairs, series, positions)}

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"SqlStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # ----------------------------------------------------------------------------------- plumbing

    @contextlib.asynccontextmanager
    async def _failures(self) -> AsyncIterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError, OSError, TimeoutError) as error:
            raise TransientError(f"the store at {self!r} failed: {_reason(error)}") from error
        except DBAPIError as error:
            if error.connection_invalidated:
                raise TransientError(
                    f"the store at {self!r} lost its connection: {_reason(error)}"
                ) from error
            raise

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        async with self._failures(), self.engine.connect() as connection:
            yield connection

    async def _rows(
        self, query: Callable[[], sa.Select[Any]], sql: _Sql | None = None
    ) -> Sequence[Mapping[str, Any]]:
        """The rows of a read: on the calling thread for an SQLite file (as `sql` when given), else (or when
        that read was refused) through the async engine, whose failures are translated (`_failures`)."""
        if self._sync_reads is not None:
            found = self._sync_reads.text(sql) if sql is not None else self._sync_reads.rows(query())
            if found is not None:
                return found
        async with self._read() as connection:
            return cast(Sequence[Mapping[str, Any]], (await connection.execute(query())).mappings().all())

    @contextlib.asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncConnection]:
        lock = self._write_lock or contextlib.nullcontext()
        async with lock, self._failures(), self._writer.begin() as connection:
            yield connection

    def _text_order(self, *columns: sa.Column[Any]) -> list[sa.ColumnElement[Any]]:
        """Columns to ORDER BY in code point order, as Python sorts (PostgreSQL would use its locale)."""
        return [column if self._sqlite else column.collate("C") for column in columns]

    def _insert(self, table: sa.Table) -> sqlite.Insert | postgresql.Insert:
        return sqlite.insert(table) if self._sqlite else postgresql.insert(table)

    def _upsert(self, table: sa.Table) -> sa.Executable:
        """Insert rows of `table`, or update every other column of a row whose primary key is there."""
        insert = self._insert(table)
        changed = {c.name: insert.excluded[c.name] for c in table.c if not c.primary_key}
        return insert.on_conflict_do_update(index_elements=list(table.primary_key.columns), set_=changed)

    # ---------------------------------------------------------------------------------- lifecycle

    async def migrate(self) -> None:
        async with self._write() as connection:
            if self.schema is not None:
                quoted = connection.dialect.identifier_preparer.quote_identifier(self.schema)
                await connection.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
            where = f"the database at {self.engine.url.render_as_string(hide_password=True)}"
            await connection.run_sync(migrations.upgrade, where)

    async def revision(self) -> str | None:
        """The schema revision the database is at (None before the first `migrate()`)."""
        async with self._read() as connection:
            return await connection.run_sync(migrations.current)

    async def close(self) -> None:
        for sync in (self._sync_reads, self._sync_writes):
            if sync is not None:
                sync.close()
        await self.engine.dispose()

    # -------------------------------------------------------------------------------------- pairs

    async def pairs_of(self, user_id: str) -> list[StoredPair]:
        def query() -> sa.Select[Any]:
            return sa.select(pairs).where(pairs.c.user_id == user_id).order_by(*self._text_order(pairs.c.key))

        return await self._pairs(query, (_PAIRS_OF, (user_id,)))

    async def claimed_item_ids(self, user_id: str) -> set[str]:
        def query() -> sa.Select[Any]:
            return sa.select(pairs.c.ex_id).where(
                pairs.c.user_id == user_id,
                pairs.c.status != str(PairStatus.WAITING),
                pairs.c.ex_id.is_not(None),
            )

        return {row["ex_id"] for row in await self._rows(query, (_CLAIMED_ITEMS, (user_id,)))}

    async def pair_by_record(self, side: Side, record_id: str) -> StoredPair | None:
        column = pairs.c.sf_id if side is Side.SALESFORCE else pairs.c.ex_id
        found = await self._pairs(
            lambda: sa.select(pairs).where(column == record_id), (_PAIR_BY[side], (record_id,))
        )  # rarely more than one
        return min(found, key=rules.by_record_preference, default=None)

    async def pairs_by_uid(self, uid: str) -> list[StoredPair]:
        return (await self.pairs_by_uids([uid])).get(uid, [])

    async def pairs_by_uids(self, uids: Collection[str]) -> dict[str, list[StoredPair]]:
        found: dict[str, list[StoredPair]] = {}
        for some in _chunks(sorted(set(uids))):
            query = (
                sa.select(pairs)
                .where(pairs.c.uid.in_(some))
                .order_by(*self._text_order(pairs.c.user_id, pairs.c.key))
            )
            for pair in await self._pairs(functools.partial(_same, query)):
                found.setdefault(pair.state.uid or "", []).append(pair)
        return found

    async def _pairs(self, query: Callable[[], sa.Select[Any]], sql: _Sql | None = None) -> list[StoredPair]:
        return [self._decoded_pair(row) for row in await self._rows(query, sql)]

    def _decoded_pair(self, row: Mapping[str, Any]) -> StoredPair:
        """`_pair_from_row`, kept for the row's exact text: every pass reads its user's pairs, most of them
        as the last pass left them, and decoding them was most of what a read cost. A row written anew
        (by any process) has new text, so it is decoded again; the values are frozen, so sharing is safe."""
        key = _row_digest((row["user_id"], row["key"], row["state"], row["event"], row["item"]))
        found = self._decoded.get(key)
        if found is None:
            found = self._decoded[key] = _pair_from_row(row)
            if len(self._decoded) > DECODED_KEPT:
                with contextlib.suppress(KeyError, RuntimeError, StopIteration):
                    del self._decoded[next(iter(self._decoded))]  # the oldest decoded
        return found

    async def series_of(self, user_id: str) -> list[StoredSeries]:
        def query() -> sa.Select[Any]:
            return (
                sa.select(series).where(series.c.user_id == user_id).order_by(*self._text_order(series.c.key))
            )

        return [_series_from_row(row) for row in await self._rows(query, (_SERIES_OF, (user_id,)))]

    async def series_by_record(self, side: Side, record_id: str) -> StoredSeries | None:
        # Occurrence ids live inside the state's JSON: the text search narrows (SQLite's LIKE ignores
        # case, so a 15-character Salesforce id could match another), `holds` decides.
        column = series.c.sf_series if side is Side.SALESFORCE else series.c.ex_series
        text = json.dumps(record_id)  # as it stands in the state's JSON
        query: sa.Select[Any] = (
            sa.select(series)
            .where(sa.or_(column == record_id, series.c.state.contains(text, autoescape=True)))
            .order_by(*self._text_order(series.c.user_id, series.c.key))
        )
        rows = await self._rows(lambda: query)
        found = (s for s in map(_series_from_row, rows) if s.state.holds(side, record_id))
        return next(found, None)

    # ---------------------------------------------------------------------------------- positions

    async def position(self, stream: str) -> str | None:
        rows = await self._rows(
            lambda: sa.select(positions.c.value).where(positions.c.stream == stream), (_POSITION, (stream,))
        )
        return str(rows[0]["value"]) if rows else None

    async def positions(self, prefix: str) -> dict[str, str]:
        # substr, not LIKE: SQLite's LIKE ignores case, and a prefix may hold % or _.
        query = (
            sa.select(positions.c.stream, positions.c.value)
            .where(sa.func.substr(positions.c.stream, 1, len(prefix)) == prefix)
            .order_by(*self._text_order(positions.c.stream))
        )
        return {str(row["stream"]): str(row["value"]) for row in await self._rows(lambda: query)}

    # ------------------------------------------------------------------------------------ intents

    async def record_intent(self, intent: Intent, *, fence: Fence | None = None) -> None:
        """Record `intent`; under `fence` only while that lease is still held (`LeaseLostError` else), so a
        replica that lost a user never starts another write for it."""
        await self.record_intents([intent], fence=fence)

    async def record_intents(self, many: Sequence[Intent], *, fence: Fence | None = None) -> None:
        """Record every intent of `many` in one transaction (the creates of a first sync, issue 10)."""
        if not many:
            return
        for intent in many:
            rules.check_intent(intent)
        now = self._now()
        insert = self._insert(intents)
        statement = insert.on_conflict_do_update(
            index_elements=[intents.c.token],
            set_={name: insert.excluded[name] for name in ("user_id", "pair_key", "side", "description")},
        )
        rows = [
            {
                "token": i.token,
                "user_id": i.user_id,
                "pair_key": i.pair_key,
                "side": str(i.side),
                "description": i.description,
                "created_at": now,
            }
            for i in many
        ]
        async with self._write() as connection:
            await check_fence(connection, fence)
            await connection.execute(statement, rows)

    async def pending_intents(self, user_id: str | None = None) -> list[Intent]:
        query = sa.select(intents).order_by(intents.c.created_at, *self._text_order(intents.c.token))
        if user_id is not None:
            query = query.where(intents.c.user_id == user_id)
        rows = await self._rows(lambda: query)
        return [
            Intent(
                user_id=row["user_id"],
                pair_key=row["pair_key"],
                side=Side(row["side"]),
                description=row["description"],
                token=row["token"],
            )
            for row in rows
        ]

    # ------------------------------------------------------------------------------------- commit

    async def commit(self, commit: Commit, *, fence: Fence | None = None) -> None:
        """Write `commit` in one transaction; under `fence` only while that lease's token is still the one
        named (`LeaseLostError` else, nothing written): replicas fence every commit (docs/replicas.md)."""
        rules.check_commit(commit)
        now = self._now()
        pair_rows = [_pair_row(pair, now) for pair in rules.last_by(commit.pairs, rules.pair_id)]
        series_rows = [
            _series_row(s, now) for s in rules.last_by(commit.series, lambda s: (s.user_id, s.state.key))
        ]
        position_rows = [
            {"stream": p.stream, "value": p.value, "updated_at": now}
            for p in rules.last_by(commit.positions, lambda p: p.stream)
        ]

        def statements() -> Iterator[_Statement]:
            """Made as they run, inside the transaction (a statement that cannot be made fails it)."""
            if pair_rows:
                yield self._upserts[pairs.name], pair_rows
            if series_rows:
                yield self._upserts[series.name], series_rows
            for keys in _chunks(commit.forget_series):
                where = (series.c.user_id == commit.user_id, series.c.key.in_(keys))
                yield sa.delete(series).where(*where), None
            for keys in _chunks(commit.forget):
                yield sa.delete(pairs).where(pairs.c.user_id == commit.user_id, pairs.c.key.in_(keys)), None
            if position_rows:
                yield self._upserts[positions.name], position_rows
            for issue in commit.issues_opened:
                yield self._open_issue(issue), None
            for code, sf_id, ex_id in commit.issues_closed:
                yield self._close_issue(commit.user_id, code, sf_id, ex_id, now), None
            for tokens in _chunks(commit.intents_done):
                yield sa.delete(intents).where(intents.c.token.in_(tokens)), None

        await self._run_writes(statements, fence=fence)

    async def _run_writes(
        self, statements: Callable[[], Iterable[_Statement]], *, fence: Fence | None = None
    ) -> None:
        """The `statements()` in one write transaction: on the calling thread for an SQLite file when no
        other process holds the write lock (`_SyncWrites`), else through the async engine (`_write`), under
        `fence` there only (replicas run on PostgreSQL)."""
        if fence is None and self._sync_writes is not None and self._write_lock is not None:
            async with self._write_lock:
                if self._sync_writes.run(statements, self):
                    return
        async with self._write() as connection:
            await check_fence(connection, fence)
            for statement, rows in statements():
                if rows is None:
                    await connection.execute(statement)
                else:
                    await connection.execute(statement, rows)

    def _open_issue(self, issue: StoredIssue) -> sa.Executable:
        insert = self._insert(issues).values(
            user_id=issue.user_id,
            code=issue.code,
            sf_id=issue.sf_id or "",
            ex_id=issue.ex_id or "",
            message=issue.message,
            first_seen=issue.first_seen,
            last_seen=issue.last_seen,
            closed_at=None,
        )
        return insert.on_conflict_do_update(
            index_elements=[issues.c[name] for name in OPEN_CAUSE],
            index_where=issues.c.closed_at.is_(None),
            set_={"last_seen": insert.excluded.last_seen, "message": insert.excluded.message},
        )

    def _close_issue(
        self,
        user_id: str,
        code: str,
        sf_id: str | None,
        ex_id: str | None,
        now: datetime,
    ) -> sa.Executable:
        cause = rules.issue_cause(user_id, code, sf_id, ex_id)
        return (
            sa.update(issues)
            .where(*(issues.c[name] == value for name, value in zip(OPEN_CAUSE, cause, strict=True)))
            .where(issues.c.closed_at.is_(None))
            .values(closed_at=now)
        )

    # ------------------------------------------------------------------------------------- issues

    async def issues(self, user_id: str | None = None, *, open_only: bool = True) -> list[StoredIssue]:
        query = sa.select(issues).order_by(issues.c.first_seen, issues.c.id)
        if user_id is not None:
            query = query.where(issues.c.user_id == user_id)
        if open_only:
            query = query.where(issues.c.closed_at.is_(None))
        rows = await self._rows(lambda: query)
        return [
            StoredIssue(
                user_id=row["user_id"],
                code=row["code"],
                sf_id=row["sf_id"] or None,
                ex_id=row["ex_id"] or None,
                message=row["message"],
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                closed_at=row["closed_at"],
            )
            for row in rows
        ]

    # ------------------------------------------------------------------------------ meeting claims

    async def claim_meetings(self, holder: str, uids: Collection[str], ttl: timedelta) -> set[str]:
        """One transaction: every UID inserted, or taken over where the row is `holder`'s or expired (the
        upsert's WHERE, which PostgreSQL checks on the latest committed row, waiting for one in flight);
        rows in UID order, so two takes never wait for each other's locks in a cycle. Any UID not written
        rolls the whole take back."""
        wanted = sorted(set(uids))
        if not wanted:
            return set()
        now = self._now()

        def take(chunk: Sequence[str]) -> sa.Executable:
            insert = self._insert(meeting_claims).values(
                [{"uid": u, "holder": holder, "expires_at": now + ttl} for u in chunk]
            )
            return insert.on_conflict_do_update(
                index_elements=[meeting_claims.c.uid],
                set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
                where=(meeting_claims.c.holder == holder) | (meeting_claims.c.expires_at <= now),
            ).returning(meeting_claims.c.uid)

        try:
            async with self._write() as connection:
                written: set[str] = set()
                for chunk in _chunks(wanted):
                    written.update(str(u) for u in (await connection.execute(take(chunk))).scalars())
                if len(written) < len(wanted):
                    raise _Refused(set(wanted) - written)
        except _Refused as refused:
            return refused.uids
        return set()

    async def release_meetings(self, holder: str, uids: Collection[str] | None = None) -> None:
        statement = sa.delete(meeting_claims).where(meeting_claims.c.holder == holder)
        async with self._write() as connection:
            if uids is None:
                await connection.execute(statement)
            for chunk in _chunks(sorted(uids or ())):
                await connection.execute(statement.where(meeting_claims.c.uid.in_(chunk)))


class _Refused(Exception):
    """A take of meeting claims that found some held by another holder: raised to roll it back."""

    def __init__(self, uids: set[str]) -> None:
        super().__init__(f"{len(uids)} meetings claimed by another holder")
        self.uids = uids


# --------------------------------------------------------------------------------------------- rows


def _same(query: sa.Select[Any]) -> sa.Select[Any]:
    return query


def _chunks(values: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    """Values for IN (...) in slices: each is a bound parameter, and both engines cap how many one takes."""
    return [values[start : start + size] for start in range(0, len(values), size)]


def _pair_row(pair: StoredPair, now: datetime) -> dict[str, Any]:
    state = pair.state
    return {
        "key": rules.pair_key(pair),
        "user_id": pair.user_id,
        "status": str(state.status),
        "sf_id": state.sf_id,
        "ex_id": state.ex_id,
        "uid": state.uid,
        "state": dumps(state_to_dict(state)),
        "event": None if pair.event is None else dumps(event_to_dict(pair.event)),
        "item": None if pair.item is None else dumps(item_to_dict(pair.item)),
        "updated_at": now,
    }


def _row_digest(texts: Iterable[str | None]) -> bytes:
    """A digest of a pair row's text, the key its decoded pair is kept under: keeping the text itself as the
    key held each row twice, about a third of the memo's memory (heap probe of bench/scale_real, issue 10).
    Each part is length-prefixed, so no two different rows join into the same bytes."""
    digest = hashlib.blake2b(digest_size=20)
    for text in texts:
        data = b"" if text is None else text.encode()
        digest.update(b"n" if text is None else b"t" + len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.digest()


def _pair_from_row(row: Mapping[str, Any]) -> StoredPair:
    try:
        state = state_from_dict(loads(row["state"]))
    except (ValueError, TypeError, KeyError) as error:
        raise MappingError(f"stored pair {row['key']!r} of user {row['user_id']!r}: {error}") from error
    return StoredPair(
        user_id=row["user_id"],
        state=state,
        event=None if row["event"] is None else event_from_dict(loads(row["event"])),
        item=None if row["item"] is None else item_from_dict(loads(row["item"])),
    )


def _series_row(stored: StoredSeries, now: datetime) -> dict[str, Any]:
    state = stored.state
    return {
        "user_id": stored.user_id,
        "key": state.key,
        "sf_series": state.sf_series,
        "ex_series": state.ex_series,
        "state": dumps(series_to_dict(state)),
        "updated_at": now,
    }


def _series_from_row(row: Mapping[str, Any]) -> StoredSeries:
    try:
        return StoredSeries(row["user_id"], series_from_dict(loads(row["state"])))
    except (ValueError, TypeError, KeyError) as error:
        raise MappingError(f"stored series {row['key']!r} of user {row['user_id']!r}: {error}") from error


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


__all__: Sequence[str] = ("SqlStore", "open_store", "store_url")
