"""Benchmark: the bridge's latency each way with 1,000 users under a steady 20 changes a second (issue 10's
figure; about 7 minutes), beside a floor, and the Salesforce API calls it spends per change and when idle.

The sandbox runs in its own process, seeded with `--users` users; the bridge runs as `calbridge run` (its own
process, SQLite store) against it. This process plays the people (simple-salesforce and exchangelib, through
`bridge.sandbox.people`) and watches each side with its own notification stream (`bench._observers`: a Pub/Sub
subscription for Salesforce, a streaming subscription per mailbox for Exchange), never by polling. One run:

1. seeding: seconds to seed the sandbox's users; the bridge's first sync of them (seconds until both
   sandboxes are quiet), outside every figure below;
2. idle: Salesforce API calls the bridge makes in `--idle` quiet seconds (goal 0);
3. Salesforce -> Exchange: `--rate` subject changes a second, round robin over the users' paired events, for
   `--seconds`; a latency runs from the moment the update call returns (the change is committed) to the
   moment the Exchange stream reports the item, confirmed by reading its subject; calls per change are the
   org's API usage over the phase minus this process's own calls, per change seen;
4. Exchange -> Salesforce: the same with the paired items' subjects, seen when Pub/Sub delivers the event's
   change with the new subject;
5. the floors, with the bridge stopped: the same changes, clients and observers, relayed by this process with
   the least any bridge must do, i.e. stream delivery + one read + one write (Salesforce -> Exchange: the
   change event, a GET of the event, an UpdateItem of the item; Exchange -> Salesforce: the notification, a
   GetItem, a PATCH of the event).

Figures go to bench/results/bridge_latency.json and, as one JSON line, to stdout (the runner's table).
Run: `.venv/bin/python -m bench.bridge_latency [--users N] [--rate R] [--seconds S] [--idle S]`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from bench._observers import EventChange, ExchangeStream, ItemNotice, SalesforceStream
from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import Outlook, SalesforceDesk

RESULTS = Path(__file__).resolve().parent / "results"
SETTLE_QUIET_S = 5.0  # both sandboxes unchanged this long: the bridge's first sync is over
WAIT_AFTER_S = 30.0  # how long a phase waits for its last changes to show


def _serve(pipe: Connection, state_dir: str, users: int) -> None:
    """Child process: seed and run the sandbox, write the bridge's config, wait for the parent to say stop."""
    from bridge.sandbox.runner import running_sandbox

    started = time.perf_counter()
    with running_sandbox(Path(state_dir) / "sandbox", users=users) as sandbox:
        ready = time.perf_counter() - started
        config = sandbox.write_bridge_config(Path(state_dir) / "bridge")
        pipe.send({"endpoints": sandbox.endpoints(), "config": str(config), "seed_seconds": ready})
        pipe.recv()


class Admin:
    """Both sandboxes' admin state (not an API call): Salesforce API usage, and a marker of any change."""

    def __init__(self, endpoints: Mapping[str, Any]) -> None:
        self._session = requests.Session()
        self._session.verify = endpoints["ca_bundle"]
        self._session.trust_env = False
        self._admin = endpoints["admin"]

    def _state(self, side: str) -> dict[str, Any]:
        admin = self._admin[side]
        answer = self._session.get(
            admin["admin_url"] + "/state",
            headers={"Authorization": f"Bearer {admin['admin_token']}"},
            timeout=30,
        )
        answer.raise_for_status()
        return dict(answer.json())

    def api_usage(self) -> int:
        return int(self._state("salesforce")["api_usage"])

    def marker(self) -> str:
        salesforce = self._state("salesforce")
        return json.dumps(
            [salesforce["api_usage"], salesforce["commits"], self._state("exchange")], sort_keys=True
        )

    def wait_quiet(self, limit: float = 900.0) -> float:
        """Seconds until neither sandbox changed for SETTLE_QUIET_S (the quiet time not counted)."""
        started = time.monotonic()
        last, since = self.marker(), time.monotonic()
        while time.monotonic() - started < limit:
            time.sleep(0.5)
            now = self.marker()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= SETTLE_QUIET_S:
                return since - started
        raise RuntimeError(f"the sandboxes did not settle in {limit:.0f} s")


