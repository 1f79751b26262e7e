"""Benchmark: memory per idle enrolled user and start-up time at 10,000 users with the real adapters
(issue 10; goal < 50 KB a user), the bridge as `calbridge run` against the sandbox.

The sandbox (its own process) is seeded with `--users` users (the light seed: two events and two items each).
Two bridges run against it, one after the other, each its own process with its own SQLite store:

- floor: the same config with one user enrolled, so the process's fixed cost (interpreter, libraries, the
  gRPC stream, the streaming connection, the ops server);
- bridge: every user enrolled. Start-up is timed from launch until its `startup_progress` log line says every
  user is synced (the first syncs spread, `startup_parallel` at once).

Each settles `--settle` seconds after its start-up (40: an actor ends 30 s after its last work, so every
user is idle then) before its resident set size is read from /proc; (RSS of N users - RSS of one) / (N - 1)
is the memory per idle user: everything the process keeps for a user, adapters included.

`--sizes 1000` also runs a bridge of 1,000 users (a comma-separated list: one each) before the largest, each
against a sandbox of its own seeded with that many, so each bridge makes the same writes per user: (RSS at
the largest size - RSS at the one before) / (the users between) is the marginal memory per idle user,
without the fixed cost and without bounded caches once they are full.

Each bridge carries the heap probe (`bench/_heap_probe`): after the RSS is read it reports the live objects
by type, glibc's heap (bytes in use and free) and, with `--trace`, tracemalloc's memory by file (tracing
slows the start-up and its own records add to the RSS, so a traced run's RSS is not the figure); then
`malloc_trim(0)` and the RSS once more, so the figures tell the freed heap glibc keeps from live data.
The reports are in the JSON (`heap`), the per-user differences between the two largest sizes in `grew`.

Run: `.venv/bin/python -m bench.scale_real [--users 10000] [--sizes 1000] [--trace]`; prints one JSON
object and writes bench/results/scale_real_<users>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._world import sandbox_process
from bridge.sandbox.launch import BridgeProcess

RESULTS = Path(__file__).resolve().parent / "results"
PROBE = Path(__file__).resolve().parent / "_heap_probe"


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


def _first_users_config(config: Path, users: int) -> Path:
    """The sandbox's config with only its first `users` [[users]] entries, and its own state dir."""
    text = config.read_text()
    head, *entries = text.split("\n[[users]]\n")
    own = config.with_name(f"first-{users}")
    own.mkdir(exist_ok=True)
    head = re.sub(r'^state_dir = ".*"$', f"state_dir = {json.dumps(str(own))}", head, flags=re.M)
    path = own / "calbridge.toml"
    path.write_text(head + "".join("\n[[users]]\n" + entry for entry in entries[:users]))
    return path


def _probe(pid: int, report: Path, signum: int) -> dict[str, Any]:
    """One heap probe report (SIGUSR1: as it is; SIGUSR2: after malloc_trim), then the RSS."""
    lines = report.read_text().count("\n") if report.exists() else 0
    os.kill(pid, signum)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if report.exists() and report.read_text().count("\n") > lines:
            entry: dict[str, Any] = json.loads(report.read_text().splitlines()[-1])
            entry["rss_mb"] = round(_rss_kb(pid) / 1024, 1)
            return entry
        time.sleep(0.2)
    raise RuntimeError("the heap probe did not report")


def _run(config: Path, users: int, settle: float, limit: float, trace: bool) -> dict[str, Any]:
    report = config.with_name("heap.jsonl")
    env = {"PYTHONPATH": str(PROBE), "CALBRIDGE_HEAP_PROBE": str(report)}
    if trace:
        env["PYTHONTRACEMALLOC"] = "1"
    bridge = BridgeProcess(config, log=config.with_name("bridge.log"), env=env)
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
        heap = _probe(bridge.process.pid, report, signal.SIGUSR1)
        trimmed = _probe(bridge.process.pid, report, signal.SIGUSR2)
    finally:
        bridge.stop()
    return {
        "users": users,
        "ready_s": round(ready, 1),
        "startup_s": startup,
        "rss_mb": round(rss / 1024, 1),
        "rss_after_trim_mb": trimmed["rss_mb"],
        "load_1min_at_launch": round(load_before, 1),
        "load_1min_at_startup_end": round(load_after, 1),
        "heap": heap,
        "heap_after_trim": {key: trimmed[key] for key in ("malloc", "pymalloc", "threads", "tasks")},
    }


