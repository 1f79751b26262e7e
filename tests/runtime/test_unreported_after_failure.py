"""R-DEL-2 when the pass that paired an item failed afterwards: a pass that fails transiently commits the
pairs it made but not its mailbox sync state, so the state it retries from never knew the item. Exchange
reports a deletion only to a sync state that knew the item (EWS SyncFolderItems, Graph delta; the memory
mailbox plays that here), so an item deleted before the retry was never reported: its event stood until
a window reconcile, hours later. The pass remembers such items as unconfirmed and the retry reads them
by id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest

from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import Bridge
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.store.memory import MemoryStore

from .conftest import ANN, FAST, soon

# The retry waits long enough for the person to delete the item between the failed pass and its retry.
RETRY_LATER = replace(FAST, actor=ActorSettings(idle_s=2.0, first_backoff_s=1.0))


@pytest.fixture
async def bridge_parts() -> AsyncIterator[tuple[MemorySalesforce, MemoryMailbox, MemoryStore, Bridge]]:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    assert ex.reports_only_known  # as EWS and Graph
    bridge = Bridge(sf, ex, store, [ANN], settings=RETRY_LATER)
    await bridge.start()
    await bridge.wait_idle()
    yield sf, ex, store, bridge
    await bridge.stop()


async def _wait_for(check: Callable[[], bool], attempts: int = 400) -> None:
    for _ in range(attempts):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("waited too long")


async def test_r_del_2_an_item_paired_by_a_pass_that_then_failed_is_deleted_with_its_event(
    bridge_parts: tuple[MemorySalesforce, MemoryMailbox, MemoryStore, Bridge],
) -> None:
    sf, ex, _store, bridge = bridge_parts
    sf.busy_subjects["Second"] = 1  # the pass's other new event meets a busy Salesforce once
    first = ex.put_item(ANN.mailbox, "First", *soon(2))
    ex.put_item(ANN.mailbox, "Second", *soon(4))

    def first_paired() -> bool:
        return any(e.get("Subject") == "First" for e in sf.events.values()) and not sf.busy_subjects["Second"]

    await _wait_for(first_paired)  # the pass paired "First", then failed on "Second"; its retry waits
    event_id = next(i for i, e in sf.events.items() if e.get("Subject") == "First")
    ex.remove_item(ANN.mailbox, first)  # deleted in Outlook before the retry
    await _wait_for(lambda: event_id not in sf.events)  # R-DEL-2, at the retry, not hours later
    await bridge.wait_idle()
    assert [e["Subject"] for e in sf.events.values()] == ["Second"]
