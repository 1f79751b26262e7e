"""Recurring series both ways (SPEC §15): what a sales person sees when they book, change one occurrence of
or delete one occurrence of a weekly meeting, in Outlook or in Salesforce.

Series start a week or more ahead, inside the window, in the person's own zone (Europe/Madrid, as the
seeded Salesforce users): a Lightning series follows its owner's zone, an Outlook series its start's.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib.errors import ErrorCalendarOccurrenceIsDeletedFromRecurrence
from exchangelib.recurrence import NumberedPattern, Recurrence

from bridge.sandbox.people import book_series, iso, occurrences, wait_until
from bridge.sandbox.salesforce.series import change_pattern

from . import series_steps as steps
from .conftest import World
from .test_timing_and_restart import change_events_lost

ZONE = "Europe/Madrid"
WEEKS = 4
PROVIDERS = ("ews", "graph")


def test_r_rec_1_3_4_an_outlook_series_is_one_lightning_series_and_its_occurrences_follow(
    world: World,
) -> None:
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 0)
    subject = "Weekly pipeline review: Harbor Mills"
    master = book_series(outlook, subject, start, end, steps.weekly(start), ZONE)

    # R-REC-1: one Lightning series in Salesforce, a row per occurrence, at the same times.
    rows, _ = wait_until(lambda: (r := steps.rows(world, subject)) and len(r) == WEEKS and r, timeout=20)
    assert all(r["IsRecurrence2"] for r in rows)
    assert len({r["ActivityRecurrence2Id"] for r in rows}) == 1
    starts = [start + timedelta(weeks=n) for n in range(WEEKS)]
    assert [r["StartDateTime"][:16] for r in rows] == [iso(s)[:16] for s in starts]

    # R-REC-3: the second occurrence moved to other words in Outlook; only that one changes in Salesforce.
    second = occurrences(outlook, master, start, start + timedelta(weeks=WEEKS))[1]
    outlook.change(second, subject="Pipeline review (customer joins)")
    moved, _ = wait_until(lambda: steps.rows(world, "Pipeline review (customer joins)"), timeout=20)
    assert [r["StartDateTime"][:16] for r in moved] == [iso(starts[1])[:16]]
    # A future occurrence cannot be an exception inside a Lightning series through the API: it was split
    # out as a single event (I-OCCURRENCE-SPLIT), and the series keeps its other occurrences.
    assert not moved[0]["IsRecurrence2"]
    left = steps.rows(world, subject)
    assert [r["StartDateTime"][:16] for r in left] == [iso(s)[:16] for s in (starts[0], *starts[2:])]

    # R-REC-4: the third occurrence deleted in Outlook is deleted in Salesforce, and nothing else.
    third = occurrences(outlook, master, start, start + timedelta(weeks=WEEKS))[2]
    outlook.delete(third)
    wait_until(lambda: len(steps.rows(world, subject)) == WEEKS - 2 or None, timeout=20)
    kept = [r["StartDateTime"][:16] for r in steps.rows(world, subject)]
    assert kept == [iso(starts[0])[:16], iso(starts[3])[:16]]

    # R-REC-3: the split occurrence stays paired: its single event moved to another room in Salesforce
    # changes that occurrence in Outlook (which kept it through the deletion above), and only it.
    world.desk.update_event(moved[0]["Id"], Location="Room 4")

    def outlook_rooms() -> list[str] | None:
        seen = occurrences(outlook, master, start, start + timedelta(weeks=WEEKS))
        rooms = [str(o.location or "") for o in seen]
        return rooms if "Room 4" in rooms else None

    rooms, _ = wait_until(outlook_rooms, timeout=20)
    assert rooms == ["", "Room 4", ""]

    # Each of those writes is journaled under the series (issue 9): an admin's audit and undo see them.
    expected = [
        ("series_create", "salesforce"),
        ("update", "exchange"),  # the Outlook series' category (R-CAT-1)
        ("occurrence_split", "salesforce"),
        ("occurrence_delete", "salesforce"),
        ("occurrence_update", "exchange"),
    ]
    key = f"series:ex:{world.stored_id(master.id)}"
    journaled, _ = wait_until(lambda: (j := _journaled(world, key))[len(expected) - 1 :] and j)
    assert [(action, side) for action, side, _ in journaled] == expected
    split = next(entry for action, _, entry in journaled if action == "occurrence_split")
    assert split["after"]["fields"]["Subject"] == "Pipeline review (customer joins)"


def test_r_rec_1_a_lightning_series_is_one_outlook_series(
    world: World,
) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 1)
    subject = "Weekly onboarding: Larch Freight"
    world.desk.create_event(owner, subject, start, end, Recurrence2PatternText=steps.rule(start))

    def master() -> Any:
        found = [i for i in outlook.find(subject) if i.type == "RecurringMaster"]
        return found[0] if found else None

    writes_before = _exchange_writes(world)
    # R-REC-1: one recurring master in Outlook, never a single item per row.
    item, _ = wait_until(master, timeout=20)
    seen = occurrences(outlook, item, start - timedelta(hours=1), start + timedelta(weeks=WEEKS))
    assert [datetime.fromtimestamp(o.start.timestamp(), UTC) for o in seen] == [
        start + timedelta(weeks=n) for n in range(WEEKS)
    ]
    assert [i.type for i in outlook.find(subject)] == ["RecurringMaster"]
    # The operator sees it as any other write: a log line naming the series, and the write counted (both
    # once the plan committed, a moment after Outlook shows the series).
    stored = world.stored_id(item.id)  # Graph's immutable id under provider graph
    wait_until(lambda: _logged(world, "series_written", exchange_id=stored, direction="to_exchange"))
    wait_until(lambda: _exchange_writes(world) > writes_before)

    # R-REC-7: a row edited in Salesforce changes the whole series there (API 58.0), and in Outlook the
    # series' master, not one occurrence.
    renamed = "Weekly onboarding: Larch Freight (new team)"
    world.desk.update_event(steps.rows(world, subject)[2]["Id"], Subject=renamed)
    master_renamed, _ = wait_until(
        lambda: [i for i in outlook.find(renamed) if i.type == "RecurringMaster"], timeout=20
    )
    assert len(master_renamed) == 1 and not outlook.find(subject)
    seen = occurrences(outlook, master_renamed[0], start - timedelta(hours=1), start + timedelta(weeks=WEEKS))
    assert [o.subject for o in seen] == [renamed] * WEEKS


def test_r_rec_4_a_lightning_row_deleted_is_deleted_from_the_outlook_series(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 2)
    subject = "Weekly handover: Larch Freight"
    world.desk.create_event(owner, subject, start, end, Recurrence2PatternText=steps.rule(start))

    def master() -> Any:
        found = [i for i in outlook.find(subject) if i.type == "RecurringMaster"]
        return found[0] if found else None

    item, _ = wait_until(master, timeout=20)
    rows = steps.rows(world, subject)
    world.desk.delete_event(rows[1]["Id"])

    def gone() -> list[datetime] | None:
        try:
            left = occurrences(outlook, item, start - timedelta(hours=1), start + timedelta(weeks=WEEKS))
        except ErrorCalendarOccurrenceIsDeletedFromRecurrence:
            return None  # deleted between the view and its read: look again
        starts = [datetime.fromtimestamp(o.start.timestamp(), UTC) for o in left]
        return starts if len(starts) == WEEKS - 1 else None

    starts, _ = wait_until(gone, timeout=20)
    assert start + timedelta(weeks=1) not in starts


def _journaled(world: World, key: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The bridge's journal entries of `key`, oldest first: (action, side, entry), read from its store."""
    path = world.root / "bridge" / "calbridge.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        rows = db.execute(
            "SELECT action, side, entry FROM journal WHERE pair_key = ? ORDER BY id", (key,)
        ).fetchall()
    return [(action, side, json.loads(entry)) for action, side, entry in rows]


