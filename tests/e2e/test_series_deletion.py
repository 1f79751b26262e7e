"""Whole recurring series deleted (SPEC §15 R-REC-7 with the R-DEL table): what a sales person sees when a
series goes on one side, with the occurrences the bridge split out of a Lightning series (R-REC-3), across
a restart, and for meeting series an outside organizer (kind D) or an enrolled colleague (kind E) sends.

Series are in the person's own zone (Europe/Madrid, as the seeded Salesforce users), at 16:00 UTC, a week
or more ahead. A `sync now` answers once the user's window reconcile ran, so what it would bring back shows
at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bridge.sandbox.people import Outlook, book_series, occurrences, wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
ZONE = "Europe/Madrid"
WEEKS = 4
TIMEOUT = 30


def _split_second(world: World, outlook: Outlook, master: Any, start: datetime, subject: str) -> str:
    """The second occurrence renamed in Outlook: Salesforce cannot hold a future exception, so the bridge
    splits it out of the Lightning series as a single event (R-REC-3). Its id."""
    second = occurrences(outlook, master, start, start + timedelta(weeks=WEEKS))[1]
    outlook.change(second, subject=subject)
    (split,), _ = wait_until(lambda: steps.events(world, subject) or None, timeout=TIMEOUT)
    assert not split["IsRecurrence2"]
    return str(split["Id"])


# ------------------------------------------------------------------------ R-REC-7 with a split occurrence


def test_r_rec_7_a_lightning_series_deleted_with_a_split_occurrence_stays_deleted(world: World) -> None:
    """Kind B (a series made in Salesforce) under R-DEL-5: the Outlook series goes, and the occurrence split
    out of the Lightning series goes with it: no single item comes back in Outlook at the next reconcile."""
    owner, address = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 0)
    subject, moved = "Weekly demo slot: Cedar Logistics", "Demo slot (customer's board joins)"
    world.desk.create_event(owner, subject, start, end, Recurrence2PatternText=steps.rule(start))
    master, _ = wait_until(lambda: steps.master(outlook, subject), timeout=TIMEOUT)
    _split_second(world, outlook, master, start, moved)

    first = steps.events(world, subject)[0]["Id"]  # the whole series, as a Lightning user deletes it
    world.desk.sf.restful(f"sobjects/Event/{first}/fromThisEventOnwards", method="DELETE")
    wait_until(lambda: outlook.by_id(master.id) is None or None, timeout=TIMEOUT)
    wait_until(lambda: not steps.events(world, moved) or None, timeout=TIMEOUT)

    steps.sync_now(world, address)
    assert outlook.find(subject) == [] and outlook.find(moved) == []
    assert steps.events(world, subject) == [] and steps.events(world, moved) == []


def test_r_rec_7_an_outlook_series_deleted_with_a_split_occurrence_deletes_every_event(world: World) -> None:
    """Kind A (a series made in Outlook) under R-DEL-2: the Lightning series and the single event of its
    split occurrence are deleted; nothing comes back in Salesforce or Outlook at the next reconcile."""
    _, address = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 1)
    subject, moved = "Weekly pricing review: Cedar Logistics", "Pricing review (finance joins)"
    master = book_series(outlook, subject, start, end, steps.weekly(start), ZONE)
    wait_until(lambda: len(steps.events(world, subject)) == WEEKS or None, timeout=TIMEOUT)
    _split_second(world, outlook, master, start, moved)

    outlook.delete(outlook.by_id(master.id))
    wait_until(lambda: not steps.events(world, subject) or None, timeout=TIMEOUT)
    wait_until(lambda: not steps.events(world, moved) or None, timeout=TIMEOUT)

    steps.sync_now(world, address)
    assert steps.events(world, subject) == [] and steps.events(world, moved) == []
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
    start, end = steps.first_start(world, 2)
    subject = "Weekly claims review: Cedar Logistics"
    master = book_series(outlook, subject, start, end, steps.weekly(start), ZONE)
    wait_until(lambda: len(steps.events(world, subject)) == WEEKS or None, timeout=TIMEOUT)
    wait_until(lambda: "Salesforce" in (outlook.by_id(master.id).categories or []) or None, timeout=TIMEOUT)
    # A later booking synced: the bridge has read every change before it (the category's echo included),
    # so nothing after the restart shows it the series' occurrences again.
    later = "Claims desk handover: Cedar Logistics"
    outlook.book(later, start - timedelta(hours=3), start - timedelta(hours=2))
    wait_until(lambda: steps.events(world, later) or None, timeout=TIMEOUT)

    world.restart()
    outlook.delete(outlook.by_id(master.id))
    wait_until(lambda: not steps.events(world, subject) or None, timeout=60)


# ---------------------------------------------------------------- R-REC-7 with R-DEL kinds D and E (meetings)

OUTSIDE = "host@partner.example"
SYNC = "Salesforce"


def _outside_series(world: World, day_offset: int, subject: str) -> tuple[Any, datetime]:
    """Kind D: a weekly meeting an outside organizer sends to user 0, who accepts it; synced as a series."""
    _, address = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, day_offset)
    world.sandbox.exchange.deliver_external_meeting(
        [address], OUTSIDE, subject, start, end, time_zone=ZONE, recurrence=steps.sandbox_weekly(start)
    )
    master, _ = wait_until(lambda: steps.master(outlook, subject), timeout=TIMEOUT)
    master.accept()
    wait_until(lambda: len(steps.events(world, subject)) == WEEKS or None, timeout=TIMEOUT)
    wait_until(lambda: SYNC in steps.categories(outlook, master.id) or None, timeout=TIMEOUT)
    return outlook.by_id(master.id), start


def test_r_rec_7_del_2_kind_d_an_outside_organizers_series_deleted_in_outlook_deletes_its_lightning_series(
    world: World,
) -> None:
    outlook = world.outlook(0)
    subject = "Partner weekly: Larch Freight"
    master, _ = _outside_series(world, 3, subject)
    assert len({r["ActivityRecurrence2Id"] for r in steps.events(world, subject)}) == 1

    outlook.delete(master)  # R-DEL-2, kind D: the event (the whole Lightning series) is deleted
    wait_until(lambda: not steps.events(world, subject) or None, timeout=TIMEOUT)


def test_r_rec_7_del_5_kind_d_an_outside_organizers_series_deleted_in_salesforce_loses_its_category(
    world: World,
) -> None:
    _, address = world.user(0)
    outlook = world.outlook(0)
    subject = "Partner planning: Larch Freight"
    master, start = _outside_series(world, 4, subject)

    first = steps.events(world, subject)[0]["Id"]
    world.desk.sf.restful(f"sobjects/Event/{first}/fromThisEventOnwards", method="DELETE")
    # R-DEL-5, kind D: the Outlook series stays, every occurrence, without the `Salesforce` category.
    wait_until(lambda: SYNC not in steps.categories(outlook, master.id) or None, timeout=TIMEOUT)
    left = occurrences(outlook, outlook.by_id(master.id), start, start + timedelta(weeks=WEEKS))
    assert len(left) == WEEKS
    steps.sync_now(world, address)  # and it is never brought back to Salesforce (R-DEL-9)
    assert steps.events(world, subject) == []
    assert SYNC not in steps.categories(outlook, master.id)


def test_r_rec_7_del_2_kind_e_a_colleagues_series_deleted_from_the_attendees_outlook_stays_in_salesforce(
    world: World,
) -> None:
    """R-DEL-2, kind E: the attendee's own copy goes; the organizer's Lightning series stays whole (the
    attendee's relation is not written for a series: docs/behaviour.md), and so does the organizer's copy."""
    _, attendee = world.user(0)
    subject = "Weekly joint account review: Alder Marine"
    master, mine, start = steps.colleague_series(world, 5, subject)
    rows = [r["Id"] for r in steps.events(world, subject)]

    world.outlook(0).delete(mine)
    wait_until(lambda: steps.master(world.outlook(0), subject) is None or None, timeout=TIMEOUT)
    steps.sync_now(world, attendee)
    assert [r["Id"] for r in steps.events(world, subject)] == rows
    organizer = world.outlook(1)
    assert len(occurrences(organizer, master, start, start + timedelta(weeks=WEEKS))) == WEEKS


def test_r_rec_7_del_5_kind_e_a_colleagues_series_deleted_in_salesforce_leaves_both_outlook_copies(
    world: World,
) -> None:
    """R-DEL-5: the organizer's Lightning series deleted; the organizer's Outlook series (kind C for them)
    loses its `Salesforce` category, the attendee's copy (kind E) stays as it is, every occurrence of both
    stays, and no Lightning series comes back for either."""
    _, attendee = world.user(0)
    _, organizer_address = world.user(1)
    subject = "Weekly joint pricing review: Alder Marine"
    master, mine, start = steps.colleague_series(world, 6, subject)

    first = steps.events(world, subject)[0]["Id"]
    world.desk.sf.restful(f"sobjects/Event/{first}/fromThisEventOnwards", method="DELETE")
    organizer = world.outlook(1)
    wait_until(lambda: SYNC not in steps.categories(organizer, master.id) or None, timeout=TIMEOUT)
    steps.sync_now(world, attendee)
    steps.sync_now(world, organizer_address)
    assert steps.events(world, subject) == []
    span = (start, start + timedelta(weeks=WEEKS))
    assert len(occurrences(organizer, organizer.by_id(master.id), *span)) == WEEKS
    assert len(occurrences(world.outlook(0), world.outlook(0).by_id(mine.id), *span)) == WEEKS
