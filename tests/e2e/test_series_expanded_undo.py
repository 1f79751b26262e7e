"""`calbridge undo` over a Lightning series expanded into single Outlook items (issue 9, R-REC-6): the bridge
wrote the items under a policy the admin did not want; with the user in observe mode, undo deletes every
item the bridge made and leaves the Lightning series (the person's) as it is. The series repeats on days
of the month a few days apart, at 16:00 UTC (the same date in the owner's zone)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime

from bridge.sandbox.people import wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
BRIDGE_SETTINGS = "[policy]\nobserve = false\n"
QUIET_S = 2.0  # long enough for a wrong write to show, when proving that none comes
WAIT_S = 30


def _observe(world: World, on: bool) -> None:
    config = world.bridge.config
    text = config.read_text()
    config.write_text(text.replace(f"observe = {str(not on).lower()}", f"observe = {str(on).lower()}"))
    world.restart()


def test_undo_deletes_the_outlook_items_an_expanded_lightning_series_was_given(world: World) -> None:
    _, email = world.user(0)
    outlook = world.outlook(0)
    subject = "Undo story: Fennel Lines reviews"
    since = datetime.now(UTC)
    offsets = (7, 12, 17)
    steps.book_monthly(world, subject, offsets)
    wait_until(lambda: len(outlook.find(subject)) == len(offsets) or None, timeout=WAIT_S)
    rows = steps.rows(world, subject)

    _observe(world, on=True)
    answer = subprocess.run(
        [sys.executable, "-m", "bridge", "undo", "--user", email, "--since", since.isoformat(), "--config",
         str(world.bridge.config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert answer.stdout.count("which the bridge created") == len(offsets), answer.stdout
    wait_until(lambda: outlook.find(subject) == [] or None, timeout=WAIT_S)
    time.sleep(QUIET_S)  # observing: nothing is written back
    assert outlook.find(subject) == []
    assert [r["Id"] for r in steps.rows(world, subject)] == [r["Id"] for r in rows]
