"""A Lightning series whose pattern Exchange cannot hold (several days of the month), expanded into single
Outlook items, one per occurrence (R-REC-6), through its later life: rows and items edited and deleted on
either side, the pattern changed in Salesforce, the whole series deleted (R-REC-2/3/4/5/7).

Each series repeats on days of the month that are a few days apart, starting 16:00 UTC (the same date in
the owner's zone, Europe/Madrid). The rows Salesforce materialises are the truth the items are held to.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import Outlook, wait_until
from bridge.sandbox.salesforce.series import change_pattern

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
SYNC = "Salesforce"
QUIET_S = 2.0  # long enough for a wrong write to show, when proving that none comes
WAIT_S = 30


def _at(item: Any) -> datetime:
    return datetime.fromtimestamp(item.start.timestamp(), UTC)


def _items(outlook: Outlook, subject: str) -> dict[datetime, Any]:
    return {_at(i): i for i in outlook.find(subject)}


def _expanded(world: World, outlook: Outlook, subject: str, count: int) -> dict[datetime, Any]:
    """The single items of the series once the bridge made them: one per row, at its start."""
    items, _ = wait_until(lambda: (f := _items(outlook, subject)) and len(f) == count and f, timeout=WAIT_S)
    assert sorted(items) == [steps.start_of(r) for r in steps.rows(world, subject)]
    assert {i.type for i in items.values()} == {"Single"}
    return items


def test_r_rec_6_a_row_changed_or_deleted_in_salesforce_reaches_only_its_outlook_item(world: World) -> None:
    outlook = world.outlook(0)
    subject = "Billing check: Heron Freight"
    past, ahead, later = steps.book_monthly(world, subject, (-2, 5, 12))
    items = _expanded(world, outlook, subject, 3)

    # A past row edited: Salesforce keeps it as an exception, and only its item changes (R-REC-3).
    world.desk.update_event(past["Id"], Location="Back office")
    wait_until(
        lambda: str(outlook.by_id(items[steps.start_of(past)].id).location or "") == "Back office" or None,
        timeout=WAIT_S,
    )
    assert [str(outlook.by_id(items[steps.start_of(r)].id).location or "") for r in (ahead, later)] == [
        "",
        "",
    ]

    # A future row deleted: its item goes, the others stay (R-REC-4).
    world.desk.delete_event(ahead["Id"])
    wait_until(lambda: outlook.by_id(items[steps.start_of(ahead)].id) is None or None, timeout=WAIT_S)

    # A future row edited changes the series in Salesforce (API 58.0): its plain rows, whose items follow;
    # the exception keeps its own room.
    world.desk.update_event(later["Id"], Location="Dock 4")
    wait_until(
        lambda: str(outlook.by_id(items[steps.start_of(later)].id).location or "") == "Dock 4" or None,
        timeout=WAIT_S,
    )
    time.sleep(QUIET_S)
    left = _items(outlook, subject)
    assert sorted(left) == [steps.start_of(past), steps.start_of(later)]
    assert [str(left[steps.start_of(r)].location or "") for r in (past, later)] == ["Back office", "Dock 4"]
    assert [r["Id"] for r in steps.rows(world, subject)] == [past["Id"], later["Id"]]


def test_r_rec_6_an_outlook_item_changed_or_deleted_reaches_only_its_row(world: World) -> None:
    outlook = world.outlook(0)
    subject = "Billing check: Quill Marine"
    past, ahead, later = steps.book_monthly(world, subject, (-3, 6, 13))
    items = _expanded(world, outlook, subject, 3)

    # The past occurrence's item edited in Outlook: its row takes the change as an exception, the same
    # row, still in the series (R-REC-3); the other rows keep theirs.
    outlook.change(items[steps.start_of(past)], location="Quay office")
    wait_until(
        lambda: (
            [r["Id"] for r in steps.rows(world, subject) if r["Location"] == "Quay office"] == [past["Id"]]
            or None
        ),
        timeout=WAIT_S,
    )
    rows = {r["Id"]: r for r in steps.rows(world, subject)}
    assert rows[past["Id"]]["IsRecurrence2Exception"] and rows[past["Id"]]["IsRecurrence2"]
    assert [rows[r["Id"]]["Location"] for r in (ahead, later)] == [None, None]

    # A later occurrence's item deleted in Outlook: its row goes (R-REC-4).
    outlook.delete(items[steps.start_of(later)])
    wait_until(
        lambda: [r["Id"] for r in steps.rows(world, subject)] == [past["Id"], ahead["Id"]] or None,
        timeout=WAIT_S,
    )
    time.sleep(QUIET_S)  # nothing more: no item comes back, none is added
    assert sorted(_items(outlook, subject)) == [steps.start_of(past), steps.start_of(ahead)]
    assert [r["Id"] for r in steps.rows(world, subject)] == [past["Id"], ahead["Id"]]


def test_r_rec_5_6_a_pattern_changed_in_salesforce_expands_again(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    subject = "Billing check: Rowan Shipping"
    rows = steps.book_monthly(world, subject, (9, 16, 23))
    items = _expanded(world, outlook, subject, 3)

    # A Lightning user moves the third day: Salesforce deletes the series and creates it anew. The items
    # of the days kept stay the same items; the dropped day's item goes, the new day's comes.
    days = ",".join(str(steps.day(o).day) for o in (9, 16, 27))
    change_pattern(
        world.sandbox.salesforce.org,
        owner,
        rows[0]["ActivityRecurrence2Id"],
        f"RRULE:FREQ=MONTHLY;BYMONTHDAY={days};COUNT=3",
    )
    wanted = [steps.day(9), steps.day(16), steps.day(27)]
    found, _ = wait_until(
        lambda: (f := _items(outlook, subject)) and sorted(f) == wanted and f, timeout=WAIT_S
    )
    assert [found[d].id for d in wanted[:2]] == [items[d].id for d in wanted[:2]]
    assert outlook.by_id(items[steps.day(23)].id) is None
    assert SYNC in (found[steps.day(27)].categories or [])
    time.sleep(QUIET_S)
    assert sorted(_items(outlook, subject)) == wanted
    assert [steps.start_of(r) for r in steps.rows(world, subject)] == wanted


def test_r_rec_7_an_expanded_series_deleted_in_salesforce_deletes_its_outlook_items(world: World) -> None:
    """Kind B (made in Salesforce, no invitees): R-DEL-5 deletes each item, as one unit."""
    outlook = world.outlook(0)
    subject = "Billing check: Sorrel Logistics"
    rows = steps.book_monthly(world, subject, (10, 17, 24))
    _expanded(world, outlook, subject, 3)

    world.desk.sf.restful(f"sobjects/Event/{rows[0]['Id']}/fromThisEventOnwards", method="DELETE")
    wait_until(lambda: outlook.find(subject) == [] or None, timeout=WAIT_S)
    time.sleep(QUIET_S)  # nothing comes back on either side (R-DEL-9)
    assert outlook.find(subject) == [] and steps.rows(world, subject) == []


def test_r_rec_5_6_a_lightning_series_given_a_pattern_exchange_cannot_hold_becomes_single_items(
    world: World,
) -> None:
    """Made in Salesforce, weekly: an Outlook series. A Lightning user makes it twice a month: the Outlook
    series goes and one item per occurrence takes its place."""
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    subject = "Billing check: Tamarind Ports"
    first = steps.day(11)
    day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[first.weekday()]
    world.desk.create_event(
        owner,
        subject,
        first,
        first + timedelta(minutes=30),
        Recurrence2PatternText=f"RRULE:FREQ=WEEKLY;BYDAY={day};INTERVAL=1;COUNT=3",
    )
    master, _ = wait_until(lambda: steps.master(outlook, subject), timeout=WAIT_S)
    rows = steps.rows(world, subject)

    days = ",".join(str(steps.day(o).day) for o in (11, 15))
    change_pattern(
        world.sandbox.salesforce.org,
        owner,
        rows[0]["ActivityRecurrence2Id"],
        f"RRULE:FREQ=MONTHLY;BYMONTHDAY={days};COUNT=2",
    )
    wanted = [steps.day(11), steps.day(15)]
    wait_until(lambda: sorted(_items(outlook, subject)) == wanted or None, timeout=WAIT_S)
    assert outlook.by_id(master.id) is None
    time.sleep(QUIET_S)
    items = _items(outlook, subject)
    assert sorted(items) == wanted and {i.type for i in items.values()} == {"Single"}
    assert [steps.start_of(r) for r in steps.rows(world, subject)] == wanted


def test_r_rec_5_6_an_expanded_series_given_a_pattern_exchange_holds_becomes_one_outlook_series(
    world: World,
) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    subject = "Billing check: Umber Freight"
    rows = steps.book_monthly(world, subject, (12, 19))
    items = _expanded(world, outlook, subject, 2)

    first = steps.day(12)
    day = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[first.weekday()]
    change_pattern(
        world.sandbox.salesforce.org,
        owner,
        rows[0]["ActivityRecurrence2Id"],
        f"RRULE:FREQ=WEEKLY;BYDAY={day};INTERVAL=1;COUNT=3",
    )
    master, _ = wait_until(lambda: steps.master(outlook, subject), timeout=WAIT_S)
    wait_until(lambda: all(outlook.by_id(i.id) is None for i in items.values()) or None, timeout=WAIT_S)
    time.sleep(QUIET_S)
    assert [i.type for i in outlook.find(subject)] == ["RecurringMaster"]
    assert SYNC in (outlook.by_id(master.id).categories or [])
    assert len(steps.rows(world, subject)) == 3


def test_r_pair_1_an_expanded_series_survives_the_loss_of_the_store(world: World) -> None:
    """Last in this module: the bridge restarts with an empty store. Each item names its row, so the
    series is paired again and nothing is created twice."""
    outlook = world.outlook(0)
    subject = "Billing check: Vetch Ports"
    rows = steps.book_monthly(world, subject, (13, 20))
    items = _expanded(world, outlook, subject, 2)

    assert world.bridge.stop() == 0, world.bridge.tail()
    stored = list(world.bridge.config.parent.glob("calbridge.db*"))
    assert stored, "the bridge keeps its SQLite store beside its config"
    for leftover in stored:
        leftover.unlink()
    world.bridge = BridgeProcess(world.bridge.config, env=world.bridge.env).start()
    # Still paired: a row edited (past rows are none here, so the series) reaches the same items.
    world.desk.update_event(rows[0]["Id"], Location="Harbour desk")
    wait_until(
        lambda: (
            all(str(outlook.by_id(i.id).location or "") == "Harbour desk" for i in items.values()) or None
        ),
        timeout=WAIT_S,
    )
    time.sleep(QUIET_S)
    assert sorted(_items(outlook, subject)) == sorted(items)
    assert {i.id for i in outlook.find(subject)} == {i.id for i in items.values()}
