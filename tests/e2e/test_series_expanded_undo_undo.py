"""`calbridge undo --undo-undo` over a Lightning series expanded into single Outlook items (issue 9, R-REC-6):
an undo run by mistake deleted the items the bridge made; undoing that undo makes them again, and once the
bridge writes again they are the series' items as before: none made twice, none deleted, a row's change
reaching its item. The series' stored state is put back as it was before the first undo (the items under
their new ids), so the bridge does not have to find them again by their pairing fields.

The series repeats on days of the month a few days apart, at 16:00 UTC (the same date in the owner's zone).
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.sandbox.people import wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
BRIDGE_SETTINGS = "[policy]\nobserve = false\n"
SYNC = "Salesforce"
QUIET_S = 2.0  # long enough for a wrong write to show, when proving that none comes
WAIT_S = 30


def _observe(world: World, on: bool) -> None:
    config = world.bridge.config
    text = config.read_text()
    config.write_text(text.replace(f"observe = {str(not on).lower()}", f"observe = {str(on).lower()}"))
    world.restart()


def _undo(world: World, email: str, since: datetime, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "undo", "--user", email, "--since", since.isoformat(), *more,
         "--config", str(world.bridge.config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip


def _items(world: World, subject: str) -> list[Any]:
    return sorted(world.outlook(0).find(subject), key=lambda i: i.start)


@pytest.mark.timeout(300)  # two restarts, two undo runs and a sync-now
def test_undo_of_the_undo_gives_an_expanded_series_its_items_back_paired(world: World) -> None:
    _, email = world.user(0)
    outlook = world.outlook(0)
    subject = "Undo story: Gorse Freight reviews (undone by mistake)"
    since = datetime.now(UTC)
    offsets = (9, 14, 19)
    steps.book_monthly(world, subject, offsets)
    wait_until(lambda: len(outlook.find(subject)) == len(offsets) or None, timeout=WAIT_S)
    rows = [r["Id"] for r in steps.rows(world, subject)]

    _observe(world, on=True)
    undo_at = datetime.now(UTC)
    first = _undo(world, email, since)
    assert first.returncode == 0, first.stdout + first.stderr
    wait_until(lambda: outlook.find(subject) == [] or None, timeout=WAIT_S)
    back = _undo(world, email, undo_at, "--undo-undo")
    assert back.returncode == 0, back.stdout + back.stderr
    assert back.stdout.count("re-created Exchange item") == len(offsets), back.stdout
    again, _ = wait_until(
        lambda: (f := _items(world, subject)) and len(f) == len(offsets) and f, timeout=WAIT_S
    )
    made = [i.id for i in again]

    _observe(world, on=False)  # the bridge writes again
    steps.sync_now(world, email)
    time.sleep(QUIET_S)
    items = _items(world, subject)
    assert [i.id for i in items] == made, "the items undo made again are the series' items: none made twice"
    assert all(SYNC in (i.categories or []) for i in items)
    assert [r["Id"] for r in steps.rows(world, subject)] == rows
    # Paired as before (R-REC-6): a row's change in Salesforce reaches the items (a future row's edit
    # changes the whole Lightning series).
    world.desk.update_event(rows[-1], Location="Gorse yard, gate 2")
    wait_until(
        lambda: all((i.location or "") == "Gorse yard, gate 2" for i in _items(world, subject)) or None,
        timeout=WAIT_S,
    )
    assert [i.id for i in _items(world, subject)] == made
