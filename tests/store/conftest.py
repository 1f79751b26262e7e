"""Every store test runs over three backends: the memory store, SQLite in tmp_path and PostgreSQL.

PostgreSQL is found at $CALBRIDGE_TEST_POSTGRES (default postgresql://postgres@127.0.0.1:5432/test). The
session makes a database of its own with a unique name, each test a schema of its own in it, and the
database is dropped when the session ends. When PostgreSQL cannot be reached, its variants skip, naming the
connection error; it is reachable on the development machines and in CI, so a skip there is a finding.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from bridge.store import MemoryStore, SqlStore, open_store
from bridge.store.memory import MemoryState

POSTGRES = os.environ.get("CALBRIDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("memory", "sqlite", "postgresql")

T = TypeVar("T")


def run_aside(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a loop of its own, in a thread, away from the test's loop."""

    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


@dataclass
class Postgres:
    """The session's PostgreSQL database, or why there is none."""

    admin_url: str
    database: str | None = None
    error: str | None = None

    @property
    def url(self) -> str:
        assert self.database is not None
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{self.database}".replace("postgresql://", "postgresql+asyncpg://", 1)

    @property
    def asyncpg_url(self) -> str:
        return self.url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    found = Postgres(POSTGRES)
    name = f"calbridge_store_{uuid.uuid4().hex[:12]}"

    async def create() -> None:
        connection = await asyncpg.connect(POSTGRES, timeout=5)
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    async def drop() -> None:
        connection = await asyncpg.connect(POSTGRES, timeout=5)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    try:
        run_aside(create)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        found.error = f"PostgreSQL at {POSTGRES} is unreachable or refused CREATE DATABASE: {error!r}"
        yield found
        return
    found.database = name
    try:
        yield found
    finally:
        run_aside(drop)


@dataclass
class Backend:
    """Opens the store of one test, and opens it again as a restart would (same file, schema or state)."""

    name: str
    open_sql: Callable[[], SqlStore] | None = None
    opened: list[Any] = field(default_factory=list)
    _memory: MemoryState | None = None

    async def open(self) -> Any:
        if self.open_sql is None:
            store: Any = MemoryStore(self._memory)
        else:
            store = self.open_sql()
        await store.migrate()
        self.opened.append(store)
        return store

    async def reopen(self, store: Any) -> Any:
        """Close `store` (its process ends) and open the same storage afresh."""
        if isinstance(store, MemoryStore):
            self._memory = store.snapshot()
        await store.close()
        return await self.open()

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind = request.param
    if kind == "memory":
        found = Backend(kind)
    elif kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'calbridge.db'}"
        found = Backend(kind, lambda: open_store(url))
    else:
        database: Postgres = request.getfixturevalue("postgres")
        if database.error is not None:
            pytest.skip(database.error)
        schema = f"t_{uuid.uuid4().hex[:12]}"  # migrate() creates it
        found = Backend(kind, lambda: open_store(database.url, schema=schema))
    try:
        yield found
    finally:
        await found.close_all()


@pytest.fixture
async def store(backend: Backend) -> Any:
    return await backend.open()