class CallCounter:
    """Counts this process's Salesforce REST calls (each counts against the org's API usage too)."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def attach(self, desk: SalesforceDesk) -> SalesforceDesk:
        def count(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
            if "/services/data/" in response.url:
                with self._lock:
                    self.calls += 1
            return response

        desk.sf.session.hooks["response"].append(count)
        return desk


@dataclass
class Pair:
    user: str
    mailbox: str
    event_id: str
    item_id: str


@dataclass
class Expected:
    subject: str
    committed: float | None = None
    seen: float | None = None


@dataclass
class Phase:
    """Changes made in one phase, keyed by the record the other side shows them on and the subject they set
    (a pair may be changed again before an earlier change is seen)."""

    direction: str  # "sf_to_ex" | "ex_to_sf"
    relay: bool  # the floor: this process relays instead of the bridge
    expected: dict[tuple[str, str], Expected] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def latencies(self) -> list[float]:
        with self.lock:
            return [e.seen - e.committed for e in self.expected.values() if e.seen and e.committed]

    def seen(self, key: str, subject: str | None, arrived: float) -> None:
        with self.lock:
            wanted = self.expected.get((key, subject or ""))
            if wanted is not None and wanted.seen is None:
                wanted.seen = arrived

    def waiting(self, key: str) -> bool:
        with self.lock:
            return any(k == key and e.seen is None for (k, _), e in self.expected.items())


class Bench:
    def __init__(self, endpoints: dict[str, Any], pairs: list[Pair], workers: int = 8) -> None:
        self.endpoints = endpoints
        self.driver_calls, self.relay_calls = CallCounter(), CallCounter()
        self.driver = self.driver_calls.attach(SalesforceDesk(endpoints))
        self.relay_desk = self.relay_calls.attach(SalesforceDesk(endpoints))
        self.pairs = pairs
        self.by_event = {p.event_id: p for p in pairs}
        self.by_item = {p.item_id: p for p in pairs}
        self.outlooks = {p.mailbox: Outlook(endpoints, p.mailbox) for p in pairs}
        self.items: dict[str, Any] = {}
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="bench")
        self.phase: Phase | None = None
        self.salesforce = SalesforceStream(endpoints, self.driver.sf.session_id, self._on_change).start()
        self.exchange = ExchangeStream(endpoints, sorted(self.outlooks), self._on_notice).start()

    def close(self) -> None:
        self.salesforce.close()
        self.exchange.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- what the streams report ----------------------------------------------------------------------

    def _on_change(self, change: EventChange) -> None:
        phase = self.phase
        if phase is None:
            return
        for event_id in change.record_ids:
            if phase.direction == "ex_to_sf":
                phase.seen(event_id, change.subject, change.arrived)
            elif phase.relay and change.subject is not None and event_id in self.by_event:
                # Floor, Salesforce -> Exchange: delivery seen; one read, one write.
                self.pool.submit(self._relay_to_exchange, self.by_event[event_id])

    def _on_notice(self, notice: ItemNotice) -> None:
        phase = self.phase
        if phase is None or notice.item_id not in self.by_item:
            return
        pair = self.by_item[notice.item_id]
        if phase.direction == "sf_to_ex":
            self.pool.submit(self._confirm_item, phase, pair, notice.arrived)
        elif phase.relay:
            # Floor, Exchange -> Salesforce: delivery seen; one read, one write.
            self.pool.submit(self._relay_to_salesforce, pair)

    def _confirm_item(self, phase: Phase, pair: Pair, arrived: float) -> None:
        """The notice shows the change once the item's subject is the one expected (read after the fact; the
        latency ends when the notice arrived)."""
        if not phase.waiting(pair.item_id):
            return
        account = self.outlooks[pair.mailbox].account
        found = list(account.fetch(ids=[(pair.item_id, None)], only_fields=["subject"]))
        subject = getattr(found[0], "subject", None) if found else None
        phase.seen(pair.item_id, subject, arrived)

    def _relay_to_exchange(self, pair: Pair) -> None:
        event = self.relay_desk.sobject("Event").get(pair.event_id)
        item = self.items[pair.item_id]
        item.subject = event["Subject"]
        item.save(update_fields=["subject"])

    def _relay_to_salesforce(self, pair: Pair) -> None:
        item = self.outlooks[pair.mailbox].by_id(pair.item_id)
        if item is not None:
            self.relay_desk.update_event(pair.event_id, Subject=item.subject)

    # -- a phase ---------------------------------------------------------------------------------------

    def refresh_items(self) -> None:
        """Current handles on the paired items (the bridge may have written them since)."""
        self.items = {p.item_id: self.outlooks[p.mailbox].by_id(p.item_id) for p in self.pairs}

    def run(
        self,
        admin: Admin,
        direction: str,
        rate: float,
        seconds: float,
        bridge: BridgeProcess | None = None,
    ) -> dict[str, Any]:
        """One phase: the bridge's (`bridge` given, running) or the floor's (this process relays)."""
        relay_mode = bridge is None
        kinds_before = _bridge_calls(bridge) if bridge else {}
        self.refresh_items()
        phase = Phase(direction, relay_mode)
        self.phase = phase
        label = ("floor" if relay_mode else "bridge") + " " + direction
        usage_before = admin.api_usage()
        driver_before, relay_before = self.driver_calls.calls, self.relay_calls.calls
        count = int(rate * seconds)
        started = time.monotonic()
        futures = []
        for n in range(count):
            pair = self.pairs[n % len(self.pairs)]
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(self.pool.submit(self._change, phase, pair, f"{label} {n:05d}"))
        for future in futures:
            future.result()
        deadline = time.monotonic() + WAIT_AFTER_S
        while time.monotonic() < deadline and len(phase.latencies()) < count:
            time.sleep(0.2)
        time.sleep(2.0)  # let calls the last changes cause reach the org before reading its usage
        usage = admin.api_usage() - usage_before
        self.phase = None
        driver = self.driver_calls.calls - driver_before
        relay = self.relay_calls.calls - relay_before
        # The floor's calls are its relay's; the bridge's are the org's usage minus this process's calls.
        calls = relay if relay_mode else usage - driver - relay
        latencies = sorted(phase.latencies())
        kinds = {k: v - kinds_before.get(k, 0) for k, v in _bridge_calls(bridge).items()} if bridge else {}
        return {
            "changes": count,
            "seen": len(latencies),
            "p50_ms": _ms(_quantile(latencies, 0.50)),
            "p99_ms": _ms(_quantile(latencies, 0.99)),
            "max_ms": _ms(latencies[-1] if latencies else None),
            "salesforce_calls": calls,
            "salesforce_calls_per_change": round(calls / max(1, len(latencies)), 2),
            # The machine is shared: its load over the last minute says how comparable two phases are.
            "load_avg_1m": round(os.getloadavg()[0], 1),
            **({"bridge_calls_by_kind": {k: v for k, v in kinds.items() if v}} if bridge else {}),
        }

    def _change(self, phase: Phase, pair: Pair, subject: str) -> None:
        key = pair.item_id if phase.direction == "sf_to_ex" else pair.event_id
        wanted = Expected(subject)
        with phase.lock:
            phase.expected[(key, subject)] = wanted
        if phase.direction == "sf_to_ex":
            self.driver.update_event(pair.event_id, Subject=subject)
        else:
            self.outlooks[pair.mailbox].change(self.items[pair.item_id], subject=subject)
        wanted.committed = time.monotonic()


def _bridge_calls(bridge: BridgeProcess) -> dict[str, int]:
    """The bridge's own count of its Salesforce calls by kind (query, read, write, auth, limits, retry)."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(bridge.metrics()):
        for sample in family.samples:
            if sample.name == "calbridge_salesforce_calls_total":
                counts[sample.labels["kind"]] = int(sample.value)
    return counts


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _pairs(desk: SalesforceDesk, users: list[dict[str, str]]) -> list[Pair]:
    """One pair per user, from the pairing field the bridge writes on each event it synced (R-PAIR-1)."""
    mailbox_of = {u["salesforce_user_id"]: u["email"] for u in users}
    rows = desk.query(
        "SELECT Id, OwnerId, Exchange_Item_Id__c FROM Event WHERE Exchange_Item_Id__c != null "
        "AND IsChild = false AND IsPrivate = false ORDER BY Id"
    )
    chosen: dict[str, Pair] = {}
    for row in rows:
        owner = row["OwnerId"]
        if owner in mailbox_of and owner not in chosen:
            chosen[owner] = Pair(owner, mailbox_of[owner], row["Id"], row["Exchange_Item_Id__c"])
    return list(chosen.values())


