"""The bridge with the real adapters and the SQLite store against the sandboxes, changes made by people
through the real clients (simple-salesforce, exchangelib)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bridge.config import load_config
from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import BridgeSettings
from bridge.runtime.supervisor import Supervisor
from bridge.sandbox.people import Outlook, SalesforceDesk
from bridge.sandbox.runner import Sandbox, running_sandbox

T = TypeVar("T")
SETTINGS = BridgeSettings(flush_s=0.1, reconcile_every_s=0, actor=ActorSettings(idle_s=5))
pytestmark = pytest.mark.timeout(120)


async def eventually(probe: Callable[[], T | None], timeout: float = 20.0) -> tuple[T, float]:
    """Poll `probe` (run in a thread: the clients block) until it answers; the answer and the seconds."""
    started = time.monotonic()
    while True:
        found = await asyncio.to_thread(probe)
        if found:
            return found, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"nothing after {timeout:.0f} s")
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with running_sandbox(tmp_path_factory.mktemp("sandbox"), users=2) as running:
        yield running


@pytest.fixture
def config_file(sandbox: Sandbox, tmp_path: Path) -> Path:
    return sandbox.write_bridge_config(tmp_path / "bridge")


@pytest.fixture
async def supervisor(config_file: Path) -> AsyncIterator[Supervisor]:
    running = Supervisor(load_config(config_file), ops=False, settings=SETTINGS)
    await running.start()
    yield running
    await running.stop()


def in_an_hour(minutes: int = 0) -> tuple[datetime, datetime]:
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1, minutes=minutes)
    return start, start + timedelta(minutes=30)


def user(sandbox: Sandbox, index: int = 0) -> dict[str, Any]:
    return sandbox.users[index]


async def test_r_time_1_item_created_in_exchange_appears_in_salesforce(
    sandbox: Sandbox, supervisor: Supervisor
) -> None:
    ann = user(sandbox)
    outlook = await asyncio.to_thread(Outlook, sandbox.endpoints(), ann["email"])
    desk = await asyncio.to_thread(SalesforceDesk, sandbox.endpoints())
    start, end = in_an_hour()
    item = await asyncio.to_thread(outlook.book, "E2E from Exchange", start, end)
    events, seconds = await eventually(lambda: desk.events_of(ann["salesforce_user_id"], "E2E from Exchange"))
    assert len(events) == 1
    assert events[0]["Exchange_Item_Id__c"]
    assert seconds < 10, f"took {seconds:.1f} s"
    assert item.id


async def test_r_time_1_event_created_and_moved_in_salesforce_follows_in_exchange(
    sandbox: Sandbox, supervisor: Supervisor
) -> None:
    ann = user(sandbox)
    outlook = await asyncio.to_thread(Outlook, sandbox.endpoints(), ann["email"])
    desk = await asyncio.to_thread(SalesforceDesk, sandbox.endpoints())
    start, end = in_an_hour(60)
    event_id = await asyncio.to_thread(
        desk.create_event, ann["salesforce_user_id"], "E2E from SF", start, end
    )
    items, seconds = await eventually(lambda: outlook.find("E2E from SF"))
    assert len(items) == 1
    assert seconds < 10
    later = (start + timedelta(hours=2), end + timedelta(hours=2))
    await asyncio.to_thread(desk.move_event, event_id, *later)

    def moved() -> Any:
        found = outlook.find("E2E from SF")
        return found if found and found[0].start == later[0] else None

    moved_items, _ = await eventually(moved)
    assert len(moved_items) == 1


async def test_r_time_2_restart_resumes_with_nothing_lost_or_doubled(
    sandbox: Sandbox, config_file: Path
) -> None:
    ann = user(sandbox, 1)
    outlook = await asyncio.to_thread(Outlook, sandbox.endpoints(), ann["email"])
    desk = await asyncio.to_thread(SalesforceDesk, sandbox.endpoints())
    first = Supervisor(load_config(config_file), ops=False, settings=SETTINGS)
    await first.start()
    start, end = in_an_hour(180)
    await asyncio.to_thread(outlook.book, "E2E before restart", start, end)
    await eventually(lambda: desk.events_of(ann["salesforce_user_id"], "E2E before restart"))
    await first.stop()
    # while the bridge is down, one change on each side
    await asyncio.to_thread(
        outlook.book, "E2E while down (EX)", start + timedelta(hours=1), end + timedelta(hours=1)
    )
    await asyncio.to_thread(
        desk.create_event,
        ann["salesforce_user_id"],
        "E2E while down (SF)",
        start + timedelta(hours=2),
        end + timedelta(hours=2),
    )
    second = Supervisor(load_config(config_file), ops=False, settings=SETTINGS)
    await second.start()
    try:
        await eventually(lambda: desk.events_of(ann["salesforce_user_id"], "E2E while down (EX)"))
        await eventually(lambda: outlook.find("E2E while down (SF)"))
        assert second.bridge is not None
        await second.bridge.wait_idle()
        for subject in ("E2E before restart", "E2E while down (EX)", "E2E while down (SF)"):
            events = await asyncio.to_thread(desk.events_of, ann["salesforce_user_id"], subject)
            items = await asyncio.to_thread(outlook.find, subject)
            assert (len(events), len(items)) == (1, 1), subject
    finally:
        await second.stop()


def test_calbridge_run_stops_on_sigterm_with_exit_0_and_status_reads_the_store(config_file: Path) -> None:
    """`calbridge run --config FILE` serves until SIGTERM, finishes what is in flight and exits 0."""
    import subprocess
    import sys

    from bridge.sandbox.launch import BridgeProcess

    # Ready means every user's first sync is committed (/readyz); then SIGTERM.
    bridge = BridgeProcess(config_file).start()
    assert bridge.stop() == 0, bridge.tail()
    status = subprocess.run(
        [sys.executable, "-m", "bridge", "status", "--config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert "mailbox synced" in status.stdout
    issues = subprocess.run(
        [sys.executable, "-m", "bridge", "issues", "--config", str(config_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert issues.returncode == 0, issues.stderr
