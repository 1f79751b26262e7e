"""`Salesforce Unsync` on the master of a series kept whole (R-DEL-3 for the series as one unit, R-REC-7):
the Lightning series goes where the R-DEL table says "event deleted" (kinds A and B here), every row with
it; the Outlook series stays without the bridge's category; nothing is synced again (R-DEL-9). An outside
organizer's series another enrolled recipient follows passes to them instead (kind D, R-MULTI-4).

Series start a week or more ahead, in the person's own zone (Europe/Madrid, as the seeded Salesforce users).
"""

from __future__ import annotations

import time
from typing import Any

from bridge.sandbox.people import Outlook, book_series, wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
ZONE = "Europe/Madrid"
WEEKS = 3
SYNC, UNSYNC = "Salesforce", "Salesforce Unsync"
QUIET_S = 2.0  # long enough for a wrong write to show, when proving that none comes
WAIT_S = 30


def _masters(outlook: Outlook, subject: str) -> list[Any]:
    return [i for i in outlook.find(subject) if i.type == "RecurringMaster"]


def _categories(outlook: Outlook, item_id: str) -> list[str]:
    found = outlook.by_id(item_id)
    assert found is not None, "the series stays in Outlook"
    return list(found.categories or [])


def _unsync(world: World, outlook: Outlook, master_id: str, subject: str) -> None:
    """The user sets `Salesforce Unsync` on the master; the whole Lightning series goes (kinds A and B:
    "event deleted"), and the master loses the bridge's category, keeping the user's request."""
    master = outlook.by_id(master_id)
    outlook.change(master, categories=[*(master.categories or []), UNSYNC])
    wait_until(lambda: steps.rows(world, subject) == [] or None, timeout=WAIT_S)
    wait_until(lambda: SYNC not in _categories(outlook, master_id) or None, timeout=WAIT_S)
    # The pattern row goes too (Salesforce deletes a series' rows asynchronously).
    wait_until(
        lambda: world.desk.query("SELECT Id FROM Event WHERE Subject = {}", subject) == [], timeout=WAIT_S
    )
    time.sleep(QUIET_S)  # nothing comes back on either side (R-DEL-9)
    assert steps.rows(world, subject) == []
    assert [m.id for m in _masters(outlook, subject)] == [master_id]
    assert SYNC not in _categories(outlook, master_id)
    assert UNSYNC in _categories(outlook, master_id)  # the user's request is theirs to take off


def test_r_del_3_unsync_on_an_outlook_series_deletes_its_lightning_series(world: World) -> None:
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 2)
    subject = "Unsync story: Elm Logistics weekly"
    master = book_series(outlook, subject, start, end, steps.weekly(start, WEEKS), ZONE)
    wait_until(lambda: len(steps.rows(world, subject)) == WEEKS or None, timeout=WAIT_S)
    wait_until(lambda: SYNC in _categories(outlook, master.id) or None, timeout=WAIT_S)

    _unsync(world, outlook, master.id, subject)  # kind A


def test_r_del_3_unsync_on_the_outlook_copy_of_a_lightning_series_deletes_the_series(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 3)
    subject = "Unsync story: Fir Transport onboarding"
    world.desk.create_event(owner, subject, start, end, Recurrence2PatternText=steps.rule(start, WEEKS))
    masters, _ = wait_until(lambda: _masters(outlook, subject), timeout=WAIT_S)
    assert len(masters) == 1 and len(steps.rows(world, subject)) == WEEKS

    _unsync(world, outlook, masters[0].id, subject)  # kind B


def test_r_del_3_r_multi_4_unsync_on_a_followed_outside_series_passes_it_on(world: World) -> None:
    """Kind D with R-MULTI-4: the owner of an outside organizer's series unsyncs it while another enrolled
    recipient still has their copy: the Lightning series stays, owned by the follower now (no longer one
    of its invitees); the owner's master stays in Outlook without the bridge's category."""
    subject = "Unsync story: Partner review with Spruce Terminals"
    rows, masters = steps.shared_outside_series(world, subject, 9)
    second_id, _ = world.user(2)
    first = world.outlook(1)
    master = first.by_id(masters[1].id)
    first.change(master, categories=[*(master.categories or []), UNSYNC])

    passed, _ = wait_until(
        lambda: (r := steps.events(world, subject)) and {x["OwnerId"] for x in r} == {second_id} and r,
        timeout=WAIT_S,
    )
    assert [r["Id"] for r in passed] == [r["Id"] for r in rows]  # the same series, not deleted
    wait_until(
        lambda: not any(second_id in world.desk.invitees(r["Id"]) for r in passed) or None, timeout=WAIT_S
    )
    wait_until(lambda: SYNC not in _categories(first, masters[1].id) or None, timeout=WAIT_S)
    time.sleep(QUIET_S)  # nothing comes back (R-DEL-9)
    assert [r["Id"] for r in steps.events(world, subject)] == [r["Id"] for r in rows]
    assert {r["OwnerId"] for r in steps.events(world, subject)} == {second_id}
    assert UNSYNC in _categories(first, masters[1].id)
