"""`make bench`: run every benchmark script in bench/ and collect their JSON results.

Each script is a module `bench.<name>` that prints one JSON object as its last line of output. Results land in
bench/results/results.json and a short Markdown table, bench/results/results.md. Rates are only meaningful as
ratios against the floor each script measures in the same run, on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def _scripts() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))


def _last_json(output: str) -> dict[str, Any]:
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return dict(json.loads(line))
    raise ValueError("printed no JSON result")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    env = dict(os.environ, HYPOTHESIS_PROFILE="bench")
    results: dict[str, dict[str, Any]] = {}
    failed = False
    for name in _scripts():
        started = time.monotonic()
        print(f"== {name}", flush=True)
        run = subprocess.run(
            [sys.executable, "-m", f"bench.{name}"], capture_output=True, text=True, env=env, cwd=HERE.parent
        )
        elapsed = round(time.monotonic() - started, 1)
        if run.returncode != 0:
            failed = True
            results[name] = {
                "error": (run.stderr or run.stdout).strip().splitlines()[-1:],
                "seconds": elapsed,
            }
        else:
            results[name] = {**_last_json(run.stdout), "seconds": elapsed}
        print(json.dumps(results[name]), flush=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| benchmark | result |", "|---|---|"]
    lines += [f"| {name} | {_cell(result)} |" for name, result in results.items()]
    (RESULTS / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