def _logged(world: World, event: str, **fields: str) -> list[dict[str, Any]] | None:
    """The bridge's log entries of `event` with `fields`, when there are any."""
    entries = [json.loads(line) for line in world.bridge.tail(2000).splitlines() if event in line]
    found = [e for e in entries if e.get("event") == event and all(e.get(k) == v for k, v in fields.items())]
    return found or None


def _exchange_writes(world: World) -> float:
    pattern = re.compile(r'^calbridge_writes_total\{side="exchange"\} ([0-9.e+]+)$', re.M)
    match = pattern.search(world.bridge.metrics())
    return float(match.group(1)) if match else 0.0


def test_r_rec_1_4_sync_now_brings_a_lightning_series_and_a_deletion_whose_change_events_were_lost(
    world: World,
) -> None:
    owner, address = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 3)
    subject = "Weekly account planning: Quarry Bank"
    with change_events_lost(world):
        world.desk.create_event(owner, subject, start, end, Recurrence2PatternText=steps.rule(start))
    # No change event will bring it, a window read will: sync now here, or any pass that reads the window
    # first (for another record's sake), so Outlook is not checked for its absence before.
    steps.sync_now(world, address)

    # R-REC-1 from a window reconcile: one master, no single item per row, nothing skipped.
    (item,), _ = wait_until(lambda: outlook.find(subject), timeout=20)
    assert item.type == "RecurringMaster"
    with change_events_lost(world):
        world.desk.delete_event(steps.rows(world, subject)[2]["Id"])
    steps.sync_now(world, address)

    def starts() -> list[datetime] | None:
        left = occurrences(outlook, item, start - timedelta(hours=1), start + timedelta(weeks=WEEKS))
        found = [datetime.fromtimestamp(o.start.timestamp(), UTC) for o in left]
        return found if len(found) == WEEKS - 1 else None

    found, _ = wait_until(starts, timeout=20)
    assert found == [start + timedelta(weeks=n) for n in (0, 1, 3)]
    assert [i.type for i in outlook.find(subject)] == ["RecurringMaster"]
    # The rows and occurrences went the series road: none was skipped as a series "not synced yet", nor
    # taken for a duplicate of another.
    with urllib.request.urlopen(world.bridge.ops_url + "/issues", timeout=5) as answer:
        codes = {issue["code"] for issue in json.loads(answer.read())["issues"]}
    assert not codes & {"I-RECURRING", "E-DUPLICATE-KEY"}


