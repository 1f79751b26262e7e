"""What only the SQL store has: its URL, its migrations, its transactions and SQLite's locking."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bridge.core.model import Side
from bridge.errors import ConfigError, MappingError, TransientError
from bridge.ports import Commit, Intent, StreamPosition
from bridge.store import SqlStore, open_store
from bridge.store import migrate as migrations
from bridge.store.schema import intents, metadata
from bridge.store.sql import store_url
from tests.store import strategies as s
from tests.store.conftest import Backend

sql_only = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)


# -------------------------------------------------------------------------------------------- url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("not a url", "is not a database URL"),
        ("", "is not a database URL"),
        ("mysql+aiomysql://u@h/db", "'mysql+aiomysql' is not a supported database driver"),
        ("sqlite+pysqlite:///x.db", "not a supported database driver"),
        ("postgresql+psycopg://u@h/db", "not a supported database driver"),
        ("sqlite+aiosqlite://", "in-memory database"),
        ("sqlite+aiosqlite:///:memory:", "in-memory database"),
        (
            "sqlite+aiosqlite:////no/such/folder/calbridge.db",
            "'/no/such/folder' of the database file does not exist",
        ),
        ("postgresql+asyncpg://u:secret@h:5432", "names no database"),
    ],
)
def test_a_bad_url_is_a_config_error_naming_the_fix(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)) as caught:
        open_store(url)
    assert caught.value.key == "store.url"
    assert "secret" not in str(caught.value)
    fixes = ("sqlite+aiosqlite:///STATE_DIR/calbridge.db", "create it or fix the path", "add /DATABASE")
    assert any(fix in str(caught.value) for fix in fixes)  # every message says what to do


def test_short_driver_names_mean_the_async_drivers(tmp_path: Path) -> None:
    assert store_url(f"sqlite:///{tmp_path}/c.db").drivername == "sqlite+aiosqlite"
    assert store_url("postgresql://u@h/db").drivername == "postgresql+asyncpg"
    assert store_url("postgres://u@h/db").drivername == "postgresql+asyncpg"


def test_a_schema_is_for_postgresql_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL only"):
        open_store(f"sqlite+aiosqlite:///{tmp_path}/c.db", schema="calbridge")


async def test_an_unreachable_database_is_transient() -> None:
    store = open_store("postgresql+asyncpg://postgres:pw@127.0.0.1:9/calbridge")  # the discard port
    try:
        with pytest.raises(TransientError, match="store at") as caught:
            await store.migrate()
        assert "pw" not in str(caught.value)
    finally:
        await store.close()


# ------------------------------------------------------------------------------------- migrations


@sql_only
async def test_migrations_match_the_schema_queries_use(store: SqlStore) -> None:
    def differences(connection: sa.Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async with store.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    assert await store.revision() == migrations.head()


@sql_only
async def test_a_fresh_database_is_at_no_revision_until_migrated(backend: Backend) -> None:
    assert backend.open_sql is not None
    store = backend.open_sql()
    backend.opened.append(store)
    assert await store.revision() is None
    await store.migrate()
    assert await store.revision() == migrations.head()


async def test_migrate_works_from_any_working_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    before = Path.cwd()
    os.chdir(elsewhere)
    try:
        store = open_store("sqlite+aiosqlite:///calbridge.db")  # relative: in the working directory
        await store.migrate()
        await store.commit(Commit("005A", positions=[StreamPosition("ex:a", "1")]))
        await store.close()
    finally:
        os.chdir(before)
    assert (elsewhere / "calbridge.db").exists()
    assert not list(Path(migrations.MIGRATIONS).glob("*.ini"))


# ------------------------------------------------------------------------------------ transactions


@sql_only
async def test_a_commit_failing_halfway_changes_nothing(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = s.pair("005A", "00UA", None)
    await store.commit(Commit("005A", pairs=[kept], positions=[StreamPosition("ex:a", "1")]))
    pending = Intent("005A", "sf:00UA", Side.EXCHANGE, "update item", "t1")
    await store.record_intent(pending)

    def fail(*_args: object) -> None:  # the statement closing the issue is made inside the transaction
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(store, "_close_issue", fail)
    with pytest.raises(RuntimeError, match="disk is full"):
        await store.commit(
            Commit(
                "005A",
                pairs=[s.pair("005A", None, "AAMkN")],
                forget=[kept.state.key],
                positions=[StreamPosition("ex:a", "2")],
                issues_opened=[s.issue("005A")],
                issues_closed=[("W-TRUNCATED", None, None)],  # fails here, after every write before it ran
                intents_done=["t1"],
            )
        )
    assert await store.pairs_of("005A") == [kept]
    assert await store.positions("") == {"ex:a": "1"}
    assert await store.issues() == []
    assert await store.pending_intents() == [pending]


@sql_only
async def test_a_stored_row_this_code_cannot_read_is_a_mapping_error(store: SqlStore) -> None:
    await store.commit(Commit("005A", pairs=[s.pair("005A", "00UA", "AAMkA")]))
    async with store.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE pairs SET state = '{\"v\": 99}'"))
    with pytest.raises(MappingError, match="sf:00UA"):
        await store.pairs_of("005A")
    async with store.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE pairs SET state = 'not json'"))
    with pytest.raises(MappingError):
        await store.pair_by_record(Side.EXCHANGE, "AAMkA")


# ------------------------------------------------------------------------------------ concurrency


async def test_sqlite_is_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    store = open_store(f"sqlite+aiosqlite:///{tmp_path}/c.db", busy_timeout_ms=1234)
    try:
        await store.migrate()
        async with store.engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 1234
    finally:
        await store.close()


def commits_for(user: str, count: int) -> list[Commit]:
    return [
        Commit(
            user,
            pairs=[s.pair(user, f"00U{user}{n}", f"AAMk{user}{n}")],
            positions=[StreamPosition(f"ex:{user}", str(n))],
            issues_opened=[s.issue(user, "W-TRUNCATED", f"00U{user}{n}")],
        )
        for n in range(count)
    ]


async def test_concurrent_commits_for_two_users_on_sqlite_never_meet_a_locked_database(
    tmp_path: Path,
) -> None:
    """Two stores on one file stand for two processes: BEGIN IMMEDIATE and the busy timeout make the second
    writer wait instead of failing; within one store the writers take turns."""
    url = f"sqlite+aiosqlite:///{tmp_path}/c.db"
    first, second = open_store(url), open_store(url)
    try:
        await first.migrate()
        await second.migrate()

        async def run(store: SqlStore, user: str) -> None:
            for commit in commits_for(user, 15):
                await store.commit(commit)
                await store.pairs_of(user)  # a read between the writes, as an actor does

        await asyncio.gather(run(first, "005A"), run(second, "005B"), run(first, "005C"), run(second, "005D"))
        for user in ("005A", "005B", "005C", "005D"):
            assert len(await first.pairs_of(user)) == 15
            assert await second.position(f"ex:{user}") == "14"
        assert len(await first.issues()) == 60
    finally:
        await first.close()
        await second.close()


@sql_only
async def test_two_stores_opening_one_issue_at_once_keep_one_open_row(backend: Backend) -> None:
    """Replicas racing on one issue: the partial unique index and the upsert keep one open row."""
    first, second = await backend.open(), await backend.open()
    later = s.T0.replace(minute=30)
    await asyncio.gather(
        *(
            store.commit(
                Commit("005A", issues_opened=[s.issue("005A", "E-TIMEZONE", None, "AAMkA", seen=seen)])
            )
            for store, seen in [(first, s.T0), (second, later)] * 5
        )
    )
    [found] = await first.issues(open_only=False)
    assert found.last_seen in (s.T0, later)


@sql_only
async def test_a_database_from_a_newer_release_is_refused(store: SqlStore) -> None:
    async with store.engine.begin() as connection:
        await connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(ConfigError, match=r"revision '9999'.*newer calbridge") as caught:
        await store.migrate()
    assert caught.value.key == "store.url"


@sql_only
async def test_long_lists_of_keys_and_tokens_fit_in_one_commit(store: SqlStore) -> None:
    """More keys than one IN (...) slice takes (500)."""
    many = [s.pair("005A", None, f"AAMk{n}") for n in range(600)]
    await store.commit(Commit("005A", pairs=many))
    rows = [
        {"token": f"t{n}", "user_id": "005A", "pair_key": f"ex:AAMk{n}", "side": "exchange"}
        | {"description": "update", "created_at": s.T0}
        for n in range(520)
    ]
    async with store.engine.begin() as connection:  # one transaction: record_intent takes one each
        await connection.execute(sa.insert(intents), rows)
    await store.commit(
        Commit(
            "005A",
            forget=[pair.state.key for pair in many[:520]],
            intents_done=[f"t{n}" for n in range(520)],
        )
    )
    assert len(await store.pairs_of("005A")) == 80
    assert await store.pending_intents() == []
