"""A follower of an outside organizer's series (R-MULTI-1 for a series: they are an invitee of every row of
the Lightning series another enrolled recipient holds) who deletes their copy, or marks it `Salesforce
Unsync`, leaves the meeting in Salesforce: their invitee relation goes from every row (R-DEL-2/R-DEL-3 for
an attendee, with R-ATT and R-REC-7); the series stays the holder's, and no longer passes to them when the
holder deletes theirs (R-MULTI-4): nobody else holds it, so it is deleted.
"""

from __future__ import annotations

from bridge.sandbox.people import wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
UNSYNC = "Salesforce Unsync"
WAIT_S = 30


def _leaves(world: World, subject: str, rows: list[dict[str, object]]) -> None:
    """The follower (user 2) is no longer an invitee of any row; the holder (user 1) still owns them."""
    first_id, _ = world.user(1)
    second_id, _ = world.user(2)
    ids = [str(r["Id"]) for r in rows]
    wait_until(lambda: not any(second_id in world.desk.invitees(i) for i in ids) or None, timeout=WAIT_S)
    assert [r["Id"] for r in steps.events(world, subject)] == ids
    assert {r["OwnerId"] for r in steps.events(world, subject)} == {first_id}


def _holder_deletes(world: World, subject: str, master_id: str) -> None:
    """R-MULTI-4: nobody else holds the meeting now, so the holder's deletion deletes the series."""
    world.outlook(1).delete(world.outlook(1).by_id(master_id))
    wait_until(lambda: not steps.events(world, subject) or None, timeout=WAIT_S)


def test_r_multi_a_follower_who_deletes_their_series_copy_leaves_every_row(world: World) -> None:
    subject = "Follower story: Partner steering with Juniper Ports"
    rows, masters = steps.shared_outside_series(world, subject, 12)
    world.outlook(2).delete(world.outlook(2).by_id(masters[2].id))
    _leaves(world, subject, rows)
    _holder_deletes(world, subject, masters[1].id)


def test_r_del_3_a_follower_who_unsyncs_their_series_copy_leaves_every_row(world: World) -> None:
    subject = "Follower story: Partner pricing with Juniper Ports"
    rows, masters = steps.shared_outside_series(world, subject, 13)
    outlook = world.outlook(2)
    copy = outlook.by_id(masters[2].id)
    outlook.change(copy, categories=[*(copy.categories or []), UNSYNC])
    _leaves(world, subject, rows)
    assert outlook.by_id(masters[2].id) is not None  # their copy stays in Outlook
    _holder_deletes(world, subject, masters[1].id)
