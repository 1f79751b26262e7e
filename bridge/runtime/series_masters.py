"""The master of an Outlook occurrence a mailbox sync lists as deleted, from the stored series (R-REC-7).

Graph reports a series deleted whole only as its occurrences removed from `calendarView/delta`, never its
master, and a removed occurrence's id names no master. The Graph provider remembers the master of each
occurrence its delta pages showed, but only while the process runs: after a restart, with the delta resumed
from its stored state, nothing shows the occurrences again. The store keeps each paired occurrence's
Exchange id with its series (`SeriesState.occurrences`), so the runtime names the master itself and the
series road reads the series gone as the deletion arrives, not at the next window reconcile.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

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
