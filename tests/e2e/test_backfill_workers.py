"""`calbridge backfill --all` in several worker processes (issue 10), against the sandbox, on both providers.

Each test seeds a sandbox of its own alike (six of the demo's people, whose meetings invite each other, and
20 plain appointments each, half in Salesforce, half in Outlook) and runs the backfill as a process with no
bridge running beside it. What people see afterwards (each owner's Salesforce events and whether they are
paired, each mailbox's items, the store's pairs by status) must be what a one-process backfill of an org
seeded alike leaves: nothing created twice, nothing missed, whichever worker syncs whom.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from exchangelib import EWSDateTime

from bridge.config import load_config
from bridge.sandbox.people import Outlook, SalesforceDesk, wait_until
from bridge.sandbox.runner import Sandbox, running_sandbox
from bridge.store import open_store

from . import series_steps as steps
from .conftest import GRAPH_POLLING, use_graph

USERS, EVENTS = 6, 20
# A sandbox of its own and two or three backfills a test, on a machine other work shares.
pytestmark = pytest.mark.timeout(300)
Snapshot = dict[str, Any]


@dataclass
class Org:
    endpoints: dict[str, Any]
    config: Path
    desk: SalesforceDesk
    sandbox: Sandbox

    @property
    def users(self) -> list[dict[str, str]]:
        return list(self.endpoints["users"])


@contextmanager
def seeded_org(root: Path, provider: str) -> Iterator[Org]:
    """A sandbox seeded alike for every test, and the bridge's config for it (no bridge running)."""
    with running_sandbox(root / "sandbox", users=USERS, events_per_user=EVENTS) as sandbox:
        config = sandbox.write_bridge_config(root / "bridge")
        endpoints = sandbox.endpoints()
        if provider == "graph":
            use_graph(config, endpoints["graph"], GRAPH_POLLING)
        yield Org(endpoints, config, SalesforceDesk(endpoints), sandbox)


def backfill_command(org: Org, *args: str) -> list[str]:
    return [sys.executable, "-m", "bridge", "backfill", "--all", "--config", str(org.config), *args]


def backfill(org: Org, *args: str) -> subprocess.CompletedProcess[str]:
    command = backfill_command(org, *args)
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def snapshot(org: Org) -> Snapshot:
    """Per user, what a person sees: their Salesforce events (subject, start, paired or not), their mailbox's
    items (subject, start), and the store's pairs by status; each a count, so a double shows as a 2."""
    now = datetime.now(UTC)
    start, end = now - timedelta(days=45), now + timedelta(days=90)
    pairs = asyncio.run(_pairs_by_status(org))
    seen: Snapshot = {}
    for user in org.users:
        owner, address = user["salesforce_user_id"], user["email"]
        events = org.desk.query(
            "SELECT Subject, StartDateTime, Exchange_Item_Id__c FROM Event WHERE OwnerId = {} "
            "AND IsChild = false",
            owner,
        )
        calendar = Outlook(org.endpoints, address).account.calendar
        items = calendar.view(EWSDateTime.from_datetime(start), EWSDateTime.from_datetime(end)).only(
            "subject", "start"
        )
        seen[address] = {
            "salesforce": Counter(
                (e["Subject"], e["StartDateTime"], bool(e["Exchange_Item_Id__c"])) for e in events
            ),
            "mailbox": Counter((i.subject, i.start.isoformat()) for i in items),
            "pairs": pairs.get(owner, Counter()),
        }
    return seen


async def _pairs_by_status(org: Org) -> dict[str, Counter[str]]:
    store = open_store(load_config(org.config).store_url)
    try:
        await store.migrate()
        return {
            u["salesforce_user_id"]: Counter(
                p.state.status.value for p in await store.pairs_of(u["salesforce_user_id"])
            )
            for u in org.users
        }
    finally:
        await store.close()


def doubles(seen: Snapshot) -> list[Any]:
    """What shows twice on one side of one user: a record the backfill made twice."""
    return [
        (user, side, key)
        for user, sides in seen.items()
        for side in ("salesforce", "mailbox")
        for key, times in sides[side].items()
        if times > 1
    ]


def same_as(seen: Snapshot, reference: Snapshot) -> None:
    # Whether each record is paired is compared apart from the records themselves, for a clearer message.
    for address in reference:
        for side in ("salesforce", "mailbox", "pairs"):
            assert seen[address][side] == reference[address][side], (address, side)


def paired_count(org: Org) -> int:
    rows = org.desk.query("SELECT Id FROM Event WHERE Exchange_Item_Id__c != null AND IsChild = false")
    return len(rows)


