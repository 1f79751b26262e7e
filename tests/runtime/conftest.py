"""An in-memory bridge: memory ports and MemoryStore, one or two users."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bridge.core.model import Policy
from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.sync import UserBinding
from bridge.store.memory import MemoryStore

ANN = UserBinding("005000000000ANN", "ann@corp.example", Policy(user_email="ann@corp.example"))
BOB = UserBinding("005000000000BOB", "bob@corp.example", Policy(user_email="bob@corp.example"))
FAST = BridgeSettings(
    flush_s=0.02, reconcile_every_s=0, actor=ActorSettings(idle_s=0.2, first_backoff_s=0.01)
)


def soon(hours: int = 2) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(hours=hours)
    return start, start + timedelta(minutes=30)


@dataclass
class World:
    sf: MemorySalesforce
    ex: MemoryMailbox
    store: MemoryStore
    bridge: Bridge

    async def restart(self) -> None:
        await self.bridge.stop()
        self.store = MemoryStore(self.store.snapshot())
        self.bridge = Bridge(self.sf, self.ex, self.store, list(self.bridge.users.values()), settings=FAST)
        await self.bridge.start()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    bridge = Bridge(sf, ex, store, [ANN, BOB], settings=FAST)
    await bridge.start()
    found = World(sf, ex, store, bridge)
    await found.bridge.wait_idle()
    yield found
    await found.bridge.stop()
