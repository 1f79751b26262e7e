"""R-MULTI-1 across processes: the store's claims on meetings' UIDs (`Store.claim_meetings`), on the memory
store, SQLite and PostgreSQL. Two holders play two bridge processes sharing the store; a clock of the test's
own moves time past an expiry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.store.conftest import Backend

TTL = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


async def test_r_multi_1_a_meeting_is_claimed_by_one_holder_at_a_time(store: Any) -> None:
    clock = store._now = Clock()
    assert await store.claim_meetings("p1/alice", ["uid-a", "uid-b"], TTL) == set()
    # all or nothing: one UID held elsewhere, and nothing of the take is kept
    assert await store.claim_meetings("p2/bob", ["uid-b", "uid-c"], TTL) == {"uid-b"}
    assert await store.claim_meetings("p3/carol", ["uid-c"], TTL) == set()
    # the holder takes its own again (renewed)
    clock.at += TTL / 2
    assert await store.claim_meetings("p1/alice", ["uid-a", "uid-b"], TTL) == set()
    clock.at += TTL * 3 / 4  # past the first expiry, not the renewed one
    assert await store.claim_meetings("p2/bob", ["uid-b"], TTL) == {"uid-b"}
    await store.release_meetings("p1/alice", ["uid-b"])
    assert await store.claim_meetings("p2/bob", ["uid-b"], TTL) == set()
    assert await store.claim_meetings("p2/bob", ["uid-a"], TTL) == {"uid-a"}
    await store.release_meetings("p1/alice")  # every one of theirs
    await store.release_meetings("p2/nobody")  # not theirs: nothing happens
    assert await store.claim_meetings("p2/bob", ["uid-a"], TTL) == set()
    assert await store.claim_meetings("p3/carol", ["uid-a", "uid-b", "uid-c"], TTL) == {"uid-a", "uid-b"}


async def test_r_multi_1_a_dead_holders_claim_is_taken_over_after_its_expiry(store: Any) -> None:
    clock = store._now = Clock()
    assert await store.claim_meetings("p1/alice", ["uid-a"], TTL) == set()
    clock.at += TTL - timedelta(seconds=1)
    assert await store.claim_meetings("p2/bob", ["uid-a"], TTL) == {"uid-a"}
    clock.at += timedelta(seconds=1)
    assert await store.claim_meetings("p2/bob", ["uid-a"], TTL) == set()
    assert await store.claim_meetings("p1/alice", ["uid-a"], TTL) == {"uid-a"}
    await store.release_meetings("p1/alice", ["uid-a"])  # too late: bob's now, and stays so
    assert await store.claim_meetings("p3/carol", ["uid-a"], TTL) == {"uid-a"}


async def test_r_multi_1_two_processes_taking_at_once_never_both_win(backend: Backend) -> None:
    """Two stores on one storage (two processes): of takes racing on overlapping UIDs, one wins whole."""
    one = await backend.open()
    two = one if backend.name == "memory" else await backend.open()
    many = [f"uid-{n:04d}" for n in range(600)]  # more than one chunk of rows
    for _ in range(5):
        results = await asyncio.gather(
            one.claim_meetings("p1/alice", many, TTL), two.claim_meetings("p2/bob", many[::-1], TTL)
        )
        assert sorted(len(r) for r in results) == [0, len(many)], results
        winner = "p1/alice" if not results[0] else "p2/bob"
        await one.release_meetings(winner)
