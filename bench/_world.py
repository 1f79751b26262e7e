"""A seeded sandbox in a child process, and its admin state, for the benchmarks that run the bridge as a
process (bench/backfill.py, bench/scale_real.py, bench/replicas.py).

The sandbox gets its own process (and core) so its work is not counted against the bridge's or the floor's;
its admin `/state` is read over HTTPS, which is no API call and costs the org nothing.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests


def _serve(pipe: Connection, state_dir: str, users: int, events_per_user: int) -> None:
    """Child process: seed and run the sandbox, write the bridge's config, wait for the parent to say stop."""
    from bridge.sandbox.runner import running_sandbox

    started = time.perf_counter()
    with running_sandbox(
        Path(state_dir) / "sandbox", users=users, events_per_user=events_per_user, persist=False
    ) as sandbox:
        ready = time.perf_counter() - started
        config = sandbox.write_bridge_config(Path(state_dir) / "bridge")
        pipe.send({"endpoints": sandbox.endpoints(), "config": str(config), "seed_seconds": ready})
        pipe.recv()


@contextmanager
def sandbox_process(state_dir: Path, users: int, events_per_user: int = 0) -> Iterator[dict[str, Any]]:
    """A running sandbox in a child process; yields {"endpoints", "config", "seed_seconds"}."""
    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(theirs, str(state_dir), users, events_per_user), daemon=True
    )
    child.start()
    try:
        if not ours.poll(1200):
            raise RuntimeError("the sandbox did not start within 20 minutes")
        yield dict(ours.recv())
    finally:
        ours.send("stop")
        child.join(60)
        if child.is_alive():
            child.kill()


class Admin:
    """Both sandboxes' admin state: Salesforce API usage, change events published and delivered per topic."""

    def __init__(self, endpoints: Mapping[str, Any]) -> None:
        self._session = requests.Session()
        self._session.verify = endpoints["ca_bundle"]
        self._session.trust_env = False
        self._admin = endpoints["admin"]

    def state(self, side: str = "salesforce") -> dict[str, Any]:
        admin = self._admin[side]
        answer = self._session.get(
            admin["admin_url"] + "/state",
            headers={"Authorization": f"Bearer {admin['admin_token']}"},
            timeout=30,
        )
        answer.raise_for_status()
        return dict(answer.json())

    def api_usage(self) -> int:
        return int(self.state()["api_usage"])


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`, None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
