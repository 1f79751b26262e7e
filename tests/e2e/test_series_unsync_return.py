"""A series unsynced with `Salesforce Unsync` (R-DEL-3 for the series as one unit, R-REC-7) after the
unsync: the `Salesforce` category brings it back (R-DEL-9), whether the series was kept whole or expanded
into single items (R-REC-6); and an unsync whose writes fail part-way is finished by a later pass, never
read as a deletion made in Salesforce (nothing of the person's Outlook series is lost).

Series start a week or more ahead, in the person's own zone (Europe/Madrid, as the seeded Salesforce users).
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from bridge.sandbox.people import Outlook, book_series, iso, occurrences, wait_until

from . import series_steps as steps
from .conftest import World
from .helpers import fault

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
WEEKS = 3
SYNC, UNSYNC = "Salesforce", "Salesforce Unsync"
QUIET_S = 2.0  # long enough for a wrong write to show, when proving that none comes
WAIT_S = 30
RETRY_S = 90  # a pass that failed on a service away is retried with the actor's backoff


def _categories(outlook: Outlook, item_id: str) -> list[str]:
    found = outlook.by_id(item_id)
    assert found is not None, "the item stays in Outlook"
    return list(found.categories or [])


def _unsynced(world: World, outlook: Outlook, item_ids: list[str], subject: str) -> None:
    """Every row of the series gone, and every Outlook copy without the bridge's category."""
    wait_until(lambda: steps.rows(world, subject) == [] or None, timeout=RETRY_S)
    wait_until(lambda: all(SYNC not in _categories(outlook, i) for i in item_ids) or None, timeout=RETRY_S)


def test_r_del_9_an_unsynced_outlook_series_given_the_category_again_syncs_anew(world: World) -> None:
    """Kind A: the unsync deleted the Lightning series; the person takes `Salesforce Unsync` off and puts
    `Salesforce` on: a Lightning series is made for the Outlook series again, every occurrence a row."""
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 12)
    subject = "Unsync story: Hazel Freight weekly (back again)"
    master = book_series(outlook, subject, start, end, steps.weekly(start, WEEKS), steps.ZONE)
    wait_until(lambda: len(steps.rows(world, subject)) == WEEKS or None, timeout=WAIT_S)
    wait_until(lambda: SYNC in _categories(outlook, master.id) or None, timeout=WAIT_S)
    outlook.change(outlook.by_id(master.id), categories=[SYNC, UNSYNC])
    _unsynced(world, outlook, [master.id], subject)

    outlook.change(outlook.by_id(master.id), categories=["Customer", SYNC])
    back, _ = wait_until(lambda: (r := steps.rows(world, subject)) and len(r) == WEEKS and r, timeout=WAIT_S)
    assert {r["StartDateTime"][:16] for r in back} == {
        iso(start + timedelta(weeks=n))[:16] for n in range(WEEKS)
    }
    assert all(r["IsRecurrence2"] for r in back), "one Lightning series again (R-REC-1), not single events"
    time.sleep(QUIET_S)
    assert len(steps.rows(world, subject)) == WEEKS, "made once"
    assert sorted(_categories(outlook, master.id)) == ["Customer", SYNC]
    # Synced again both ways: the person's rename reaches every row.
    outlook.change(outlook.by_id(master.id), subject=subject + " (renamed)")
    wait_until(lambda: len(steps.rows(world, subject + " (renamed)")) == WEEKS or None, timeout=WAIT_S)


def test_r_del_9_an_unsynced_expanded_series_item_given_the_category_again_syncs_anew(world: World) -> None:
    """A Lightning series Outlook cannot hold, expanded into items (R-REC-6) and unsynced from one item: its
    Lightning series is deleted (kind B). The person puts `Salesforce` back on an item: that item syncs
    again, as an event of its own in Salesforce; the items left without the category stay unsynced."""
    outlook = world.outlook(0)
    subject = "Unsync story: Ivy Haulage reviews (back again)"
    offsets = (8, 13, 18)
    steps.book_monthly(world, subject, offsets)
    items, _ = wait_until(
        lambda: (f := outlook.find(subject)) and len(f) == len(offsets)
        and all(SYNC in (i.categories or []) for i in f) and f,
        timeout=WAIT_S,
    )  # fmt: skip
    ids = [i.id for i in items]
    outlook.change(outlook.by_id(ids[1]), categories=[SYNC, UNSYNC])
    _unsynced(world, outlook, ids, subject)

    outlook.change(outlook.by_id(ids[1]), categories=[SYNC])
    back, _ = wait_until(lambda: steps.events(world, subject) or None, timeout=WAIT_S)
    time.sleep(QUIET_S)
    back = steps.events(world, subject)
    assert len(back) == 1, back
    item = outlook.by_id(ids[1])
    assert steps.start_of(back[0]) == item.start, "the event is that item's"
    assert back[0]["Exchange_Item_Id__c"] == world.stored_id(ids[1])  # paired with it (R-PAIR-1)
    assert not back[0]["IsRecurrence2"]
    assert [SYNC in _categories(outlook, i) for i in ids] == [False, True, False]
    assert sorted(i.id for i in outlook.find(subject)) == sorted(ids)


