"""R-MULTI-1 across processes: two bridges on one store (two replicas or two backfill workers, each with its
own holder id) each syncing one of two enrolled recipients of an outside organizer's meeting make one event.
Over the memory ports, on the memory store and on one SQLite file opened twice (two processes' worth)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.core.fields import ExchangeAttendee
from bridge.core.model import PairStatus, Relation, RelationKind
from bridge.core.patterns import Frequency, Pattern, Weekday
from bridge.runtime.engine import Bridge
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.memory_series import MemoryMailboxSeries, MemorySalesforceSeries
from bridge.store import MemoryStore, open_store
from tests.runtime.conftest import ANN, BOB, FAST, soon

OUTSIDE = "host@partner.example"


@pytest.fixture(params=["memory", "sqlite"])
async def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """The store as two processes see it: one MemoryStore shared, or two SqlStores on one SQLite file."""
    if request.param == "memory":
        shared = MemoryStore()
        yield shared, shared
        return
    url = f"sqlite+aiosqlite:///{tmp_path / 'calbridge.db'}"
    one, two = open_store(url), open_store(url)
    await one.migrate()
    await two.migrate()
    yield one, two
    await one.close()
    await two.close()


def _meeting(sf: MemorySalesforce, ex: MemoryMailbox, subject: str) -> None:
    for user in (ANN, BOB):
        sf.people[user.mailbox] = Relation(user.user_id, RelationKind.USER, owned_by_user=True)
    attendees = (ExchangeAttendee(ANN.mailbox, "Accept"), ExchangeAttendee(BOB.mailbox, "Accept"))
    for user in (ANN, BOB):
        ex.put_item(
            user.mailbox,
            subject,
            *soon(),
            my_response_type="Accept",
            required_attendees=attendees,
            uid=f"uid-{subject}",
            is_meeting=True,
            organizer=OUTSIDE,
        )


def _refusals(*stores: Any) -> list[set[str]]:
    """The takes of `stores` another holder refused, as they come (each store's own method, watched)."""
    refused: list[set[str]] = []
    for store in {id(s): s for s in stores}.values():
        take: Callable[[str, Collection[str], timedelta], Any] = store.claim_meetings

        async def watched(holder: str, uids: Collection[str], ttl: timedelta, take: Any = take) -> set[str]:
            theirs: set[str] = await take(holder, uids, ttl)
            if theirs:
                refused.append(theirs)
            return theirs

        store.claim_meetings = watched
    return refused


async def test_r_multi_1_two_processes_on_one_store_make_one_event(two_stores: tuple[Any, Any]) -> None:
    """Ann's bridge and Bob's bridge (two processes, one store) reconcile at once; both find no owner of the
    partner's meeting in the store. The first create is held back until the other pass met its claim (or,
    were the claim gone, until the other create came too): one event, the other person an invitee of it,
    their copy paired to it."""
    sf, ex = MemorySalesforce(), MemoryMailbox()
    _meeting(sf, ex, "Partner call")
    ann_store, bob_store = two_stores
    refused = _refusals(ann_store, bob_store)
    creates: list[str] = []
    second = asyncio.Event()
    create = sf.create_event

    async def held_create(fields: Any, who_ids: Any) -> Any:
        creates.append(str(fields.get("OwnerId")))
        if len(creates) == 1:  # the first create waits until the other pass met the claim or created too
            await asyncio.wait_for(_either(second, lambda: bool(refused)), 10)
        else:
            second.set()
        return await create(fields, who_ids)

    sf.create_event = held_create  # type: ignore[method-assign]
    ann_side = Bridge(sf, ex, ann_store, [ANN, BOB], settings=FAST)
    bob_side = Bridge(sf, ex, bob_store, [ANN, BOB], settings=FAST)
    assert ann_side.reader.store_claims.holder != bob_side.reader.store_claims.holder
    await asyncio.gather(ann_side.run_users([ANN.user_id]), bob_side.run_users([BOB.user_id]))

    events = [e for e in sf.events.values() if e["Subject"] == "Partner call"]
    assert len(events) == 1, f"{len(events)} events for one meeting"
    (event,) = events
    owner = str(event["OwnerId"])
    (other,) = {ANN.user_id, BOB.user_id} - {owner}
    assert other in {r.relation_id for r in sf.relations[str(event["Id"])]}
    (pair,) = await (ann_store if other == ANN.user_id else bob_store).pairs_of(other)
    assert pair.state.status is PairStatus.ACTIVE and pair.state.sf_id == event["Id"]
    assert not pair.state.owns_event
    for store in (ann_store, bob_store):  # every claim let go once the passes ended
        assert await store.claim_meetings("someone-else", ["uid-Partner call"], timedelta(seconds=1)) == set()
    await ann_side.stop()
    await bob_side.stop()


async def _either(event: asyncio.Event, seen: Callable[[], bool]) -> None:
    while not event.is_set() and not seen():
        await asyncio.sleep(0.01)


async def test_r_multi_1_a_dead_processs_claim_is_taken_over_after_it_expired(
    two_stores: tuple[Any, Any],
) -> None:
    """A process that died holding a claim on the meeting (its pass never ended) holds Bob's pass back only
    until the claim expired; then Bob's pass makes the event."""
    sf, ex = MemorySalesforce(), MemoryMailbox()
    _meeting(sf, ex, "Partner call")
    dead, bob_store = two_stores
    assert (
        await dead.claim_meetings("dead-process/someone", ["uid-Partner call"], timedelta(seconds=1)) == set()
    )
    refused = _refusals(bob_store)
    bob_side = Bridge(sf, ex, bob_store, [ANN, BOB], settings=FAST)
    await bob_side.run_users([BOB.user_id])
    assert refused, "Bob's pass did not meet the dead process's claim"
    events = [e for e in sf.events.values() if e["Subject"] == "Partner call"]
    assert [str(e["OwnerId"]) for e in events] == [BOB.user_id]
    await bob_side.stop()


async def test_r_multi_1_two_processes_on_one_store_make_one_series(two_stores: tuple[Any, Any]) -> None:
    """The same for a meeting series (§15): Ann's and Bob's bridges each find no Lightning series of the
    partner's weekly call; the series claim in the store lets one make it, the other follows it."""
    if two_stores[0] is two_stores[1]:
        pytest.skip("one store object is one process's: the series turns are taken in the process")
    sf, ex = MemorySalesforceSeries(), MemoryMailboxSeries()
    for user in (ANN, BOB):
        sf.people[user.mailbox] = Relation(user.user_id, RelationKind.USER, owned_by_user=True)
    start, end = soon(hours=26)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=4)
    attendees = (ExchangeAttendee(ANN.mailbox, "Accept"), ExchangeAttendee(BOB.mailbox, "Accept"))
    for user in (ANN, BOB):
        ex.put_series(
            user.mailbox,
            "Partner weekly",
            start,
            end,
            weekly,
            my_response_type="Accept",
            required_attendees=attendees,
            uid="uid-partner-weekly",
            is_meeting=True,
            organizer=OUTSIDE,
        )
    ann_store, bob_store = two_stores
    refused = _refusals(ann_store, bob_store)
    creates: list[object] = []
    second = asyncio.Event()
    create = sf.create_series

    async def held_create(fields: Any, rule: str) -> str:
        creates.append(fields.get("OwnerId"))
        if len(creates) == 1:
            await asyncio.wait_for(_either(second, lambda: bool(refused)), 10)
        else:
            second.set()
        return await create(fields, rule)

    sf.create_series = held_create  # type: ignore[method-assign]
    ann_side = Bridge(sf, ex, ann_store, [ANN, BOB], settings=FAST)
    bob_side = Bridge(sf, ex, bob_store, [ANN, BOB], settings=FAST)
    await asyncio.gather(ann_side.run_users([ANN.user_id]), bob_side.run_users([BOB.user_id]))
    assert len(sf.series()) == 1, f"{len(sf.series())} Lightning series for one meeting series"
    await ann_side.stop()
    await bob_side.stop()
