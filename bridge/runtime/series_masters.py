"""Outlook series masters the mailbox sync names, as the series road should take them.

`masters_of_deleted`: the master of an Outlook occurrence a mailbox sync lists as deleted, from the stored
series (R-REC-7).

Graph reports a series deleted whole only as its occurrences removed from `calendarView/delta`, never its
master, and a removed occurrence's id names no master. The Graph provider remembers the master of each
occurrence its delta pages showed, but only while the process runs: after a restart, with the delta resumed
from its stored state, nothing shows the occurrences again. The store keeps each paired occurrence's
Exchange id with its series (`SeriesState.occurrences`), so the runtime names the master itself and the
series road reads the series gone as the deletion arrives, not at the next window reconcile.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from bridge.core.fields import ExchangeItem
from bridge.ports import StoredSeries


def masters_of_deleted(deleted: Collection[str], stored: Sequence[StoredSeries]) -> set[str]:
    """The masters of the stored series holding one of the `deleted` Exchange ids as an occurrence."""
    gone = set(deleted)
    found: set[str] = set()
    for series in stored:
        master = series.state.ex_series
        if master and any(p.ex_id in gone and p.ex_id != master for p in series.state.occurrences):
            found.add(master)
    return found


def followed_masters(
    items: Sequence[ExchangeItem], stored: Sequence[StoredSeries], enrolled: Mapping[str, str], user_id: str
) -> set[str]:
    """The Outlook series among `items` that are this user's copies of a meeting series another enrolled user
    organizes (R-DEL kind E): one Lightning series per meeting, the organizer's (R-MULTI-1), which lists
    this user as an invitee of every row; the attendee's copy is not synced as a series of its own
    (R-SCOPE-6). A series already stored for this user keeps syncing as it did."""
    held = {s.state.ex_series for s in stored if s.state.ex_series}
    found: set[str] = set()
    for item in items:
        if not item.is_recurring or item.item_id in held or not item.organizer:
            continue
        organizer = enrolled.get(item.organizer.lower())
        if organizer is not None and organizer != user_id:
            found.add(item.item_id)
    return found
