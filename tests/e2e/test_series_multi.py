"""One outside organizer's meeting series held by several enrolled people (R-MULTI-1 and R-MULTI-4 for series,
with R-REC-5, R-REC-7, R-ATT-8 and R-DEL-2): whatever the timing of their answers, Salesforce holds it once; a
recipient who left it stays out when the series is made anew, and one who follows it still inherits it; an
attendee nobody knows is listed once for the series; the series passing on, and a follower leaving, are seen
by observe mode and put back by `calbridge undo` (issue 9).

The outside organizer is played by the sandbox; the series repeat weekly at 16:00 UTC in the people's zone.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import iso, wait_until
from bridge.sandbox.salesforce.series import change_pattern

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
WAIT_S = 30
Rows = list[dict[str, Any]]
UNRESOLVED = "I-UNRESOLVED-ATTENDEE"


def _while_stopped(world: World, action: Callable[[], Any]) -> Any:
    """`action` done while the bridge is stopped; it starts again after, and finds it all at once."""
    assert world.bridge.stop() == 0, world.bridge.tail()
    try:
        return action()
    finally:
        world.bridge = BridgeProcess(world.bridge.config, env=world.bridge.env).start()


def _one_series(world: World, subject: str) -> list[dict[str, Any]]:
    """The meeting's Lightning rows, once there are WEEKS of them (fails on a second series)."""
    rows, _ = wait_until(
        lambda: (r := steps.events(world, subject)) and len(r) >= steps.WEEKS and r, timeout=WAIT_S
    )
    assert len({r["ActivityRecurrence2Id"] for r in rows}) == 1, "two Lightning series for one meeting"
    assert len(rows) == steps.WEEKS
    return list(rows)


@pytest.mark.timeout(300)  # a restart and two sync-now runs, besides the module's sandbox
def test_r_multi_1_two_recipients_accepting_at_once_get_one_lightning_series(world: World) -> None:
    """R-MULTI-1 with R-REC-7: both enrolled recipients accept the outside organizer's series before the
    bridge sees either answer (it is stopped meanwhile), so neither finds the other's series stored when
    it takes its own: still one Lightning series, owned by one of them, the other an invitee of every row.
    Reconciling both changes nothing."""
    subject = "Multi story: Partner sync with Alder Freight"

    def both_accept() -> dict[int, Any]:
        masters = steps.deliver_outside(world, [1, 2], subject, 14)
        masters[1].accept()
        masters[2].accept()
        return masters

    _while_stopped(world, both_accept)
    rows = _one_series(world, subject)
    owners = {r["OwnerId"] for r in rows}
    ids = {world.user(1)[0], world.user(2)[0]}
    assert len(owners) == 1 and owners <= ids
    (other,) = ids - owners
    wait_until(lambda: all(other in world.desk.invitees(r["Id"]) for r in rows) or None, timeout=WAIT_S)
    for index in (1, 2):
        steps.sync_now(world, world.user(index)[1])
    assert [r["Id"] for r in _one_series(world, subject)] == [r["Id"] for r in rows]


def _shared_with_contact(
    world: World, subject: str, day_offset: int, guest: str
) -> tuple[Rows, dict[int, Any]]:
    """The outside organizer's series sent to users 1 and 2 and to `guest` (outside the sandbox): user 1
    accepts first and holds the Lightning series, user 2 accepts next and follows it (an invitee of every
    row, as `guest` is once it resolves)."""
    start, end = steps.first_start(world, day_offset)
    addresses = [world.user(1)[1], world.user(2)[1], guest]
    world.sandbox.exchange.deliver_external_meeting(
        addresses, steps.OUTSIDE, subject, start, end, time_zone=steps.ZONE,
        recurrence=steps.sandbox_weekly(start),
    )  # fmt: skip
    masters = {
        i: wait_until(lambda i=i: steps.master(world.outlook(i), subject), timeout=WAIT_S)[0] for i in (1, 2)
    }
    masters[1].accept()
    rows = _one_series(world, subject)
    second_id, second = world.user(2)
    wait_until(lambda: all(second_id in world.desk.invitees(r["Id"]) for r in rows) or None, timeout=WAIT_S)
    masters[2].accept()
    steps.sync_now(world, second)
    assert [r["Id"] for r in _one_series(world, subject)] == [r["Id"] for r in rows]
    return rows, masters


