"""Outlook series masters the mailbox sync names, as the series road should take them.

`masters_of_deleted`: the master of an Outlook occurrence a mailbox sync lists as deleted, from the stored
series (R-REC-7).

Graph reports a series deleted whole only as its occurrences removed from `calendarView/delta`, never its
master, and a removed occurrence's id names no master. The Graph provider remembers the master of each
occurrence its delta pages showed, but only while the process runs: after a restart, with the delta resumed
from its stored state, nothing shows the occurrences again. The store keeps each paired occurrence's
Exchange id with its series (`SeriesState.occurrences`), so the runtime names the master itself and the
series road reads the series gone as the deletion arrives, not at the next window reconcile.

`followed_masters`: an enrolled attendee's copy of a colleague's meeting series (R-DEL kind E) is not synced
as a series of its own; marked `Salesforce Unsync`, it goes to the series road, which takes the attendee off
every row of the organizer's Lightning series (`colleague_series` finds it, R-DEL-3 kind E). An answered
copy gets an attendee's mark when a mailbox sync lists it (`colleague_mark`, stored by
`SeriesHeirs.followed`): deleted later, the copy can no longer be read, and the mark names the organizer's
series, so the attendee leaves every row of it then too (R-DEL-2 kind E, `attended_series`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from bridge.core.fields import ExchangeItem
from bridge.core.model import Policy, Side
from bridge.core.series import SeriesState
from bridge.core.series_gone import attended, attendee_key
from bridge.ports import MailboxPort, Store, StoredSeries


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
    items: Sequence[ExchangeItem],
    stored: Sequence[StoredSeries],
    enrolled: Mapping[str, str],
    user_id: str,
    unsync_category: str | None = None,
) -> set[str]:
    """The Outlook series among `items` that are this user's copies of a meeting series another enrolled user
    organizes (R-DEL kind E): one Lightning series per meeting, the organizer's (R-MULTI-1), which lists
    this user as an invitee of every row; the attendee's copy is not synced as a series of its own
    (R-SCOPE-6). A series already stored for this user keeps syncing as it did. A copy marked
    `unsync_category` is left to the series road: the attendee leaves the organizer's series (R-DEL-3)."""
    held = {s.state.ex_series for s in stored if s.state.ex_series}
    found: set[str] = set()
    for item in items:
        if not item.is_recurring or item.item_id in held or not item.organizer:
            continue
        if unsync_category is not None and unsync_category in item.categories:
            continue
        organizer = enrolled.get(item.organizer.lower())
        if organizer is not None and organizer != user_id:
            found.add(item.item_id)
    return found


async def colleague_series(
    exchange: MailboxPort,
    store: Store,
    enrolled: Mapping[str, str],
    policy: Policy,
    mailbox: str,
    master_id: str,
) -> str | None:
    """R-DEL kind E: the organizer's Lightning series of the meeting series whose copy in this user's
    mailbox is `master_id`, when an enrolled colleague organizes it (R-MULTI-1: the organizer's series is
    the meeting's one series). Found among the organizer's live Outlook-made series of the same subject,
    confirmed by their master's UID; None for any other series."""
    copy = (await exchange.read_items(mailbox, [master_id])).get(master_id)
    found = await _organizers(exchange, store, enrolled, policy.user_id, copy) if copy is not None else None
    return found[2] if found is not None else None


async def colleague_mark(
    exchange: MailboxPort, store: Store, enrolled: Mapping[str, str], user_id: str, copy: ExchangeItem
) -> SeriesState | None:
    """The attendee's mark (`series_gone.attendee_key`) for their `copy` of a meeting series an enrolled
    colleague organizes and holds as a live Lightning series; None for any other copy. Ended: it plans
    nothing, and keeps the copy out of both roads but for leaving the organizer's series."""
    found = await _organizers(exchange, store, enrolled, user_id, copy)
    if found is None:
        return None
    organizer, organizer_master, _ = found
    key = attendee_key(organizer, organizer_master)
    return SeriesState(key=key, origin=Side.EXCHANGE, sf_series=None, ex_series=copy.item_id, ended=True)


async def attended_series(store: Store, key: str) -> str | None:
    """The organizer's live Lightning series an attendee's mark names, found by the organizer's Outlook
    master (kept when a new pattern makes the Lightning series anew, R-REC-5); None once it is gone."""
    named = attended(key)
    if named is None:
        return None
    organizer, organizer_master = named
    for series in await store.series_of(organizer):
        state = series.state
        if state.ex_series == organizer_master and state.sf_series and not state.ended:
            return state.sf_series
    return None


async def _organizers(
    exchange: MailboxPort, store: Store, enrolled: Mapping[str, str], user_id: str, copy: ExchangeItem
) -> tuple[str, str, str] | None:
    """(organizer's user id, their master, their Lightning series) of the meeting series `copy` is this
    user's copy of, when an enrolled colleague organizes it and holds it live."""
    if not copy.is_recurring or not copy.organizer or not copy.uid:
        return None
    address = copy.organizer.lower()
    organizer = enrolled.get(address)
    if organizer is None or organizer == user_id:
        return None
    for series in await store.series_of(organizer):
        state = series.state
        live = not state.ended and state.sf_series and state.ex_series and state.origin is Side.EXCHANGE
        if not live or state.base_ex is None or state.base_ex.subject != copy.subject:
            continue
        assert state.ex_series is not None and state.sf_series is not None
        master = (await exchange.read_items(address, [state.ex_series])).get(state.ex_series)
        if master is not None and master.uid == copy.uid:
            return organizer, state.ex_series, state.sf_series
    return None


async def shared_meeting(
    exchange: MailboxPort, enrolled: Mapping[str, str], policy: Policy, mailbox: str, master_id: str
) -> bool:
    """Whether the Outlook series `master_id` is a meeting someone else organizes that another enrolled
    person also has (R-MULTI-1: one Lightning series per meeting, which another may hold). A tombstone of
    such a series is not taken up again as a series of this user's own (R-DEL-9): that could be a second
    Lightning series for the meeting."""
    copy = (await exchange.read_items(mailbox, [master_id])).get(master_id)
    if copy is None or not copy.organizer or copy.organizer.lower() == policy.user_email.lower():
        return False
    people = [copy.organizer, *(a.email for a in (*copy.required_attendees, *copy.optional_attendees))]
    return any(enrolled.get(e.lower()) not in (None, policy.user_id) for e in people)
