"""The core's random two-sided state machine, run long: many more examples than CI runs.

Runs tests/unit/test_core_state_machine.py under the Hypothesis `bench` profile and reports how long it
took and whether every invariant held. The floor is the same test under the `ci` profile, in the same run.

    .venv/bin/python -m bench.core_state_machine
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/unit/test_core_state_machine.py"


def _run(profile: str) -> tuple[bool, float]:
    env = {**os.environ, "HYPOTHESIS_PROFILE": profile}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", TEST, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:])
    return done.returncode == 0, time.perf_counter() - started


def main() -> dict[str, object]:
    floor_ok, floor_seconds = _run("ci")
    long_ok, long_seconds = _run("bench")
    return {
        "benchmark": "core_state_machine",
        "passed": floor_ok and long_ok,
        "ci_profile_seconds": round(floor_seconds, 2),
        "bench_profile_seconds": round(long_seconds, 2),
        "ratio_to_floor": round(long_seconds / floor_seconds, 2),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