def test_r_rec_4_5_an_outlook_series_ended_early_then_moved_to_another_day_follows_in_salesforce(
    world: World,
) -> None:
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 4)
    subject = "Weekly forecast call: Cedar Logistics"
    master = book_series(outlook, subject, start, end, steps.weekly(start), ZONE)
    wait_until(lambda: len(steps.rows(world, subject)) == WEEKS or None, timeout=20)

    # R-REC-4: the series ends after its second occurrence in Outlook; Salesforce keeps only those two.
    local = start.astimezone(ZoneInfo(ZONE))
    shorter = Recurrence(
        pattern=steps.weekly(start).pattern, boundary=NumberedPattern(start=local.date(), number=2)
    )
    outlook.change(master, recurrence=shorter)
    kept, _ = wait_until(lambda: (r := steps.rows(world, subject)) and len(r) == 2 and r, timeout=20)
    assert [r["StartDateTime"][:16] for r in kept] == [iso(start + timedelta(weeks=n))[:16] for n in (0, 1)]

    # R-REC-5: the series moves to the next day, an hour later; Salesforce holds one series on those days.
    moved = start + timedelta(days=1, hours=1)
    master = outlook.by_id(master.id)
    tz = ZoneInfo(ZONE)
    outlook.change(
        master,
        start=moved.astimezone(tz),
        end=(moved + timedelta(minutes=30)).astimezone(tz),
        recurrence=steps.weekly(moved),
    )
    expected = [iso(moved + timedelta(weeks=n))[:16] for n in range(WEEKS)]

    def rebuilt() -> list[str] | None:
        starts = [r["StartDateTime"][:16] for r in steps.rows(world, subject)]
        return starts if starts == expected else None

    wait_until(rebuilt, timeout=30)
    rows = steps.rows(world, subject)
    assert len({r["ActivityRecurrence2Id"] for r in rows}) == 1 and all(r["IsRecurrence2"] for r in rows)
    assert {r["Exchange_Item_Id__c"] for r in rows} == {world.stored_id(master.id)}


def test_r_rec_4_this_and_following_deleted_in_salesforce_ends_the_outlook_series(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 5)
    subject = "Weekly deal desk: Orchard Lane"
    world.desk.create_event(owner, subject, start, end, Recurrence2PatternText=steps.rule(start))

    def master() -> Any:
        found = [i for i in outlook.find(subject) if i.type == "RecurringMaster"]
        return found[0] if found else None

    item, _ = wait_until(master, timeout=20)
    third = steps.rows(world, subject)[2]["Id"]
    world.desk.sf.restful(f"sobjects/Event/{third}/fromThisEventOnwards", method="DELETE")

    def left() -> list[datetime] | None:
        seen = occurrences(outlook, item, start - timedelta(hours=1), start + timedelta(weeks=WEEKS))
        found = [datetime.fromtimestamp(o.start.timestamp(), UTC) for o in seen]
        return found if len(found) == 2 else None

    found, _ = wait_until(left, timeout=20)
    assert found == [start, start + timedelta(weeks=1)]
    assert [i.type for i in outlook.find(subject)] == ["RecurringMaster"]