def workers_of(pid: int) -> list[int]:
    """The backfill's worker processes: the coordinator's spawned children."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


PROVIDERS = ("ews", "graph")


@pytest.fixture(scope="module", params=PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def reference(provider: str, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """What a one-process backfill leaves in an org seeded alike."""
    with seeded_org(tmp_path_factory.mktemp(f"reference-{provider}"), provider) as org:
        done = backfill(org, "--workers", "1")
        assert done.returncode == 0, done.stderr
        assert f"{USERS} users reconciled in this process;" in done.stdout
        seen = snapshot(org)
    assert not doubles(seen)
    assert sum(sum(s["pairs"].values()) for s in seen.values()) > USERS * EVENTS // 2
    return seen


def test_r_multi_1_r_api_3_a_backfill_in_three_workers_pairs_every_event_once(
    provider: str, reference: Snapshot, tmp_path: Path
) -> None:
    """Three workers, two users each, meetings across their shares: the same records as one process, each
    once (R-MULTI-1: one event per meeting, whichever worker syncs its organizer), and every user paired."""
    with seeded_org(tmp_path, provider) as org:
        done = backfill(org, "--workers", "3")
        assert done.returncode == 0, done.stderr
        assert f"{USERS} users reconciled in this process's 3 workers; " in done.stdout
        assert ", 0 failures" in done.stdout
        seen = snapshot(org)
    assert not doubles(seen)
    same_as(seen, reference)


def test_r_merge_4_a_backfill_whose_worker_is_killed_half_way_resumes_without_duplicates(
    provider: str, reference: Snapshot, tmp_path: Path
) -> None:
    """A worker killed while its users' passes write (SIGKILL: no goodbye): the run exits 1 naming it, the
    users the other worker finished stay done, and the next backfill resumes the rest and leaves exactly
    what one uninterrupted process leaves (R-MERGE-4: a write retried after a crash is not made twice)."""
    with seeded_org(tmp_path, provider) as org:
        running = subprocess.Popen(
            backfill_command(org, "--workers", "2"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            workers, _ = wait_until(lambda: len(w := workers_of(running.pid)) == 2 and w, timeout=60)
            wait_until(lambda: paired_count(org) > 0, timeout=120, every=0.1)  # writing has begun
            os.kill(workers[0], signal.SIGKILL)
            out, err = running.communicate(timeout=300)
        finally:
            if running.poll() is None:
                running.kill()
        assert running.returncode == 1, (out, err)
        assert "ended before finishing its users: run the backfill again to resume it" in err
        assert "Traceback" not in err
        again = backfill(org, "--workers", "2")
        assert again.returncode == 0, again.stderr
        assert "resuming the backfill started" in again.stdout
        seen = snapshot(org)
    assert not doubles(seen)
    # Nothing missed, nothing twice, as one process left it: a masked copy made just before the kill is
    # recovered from its pairing fields as the mask (R-PRIV-1 with R-PAIR-1), not merged over its original.
    same_as(seen, reference)


def test_r_merge_4_a_backfill_killed_half_way_stops_its_workers_and_resumes_without_duplicates(
    provider: str, reference: Snapshot, tmp_path: Path
) -> None:
    """The command itself killed (SIGKILL) while its workers write: the workers stop by themselves rather
    than go on unseen, and the next backfill (in one process this time) resumes to the same result."""
    with seeded_org(tmp_path, provider) as org:
        running = subprocess.Popen(
            backfill_command(org, "--workers", "2"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            workers, _ = wait_until(lambda: len(w := workers_of(running.pid)) == 2 and w, timeout=60)
            wait_until(lambda: paired_count(org) > 0, timeout=120, every=0.1)
            running.kill()
            running.wait(timeout=30)
            wait_until(lambda: not any(alive(w) for w in workers), timeout=30)
        finally:
            if running.poll() is None:
                running.kill()
        again = backfill(org, "--workers", "1")
        assert again.returncode == 0, again.stderr
        seen = snapshot(org)
    assert not doubles(seen)
    # Nothing missed, nothing twice, as one process left it: a masked copy made just before the kill is
    # recovered from its pairing fields as the mask (R-PRIV-1 with R-PAIR-1), not merged over its original.
    same_as(seen, reference)


def test_r_multi_1_an_outside_meeting_two_workers_sync_at_once_is_one_event(
    provider: str, tmp_path: Path
) -> None:
    """Meetings from an outside organizer accepted by two enrolled people whose shares are in different
    workers (users 1-3 and 4-6 with two workers): one event each. The passes' claims on the meetings are
    taken in the store both workers share (`bridge.runtime.meeting_claims`); with claims per worker each
    recipient made an event."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=9)
    subjects = [f"Workers: partner call {n}" for n in range(3)]
    with seeded_org(tmp_path, provider) as org:
        for n, subject in enumerate(subjects):
            first, second = org.users[n]["email"], org.users[n + 3]["email"]
            when = start + timedelta(hours=2 * n)
            org.sandbox.exchange.deliver_external_meeting(
                [first, second], steps.OUTSIDE, subject, when, when + timedelta(hours=1)
            )
            for address in (first, second):
                found, _ = wait_until(
                    lambda a=address, s=subject: Outlook(org.endpoints, a).find(s), timeout=30
                )
                found[0].accept()
        done = backfill(org, "--workers", "2")
        assert done.returncode == 0, done.stderr
        made = {
            s: org.desk.query("SELECT Id FROM Event WHERE Subject = {} AND IsChild = false", s)
            for s in subjects
        }
    assert {s: len(events) for s, events in made.items()} == dict.fromkeys(subjects, 1)
