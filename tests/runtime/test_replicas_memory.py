"""Replicas over the memory ports and one SQLite store (docs/replicas.md): in-process commands fenced by
the users' leases, and settings from Salesforce read by the stream holder and applied by every replica.

Leases last 1.5 s here, so a round is 0.5 s."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bridge.config import Config
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.replicas import HeldElsewhereError, ReplicaBridge, ReplicaSettings
from bridge.runtime.shared_settings import stored_enrolment
from bridge.salesforce.settings import Enrolment
from bridge.store import SqlStore, open_store
from tests.runtime.conftest import ANN, FAST, soon

LEASE_S = 1.5
T = TypeVar("T")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    found = open_store(f"sqlite+aiosqlite:///{tmp_path / 'calbridge.db'}")
    assert isinstance(found, SqlStore)
    await found.migrate()
    yield found
    await found.close()


def _replica(
    name: str, sf: MemorySalesforce, ex: MemoryMailbox, store: SqlStore, **more: Any
) -> ReplicaBridge:
    users = more.pop("users", [ANN])
    return ReplicaBridge(
        sf, ex, store, users, replica=ReplicaSettings(name, lease_s=LEASE_S), settings=FAST, **more
    )


async def test_r_merge_4_an_in_process_backfill_is_refused_while_a_replica_holds_the_user(
    store: SqlStore,
) -> None:
    sf, ex = MemorySalesforce(), MemoryMailbox()
    running = _replica("r1", sf, ex, store)
    await running.start()
    await running.wait_idle()
    command = _replica("r1", sf, ex, store)
    with pytest.raises(HeldElsewhereError, match=f"{ANN.user_id} by replica r1"):
        await command.run_users([ANN.user_id])
    await running.stop()  # releases its leases

    ex.put_item(ANN.mailbox, "Board review", *soon())  # made while no replica runs
    await command.run_users([ANN.user_id])
    assert {e.get("Subject") for e in sf.events.values()} == {"Board review"}
    holder, _, _ = (await command.book.holders())[ANN.user_id]
    assert holder == ""  # released once done: the next replica to start takes the user at once
    await command.stop()


class EnrolledSalesforce(MemorySalesforce):
    """The memory Salesforce port with an enrolment to read (settings from Salesforce)."""

    def __init__(self, assigned: set[str]) -> None:
        super().__init__()
        self.assigned = assigned
        self.reads = 0

    async def read_enrolment(self) -> Enrolment:
        self.reads += 1
        users = {u: {"Email": f"{u[-6:].lower()}@corp.example", "IsActive": True} for u in self.assigned}
        return Enrolment(frozenset(self.assigned), (), users)


async def test_r_scope_2_settings_read_once_by_the_stream_holder_reach_every_replica(store: SqlStore) -> None:
    config = Config(
        salesforce={"instance_url": "https://acme.my.salesforce.com", "client_id": "app"},
        exchange={"ews_url": "https://mail.acme.test/EWS/Exchange.asmx", "username": "svc@acme.test"},
        sync={"settings_source": "salesforce"},
    )
    one, two = "005000000000001AAA", "005000000000002AAA"
    sf, ex = EnrolledSalesforce({one}), MemoryMailbox()
    replicas = [_replica(n, sf, ex, store, users=[], config=config) for n in ("r1", "r2")]
    for replica in replicas:
        await replica.start()
    try:
        assert all(set(r.users) == {one} for r in replicas)
        await _eventually(lambda: next((r for r in replicas if r.reads_salesforce), None))
        while await stored_enrolment(store) is None:  # the holder's read on taking the stream, stored
            await asyncio.sleep(0.05)

        # A new user is assigned; the stream holder hears of it (a settings change event or its period)
        # and is the only replica that reads Salesforce for it.
        mailbox = f"{two[-6:].lower()}@corp.example"
        ex.put_item(mailbox, "Kick-off", *soon())
        sf.assigned.add(two)
        reads = sf.reads
        for replica in replicas:
            await replica.refresh_settings()
        assert sf.reads == reads + 1

        def spread() -> bool | None:
            knows = all(set(r.users) == {one, two} for r in replicas)
            synced = sorted(u.user_id for r in replicas for u in r.local_users())
            return (knows and synced == [one, two]) or None

        await _eventually(spread)  # every replica knows both users; each is synced by exactly one
        await _eventually(lambda: {e.get("Subject") for e in sf.events.values()} == {"Kick-off"} or None)
    finally:
        for replica in replicas:
            await replica.stop()


async def _eventually(probe: Callable[[], T | None], timeout: float = 20 * LEASE_S) -> T:
    """`probe()` once it is not None, polled every 0.05 s; fails after `timeout` seconds (generous: a loaded
    2-core run with four workers needed more than six lease periods; a passing wait ends at once)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := probe()) is None:
        assert asyncio.get_running_loop().time() < deadline, "not seen in time"
        await asyncio.sleep(0.05)
    return found


async def test_r_del_6_a_user_who_leaves_while_no_replica_holds_them_is_switched_off_by_the_next_holder(
    store: SqlStore,
) -> None:
    config = Config(
        salesforce={"instance_url": "https://acme.my.salesforce.com", "client_id": "app"},
        exchange={"ews_url": "https://mail.acme.test/EWS/Exchange.asmx", "username": "svc@acme.test"},
        sync={"settings_source": "salesforce"},
    )
    one = "005000000000001AAA"
    sf, ex = EnrolledSalesforce({one}), MemoryMailbox()
    replica = _replica("r1", sf, ex, store, users=[], config=config)
    await replica.start()
    try:
        mailbox = ex.items[f"{one[-6:].lower()}@corp.example"]
        event_id = sf.put_event(one, "Made in Salesforce", *soon())
        item_id = await _eventually(lambda: sf.events[event_id].get("Exchange_Item_Id__c"))
        await _eventually(lambda: item_id in mailbox or None)
        # The pass that made the item has committed its pair (the writes show a moment before the commit; a
        # lease released before it makes the commit fail, and a user who leaves then has no pair to end).
        deadline = asyncio.get_running_loop().time() + 20 * LEASE_S
        while not any(p.state.ex_id == item_id for p in await store.pairs_of(one)):
            assert asyncio.get_running_loop().time() < deadline, "the pair was never stored"
            await asyncio.sleep(0.05)
        # The user's lease is between two replicas (released, not yet taken) when they leave.
        await replica.book.release({one: replica.held.pop(one)})
        sf.assigned.discard(one)
        await replica.refresh_settings()
        # The replica that takes the lease next makes the switch-off pass: the item the bridge made goes.
        await _eventually(lambda: item_id not in mailbox or None)
        assert event_id in sf.events
    finally:
        await replica.stop()
