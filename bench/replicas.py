"""Benchmark: three replicas against one (issue 10, docs/replicas.md): latency p50/p99 each way and the
Salesforce change events the deployment is delivered.

The sandbox runs in its own process with `--users` users; each deployment gets a fresh PostgreSQL database
(CALBRIDGE_TEST_POSTGRES, as the replica tests) and runs as `calbridge run` processes with `[replica]`
enabled: first one replica (the floor), then three. Once a deployment's first syncs are over (the org's API
usage still for 5 s), this process books `--changes` new events in Salesforce and as many items in Outlook,
round robin over the users at `--rate` a second, and times each from the moment its create call returned to
the moment the other side's own notification stream shows it (`bench._observers`, confirmed by subject).

Change events: the sandbox's admin /state counts Event change events published and delivered per topic over
every subscription. This process's observer is one subscription and is delivered each event once; what is
left is the deployment's. Goal: the same for three replicas as for one (once per event: the stream is read by
the one replica holding the stream lease and its work handed over through the store).

Run: `.venv/bin/python -m bench.replicas [--users 30] [--changes 40] [--rate 2]`; prints one JSON object and
writes bench/results/replicas.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench._observers import EVENT_TOPIC, EventChange, ExchangeStream, ItemNotice, SalesforceStream
from bench._world import Admin, quantile, sandbox_process
from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import Outlook, SalesforceDesk

RESULTS = Path(__file__).resolve().parent / "results"
POSTGRES = os.environ.get("CALBRIDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _sql(query: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(POSTGRES, timeout=5)
        try:
            await connection.execute(query)
        finally:
            await connection.close()

    asyncio.run(run())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Watch:
    """Expected subjects and when each was committed and seen; the observer's own deliveries counted."""

    def __init__(self, endpoints: dict[str, Any], desk: SalesforceDesk, outlooks: dict[str, Outlook]) -> None:
        self.lock = threading.Lock()
        self.committed: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.observer_delivered = 0
        self.closed = False
        self.outlooks = outlooks
        self.pool = ThreadPoolExecutor(8)
        self.salesforce = SalesforceStream(endpoints, desk.sf.session_id, self._on_change).start()
        self.exchange = ExchangeStream(endpoints, sorted(outlooks), self._on_notice).start()

    def _mark(self, subject: str | None, arrived: float, made_in: str) -> None:
        """`subject` seen on the side it was not made in (each stream also reports this process's own
        creates, which say nothing of the bridge)."""
        if subject is None or f" from {made_in} " not in subject:
            return
        with self.lock:
            if subject in self.committed and subject not in self.seen:
                self.seen[subject] = arrived

    def _on_change(self, change: EventChange) -> None:
        with self.lock:
            self.observer_delivered += 1
        self._mark(change.subject, change.arrived, made_in="Outlook")

    def _on_notice(self, notice: ItemNotice) -> None:
        if self.closed:
            return

        def confirm() -> None:
            account = self.outlooks[notice.mailbox].account
            found = list(account.fetch(ids=[(notice.item_id, None)], only_fields=["subject"]))
            subject = getattr(found[0], "subject", None) if found else None
            self._mark(subject, notice.arrived, made_in="Salesforce")

        self.pool.submit(confirm)

    def close(self) -> None:
        self.closed = True
        self.salesforce.close()
        self.exchange.close()
        self.pool.shutdown(wait=False, cancel_futures=True)


def _quiet(admin: Admin, seconds: float = 5.0, limit: float = 600.0) -> None:
    """Until the org's API usage has not moved for `seconds` (the first syncs are over)."""
    started, last, since = time.monotonic(), admin.api_usage(), time.monotonic()
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        usage = admin.api_usage()
        if usage != last:
            last, since = usage, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return
    raise RuntimeError(f"the bridge's first syncs did not end in {limit:.0f} s")