def test_r_rec_7_an_outlook_series_deleted_deletes_its_lightning_series(world: World) -> None:
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 6)
    subject = "Weekly territory review: Birch Supply"
    master = book_series(outlook, subject, start, end, steps.weekly(start), ZONE)
    wait_until(lambda: len(steps.rows(world, subject)) == WEEKS or None, timeout=20)

    # R-DEL-2 for the series as one unit (kind A): every row goes, the pattern row with them.
    outlook.delete(master)
    wait_until(lambda: not steps.rows(world, subject) or None, timeout=20)
    # The pattern row goes too; Salesforce deletes a series' rows asynchronously: it may come a moment later.
    wait_until(lambda: world.desk.query("SELECT Id FROM Event WHERE Subject = {}", subject) == [], timeout=10)


def test_r_rec_5_a_pattern_changed_in_salesforce_is_one_change_of_the_outlook_series(world: World) -> None:
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 7)
    subject = "Weekly renewals call: Alder Marine"
    master = book_series(outlook, subject, start, end, steps.weekly(start), ZONE)
    rows, _ = wait_until(lambda: (r := steps.rows(world, subject)) and len(r) == WEEKS and r, timeout=20)
    # The Outlook series, synced now, carries the category (R-CAT-1), written just after the Salesforce rows.
    categories, _ = wait_until(lambda: outlook.by_id(master.id).categories, timeout=20)

    # A Lightning user makes it six weeks: Salesforce deletes every row and creates the series anew under
    # a new id, in one transaction. Outlook keeps its one series, extended; no second series appears.
    org = world.sandbox.salesforce.org
    change_pattern(org, owner, rows[0]["ActivityRecurrence2Id"], steps.rule(start, count=WEEKS + 2))

    def extended() -> list[datetime] | None:
        seen = occurrences(outlook, master, start - timedelta(hours=1), start + timedelta(weeks=WEEKS + 2))
        found = [datetime.fromtimestamp(o.start.timestamp(), UTC) for o in seen]
        return found if len(found) == WEEKS + 2 else None

    found, _ = wait_until(extended, timeout=20)
    assert found == [start + timedelta(weeks=n) for n in range(WEEKS + 2)]
    # The bridge took it for one change of the series (a log line naming both Salesforce ids), never for a
    # series deleted and another created.
    old_id = rows[0]["ActivityRecurrence2Id"]
    logged, _ = wait_until(lambda: _logged(world, "series_recreated", previous_id=old_id), timeout=20)
    assert logged[0]["series"] == f"series:ex:{world.stored_id(master.id)}"
    (item,) = outlook.find(subject)
    assert item.id == master.id and item.type == "RecurringMaster"
    assert outlook.by_id(master.id).categories == categories
    rows = steps.rows(world, subject)
    assert len(rows) == WEEKS + 2 and len({r["ActivityRecurrence2Id"] for r in rows}) == 1


def test_r_rec_1_2_a_series_keeps_its_dates_where_the_integration_users_day_is_another(world: World) -> None:
    # 06:00 UTC: early morning in Madrid, the evening before in Los Angeles, the bridge's integration user's
    # zone. A series follows its owner's zone in Salesforce: its rows stay on the person's days, both ways.
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = steps.first_start(world, 8, hour=6)
    subject = "Weekly early call: Juniper Ports"
    book_series(outlook, subject, start, end, steps.weekly(start), ZONE)
    expected = [iso(start + timedelta(weeks=n))[:16] for n in range(WEEKS)]
    rows, _ = wait_until(lambda: (r := steps.rows(world, subject)) and len(r) == WEEKS and r, timeout=20)
    assert [r["StartDateTime"][:16] for r in rows] == expected

    other = "Weekly early review: Juniper Ports"
    world.desk.create_event(owner, other, start, end, Recurrence2PatternText=steps.rule(start))

    def master() -> Any:
        found = [i for i in outlook.find(other) if i.type == "RecurringMaster"]
        return found[0] if found else None

    item, _ = wait_until(master, timeout=20)
    seen = occurrences(outlook, item, start - timedelta(hours=1), start + timedelta(weeks=WEEKS))
    assert [datetime.fromtimestamp(o.start.timestamp(), UTC) for o in seen] == [
        start + timedelta(weeks=n) for n in range(WEEKS)
    ]
