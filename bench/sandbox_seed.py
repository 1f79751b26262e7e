"""Benchmark: how long the sandbox takes to seed, start, save and reload with many users (up to 10,000).

Each size is a fresh sandbox in a temporary directory, run as `calbridge sandbox` runs it (both halves, state
files on): seconds to seed and start, to stop (which saves both state files), to start again from the saved
state, and the state files' sizes. There is no floor: these are one-off costs, reported to say what a load
test pays before it begins.

Run: `.venv/bin/python -m bench.sandbox_seed [--users 100 1000 10000]`; prints one JSON object and writes
bench/results/sandbox_seed.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bridge.sandbox.runner import EXCHANGE_FILE, ORG_FILE, running_sandbox

RESULTS = Path(__file__).resolve().parent / "results"


def _measure(users: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="calbridge-seed-") as name:
        state = Path(name)
        started = time.perf_counter()
        with running_sandbox(state, users=users) as sandbox:
            seeded = time.perf_counter() - started
            assert len(sandbox.users) == users
            stopping = time.perf_counter()
        stopped = time.perf_counter() - stopping
        sizes = {f: round((state / f).stat().st_size / 1e6, 1) for f in (ORG_FILE, EXCHANGE_FILE)}
        started = time.perf_counter()
        with running_sandbox(state, users=users) as again:
            reloaded = time.perf_counter() - started
            assert len(again.users) == users
    return {
        "seed_and_start_s": round(seeded, 1),
        "stop_and_save_s": round(stopped, 1),
        "reload_s": round(reloaded, 1),
        "state_mb": sizes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100, 1000, 10_000])
    args = parser.parse_args()
    result = {f"users_{n}": _measure(n) for n in args.users}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sandbox_seed.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
