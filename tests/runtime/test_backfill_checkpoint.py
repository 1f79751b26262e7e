"""`calbridge backfill` at scale (issue 10): windows read in batches, a checkpoint that resumes."""

from __future__ import annotations

from bridge.core.model import Policy
from bridge.runtime.checkpoint import Checkpoint
from bridge.runtime.engine import Bridge
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.sync import UserBinding
from bridge.store.memory import MemoryStore
from tests.runtime.conftest import FAST, soon

USERS = [
    UserBinding(f"005{n:012d}", f"u{n}@corp.example", Policy(user_email=f"u{n}@corp.example"))
    for n in range(12)
]
IDS = [u.user_id for u in USERS]


async def test_r_api_3_backfill_reads_windows_in_batches_and_resumes_after_a_stop() -> None:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    for user in USERS:
        sf.put_event(user.user_id, f"Call {user.user_id}", *soon())
    bridge = Bridge(sf, ex, store, USERS, settings=FAST)

    # The first run reconciles half the users, then stops before marking the run done.
    first = await Checkpoint.open(store)
    await bridge.run_users(IDS[:6], done=first.finished)
    await first.flush()
    assert sf.calls["window_events"] == 1  # one query for the six windows, not one per user

    resumed = await Checkpoint.open(store)
    assert resumed.started == first.started
    assert resumed.left(IDS) == IDS[6:]
    await bridge.run_users(resumed.left(IDS), done=resumed.finished)
    await resumed.close(complete=True)
    await bridge.stop()

    made = sorted(i.subject for items in ex.items.values() for i in items.values())
    assert made == sorted(f"Call {u}" for u in IDS)  # each user's event once: nobody done twice
    again = await Checkpoint.open(store)  # the finished run is not resumed: a new one starts
    assert again.started != first.started and again.left(IDS) == IDS
