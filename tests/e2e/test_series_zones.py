"""Recurring series across time zones (SPEC §15, R-REC-1/2/6): an Outlook series booked in one zone for a
person whose Salesforce time zone is another.

Salesforce repeats a Lightning series in its owner's time zone (`User.TimeZoneSidKey`), whoever writes it; an
Outlook series repeats in its start's zone. Here the person is in Europe/Berlin in Salesforce and books a
weekly call in America/New_York at 19:30 there: 01:30 the next day in Berlin. The Lightning series must
fall on the Berlin days of those instants, not on the New York weekday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from exchangelib.recurrence import NoEndPattern, NumberedPattern, Recurrence, WeeklyPattern

from bridge.sandbox.people import Outlook, book_series, occurrences, wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
BOOKED_IN = "America/New_York"
OWNER_ZONE = "Europe/Berlin"
TIMEOUT = 30


def _owner_in_berlin(world: World, index: int) -> str:
    owner, _ = world.user(index)
    world.desk.sobject("User").update(owner, {"TimeZoneSidKey": OWNER_ZONE})
    return owner


def _evening_in_new_york(weeks_ahead: int) -> datetime:
    """19:30 in New York on a Tuesday at least `weeks_ahead` weeks ahead (01:30 on Wednesday in Berlin)."""
    day = datetime.now(UTC).date() + timedelta(weeks=weeks_ahead)
    day += timedelta(days=(1 - day.weekday()) % 7)
    return datetime.combine(day, time(19, 30), ZoneInfo(BOOKED_IN)).astimezone(UTC)


def _weekly(start: datetime, weeks: int) -> Recurrence:
    local = start.astimezone(ZoneInfo(BOOKED_IN)).date()
    return Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[local.isoweekday()], first_day_of_week=1),
        boundary=NumberedPattern(start=local, number=weeks),
    )


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).replace(microsecond=0)


def _outlook_starts(outlook: Outlook, master: Any, start: datetime, weeks: int) -> list[datetime]:
    seen = occurrences(outlook, master, start - timedelta(hours=1), start + timedelta(weeks=weeks))
    return [datetime.fromtimestamp(o.start.timestamp(), UTC) for o in seen]


def test_r_rec_1_2_an_outlook_series_in_new_york_lands_on_the_berlin_days_in_salesforce(world: World) -> None:
    _owner_in_berlin(world, 1)
    _, address = world.user(1)
    outlook = world.outlook(1)
    weeks = 4  # December into January: neither zone changes its clocks meanwhile
    start = _evening_in_new_york(1)
    subject = "Weekly US pipeline call: Harbor Mills"
    master = book_series(
        outlook, subject, start, start + timedelta(minutes=45), _weekly(start, weeks), BOOKED_IN
    )
    expected = _outlook_starts(outlook, master, start, weeks)
    assert len(expected) == weeks

    rows, _ = wait_until(lambda: (r := steps.rows(world, subject)) and len(r) == weeks and r, timeout=TIMEOUT)
    assert [_instant(r["StartDateTime"]) for r in rows] == expected
    assert len({r["ActivityRecurrence2Id"] for r in rows}) == 1 and all(r["IsRecurrence2"] for r in rows)
    # Said in Berlin, where Salesforce repeats it: on Wednesdays.
    assert {s.astimezone(ZoneInfo(OWNER_ZONE)).weekday() for s in expected} == {2}
    assert "BYDAY=WE" in rows[0]["Recurrence2PatternText"]

    # The same series read in two zones is no new pattern: a reconcile rebuilds nothing on either side.
    steps.sync_now(world, address)
    assert [r["Id"] for r in steps.rows(world, subject)] == [r["Id"] for r in rows]
    assert _outlook_starts(outlook, outlook.by_id(master.id), start, weeks) == expected
    assert [i.type for i in outlook.find(subject)] == ["RecurringMaster"]


def test_r_rec_6_a_series_whose_zones_change_clocks_apart_syncs_occurrence_by_occurrence(
    world: World,
) -> None:
    """New York moves its clocks on 14 March 2027, Berlin on 28 March: a series running through those weeks
    would fall an hour off in Salesforce for two of them. It cannot be one Lightning series: each occurrence
    in the window syncs as a single event at its own time (R-REC-6, I-RECURRING-EXPANDED)."""
    _owner_in_berlin(world, 2)
    _, address = world.user(2)
    outlook = world.outlook(2)
    start = _evening_in_new_york(2)
    weeks = (date(2027, 4, 6) - start.date()).days // 7 + 1  # through the weeks the two zones differ
    subject = "Weekly US forecast call: Harbor Mills"
    master = book_series(
        outlook, subject, start, start + timedelta(minutes=45), _weekly(start, weeks), BOOKED_IN
    )
    window_end = datetime.now(UTC) + timedelta(days=60)
    expected = [s for s in _outlook_starts(outlook, master, start, weeks) if s < window_end]

    found, _ = wait_until(
        lambda: (r := steps.rows(world, subject)) and len(r) == len(expected) and r, timeout=TIMEOUT
    )
    assert [_instant(r["StartDateTime"]) for r in found] == expected
    assert not any(r["IsRecurrence2"] for r in found)
    # The info entry is stored with the pass's end, a moment after its writes.
    wait_until(lambda: "I-RECURRING-EXPANDED" in steps.issue_codes(world) or None, timeout=TIMEOUT)
    steps.sync_now(world, address)
    assert [r["Id"] for r in steps.rows(world, subject)] == [r["Id"] for r in found]


def test_r_rec_6_a_paired_series_made_endless_across_zones_is_expanded(world: World) -> None:
    """A series synced whole (four weeks in winter: New York and Berlin keep their clocks) is made endless in
    Outlook: it now runs through the weeks the two zones change their clocks apart, which one Lightning
    series in Berlin cannot hold. The Lightning series goes and each occurrence in the window syncs as a
    single event at its own time (R-REC-6, I-RECURRING-EXPANDED); its later changes still travel. Before,
    the series kept its four rows and stopped syncing."""
    _owner_in_berlin(world, 0)
    _, address = world.user(0)
    outlook = world.outlook(0)
    weeks = 4
    start = _evening_in_new_york(1)
    subject = "Weekly US supplier call: Harbor Mills"
    master = book_series(
        outlook, subject, start, start + timedelta(minutes=45), _weekly(start, weeks), BOOKED_IN
    )
    rows, _ = wait_until(lambda: (r := steps.rows(world, subject)) and len(r) == weeks and r, timeout=TIMEOUT)
    assert all(r["IsRecurrence2"] for r in rows)

    local = start.astimezone(ZoneInfo(BOOKED_IN)).date()
    endless = Recurrence(
        pattern=WeeklyPattern(interval=1, weekdays=[local.isoweekday()], first_day_of_week=1),
        boundary=NoEndPattern(start=local),
    )
    outlook.change(outlook.by_id(master.id), recurrence=endless)
    window_end = datetime.now(UTC) + timedelta(days=60)
    expected = [s for s in _outlook_starts(outlook, outlook.by_id(master.id), start, 12) if s < window_end]
    assert len(expected) > weeks

    def singles() -> list[dict[str, Any]] | None:
        found = steps.rows(world, subject)
        plain = len(found) == len(expected) and not any(r["IsRecurrence2"] for r in found)
        return found if plain else None

    found, _ = wait_until(singles, timeout=60)
    assert [_instant(r["StartDateTime"]) for r in found] == expected
    wait_until(lambda: "I-RECURRING-EXPANDED" in steps.issue_codes(world) or None, timeout=TIMEOUT)
    # One occurrence renamed in Outlook reaches its single event (the series still syncs).
    second = occurrences(outlook, outlook.by_id(master.id), start, start + timedelta(weeks=3))[1]
    outlook.change(second, subject="US supplier call (quality review)")
    wait_until(
        lambda: len(steps.rows(world, "US supplier call (quality review)")) == 1 or None, timeout=TIMEOUT
    )
    steps.sync_now(world, address)
    assert len(steps.rows(world, subject)) == len(expected) - 1
    assert [i.type for i in outlook.find(subject)] == ["RecurringMaster"]
