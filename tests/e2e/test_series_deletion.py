"""Whole recurring series deleted (SPEC §15 R-REC-7 with the R-DEL table): what a sales person sees when a
series goes on one side, with the occurrences the bridge split out of a Lightning series (R-REC-3), and
meetings series an outside or an enrolled colleague organises (kinds D and E).

Series are in the person's own zone (Europe/Madrid, as the seeded Salesforce users), at 16:00 UTC, a week
or more ahead. A `sync now` answers once the user's window reconcile ran, so what it would bring back shows
at once.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from bridge.sandbox.people import Outlook, book_series, occurrences, wait_until

from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
ZONE = "Europe/Madrid"
WEEKS = 4
TIMEOUT = 30


def _first_start(world: World, day_offset: int) -> tuple[datetime, datetime]:
    start, _ = world.slot()
    start = start.replace(hour=16) + timedelta(days=7 + day_offset)
    return start, start + timedelta(minutes=30)


def _events(world: World, subject: str) -> list[dict[str, Any]]:
    """Every Event with `subject` but a series' pattern row: series rows and single events alike."""
    return world.desk.query(
        "SELECT Id, Subject, StartDateTime, IsRecurrence2, ActivityRecurrence2Id FROM Event "
        "WHERE Subject = {} AND GroupEventType != '3' ORDER BY StartDateTime",
        subject,
    )


def _weekly(start: datetime) -> Recurrence:
    local = start.astimezone(ZoneInfo(ZONE))
    return Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[local.isoweekday()], first_day_of_week=1),
        boundary=NumberedPattern(start=local.date(), number=WEEKS),
    )


def _rule(start: datetime) -> str:
    day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[start.astimezone(ZoneInfo(ZONE)).weekday()]
    return f"RRULE:FREQ=WEEKLY;BYDAY={day};INTERVAL=1;COUNT={WEEKS}"


def _master(outlook: Outlook, subject: str) -> Any:
    found = [i for i in outlook.find(subject) if i.type == "RecurringMaster"]
    return found[0] if found else None


def _sync_now(world: World, address: str) -> None:
    """A window reconcile of the user, run to its end by the bridge before this returns (R-TIME-5)."""
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "sync-now", "--config", str(world.bridge.config), address],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr


def _split_second(world: World, outlook: Outlook, master: Any, start: datetime, subject: str) -> str:
    """The second occurrence renamed in Outlook: Salesforce cannot hold a future exception, so the bridge
    splits it out of the Lightning series as a single event (R-REC-3). Its id."""
    second = occurrences(outlook, master, start, start + timedelta(weeks=WEEKS))[1]
    outlook.change(second, subject=subject)
    (split,), _ = wait_until(lambda: _events(world, subject) or None, timeout=TIMEOUT)
    assert not split["IsRecurrence2"]
    return str(split["Id"])


# ------------------------------------------------------------------------ R-REC-7 with a split occurrence


def test_r_rec_7_a_lightning_series_deleted_with_a_split_occurrence_stays_deleted(world: World) -> None:
    """Kind B (a series made in Salesforce) under R-DEL-5: the Outlook series goes, and the occurrence split
    out of the Lightning series goes with it: no single item comes back in Outlook at the next reconcile."""
    owner, address = world.user(0)
    outlook = world.outlook(0)
    start, end = _first_start(world, 0)
    subject, moved = "Weekly demo slot: Cedar Logistics", "Demo slot (customer's board joins)"
    world.desk.create_event(owner, subject, start, end, Recurrence2PatternText=_rule(start))
    master, _ = wait_until(lambda: _master(outlook, subject), timeout=TIMEOUT)
    _split_second(world, outlook, master, start, moved)

    first = _events(world, subject)[0]["Id"]  # the whole series, as a Lightning user deletes it
    world.desk.sf.restful(f"sobjects/Event/{first}/fromThisEventOnwards", method="DELETE")
    wait_until(lambda: outlook.by_id(master.id) is None or None, timeout=TIMEOUT)
    wait_until(lambda: not _events(world, moved) or None, timeout=TIMEOUT)

    _sync_now(world, address)
    assert outlook.find(subject) == [] and outlook.find(moved) == []
    assert _events(world, subject) == [] and _events(world, moved) == []


def test_r_rec_7_an_outlook_series_deleted_with_a_split_occurrence_deletes_every_event(world: World) -> None:
    """Kind A (a series made in Outlook) under R-DEL-2: the Lightning series and the single event of its
    split occurrence are deleted; nothing comes back in Salesforce or Outlook at the next reconcile."""
    _, address = world.user(0)
    outlook = world.outlook(0)
    start, end = _first_start(world, 1)
    subject, moved = "Weekly pricing review: Cedar Logistics", "Pricing review (finance joins)"
    master = book_series(outlook, subject, start, end, _weekly(start), ZONE)
    wait_until(lambda: len(_events(world, subject)) == WEEKS or None, timeout=TIMEOUT)
    _split_second(world, outlook, master, start, moved)

    outlook.delete(outlook.by_id(master.id))
    wait_until(lambda: not _events(world, subject) or None, timeout=TIMEOUT)
    wait_until(lambda: not _events(world, moved) or None, timeout=TIMEOUT)

    _sync_now(world, address)
    assert _events(world, subject) == [] and _events(world, moved) == []
    assert outlook.find(subject) == [] and outlook.find(moved) == []


# ------------------------------------------------------------------ R-REC-7 across a restart (R-TIME-2)


def test_r_rec_7_an_outlook_series_deleted_after_a_restart_deletes_its_lightning_series_at_once(
    world: World,
) -> None:
    """R-TIME-2 with R-REC-7: the bridge restarted after the series synced; the Outlook series deleted then
    still deletes the Lightning series as the deletion arrives, not at the next periodic reconcile (hours
    away). Graph reports a series deleted whole only as its occurrences removed, and the bridge knows
    their series from what it stored, not from what it saw before the restart."""
    outlook = world.outlook(0)
    start, end = _first_start(world, 2)
    subject = "Weekly claims review: Cedar Logistics"
    master = book_series(outlook, subject, start, end, _weekly(start), ZONE)
    wait_until(lambda: len(_events(world, subject)) == WEEKS or None, timeout=TIMEOUT)
    wait_until(lambda: "Salesforce" in (outlook.by_id(master.id).categories or []) or None, timeout=TIMEOUT)
    # A later booking synced: the bridge has read every change before it (the category's echo included),
    # so nothing after the restart shows it the series' occurrences again.
    later = "Claims desk handover: Cedar Logistics"
    outlook.book(later, start - timedelta(hours=3), start - timedelta(hours=2))
    wait_until(lambda: _events(world, later) or None, timeout=TIMEOUT)

    world.restart()
    outlook.delete(outlook.by_id(master.id))
    wait_until(lambda: not _events(world, subject) or None, timeout=60)