def _deployment(world: dict[str, Any], root: Path, replicas: int, args: argparse.Namespace) -> dict[str, Any]:
    endpoints = world["endpoints"]
    admin, desk = Admin(endpoints), SalesforceDesk(endpoints)
    users = endpoints["users"][: args.users]
    database = f"calbridge_bench_{uuid.uuid4().hex[:12]}"
    _sql(f'CREATE DATABASE "{database}"')
    url = POSTGRES.replace("postgresql://", "postgresql+asyncpg://", 1).rsplit("/", 1)[0] + "/" + database
    base = Path(world["config"]).read_text()
    bridges: list[BridgeProcess] = []
    outlooks = {u["email"]: Outlook(endpoints, u["email"]) for u in users}
    watch = Watch(endpoints, desk, outlooks)
    try:
        for n in range(replicas):
            directory = root / f"{replicas}-r{n + 1}"
            directory.mkdir(parents=True)
            config = directory / "calbridge.toml"
            own = re.sub(r"^state_dir = .*$", f"state_dir = {json.dumps(str(directory))}", base, flags=re.M)
            own = re.sub(r"^port = \d+$", f"port = {_free_port()}", own, flags=re.M)
            config.write_text(
                own + f'\n[store]\nurl = "{url}"\n\n[replica]\nenabled = true\nid = "r{n + 1}"\n'
            )
            bridges.append(BridgeProcess(config).start(timeout=120))
        _quiet(admin)
        pubsub = admin.state()["pubsub"]
        published0 = pubsub["published"].get(EVENT_TOPIC, 0)
        delivered0 = pubsub["delivered"].get(EVENT_TOPIC, 0)
        observed0 = watch.observer_delivered
        tag = uuid.uuid4().hex[:6]
        day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
        directions: dict[str, list[str]] = {"sf_to_ex": [], "ex_to_sf": []}
        for n in range(args.changes):
            user = users[n % len(users)]
            start = day + timedelta(hours=n % 10, days=n // 10)
            subject = f"Replicas {tag} from Salesforce {n}"
            desk.create_event(user["salesforce_user_id"], subject, start, start + timedelta(minutes=30))
            with watch.lock:
                watch.committed[subject] = time.monotonic()
            directions["sf_to_ex"].append(subject)
            subject = f"Replicas {tag} from Outlook {n}"
            outlooks[user["email"]].book(subject, start, start + timedelta(minutes=30))
            with watch.lock:
                watch.committed[subject] = time.monotonic()
            directions["ex_to_sf"].append(subject)
            time.sleep(max(0.0, 1.0 / args.rate - 0.05))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(watch.seen) < 2 * args.changes:
            time.sleep(0.2)
        time.sleep(2.0)  # change events of the bridges' own writes reach the counters
        pubsub = admin.state()["pubsub"]
        published = pubsub["published"].get(EVENT_TOPIC, 0) - published0
        delivered = pubsub["delivered"].get(EVENT_TOPIC, 0) - delivered0
        to_deployment = delivered - (watch.observer_delivered - observed0)
        figures: dict[str, Any] = {"replicas": replicas}
        for direction, subjects in directions.items():
            latencies = [watch.seen[s] - watch.committed[s] for s in subjects if s in watch.seen]
            p50, p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
            figures[direction] = {
                "seen": len(latencies),
                "of": len(subjects),
                "p50_ms": None if p50 is None else round(p50 * 1000),
                "p99_ms": None if p99 is None else round(p99 * 1000),
            }
        figures["change_events"] = {"published": published, "delivered_to_deployment": to_deployment}
        return figures
    finally:
        watch.close()
        for bridge in bridges:
            bridge.stop()
        _sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--changes", type=int, default=40, help="new records each way")
    parser.add_argument("--rate", type=float, default=2.0, help="changes a second, each way")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="calbridge-replicas-") as name:
        root = Path(name)
        with sandbox_process(root / "world", args.users) as world:
            one = _deployment(world, root, 1, args)
            print("one", json.dumps(one), flush=True)
            three = _deployment(world, root, 3, args)
    result = {
        "users": args.users,
        "changes_each_way": args.changes,
        "rate": args.rate,
        "one": one,
        "three": three,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "replicas.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
