"""Start-up of many users without a thundering herd (issue 10): first passes spread, a progress line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest

from bridge.core.model import Policy
from bridge.ports import MailboxChanges
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.sync import UserBinding
from bridge.store.memory import MemoryStore
from tests.runtime.conftest import FAST, soon

USERS = [
    UserBinding(f"005{n:012d}", f"u{n}@corp.example", Policy(user_email=f"u{n}@corp.example"))
    for n in range(40)
]
LIMIT = 4


class SlowMailbox(MemoryMailbox):
    """The memory mailbox with a mailbox sync that takes a while, counting first syncs (from no state: a
    user's first pass) in flight at once; later syncs are the echoes of the bridge's own writes."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most = 0

    async def sync(
        self, mailbox: str, sync_state: str | None, known: Mapping[str, str] | None = None
    ) -> MailboxChanges:
        first = sync_state is None
        self.in_flight += first
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            return await super().sync(mailbox, sync_state, known)
        finally:
            self.in_flight -= first


async def test_r_time_2_startup_spreads_first_syncs_and_says_how_far_it_got(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sf, ex, store = MemorySalesforce(), SlowMailbox(), MemoryStore()
    for user in USERS:
        ex.put_item(user.mailbox, f"Review {user.user_id}", *soon())
    ex.pending()  # made before the bridge subscribed: no notice of them, the first syncs find them
    settings = BridgeSettings(
        flush_s=FAST.flush_s, reconcile_every_s=0, actor=FAST.actor, startup_parallel=LIMIT
    )
    bridge = Bridge(sf, ex, store, USERS, settings=settings)
    caplog.set_level(logging.INFO, logger="bridge.runtime.startup")
    await bridge.start()
    try:
        await bridge.wait_idle()
    finally:
        await bridge.stop()
    # Every user's first sync ran, and never more than LIMIT of them against the mailbox at once (the
    # echoes of a finished user's own writes are routed at once, never held back, and are not counted).
    subjects = {e.get("Subject") for e in sf.events.values()}
    assert subjects == {f"Review {u.user_id}" for u in USERS}
    assert 1 < ex.most <= LIMIT
    lines = [r.getMessage() for r in caplog.records if r.name == "bridge.runtime.startup"]
    assert lines[-1].startswith(f"startup: {len(USERS)} of {len(USERS)} users synced")
