"""Benchmark: memory per idle enrolled user and start-up time at 10,000 users with the real adapters
(issue 10; goal < 50 KB a user), the bridge as `calbridge run` against the sandbox.

The sandbox (its own process) is seeded with `--users` users (the light seed: two events and two items each).
Two bridges run against it, one after the other, each its own process with its own SQLite store:

- floor: the same config with one user enrolled, so the process's fixed cost (interpreter, libraries, the
  gRPC stream, the streaming connection, the ops server);
- bridge: every user enrolled. Start-up is timed from launch until its `startup_progress` log line says every
  user is synced (the first syncs spread, `startup_parallel` at once).

Each settles `--settle` seconds after its start-up (actors end idle) before its resident set size is read
from /proc; (RSS of N users - RSS of one) / (N - 1) is the memory per idle user: everything the process keeps
for a user, adapters included.

Run: `.venv/bin/python -m bench.scale_real [--users 10000]`; prints one JSON object and writes
bench/results/scale_real_<users>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._world import sandbox_process
from bridge.sandbox.launch import BridgeProcess

RESULTS = Path(__file__).resolve().parent / "results"


def _rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert found, "no VmRSS in /proc status"
    return int(found[1])


def _started(log: Path, users: int, limit: float) -> float:
    """Seconds (from the log line) once a startup_progress line says every user is synced."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for line in log.read_text(errors="replace").splitlines():
            if '"startup_progress"' in line:
                entry = json.loads(line)
                if entry.get("done") == entry.get("total") == users:
                    return float(entry["seconds"])
        time.sleep(1.0)
    raise RuntimeError(f"start-up of {users} users not done in {limit:.0f} s")


def _one_user_config(config: Path) -> Path:
    """The sandbox's config with only its first [[users]] entry, and its own state dir."""
    text = config.read_text()
    head, *users = text.split("\n[[users]]\n")
    single = config.with_name("single")
    single.mkdir(exist_ok=True)
    head = re.sub(r'^state_dir = ".*"$', f"state_dir = {json.dumps(str(single))}", head, flags=re.M)
    path = single / "calbridge.toml"
    path.write_text(head + "\n[[users]]\n" + users[0])
    return path


def _run(config: Path, users: int, settle: float, limit: float) -> dict[str, Any]:
    bridge = BridgeProcess(config, log=config.with_name("bridge.log"))
    load_before = os.getloadavg()[0]
    launched = time.perf_counter()
    bridge.start(timeout=limit)
    ready = time.perf_counter() - launched  # /readyz: every mailbox subscribed (first syncs may still run)
    try:
        startup = _started(bridge.log, users, limit)
        load_after = os.getloadavg()[0]
        time.sleep(settle)
        assert bridge.process is not None
        rss = _rss_kb(bridge.process.pid)
    finally:
        bridge.stop()
    return {
        "users": users,
        "ready_s": round(ready, 1),
        "startup_s": startup,
        "rss_mb": round(rss / 1024, 1),
        "load_1min_at_launch": round(load_before, 1),
        "load_1min_at_startup_end": round(load_after, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds after start-up before RSS")
    parser.add_argument("--limit", type=float, default=1800.0, help="seconds allowed for start-up")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="calbridge-scale-") as name,
        sandbox_process(Path(name), args.users) as world,
    ):
        config = Path(world["config"])
        floor = _run(_one_user_config(config), 1, args.settle, args.limit)
        bridge = _run(config, args.users, args.settle, args.limit)
    per_user = (bridge["rss_mb"] - floor["rss_mb"]) * 1024 / max(args.users - 1, 1)
    result = {
        "users": args.users,
        "memory_per_idle_user_kb": round(per_user, 1),
        "goal_kb": 50,
        "bridge": bridge,
        "floor": floor,
        "seed_s": round(world["seed_seconds"], 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"scale_real_{args.users}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