def arguments(doc: str, *, users: int, idle: float, rate: float = 5.0) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--users", type=int, default=users)
    parser.add_argument("--rate", type=float, default=rate, help="changes a second, each direction")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each timed phase")
    parser.add_argument("--idle", type=float, default=idle, help="quiet seconds for the idle call count")
    return parser


def measure(
    args: argparse.Namespace,
    name: str,
    configure: Callable[[Path, dict[str, Any]], None] | None = None,
    make_bench: Callable[[dict[str, Any], list[Pair]], Bench] = Bench,
) -> dict[str, Any]:
    """One run (see the module doc): `configure` edits the bridge's written config before it starts (with the
    sandbox's endpoints), `make_bench` sets up the people, observers and floor relays; the figures go to
    bench/results/<name>.json and are returned."""
    root = Path(tempfile.mkdtemp(prefix="calbridge-bench-"))
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=_serve, args=(child, str(root), args.users), daemon=True)
    server.start()
    hello = parent.recv()
    endpoints: dict[str, Any] = hello["endpoints"]
    admin = Admin(endpoints)
    result: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "date": datetime.now(UTC).date().isoformat(),
        "users": args.users,
        "rate_per_s": args.rate,
        "seconds_per_phase": args.seconds,
        "seed_seconds": round(hello["seed_seconds"], 1),
    }
    config = Path(hello["config"])
    if configure is not None:
        configure(config, endpoints)
    bridge = BridgeProcess(config)
    bench: Bench | None = None
    try:
        started = time.monotonic()
        bridge.start(timeout=300)
        result["bridge_ready_s"] = round(time.monotonic() - started, 1)
        result["first_sync_s"] = round(admin.wait_quiet() + result["bridge_ready_s"], 1)
        desk = SalesforceDesk(endpoints)
        pairs = _pairs(desk, endpoints["users"])
        result["pairs"] = len(pairs)
        if args.idle > 0:
            before = admin.api_usage()
            time.sleep(args.idle)
            result["idle"] = {"seconds": args.idle, "salesforce_calls": admin.api_usage() - before}
        bench = make_bench(endpoints, pairs)
        figures: dict[str, Any] = {}
        for direction in ("sf_to_ex", "ex_to_sf"):
            figures[direction] = {"bridge": bench.run(admin, direction, args.rate, args.seconds, bridge)}
            _say(direction, figures[direction])
        code = bridge.stop()
        result["bridge_exit_code"] = code
        for direction in ("sf_to_ex", "ex_to_sf"):
            figures[direction]["floor"] = bench.run(admin, direction, args.rate, args.seconds)
            _say(direction, figures[direction])
        result.update(figures)
    finally:
        if bench is not None:
            bench.close()
        if bridge.process is not None and bridge.process.poll() is None:
            bridge.stop()
        parent.send("stop")
        server.join(60)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def main() -> None:
    args = arguments(__doc__ or "", users=1000, idle=60.0, rate=20.0).parse_args()
    print(json.dumps(measure(args, "bridge_latency")))


def _say(label: str, figures: Mapping[str, Any]) -> None:
    print(label, json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
