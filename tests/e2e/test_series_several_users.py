"""Meeting series several enrolled people hold, and series invitations not answered (SPEC §15 R-REC-7 with
R-MULTI-1, R-MULTI-4 and R-SCOPE-6).

An outside organizer (played by the sandbox) sends a weekly meeting to two enrolled sales people. Salesforce
should hold it once: one Lightning series, owned by the first to sync it, with the other as an invitee of
every row. A series invitation nobody answered yet is not synced (W-UNANSWERED) until it is accepted (a
declined one leaves the calendar: nothing is left to sync).

Series are in the people's own zone (Europe/Madrid, as the seeded Salesforce users), at 16:00 UTC, a week or
more ahead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.sandbox.people import wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
ZONE = "Europe/Madrid"
WEEKS = 4
TIMEOUT = 30


# ------------------------------------------------------------------- R-MULTI-1, R-MULTI-4 for a series


def test_r_multi_1_two_recipients_of_an_outside_series_share_one_lightning_series(world: World) -> None:
    """R-MULTI-1 with R-REC-7: the second enrolled recipient's accept makes no second series; they are an
    invitee of every row of the first's Lightning series, which the first owns."""
    subject = "Partner steering: Spruce Terminals"
    rows, _ = steps.shared_outside_series(world, subject, 8)
    first_id, _ = world.user(1)
    second_id, _ = world.user(2)
    assert [r["Id"] for r in steps.events(world, subject)] == [r["Id"] for r in rows], "a second series"
    assert {r["OwnerId"] for r in rows} == {first_id}
    wait_until(lambda: all(second_id in world.desk.invitees(r["Id"]) for r in rows) or None, timeout=TIMEOUT)


def test_r_multi_4_an_outside_series_passes_to_the_other_recipient_when_its_owner_deletes_it(
    world: World,
) -> None:
    """R-MULTI-4 with R-REC-7 (R-DEL-2, kind D): the owner deletes the series from Outlook while the other
    enrolled recipient keeps it: the Lightning series stays, owned by them now (and no longer listing them
    as an invitee). When they delete it too, nobody holds it any more: it is deleted."""
    subject = "Partner quarterly planning: Spruce Terminals"
    rows, masters = steps.shared_outside_series(world, subject, 11)
    second_id, second = world.user(2)
    wait_until(lambda: all(second_id in world.desk.invitees(r["Id"]) for r in rows) or None, timeout=TIMEOUT)

    world.outlook(1).delete(world.outlook(1).by_id(masters[1].id))
    passed, _ = wait_until(
        lambda: (r := steps.events(world, subject)) and {x["OwnerId"] for x in r} == {second_id} and r,
        timeout=TIMEOUT,
    )
    assert len(passed) == WEEKS and len({r["ActivityRecurrence2Id"] for r in passed}) == 1
    wait_until(
        lambda: not any(second_id in world.desk.invitees(r["Id"]) for r in passed) or None, timeout=TIMEOUT
    )
    steps.sync_now(
        world, second
    )  # the heir's copy is paired with the series: nothing made twice, nothing lost
    assert [r["Id"] for r in steps.events(world, subject)] == [r["Id"] for r in passed]
    # The organizer renames the meeting: the heir's copy carries it to the Lightning series.
    renamed = "Partner quarterly planning (agenda): Spruce Terminals"
    start = datetime.fromisoformat(passed[0]["StartDateTime"].replace("Z", "+00:00"))
    uid = world.outlook(2).by_id(masters[2].id).uid
    world.sandbox.exchange.deliver_external_meeting(
        [second], steps.OUTSIDE, renamed, start, start + timedelta(minutes=30), uid=uid, time_zone=ZONE,
        recurrence=steps.sandbox_weekly(start),
    )  # fmt: skip
    wait_until(lambda: len(steps.events(world, renamed)) == WEEKS or None, timeout=TIMEOUT)
    assert [r["Id"] for r in steps.events(world, renamed)] == [r["Id"] for r in passed]
    subject = renamed

    world.outlook(2).delete(world.outlook(2).by_id(masters[2].id))  # the last holder: the series goes
    wait_until(lambda: not steps.events(world, subject) or None, timeout=TIMEOUT)


# ------------------------------------------------------------------------------- R-SCOPE-6 for a series


def test_r_scope_6_an_unanswered_series_invitation_waits_until_it_is_accepted(world: World) -> None:
    """R-SCOPE-6: an outside organizer's series the user has not answered is not synced (W-UNANSWERED names
    it); accepted, it syncs as one Lightning series and the warning closes."""
    _, address = world.user(0)
    subject = "Partner roadmap series: Birch Shipping"
    masters = steps.deliver_outside(world, [0], subject, 9)
    master = masters[0]
    stored = world.stored_id(master.id)

    def warned() -> bool | None:
        found = [i for i in steps.issues(world) if i["code"] == "W-UNANSWERED"]
        return any(i.get("exchange_id") == stored for i in found) or None

    wait_until(warned, timeout=TIMEOUT)
    steps.sync_now(world, address)
    assert steps.events(world, subject) == []

    master.accept()
    rows, _ = wait_until(
        lambda: (r := steps.events(world, subject)) and len(r) == WEEKS and r, timeout=TIMEOUT
    )
    assert len({r["ActivityRecurrence2Id"] for r in rows}) == 1
    wait_until(lambda: not warned() or None, timeout=TIMEOUT)
