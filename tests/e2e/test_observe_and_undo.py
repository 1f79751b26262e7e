"""Safe roll-out (issue 9), end to end: a pilot user in observe mode (the bridge reads, plans and reports,
and writes nothing), writes turned on (what was only observed is written then), and `calbridge undo`
putting both sides back after the bridge wrote under a wrong policy, sparing what a person edited since;
undo's own writes journaled, so an undo run by mistake is undone in turn."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib.recurrence import NumberedPattern, Recurrence, WeeklyPattern

from bridge.sandbox.people import book_series, wait_until

from .conftest import World

BRIDGE_SETTINGS = "[policy]\nobserve = true\n"
PROOF_S = 2.0  # how long "nothing was written" is watched
SERIES = "Pilot: weekly forecast"
UNDONE: dict[str, Any] = {}  # what the undo test reverted, for the test that undoes that undo
PROVIDERS = ("ews", "graph")  # the story once per provider, in order, in a world of its own


def _calbridge(world: World, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args, "--config", str(world.bridge.config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _observe(world: World, on: bool) -> None:
    """The org's observe switch flipped in the config, and the bridge restarted to take it."""
    config = world.bridge.config
    text = config.read_text()
    config.write_text(text.replace(f"observe = {str(not on).lower()}", f"observe = {str(on).lower()}"))
    world.restart()


def _book_weekly(world: World, subject: str) -> Any:
    """Three weekly occurrences booked in Outlook, from a slot of the test's own, in Madrid."""
    start, end = world.slot()
    local = start.astimezone(ZoneInfo("Europe/Madrid"))
    weekly = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[local.isoweekday()], first_day_of_week=1),
        boundary=NumberedPattern(start=local.date(), number=3),
    )
    return book_series(world.outlook(0), subject, start, end, weekly, "Europe/Madrid")


def _series_rows(world: World) -> list[dict[str, Any]]:
    return world.desk.query(
        "SELECT Id, IsRecurrence2, ActivityRecurrence2Id FROM Event "
        "WHERE Subject = {} AND GroupEventType != '3'",
        SERIES,
    )


def _item_for(world: World, event_id: str) -> Any:
    outlook = world.outlook(0)

    def probe() -> Any:
        item_id = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return outlook.by_id(world.ews_id(item_id)) if item_id else None

    return wait_until(probe)[0]