def _grew(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """What grew per user between two sizes: object counts by type, traced bytes by file, glibc's heap."""
    users = large["users"] - small["users"]

    def per_user(before: dict[str, int], after: dict[str, int], scale: float) -> dict[str, float]:
        grown = {k: (after.get(k, 0) - before.get(k, 0)) * scale / users for k in after}
        top = sorted(grown.items(), key=lambda kv: -kv[1])[:25]
        return {k: round(v, 2) for k, v in top if v > 0}

    a, b = small["heap"], large["heap"]
    grew: dict[str, Any] = {
        "users_between": users,
        "rss_kb_per_user": round((large["rss_mb"] - small["rss_mb"]) * 1024 / users, 1),
        "rss_after_trim_kb_per_user": round(
            (large["rss_after_trim_mb"] - small["rss_after_trim_mb"]) * 1024 / users, 1
        ),
        "gc_objects_per_user": round((b["gc_objects"] - a["gc_objects"]) / users, 1),
        "objects_per_user_by_type": per_user(a["types"], b["types"], 1.0),
    }
    for allocator in ("malloc", "pymalloc"):
        for key in ("in_use_kb", "free_kb"):
            grown = b.get(allocator, {}).get(key, 0) - a.get(allocator, {}).get(key, 0)
            grew[f"{allocator}_{key}_per_user"] = round(grown / users, 1)
    if "files_kb" in a and "files_kb" in b:
        grew["traced_kb_per_user"] = round((b["traced_mb"] - a["traced_mb"]) * 1024 / users, 1)
        grew["traced_kb_per_user_by_file"] = per_user(a["files_kb"], b["files_kb"], 1.0)
    return grew


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--sizes", default="", help="smaller sizes also run, comma-separated (e.g. 1000)")
    parser.add_argument("--trace", action="store_true", help="tracemalloc in the bridges (memory by file)")
    parser.add_argument("--settle", type=float, default=40.0, help="seconds after start-up before RSS")
    parser.add_argument("--limit", type=float, default=1800.0, help="seconds allowed for start-up")
    args = parser.parse_args()
    sizes = sorted({int(size) for size in args.sizes.split(",") if size} - {1, args.users})
    runs: list[dict[str, Any]] = []
    floor: dict[str, Any] = {}
    for size in [*sizes, args.users]:  # a sandbox each: a bridge before would have written its users' items
        with (
            tempfile.TemporaryDirectory(prefix="calbridge-scale-") as name,
            sandbox_process(Path(name), size) as world,
        ):
            config = Path(world["config"])
            if not floor:
                floor = _run(_first_users_config(config, 1), 1, args.settle, args.limit, args.trace)
            runs.append(_run(config, size, args.settle, args.limit, args.trace))
    *smaller, bridge = runs
    per_user = (bridge["rss_mb"] - floor["rss_mb"]) * 1024 / max(args.users - 1, 1)
    result = {
        "users": args.users,
        "memory_per_idle_user_kb": round(per_user, 1),
        "goal_kb": 50,
        "traced": args.trace,
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        "grew": _grew(([floor, *smaller])[-1], bridge),
        "bridge": bridge,
        "smaller": smaller,
        "floor": floor,
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = "_traced" if args.trace else ""
    (RESULTS / f"scale_real_{args.users}{suffix}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["grew"]))
    print(json.dumps({k: v for k, v in result.items() if k not in ("bridge", "smaller", "floor", "grew")}))


if __name__ == "__main__":
    main()