def test_r_del_3_an_unsync_whose_outlook_write_fails_is_finished_by_a_later_pass(world: World) -> None:
    """Kind B (a Lightning series): the unsync deletes the Lightning series, then Exchange fails the write
    that takes the bridge's category off the Outlook series. The series is not ended half-way, nor read
    as deleted in Salesforce (R-DEL-5 would delete the Outlook series): once Exchange answers again the
    unsync is finished, and the Outlook series stays with every occurrence (R-DEL-3, R-DEL-9)."""
    owner, address = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 13)
    subject = "Unsync story: Juniper Lines onboarding (Exchange away)"
    world.desk.create_event(owner, subject, start, end, Recurrence2PatternText=steps.rule(start, WEEKS))
    master, _ = wait_until(lambda: steps.master(outlook, subject), timeout=WAIT_S)
    wait_until(lambda: SYNC in _categories(outlook, master.id) or None, timeout=WAIT_S)

    # Salesforce answers slowly, so that the fault on Exchange is in place before the bridge's write there.
    fault(world, "salesforce", {"fault": "latency", "seconds": 1.0})
    try:
        outlook.change(outlook.by_id(master.id), categories=[SYNC, UNSYNC])
        _fail_exchange_writes(world)
        wait_until(lambda: steps.rows(world, subject) == [] or None, timeout=WAIT_S)
    finally:
        fault(world, "salesforce", {"fault": "clear"})
    _unsynced(world, outlook, [master.id], subject)
    fault(world, world.exchange_side, {"fault": "clear"})

    steps.sync_now(world, address)  # a window reconcile: nothing comes back, nothing is deleted
    time.sleep(QUIET_S)
    assert steps.rows(world, subject) == []
    assert [m.id for m in outlook.find(subject) if m.type == "RecurringMaster"] == [master.id]
    assert sorted(_categories(outlook, master.id)) == [UNSYNC]
    span = (start, start + timedelta(weeks=WEEKS))
    assert len(occurrences(outlook, outlook.by_id(master.id), *span)) == WEEKS


def _fail_exchange_writes(world: World) -> None:
    """The bridge's next writes to Exchange fail with HTTP 503 (each fails the bridge's pass, which is retried
    after a backoff): under EWS its item updates only; Graph's fault takes every request of the bridge's for
    a while (its delta polls use some of them)."""
    if world.provider == "graph":
        body: dict[str, Any] = {"fault": "unavailable", "count": 40, "status": 503}
    else:
        body = {"fault": "unavailable", "count": 3, "operations": ["UpdateItem"]}
    fault(world, world.exchange_side, body)


def test_r_del_3_kind_e_an_attendee_who_unsyncs_a_colleagues_series_leaves_every_row(world: World) -> None:
    """Kind E: user 0's copy of a meeting series user 1 (enrolled) organizes. User 0 marks their copy
    `Salesforce Unsync`: they are no longer an invitee of any row; the organizer's Lightning series stays,
    and so do both Outlook series. Given `Salesforce` again, they are an invitee of every row again
    (R-DEL-9), still with no series of their own (R-MULTI-1)."""
    attendee_id, attendee = world.user(0)
    subject = "Weekly joint forecast: Larch Shipping"
    master, mine, start = steps.colleague_series(world, 14, subject)
    rows = [r["Id"] for r in steps.events(world, subject)]
    mine_outlook = world.outlook(0)
    mine_outlook.change(mine, categories=[*(mine.categories or []), UNSYNC])

    wait_until(lambda: not any(attendee_id in world.desk.invitees(r) for r in rows) or None, timeout=WAIT_S)
    steps.sync_now(world, attendee)
    time.sleep(QUIET_S)
    assert [r["Id"] for r in steps.events(world, subject)] == rows, "the organizer's series stays"
    assert not any(attendee_id in world.desk.invitees(r) for r in rows)
    organizer = world.outlook(1)
    assert SYNC in _categories(organizer, master.id)
    span = (start, start + timedelta(weeks=steps.WEEKS))
    assert len(occurrences(organizer, organizer.by_id(master.id), *span)) == steps.WEEKS
    assert len(occurrences(mine_outlook, mine_outlook.by_id(mine.id), *span)) == steps.WEEKS

    mine_outlook.change(mine_outlook.by_id(mine.id), categories=[SYNC])
    wait_until(lambda: all(attendee_id in world.desk.invitees(r) for r in rows) or None, timeout=WAIT_S)
    time.sleep(QUIET_S)
    assert [r["Id"] for r in steps.events(world, subject)] == rows, "no series of the attendee's own"
    # R-ATT-5: back with the answer on their copy (they accepted it), not as undecided.
    assert steps.statuses(world, rows, attendee_id) == ["Accepted"] * len(rows)

    # Back in, their copy deleted later takes them off every row again (R-DEL-2, kind E).
    mine_outlook.delete(mine_outlook.by_id(mine.id))
    wait_until(lambda: not any(attendee_id in world.desk.invitees(r) for r in rows) or None, timeout=WAIT_S)
    assert [r["Id"] for r in steps.events(world, subject)] == rows, "the organizer's series stays"


