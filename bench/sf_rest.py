"""Benchmark: REST writes per second the Salesforce sandbox sustains through simple-salesforce over HTTPS.

The sandbox runs in its own process (as `calbridge sandbox` does); several client threads each drive their
own simple-salesforce client. Two numbers come out of one run:

- floor: trivial `GET /services/data/` calls per second from the same threads and sessions, i.e. what
  requests + TLS + aiohttp cost per call on this machine with no org work at all;
- writes: Event creates and updates per second (target >= 500/s), with the ratio to the floor.

Run: `.venv/bin/python -m bench.sf_rest [--seconds S] [--threads N]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce

TARGET_WRITES_PER_SECOND = 500
API_VERSION = "62.0"


def _serve(pipe: Connection) -> None:
    """Child process: run a sandbox, send its endpoints and CA, wait for the parent to say stop."""
    from bridge.sandbox.salesforce.server import running_salesforce_sandbox

    with running_salesforce_sandbox(api_limit=10_000_000) as sandbox:
        pipe.send({"endpoints": sandbox.endpoints(), "ca_pem": sandbox.tls.ca_pem})
        pipe.recv()


def _session(ca_path: Path) -> requests.Session:
    session = requests.Session()
    session.verify = str(ca_path)
    session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the sandbox CA
    return session


def _run_threads(threads: int, seconds: float, work: Callable[[int], Callable[[int], None]]) -> float:
    """Calls per second of `work(thread)(n)` across `threads` threads for `seconds`."""
    counts = [0] * threads
    stop = time.monotonic() + seconds
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        call = work(index)
        try:
            while time.monotonic() < stop:
                call(counts[index])
                counts[index] += 1
        except BaseException as error:  # surfaced below: a failing benchmark must not report a rate
            errors.append(error)

    started = time.monotonic()
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return sum(counts) / (time.monotonic() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(target=_serve, args=(child,), daemon=True)
    server.start()
    try:
        info: dict[str, Any] = parent.recv()
        endpoints = info["endpoints"]
        with tempfile.TemporaryDirectory() as scratch:
            ca_path = Path(scratch) / "ca.pem"
            ca_path.write_bytes(info["ca_pem"])
            clients = [
                Salesforce(
                    instance_url=endpoints["instance_url"],
                    session_id=endpoints["access_token"],
                    session=_session(ca_path),
                    version=API_VERSION,
                )
                for _ in range(args.threads)
            ]
            versions_url = endpoints["instance_url"] + "/services/data/"

            def floor_work(index: int) -> Callable[[int], None]:
                session = clients[index].session
                return lambda _n: session.get(versions_url).raise_for_status()

            def write_work(index: int) -> Callable[[int], None]:
                events = clients[index].Event
                last: list[str] = []

                def write(n: int) -> None:
                    # Alternate creates and updates: the two writes the bridge makes most.
                    if n % 2 == 0 or not last:
                        created = events.create(
                            {
                                "Subject": f"Bench {index}-{n}",
                                "StartDateTime": "2026-11-23T09:00:00Z",
                                "DurationInMinutes": 30,
                            },
                            headers={"Sforce-Call-Options": "client=bench"},
                        )
                        last[:] = [created["id"]]
                    else:
                        events.update(last[0], {"Location": f"Room {n}"})

                return write

            _run_threads(args.threads, 0.5, floor_work)  # warm up connections and TLS sessions
            floor = _run_threads(args.threads, args.seconds, floor_work)
            writes = _run_threads(args.threads, args.seconds, write_work)
    finally:
        parent.send("stop")
        server.join(timeout=30)
    result = {
        "benchmark": "sf_rest",
        "threads": args.threads,
        "seconds": args.seconds,
        "floor_get_per_s": round(floor, 1),
        "writes_per_s": round(writes, 1),
        "writes_to_floor": round(writes / floor, 3) if floor else None,
        "target_writes_per_s": TARGET_WRITES_PER_SECOND,
        "meets_target": writes >= TARGET_WRITES_PER_SECOND,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
