"""The memory store is a faithful stand-in: random runs of commits and intents leave it and the SQLite store
answering every lookup alike (so property tests of the runtime over the memory store speak for SQL)."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.core.model import PairStatus, Side
from bridge.ports import Commit, Intent, StreamPosition
from bridge.store import MemoryStore, SqlStore, open_store
from tests.store import strategies as s
from tests.store.conftest import run_aside

USERS = ("005A", "005B")
SF_IDS = ("00U1", "00U2", "00U3")
EX_IDS = ("AAMk1", "AAMk2", "AAMk3")
UIDS = (None, "uid-1", "uid-2")
STREAMS = ("ex:ann", "ex:bob", "sf:/data/EventChangeEvent", "ex_x")
TOKENS = ("t1", "t2", "t3")
CODES = ("E-TIMEZONE", "W-TRUNCATED")
KEYS = tuple(f"sf:{i}" for i in SF_IDS) + tuple(f"ex:{i}" for i in EX_IDS)


@dataclass
class Clock:
    now: datetime = s.T0

    def __call__(self) -> datetime:
        return self.now


maybe_sf = st.sampled_from((None, *SF_IDS))
maybe_ex = st.sampled_from((None, *EX_IDS))


@st.composite
def stored_pairs(draw: st.DrawFn, user: str) -> Any:
    sf_id, ex_id = draw(maybe_sf), draw(maybe_ex)
    if sf_id is None and ex_id is None:
        ex_id = EX_IDS[0]
    return s.pair(
        user,
        sf_id,
        ex_id,
        uid=draw(st.sampled_from(UIDS)),
        key=draw(st.sampled_from(("", *KEYS))),
        status=draw(st.sampled_from(PairStatus)),
        owns_event=draw(st.booleans()),
        subject=draw(st.sampled_from(("Review", "Lunch"))),
    )


@st.composite
def commits(draw: st.DrawFn) -> Commit:
    user = draw(st.sampled_from(USERS))
    seen = s.T0 + timedelta(minutes=draw(st.integers(0, 3)))
    return Commit(
        user,
        pairs=draw(st.lists(stored_pairs(user), max_size=3)),
        forget=draw(st.lists(st.sampled_from(KEYS), max_size=2)),
        positions=draw(
            st.lists(st.builds(StreamPosition, st.sampled_from(STREAMS), st.sampled_from("abc")), max_size=2)
        ),
        issues_opened=draw(
            st.lists(
                st.builds(
                    s.issue,
                    st.sampled_from(USERS),
                    st.sampled_from(CODES),
                    maybe_sf,
                    maybe_ex,
                    message=st.sampled_from(("one", "two")),
                    seen=st.just(seen),
                ),
                max_size=2,
            )
        ),
        issues_closed=draw(st.lists(st.tuples(st.sampled_from(CODES), maybe_sf, maybe_ex), max_size=2)),
        intents_done=draw(st.lists(st.sampled_from(TOKENS), max_size=2)),
    )


intents = st.builds(
    Intent,
    user_id=st.sampled_from(USERS),
    pair_key=st.sampled_from(KEYS),
    side=st.sampled_from(Side),
    description=st.sampled_from(("create", "update")),
    token=st.sampled_from(TOKENS),
)
steps = st.lists(st.one_of(commits(), intents), min_size=1, max_size=8)


async def answers(store: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for user in (*USERS, "nobody"):
        found[f"pairs_of {user}"] = await store.pairs_of(user)
        found[f"intents {user}"] = await store.pending_intents(user)
        found[f"issues {user}"] = await store.issues(user)
    for side, record_ids in ((Side.SALESFORCE, SF_IDS), (Side.EXCHANGE, EX_IDS)):
        for record_id in record_ids:
            found[f"by {side} {record_id}"] = await store.pair_by_record(side, record_id)
    for uid in UIDS[1:]:
        found[f"uid {uid}"] = await store.pairs_by_uid(uid)
    for prefix in ("", "ex:", "ex_", "sf:", "x"):
        found[f"positions {prefix!r}"] = await store.positions(prefix)
    for stream in STREAMS:
        found[f"position {stream}"] = await store.position(stream)
    found["intents"] = await store.pending_intents()
    found["issues all"] = await store.issues(open_only=False)
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each example instead of migrating each time."""
    path = tmp_path_factory.mktemp("same") / "template.db"

    async def make() -> None:
        store = open_store(f"sqlite+aiosqlite:///{path}")
        await store.migrate()
        await store.close()

    run_aside(make)
    return path


@settings(max_examples=max(10, settings().max_examples // 5))  # each example is ~50 queries
@given(steps)
def test_memory_and_sqlite_answer_alike(template: Path, run: list[Commit | Intent]) -> None:
    path = template.with_name(f"{uuid.uuid4().hex}.db")
    shutil.copy(template, path)

    async def main() -> None:
        clock = Clock()
        memory = MemoryStore(now=clock)
        sql: SqlStore = open_store(f"sqlite+aiosqlite:///{path}", now=clock)
        try:
            for number, step in enumerate(run):
                clock.now = s.T0 + timedelta(seconds=number)
                for store in (memory, sql):
                    if isinstance(step, Intent):
                        await store.record_intent(step)
                    else:
                        await store.commit(step)
                assert await answers(sql) == await answers(memory), f"after step {number}: {step}"
        finally:
            await sql.close()

    try:
        asyncio.run(main())
    finally:
        path.unlink(missing_ok=True)