def test_r_del_2_kind_e_an_attendee_who_deletes_a_colleagues_series_leaves_every_row(world: World) -> None:
    """Kind E: user 0 deletes their copy of a meeting series user 1 (enrolled) organizes, rather than
    unsyncing it: they are no longer an invitee of any row (R-DEL-2: the user's attendee relation
    removed); the organizer's Lightning series and Outlook series stay whole, nothing is made for user 0."""
    attendee_id, attendee = world.user(0)
    subject = "Weekly joint forecast: Poplar Freight (copy deleted)"
    master, mine, start = steps.colleague_series(world, 18, subject)
    rows = [r["Id"] for r in steps.events(world, subject)]
    mine_outlook = world.outlook(0)

    mine_outlook.delete(mine_outlook.by_id(mine.id))
    wait_until(lambda: not any(attendee_id in world.desk.invitees(r) for r in rows) or None, timeout=WAIT_S)
    steps.sync_now(world, attendee)  # a window reconcile brings nothing back
    assert [r["Id"] for r in steps.events(world, subject)] == rows, "the organizer's series stays"
    assert not any(attendee_id in world.desk.invitees(r) for r in rows)
    organizer = world.outlook(1)
    assert SYNC in _categories(organizer, master.id)
    span = (start, start + timedelta(weeks=steps.WEEKS))
    assert len(occurrences(organizer, organizer.by_id(master.id), *span)) == steps.WEEKS


def test_r_del_9_a_follower_who_unsynced_an_outside_series_follows_it_again_with_the_category(
    world: World,
) -> None:
    """Kind D with R-MULTI: user 2 follows the series user 1 holds (an outside organizer's), unsyncs their
    copy (off every row), then gives it `Salesforce` again: an invitee of every row again, and a holder the
    series passes to when user 1 deletes theirs (R-MULTI-4), never a second series."""
    subject = "Follower story: Partner planning with Kestrel Ports (back again)"
    rows, masters = steps.shared_outside_series(world, subject, 16)
    second_id, _ = world.user(2)
    ids = [str(r["Id"]) for r in rows]
    follower = world.outlook(2)
    copy = follower.by_id(masters[2].id)
    follower.change(copy, categories=[*(copy.categories or []), UNSYNC])
    wait_until(lambda: not any(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)

    follower.change(follower.by_id(masters[2].id), categories=[SYNC])
    wait_until(lambda: all(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)
    time.sleep(QUIET_S)
    assert [r["Id"] for r in steps.events(world, subject)] == ids, "no series of the follower's own"

    world.outlook(1).delete(world.outlook(1).by_id(masters[1].id))
    passed, _ = wait_until(
        lambda: (r := steps.events(world, subject)) and {x["OwnerId"] for x in r} == {second_id} and r,
        timeout=WAIT_S,
    )
    assert [r["Id"] for r in passed] == ids  # passed on, not deleted


def test_r_del_9_r_multi_4_an_owner_who_unsynced_a_passed_on_series_is_its_invitee_again(
    world: World,
) -> None:
    """Kind D with R-MULTI-4: user 1 unsynced the outside organizer's series they owned, and it passed to
    user 2. User 1 then gives their copy `Salesforce` again (R-DEL-9): they are an invitee of every row
    again, with the answer on their copy (accepted, R-ATT-5), and no second Lightning series is made for the
    meeting (R-MULTI-1); the series stays user 2's, and passes back to user 1 when user 2 deletes theirs."""
    subject = "Unsync story: Partner review with Wren Terminals (back again)"
    rows, masters = steps.shared_outside_series(world, subject, 17)
    first_id, first_address = world.user(1)
    second_id, _ = world.user(2)
    ids = [str(r["Id"]) for r in rows]
    first = world.outlook(1)
    master = first.by_id(masters[1].id)
    first.change(master, categories=[*(master.categories or []), UNSYNC])
    wait_until(
        lambda: ((r := steps.events(world, subject)) and {x["OwnerId"] for x in r} == {second_id}) or None,
        timeout=WAIT_S,
    )
    wait_until(lambda: SYNC not in _categories(first, masters[1].id) or None, timeout=WAIT_S)
    assert not any(first_id in world.desk.invitees(i) for i in ids)

    first.change(first.by_id(masters[1].id), categories=[SYNC])
    accepted = ["Accepted"] * len(ids)
    wait_until(lambda: steps.statuses(world, ids, first_id) == accepted or None, timeout=WAIT_S)
    steps.sync_now(world, first_address)
    assert [r["Id"] for r in steps.events(world, subject)] == ids, "one Lightning series for the meeting"
    assert {r["OwnerId"] for r in steps.events(world, subject)} == {second_id}
    assert steps.statuses(world, ids, first_id) == accepted

    second = world.outlook(2)
    second.delete(second.by_id(masters[2].id))
    passed, _ = wait_until(
        lambda: (r := steps.events(world, subject)) and {x["OwnerId"] for x in r} == {first_id} and r,
        timeout=WAIT_S,
    )
    assert [r["Id"] for r in passed] == ids  # passed back, not deleted
