"""The R-DEL table's category rows on a Lightning series expanded into single Outlook items (R-REC-6): the
series is one unit (R-REC-7). The `Salesforce` category taken off one item is put back (R-DEL-1);
`Salesforce Unsync` set on one item unsyncs the whole series (R-DEL-3): the Lightning series, made in
Salesforce without invitees (kind B), is deleted, every item stays in Outlook without the bridge's
category, and nothing is synced again (R-DEL-9).

The series repeats on days of the month a few days apart, at 16:00 UTC (the same date in the owner's zone).
"""

from __future__ import annotations

import time
from typing import Any

from bridge.sandbox.people import Outlook, wait_until

from . import series_steps as steps
from .conftest import World

PROVIDERS = ("ews", "graph")  # R-GRAPH-1: every story through either protocol
SYNC, UNSYNC = "Salesforce", "Salesforce Unsync"
QUIET_S = 2.0  # long enough for a wrong write to show, when proving that none comes
WAIT_S = 30


def _expanded(world: World, subject: str, offsets: tuple[int, ...]) -> list[Any]:
    """A Lightning series Outlook cannot hold, and its single items once the bridge made them."""
    steps.book_monthly(world, subject, offsets)
    outlook = world.outlook(0)

    def made() -> list[Any] | None:
        found = outlook.find(subject)
        tagged = all(SYNC in (i.categories or []) for i in found)
        return found if len(found) == len(offsets) and tagged else None

    return wait_until(made, timeout=WAIT_S)[0]


def _categories(outlook: Outlook, item_id: str) -> list[str]:
    found = outlook.by_id(item_id)
    assert found is not None, "the item stays in Outlook"
    return list(found.categories or [])


def test_r_del_1_the_category_taken_off_an_expanded_item_is_put_back(world: World) -> None:
    outlook = world.outlook(0)
    subject = "Unsync story: Cedar Haulage reviews"
    items = _expanded(world, subject, (5, 10))
    item = outlook.by_id(items[0].id)
    outlook.change(item, categories=["Customer"])
    wait_until(lambda: SYNC in _categories(outlook, item.id) or None, timeout=WAIT_S)
    assert "Customer" in _categories(outlook, item.id)  # the user's own category stays (R-CAT-1)
    assert len(steps.rows(world, subject)) == 2


def test_r_del_3_unsync_on_one_expanded_item_unsyncs_the_whole_series(world: World) -> None:
    outlook = world.outlook(0)
    subject = "Unsync story: Damson Carriers reviews"
    items = _expanded(world, subject, (6, 11, 16))
    item = outlook.by_id(items[1].id)
    outlook.change(item, categories=[SYNC, UNSYNC])

    # Kind B: the event is deleted, for the series as one unit: every row goes (R-REC-7).
    wait_until(lambda: steps.rows(world, subject) == [] or None, timeout=WAIT_S)
    wait_until(
        lambda: all(SYNC not in _categories(outlook, i.id) for i in items) or None,
        timeout=WAIT_S,
    )
    time.sleep(QUIET_S)  # nothing comes back on either side (R-DEL-9)
    assert sorted(i.id for i in outlook.find(subject)) == sorted(i.id for i in items)
    assert [SYNC in _categories(outlook, i.id) for i in items] == [False, False, False]
    assert steps.rows(world, subject) == []
    assert UNSYNC in _categories(outlook, item.id)  # the user's request is theirs to take off