def test_r_observe_1_an_observed_user_gets_a_report_of_planned_writes_and_nothing_is_written(
    world: World,
) -> None:
    owner, _ = world.user(0)
    start, end = world.slot()
    event_id = world.desk.create_event(owner, "Pilot: Ridgeway renewal", start, end)

    def reported() -> str | None:
        answer = _calbridge(world, "observe-report", "--sample", "100")
        return answer.stdout if "Pilot: Ridgeway renewal" in answer.stdout else None

    report = wait_until(reported, timeout=30)[0]
    assert "CreateItem" in report and "create an Exchange item 'Pilot: Ridgeway renewal'" in report
    # A weekly series booked in Outlook is planned and reported too (SPEC §15), and not written either.
    _book_weekly(world, SERIES)

    def series_reported() -> str | None:
        answer = _calbridge(world, "observe-report", "--sample", "100")
        return answer.stdout if f"create a salesforce series '{SERIES}'" in answer.stdout else None

    assert "CreateSeries" in wait_until(series_reported, timeout=30)[0]
    time.sleep(PROOF_S)
    assert world.outlook(0).find("Pilot: Ridgeway renewal") == []
    assert not (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
    assert _series_rows(world) == []


def test_r_observe_2_writes_turned_on_write_what_was_only_observed(world: World) -> None:
    _observe(world, on=False)
    event_id = world.desk.events_of(world.user(0)[0], "Pilot: Ridgeway renewal")[0]["Id"]
    item = _item_for(world, event_id)
    assert item.subject == "Pilot: Ridgeway renewal"


def test_r_observe_2_an_outlook_series_only_observed_is_written_once_writes_are_on(world: World) -> None:
    # Written by the window reconcile that turning writes on starts, from the plan observe mode reported.
    rows, _ = wait_until(lambda: (r := _series_rows(world)) and len(r) == 3 and r, timeout=20)
    assert all(r["IsRecurrence2"] for r in rows) and len({r["ActivityRecurrence2Id"] for r in rows}) == 1


def test_r_undo_1_undo_puts_both_sides_back_and_leaves_what_a_person_edited_since(world: World) -> None:
    owner, email = world.user(0)
    outlook = world.outlook(0)
    since = datetime.now(UTC)
    # Under a wrong policy the bridge writes: an event becomes an item, an item an event, an edit crosses.
    start, end = world.slot()
    made_here = world.desk.create_event(owner, "Wrong policy: Halden QBR", start, end)
    made_item = _item_for(world, made_here)
    start, end = world.slot()
    booked = outlook.book("Wrong policy: dentist", start, end)
    made_event = wait_until(lambda: world.desk.events_of(owner, "Wrong policy: dentist") or None)[0][0]
    event_id = world.desk.events_of(owner, "Pilot: Ridgeway renewal")[0]["Id"]
    paired = _item_for(world, event_id)
    world.desk.update_event(event_id, Location="Room 4")
    wait_until(lambda: ((i := outlook.by_id(paired.id)) is not None and i.location == "Room 4") or None)
    # A person then edits the item the bridge made from Salesforce: undo must leave it alone.
    outlook.change(outlook.by_id(made_item.id), subject="Halden QBR (kept by Ann)")
    time.sleep(1.0)

    refused = _calbridge(world, "undo", "--user", email, "--since", since.isoformat())
    assert refused.returncode == 2 and "observe mode" in refused.stderr
    _observe(world, on=True)
    undo_at = datetime.now(UTC)
    answer = _calbridge(world, "undo", "--user", email, "--since", since.isoformat())
    assert answer.returncode == 1, answer.stdout + answer.stderr  # something was left: the edited item
    assert "edited since by someone else" in answer.stdout
    # The event the bridge created from the Outlook item is gone; the item itself stays (a person's).
    assert world.desk.event(made_event["Id"]) is None
    assert outlook.by_id(booked.id) is not None
    # The location the bridge wrote into the item is back to what it was.
    assert (outlook.by_id(paired.id).location or "") == ""
    # The person's edit is untouched, and so is the event it came from.
    assert outlook.by_id(made_item.id).subject == "Halden QBR (kept by Ann)"
    assert world.desk.event(made_here) is not None
    UNDONE.update(undo_at=undo_at, made_here=made_here, made_item=made_item, booked=booked, paired=paired)


def test_r_undo_2_undoing_the_undo_puts_back_what_it_reverted(world: World) -> None:
    owner, email = world.user(0)
    outlook = world.outlook(0)
    assert UNDONE, "needs the undo of the test before"
    # The same undo again changes nothing: what it reverted is marked undone.
    again = _calbridge(world, "undo", "--user", email, "--since", UNDONE["undo_at"].isoformat())
    assert again.returncode == 0 and "0 writes undone" in again.stdout, again.stdout + again.stderr
    assert world.desk.events_of(owner, "Wrong policy: dentist") == []
    # Undo's writes were journaled: undoing them puts the bridge's writes back.
    answer = _calbridge(
        world, "undo", "--user", email, "--since", UNDONE["undo_at"].isoformat(), "--undo-undo"
    )
    assert answer.returncode == 0, answer.stdout + answer.stderr
    # The event the bridge made from the Outlook item is back (a new record), paired with the item again.
    (event,) = world.desk.events_of(owner, "Wrong policy: dentist")
    assert world.ews_id(event["Exchange_Item_Id__c"]) == UNDONE["booked"].id
    # The location the bridge wrote into the item is there again.
    assert outlook.by_id(UNDONE["paired"].id).location == "Room 4"
    # The event whose item a person kept points at that item again.
    made_here = world.desk.event(UNDONE["made_here"]) or {}
    assert world.ews_id(made_here.get("Exchange_Item_Id__c") or "") == UNDONE["made_item"].id
