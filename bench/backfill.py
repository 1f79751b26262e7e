"""Benchmark: `calbridge backfill --all` of 1,000 users x 100 events (issue 10; goal under 2 minutes), beside
a floor, and the Salesforce API calls each spends.

Each run seeds a sandbox (its own process) with `--users` users and `--events` appointments per user, half
as Salesforce events and half as mailbox items (`events_per_user`), so a first sync creates about half of
them on each side. Then, on two fresh sandboxes seeded alike:

- bridge: `calbridge backfill --all --workers N --config FILE` as a process (SQLite store; N worker
  processes, default one per core), timed from launch to exit, with the CPU seconds of the command and its
  workers; Salesforce calls are the org's API usage over the run (the sandbox's admin state, no API call);
- floor: the same reads and writes with the same clients and nothing else, i.e. what no backfill can skip:
  the Salesforce windows read 200 owners a query (simple-salesforce), each mailbox's window read with one
  FindItem and its missing items made with one CreateItem (exchangelib, `--parallel` mailboxes at once, as
  many as the bridge's `startup_parallel`), the events missing in Salesforce made 200 a call through sObject
  Collections. The floor does not pair (no ids written back, no store), so it is a lower bound.

The machine's load average (1 minute) is recorded as each phase starts and ends: other work on the machine
slows both, so compare the bridge only with the floor of its own run.

Run: `.venv/bin/python -m bench.backfill [--users 1000] [--events 100] [--workers N]`; prints one JSON
object and writes bench/results/backfill.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exchangelib import CalendarItem, EWSDateTime

from bench._world import Admin, sandbox_process
from bridge.runtime.backfill import default_workers
from bridge.sandbox.people import Outlook, SalesforceDesk

RESULTS = Path(__file__).resolve().parent / "results"
OWNERS_A_QUERY = 200  # as the adapter's window_events
RECORDS_A_CALL = 200  # sObject Collections' limit
PAST_DAYS, FUTURE_DAYS = 30, 60  # the bridge's default window


def _load() -> float:
    return round(os.getloadavg()[0], 1)


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _bridge(world: dict[str, Any], workers: int) -> dict[str, Any]:
    admin = Admin(world["endpoints"])
    before = admin.api_usage()
    config = Path(world["config"])
    load = _load()
    cpu = _children_cpu()  # the command and its workers, once it has waited for them
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bridge",
            "backfill",
            "--all",
            "--workers",
            str(workers),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    summary = re.search(r"(\d+) users reconciled.*?(\d+) writes, (\d+) failures", done.stdout)
    if done.returncode != 0 or summary is None:
        raise RuntimeError(f"calbridge backfill exited {done.returncode}: {done.stdout[-2000:]}{done.stderr}")
    return {
        "seconds": round(seconds, 1),
        "users": int(summary[1]),
        "writes": int(summary[2]),
        "failures": int(summary[3]),
        "salesforce_calls": admin.api_usage() - before,
        "workers": workers,
        "cpu_s": round(cpu, 1),
        "load_avg": [load, _load()],
    }


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(days=PAST_DAYS), now + timedelta(days=FUTURE_DAYS)


def _ews(value: str) -> EWSDateTime:
    return EWSDateTime.from_datetime(datetime.fromisoformat(value.replace("+0000", "+00:00")))


def _floor(world: dict[str, Any], parallel: int) -> dict[str, Any]:
    endpoints = world["endpoints"]
    admin = Admin(endpoints)
    users = endpoints["users"]
    start, end = _window()
    before = admin.api_usage()
    load = _load()
    began = time.perf_counter()
    desk = SalesforceDesk(endpoints)
    events: dict[str, list[dict[str, Any]]] = {u["salesforce_user_id"]: [] for u in users}
    for n in range(0, len(users), OWNERS_A_QUERY):
        owners = ",".join(f"'{u['salesforce_user_id']}'" for u in users[n : n + OWNERS_A_QUERY])
        for event in desk.sf.query_all(
            "SELECT Id, OwnerId, Subject, StartDateTime, EndDateTime FROM Event WHERE IsChild = false "
            f"AND OwnerId IN ({owners}) AND StartDateTime < {end.isoformat()} "
            f"AND EndDateTime > {start.isoformat()}"
        )["records"]:
            events[event["OwnerId"]].append(event)
    wanted: list[dict[str, Any]] = []
    # Made one by one: the sandbox's CA bundle is rewritten in place as each is made (client_tls.ca_bundle),
    # which a TLS handshake in another thread may read half-written.
    accounts = {u["email"]: Outlook(endpoints, u["email"]).account for u in users}

    def mailbox(user: dict[str, str]) -> int:
        account = accounts[user["email"]]
        view = account.calendar.view(EWSDateTime.from_datetime(start), EWSDateTime.from_datetime(end))
        items = list(view.only("subject", "start", "end"))
        made = [
            CalendarItem(
                folder=account.calendar,
                subject=e["Subject"],
                start=_ews(e["StartDateTime"]),
                end=_ews(e["EndDateTime"]),
            )
            for e in events[user["salesforce_user_id"]]
        ]
        account.bulk_create(folder=account.calendar, items=made, send_meeting_invitations="SendToNone")
        wanted.extend(
            {
                "attributes": {"type": "Event"},
                "OwnerId": user["salesforce_user_id"],
                "Subject": i.subject,
                "StartDateTime": i.start.isoformat(),
                "EndDateTime": i.end.isoformat(),
            }
            for i in items
        )
        return len(made)

    with ThreadPoolExecutor(parallel) as pool:
        to_exchange = sum(pool.map(mailbox, users))
        chunks = [wanted[n : n + RECORDS_A_CALL] for n in range(0, len(wanted), RECORDS_A_CALL)]
        list(
            pool.map(
                lambda chunk: desk.sf.restful(
                    "composite/sobjects", method="POST", json={"allOrNone": False, "records": chunk}
                ),
                chunks,
            )
        )
    return {
        "seconds": round(time.perf_counter() - began, 1),
        "to_exchange": to_exchange,
        "to_salesforce": len(wanted),
        "salesforce_calls": admin.api_usage() - before,
        "parallel": parallel,
        "load_avg": [load, _load()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="appointments per user, both sides")
    parser.add_argument("--parallel", type=int, default=32, help="floor: mailboxes at once")
    parser.add_argument("--workers", type=int, default=None, help="bridge: worker processes (one per core)")
    args = parser.parse_args()
    result: dict[str, Any] = {"users": args.users, "events_per_user": args.events, "goal_s": 120}
    with tempfile.TemporaryDirectory(prefix="calbridge-backfill-") as name:
        with sandbox_process(Path(name) / "bridge-run", args.users, args.events) as world:
            result["seed_s"] = round(world["seed_seconds"], 1)
            result["bridge"] = _bridge(world, args.workers or default_workers())
            print("bridge", json.dumps(result["bridge"]), flush=True)
        with sandbox_process(Path(name) / "floor-run", args.users, args.events) as world:
            result["floor"] = _floor(world, args.parallel)
    result["bridge_over_floor"] = round(result["bridge"]["seconds"] / max(result["floor"]["seconds"], 0.1), 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "backfill.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
