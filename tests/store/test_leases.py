"""Leases, fencing tokens, heartbeats and hand-overs (docs/replicas.md), over SQLite and PostgreSQL.

Two `LeaseBook`s on one store play two replicas; a clock of the test's own moves time past an expiry.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.core.model import Side
from bridge.ports import Commit, Intent, StreamPosition
from bridge.store import SqlStore
from bridge.store.leases import STREAM_KEY, Fence, LeaseBook, LeaseLostError
from tests.store import strategies as s

sql_only = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)
TTL = timedelta(seconds=15)


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def pass_(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


def books(store: SqlStore, clock: Clock, *names: str) -> list[LeaseBook]:
    return [LeaseBook(store, name, TTL, now=clock) for name in names]


@sql_only
async def test_r_merge_4_a_user_is_held_by_one_replica_at_a_time(store: SqlStore) -> None:
    clock = Clock()
    one, two = books(store, clock, "r1", "r2")
    assert await one.acquire(["005A", STREAM_KEY]) == {"005A": 1, STREAM_KEY: 1}
    assert await two.acquire(["005A", STREAM_KEY, "005B"]) == {"005B": 1}  # only the free one
    clock.pass_(10)
    assert await one.renew() == {"005A": 1, STREAM_KEY: 1}
    clock.pass_(10)  # 20 s after the start, 10 s after the renewal: still held
    assert await two.acquire(["005A"]) == {}
    holders = await one.holders()
    assert {key: (holder, token) for key, (holder, token, _) in holders.items()} == {
        "005A": ("r1", 1),
        STREAM_KEY: ("r1", 1),
        "005B": ("r2", 1),
    }


@sql_only
async def test_r_time_2_an_expired_lease_is_taken_over_under_a_new_token(store: SqlStore) -> None:
    clock = Clock()
    one, two = books(store, clock, "r1", "r2")
    await one.acquire(["005A"])
    clock.pass_(TTL.total_seconds() + 1)  # r1 stopped renewing (it died)
    assert await two.acquire(["005A"]) == {"005A": 2}
    assert await one.renew() == {}  # r1, waking up, learns it lost the lease
    assert await one.acquire(["005A"]) == {}


@sql_only
async def test_a_released_lease_is_free_at_once_and_its_token_is_spent(store: SqlStore) -> None:
    clock = Clock()
    one, two = books(store, clock, "r1", "r2")
    await one.acquire(["005A"])
    await two.release({"005A": 1})  # not r2's to release: nothing happens
    assert await two.acquire(["005A"]) == {}
    await one.release({"005A": 1})
    assert await two.acquire(["005A"]) == {"005A": 3}  # 2 was spent by the release


@sql_only
async def test_r_merge_4_a_commit_under_a_lost_lease_stores_nothing(store: SqlStore) -> None:
    clock = Clock()
    one, two = books(store, clock, "r1", "r2")
    (token,) = (await one.acquire(["005A"])).values()
    stale = Fence("005A", token)
    pair = s.pair("005A", "00UA", None)
    await store.commit(Commit("005A", pairs=[pair]), fence=stale)  # held: stored
    clock.pass_(TTL.total_seconds() + 1)
    (new,) = (await two.acquire(["005A"])).values()
    moved = s.pair("005A", "00UB", None)
    with pytest.raises(LeaseLostError, match="lease on 005A was lost"):
        await store.commit(
            Commit("005A", pairs=[moved], positions=[StreamPosition("ex:a@x.test", "s2")]), fence=stale
        )
    with pytest.raises(LeaseLostError):
        await store.record_intent(Intent("005A", moved.state.key, Side.EXCHANGE, "create", "t1"), fence=stale)
    assert [p.state.sf_id for p in await store.pairs_of("005A")] == ["00UA"]
    assert await store.position("ex:a@x.test") is None
    assert await store.pending_intents("005A") == []
    await store.commit(Commit("005A", pairs=[moved]), fence=Fence("005A", new))  # the new holder's does
    assert sorted(p.state.sf_id or "" for p in await store.pairs_of("005A")) == ["00UA", "00UB"]


@sql_only
async def test_a_heartbeat_lists_the_live_replicas(store: SqlStore) -> None:
    clock = Clock()
    one, two, three = books(store, clock, "r1", "r2", "r3")
    await one.heartbeat()
    await two.heartbeat()
    assert await three.heartbeat() == ["r1", "r2", "r3"]
    clock.pass_(10)
    await one.heartbeat()
    await two.leave()  # stopped on SIGTERM
    clock.pass_(10)  # r3's heartbeat is 20 s old: dead
    assert await one.heartbeat() == ["r1"]


@sql_only
async def test_handed_work_reaches_the_holder_of_the_user_and_is_deleted_once_done(store: SqlStore) -> None:
    clock = Clock()
    one, two = books(store, clock, "r1", "r2")
    await one.acquire(["005A"])
    await two.acquire(["005B"])
    await two.hand_over([("005A", "for A 1"), ("005B", "for B"), ("005A", "for A 2"), ("005C", "nobody")])
    mine = await one.handed()
    assert [(user, work) for _, user, work in mine] == [("005A", "for A 1"), ("005A", "for A 2")]
    first, second = (i for i, _, _ in mine)
    assert [i for i, _, _ in await one.handed(skip={first})] == [second]
    await one.done([first])
    assert [w for _, _, w in await one.handed()] == ["for A 2"]
    assert [w for _, _, w in await two.handed()] == ["for B"]
    clock.pass_(TTL.total_seconds() + 1)
    await two.acquire(["005A"])  # r1 died: its undone work goes with the user
    assert [w for _, _, w in await two.handed()] == ["for B", "for A 2"]  # oldest first
    assert await one.handed() == []
