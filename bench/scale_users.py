"""Benchmark: memory per idle enrolled user, and start-up of many users spread (issue 10).

A `Bridge` over the in-memory ports with N enrolled users (default 10,000), each with one item in their
mailbox, is started; the start-up spreads the first syncs (`bridge.runtime.startup`) and the seconds it
takes are reported. Once every actor has ended idle, tracemalloc's traced memory beyond what was held before
the bridge was built, divided by N, is the runtime's memory per idle user (bindings, router and reader
indexes, each user's `UserSync`, the store's rows of that user). The adapters' share is not in it: the EWS
adapter holds no Account, thread or connection per idle user (an LRU of recent Accounts, subscriptions
grouped on a few streaming connections), and the Salesforce adapter holds nothing per user. Goal: < 50 KB.

Run: `.venv/bin/python -m bench.scale_users [--users 10000]`; prints one JSON object and writes
bench/results/scale_users.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bridge.core.model import Policy
from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.sync import UserBinding
from bridge.store.memory import MemoryStore

RESULTS = Path(__file__).resolve().parent / "results"


async def _measure(users: int, parallel: int) -> dict[str, Any]:
    sf, ex, store = MemorySalesforce(), MemoryMailbox(), MemoryStore()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    bindings = [
        UserBinding(f"005{n:012d}", f"user{n}@corp.test", Policy(user_email=f"user{n}@corp.test"))
        for n in range(users)
    ]
    for user in bindings:
        ex.put_item(user.mailbox, "Standing meeting", start, start + timedelta(minutes=30))
    ex.pending()  # items made before the bridge subscribed: found by the first syncs
    settings = BridgeSettings(reconcile_every_s=0, actor=ActorSettings(idle_s=0.5), startup_parallel=parallel)
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    bridge = Bridge(sf, ex, store, bindings, settings=settings)
    began = time.perf_counter()
    await bridge.start()
    await bridge.wait_idle()
    startup_s = time.perf_counter() - began
    while bridge.actors.running:  # every actor ends after idle_s without work
        await asyncio.sleep(0.2)
    gc.collect()
    after, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await bridge.stop()
    synced = sum(1 for e in sf.events.values() if e.get("Subject") == "Standing meeting")
    return {
        "users": users,
        "synced": synced,
        "startup_s": round(startup_s, 1),
        "startup_parallel": parallel,
        "memory_per_idle_user_kb": round((after - before) / users / 1024, 1),
        "peak_mb": round((peak - before) / 1e6, 1),
        "idle_actors": len(bridge.actors.running),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--parallel", type=int, default=BridgeSettings().startup_parallel)
    args = parser.parse_args()
    result = asyncio.run(_measure(args.users, args.parallel))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_users.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