def test_r_rec_5_a_recipient_who_left_stays_off_the_series_made_anew_for_a_new_pattern(world: World) -> None:
    """R-REC-5 with R-MULTI-4 and R-DEL-2: user 2 follows user 1's Lightning series of an outside organizer's
    meeting, then deletes their copy and leaves every row. The meeting then moves to another day: Salesforce
    makes the series anew, and its new rows list the invitees the old ones had (the Contact), not user 2."""
    subject = "Multi story: Partner review with Cedar Logistics"
    guest = "ops.lead@cedar-logistics.example"
    contact = world.desk.sobject("Contact").create({"FirstName": "Ops", "LastName": "Lead", "Email": guest})[
        "id"
    ]
    rows, masters = _shared_with_contact(world, subject, 15, guest)
    second_id, _ = world.user(2)
    wait_until(lambda: all(contact in world.desk.invitees(r["Id"]) for r in rows) or None, timeout=WAIT_S)

    world.outlook(2).delete(world.outlook(2).by_id(masters[2].id))  # R-DEL-2: user 2 leaves every row
    ids = [r["Id"] for r in rows]
    wait_until(lambda: not any(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)

    moved = steps.start_of(rows[0]) + timedelta(days=1)
    steps.move_series(world, world.outlook(1), masters[1].id, subject, moved)  # R-REC-5: made anew
    fresh = _one_series(world, subject)
    assert not {r["Id"] for r in fresh} & set(ids)
    wait_until(lambda: all(contact in world.desk.invitees(r["Id"]) for r in fresh) or None, timeout=WAIT_S)
    assert not [r["Id"] for r in fresh if second_id in world.desk.invitees(r["Id"])], "user 2 is back"
    assert {r["OwnerId"] for r in fresh} == {world.user(1)[0]}


def test_r_att_8_an_unknown_attendee_of_a_shared_series_is_listed_once_for_the_series(world: World) -> None:
    """R-ATT-8 with R-REC-7 and R-MULTI-1: the outside organizer's series, held by user 1 and followed by user
    2, has an attendee nobody in Salesforce has the address of. One info entry names them, for the series
    (its Outlook master and Lightning series), not one per row nor one per recipient, however often it is
    reconciled; once a Contact has the address, the organizer's next update makes it an invitee of every row
    and the entry closes."""
    subject = "Multi story: Partner onboarding with Hazel Wharf"
    guest = "onboarding@hazel-wharf.example"
    rows, masters = _shared_with_contact(world, subject, 16, guest)
    first_id, first = world.user(1)
    holder = world.stored_id(masters[1].id)

    def entries() -> list[dict[str, Any]]:
        return [i for i in steps.issues(world) if i["code"] == UNRESOLVED and guest in i["message"]]

    found, _ = wait_until(entries, timeout=WAIT_S)
    for index in (1, 2):
        steps.sync_now(world, world.user(index)[1])
    found = entries()
    assert len(found) == 1, found
    (entry,) = found
    assert entry["user_id"] == first_id and entry["exchange_id"] == holder
    assert entry["salesforce_id"] == rows[0]["ActivityRecurrence2Id"]

    person = {"FirstName": "Onboarding", "LastName": "Desk", "Email": guest}
    contact = world.desk.sobject("Contact").create(person)["id"]
    start, end = steps.start_of(rows[0]), steps.start_of(rows[0]) + timedelta(minutes=30)
    world.sandbox.exchange.deliver_external_meeting(
        [first, world.user(2)[1], guest], steps.OUTSIDE, subject, start, end, uid=masters[1].uid,
        location="Hazel Wharf, gate 2", time_zone=steps.ZONE, recurrence=steps.sandbox_weekly(start),
    )  # fmt: skip
    ids = [r["Id"] for r in rows]
    wait_until(lambda: all(contact in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)
    wait_until(lambda: not entries() or None, timeout=WAIT_S)


def _undo(world: World, address: str, since: datetime) -> str:
    """`calbridge undo` of the user's writes since `since`, the bridge stopped (--force); its report."""
    answer = subprocess.run(
        [sys.executable, "-m", "bridge", "undo", "--user", address, "--since", since.isoformat(), "--force",
         "--config", str(world.bridge.config)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


@pytest.mark.timeout(300)  # a restart, an undo run and a sync-now
def test_r_multi_4_undo_gives_a_passed_on_series_back_to_its_holder(world: World) -> None:
    """Issue 9 with R-MULTI-4: the handover of an outside organizer's series (its holder deleted their copy,
    the follower owns it now and left its invitees) is journaled under the holder, whose pass made it.
    `calbridge undo` for the holder gives the series back to them and makes the follower an invitee of
    every row again. With the bridge writing again, the holder's copy is still deleted: the series passes
    to the follower once more, the same rows, never deleted."""
    subject = "Multi story: Partner forecast with Maple Harbour"
    rows, masters = steps.shared_outside_series(world, subject, 17)
    (first_id, first), (second_id, _) = world.user(1), world.user(2)
    ids = [r["Id"] for r in rows]
    since = datetime.now(UTC)
    world.outlook(1).delete(world.outlook(1).by_id(masters[1].id))
    wait_until(
        lambda: {r["OwnerId"] for r in steps.events(world, subject)} == {second_id} or None, timeout=WAIT_S
    )
    wait_until(lambda: not any(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)

    def undone() -> str:
        report = _undo(world, first, since)
        assert {r["OwnerId"] for r in steps.events(world, subject)} == {first_id}, report
        assert all(second_id in world.desk.invitees(i) for i in ids), report
        return report

    report = _while_stopped(world, undone)
    assert report.count("added invitee") == steps.WEEKS and "OwnerId" in report, report

    steps.sync_now(world, first)  # R-MULTI-4 again: the holder's copy is gone
    wait_until(
        lambda: {r["OwnerId"] for r in steps.events(world, subject)} == {second_id} or None, timeout=WAIT_S
    )
    wait_until(lambda: not any(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)
    assert [r["Id"] for r in steps.events(world, subject)] == ids


def test_r_multi_4_a_series_made_anew_for_a_new_pattern_still_passes_to_its_follower(world: World) -> None:
    """R-MULTI-4 with R-REC-5: the holder moves the outside organizer's series to another day, so Salesforce
    makes the Lightning series anew (another series id); user 2 still follows it (an invitee of every new
    row). When the holder then deletes their copy, the new series passes to user 2 instead of being
    deleted."""
    subject = "Multi story: Partner capacity with Linden Rail"
    rows, masters = steps.shared_outside_series(world, subject, 18)
    second_id, _ = world.user(2)
    outlook = world.outlook(1)
    moved = steps.start_of(rows[0]) + timedelta(days=1)
    tz = ZoneInfo(steps.ZONE)
    outlook.change(
        outlook.by_id(masters[1].id),
        start=moved.astimezone(tz),
        end=(moved + timedelta(minutes=30)).astimezone(tz),
        recurrence=steps.weekly(moved),
    )
    expected = [iso(moved + timedelta(weeks=n))[:16] for n in range(steps.WEEKS)]
    wait_until(
        lambda: [r["StartDateTime"][:16] for r in steps.events(world, subject)] == expected or None,
        timeout=WAIT_S,
    )
    fresh = _one_series(world, subject)
    wait_until(lambda: all(second_id in world.desk.invitees(r["Id"]) for r in fresh) or None, timeout=WAIT_S)

    outlook.delete(outlook.by_id(masters[1].id))
    wait_until(
        lambda: {r["OwnerId"] for r in steps.events(world, subject)} == {second_id} or None, timeout=WAIT_S
    )
    assert [r["Id"] for r in steps.events(world, subject)] == [r["Id"] for r in fresh]


def _observing(world: World, index: int, on: bool) -> None:
    """Observe mode for one user (their `observe` in the config), the bridge restarted to take it."""
    user_id, _ = world.user(index)
    config = world.bridge.config
    line = f'salesforce_user_id = "{user_id}"\n'
    text = config.read_text().replace(line + "observe = true\n", line)
    config.write_text(text.replace(line, line + "observe = true\n") if on else text)
    world.restart()


def _report(world: World, address: str) -> str:
    answer = subprocess.run(
        [sys.executable, "-m", "bridge", "observe-report", "--user", address, "--sample", "100", "--config",
         str(world.bridge.config)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stdout + answer.stderr
    return answer.stdout


@pytest.mark.timeout(300)  # two restarts, two sync-now runs and a report
def test_r_multi_4_observe_mode_reports_the_handover_it_would_make(world: World) -> None:
    """Issue 9 with R-MULTI-4: the holder of an outside organizer's series is in observe mode and deletes
    their copy. The report says the Lightning series would change owner (pass to user 2), not that it would
    be deleted, and nothing is written; with writes on again, it passes to user 2."""
    subject = "Multi story: Partner pipeline with Rowan Docks"
    rows, masters = steps.shared_outside_series(world, subject, 19)
    (first_id, first), (second_id, _) = world.user(1), world.user(2)
    series_id = rows[0]["ActivityRecurrence2Id"]
    _observing(world, 1, on=True)
    try:
        world.outlook(1).delete(world.outlook(1).by_id(masters[1].id))
        steps.sync_now(world, first)
        report = _report(world, first)
        assert f"update salesforce series {series_id}: OwnerId" in report, report
        assert f"delete salesforce series {series_id}" not in report, report
        assert {r["OwnerId"] for r in steps.events(world, subject)} == {first_id}
    finally:
        _observing(world, 1, on=False)
    steps.sync_now(world, first)
    wait_until(
        lambda: {r["OwnerId"] for r in steps.events(world, subject)} == {second_id} or None, timeout=WAIT_S
    )
    assert [r["Id"] for r in steps.events(world, subject)] == [r["Id"] for r in rows]


@pytest.mark.timeout(300)  # a restart, an undo run and a sync-now
def test_r_del_2_undo_makes_a_follower_who_left_an_invitee_again(world: World) -> None:
    """Issue 9 with R-DEL-2 for a follower (R-MULTI): user 2 deletes their copy of the series user 1 holds
    and leaves every row; the removals are journaled under user 2. `calbridge undo` for user 2 makes them an
    invitee of every row again; with writes on again, their copy is still deleted, so they leave again."""
    subject = "Multi story: Partner logistics with Sorrel Quay"
    rows, masters = steps.shared_outside_series(world, subject, 20)
    (second_id, second), ids = world.user(2), [r["Id"] for r in rows]
    since = datetime.now(UTC)
    world.outlook(2).delete(world.outlook(2).by_id(masters[2].id))
    wait_until(lambda: not any(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)

    def undone() -> str:
        report = _undo(world, second, since)
        assert all(second_id in world.desk.invitees(i) for i in ids), report
        return report

    report = _while_stopped(world, undone)
    assert report.count("added invitee") == steps.WEEKS, report
    steps.sync_now(world, second)
    wait_until(lambda: not any(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)
    assert [r["Id"] for r in steps.events(world, subject)] == ids


def test_r_multi_4_a_series_a_lightning_user_gives_a_new_pattern_still_passes_to_its_follower(
    world: World,
) -> None:
    """R-MULTI-4 with R-REC-5 from Salesforce: a Lightning user changes the pattern of the holder's series
    (Salesforce deletes it and creates it anew, another series id; the holder's Outlook copy follows). When
    the holder then deletes their copy, the new series passes to user 2, who follows it, instead of being
    deleted."""
    subject = "Multi story: Partner cadence with Willow Berth"
    rows, masters = steps.shared_outside_series(world, subject, 21)
    (first_id, _), (second_id, _) = world.user(1), world.user(2)
    old = rows[0]["ActivityRecurrence2Id"]
    change_pattern(world.sandbox.salesforce.org, first_id, old, steps.rule(steps.start_of(rows[0]), count=3))
    fresh, _ = wait_until(
        lambda: (
            (r := steps.events(world, subject)) and len(r) == 3 and r[0]["ActivityRecurrence2Id"] != old and r
        ),
        timeout=WAIT_S,
    )
    outlook = world.outlook(1)
    before = str(masters[1].recurrence)
    # The holder's Outlook copy follows the new pattern: the bridge took the new series for theirs.
    wait_until(lambda: str(outlook.by_id(masters[1].id).recurrence) != before or None, timeout=WAIT_S)
    outlook.delete(outlook.by_id(masters[1].id))
    wait_until(
        lambda: {r["OwnerId"] for r in steps.events(world, subject)} == {second_id} or None, timeout=WAIT_S
    )
    assert [r["Id"] for r in steps.events(world, subject)] == [r["Id"] for r in fresh]


def test_r_del_9_a_recipient_who_left_a_series_made_anew_comes_back_with_the_category(world: World) -> None:
    """R-DEL-9 with R-REC-5 and R-MULTI: user 2 marks their copy `Salesforce Unsync` and leaves every row;
    the holder moves the meeting to another day (a new Lightning series, user 2 still off it). User 2 then
    gives their copy `Salesforce` again: they are an invitee of every row of the new series."""
    subject = "Multi story: Partner roadmap with Aspen Sound"
    rows, masters = steps.shared_outside_series(world, subject, 22)
    second_id, _ = world.user(2)
    ids = [r["Id"] for r in rows]
    follower = world.outlook(2)
    copy = follower.by_id(masters[2].id)
    follower.change(copy, categories=[*(copy.categories or []), "Salesforce Unsync"])
    wait_until(lambda: not any(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)

    moved = steps.start_of(rows[0]) + timedelta(days=1)
    steps.move_series(world, world.outlook(1), masters[1].id, subject, moved)  # R-REC-5: made anew
    fresh = _one_series(world, subject)
    assert not any(second_id in world.desk.invitees(r["Id"]) for r in fresh)

    follower.change(follower.by_id(masters[2].id), categories=["Salesforce"])
    wait_until(lambda: all(second_id in world.desk.invitees(r["Id"]) for r in fresh) or None, timeout=WAIT_S)
    assert [r["Id"] for r in _one_series(world, subject)] == [r["Id"] for r in fresh]
