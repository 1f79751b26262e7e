"""The series road (SPEC §15): recurring series read whole on both sides, planned by `plan_series`, written
and stored as one unit, beside the pair road of single events.

What comes in. A Salesforce change event of a Lightning series' row (its `IsRecurrence2` or
`ActivityRecurrence2Id`, or a row id a stored series holds), and an Exchange master from a mailbox sync
(Exchange reports an occurrence's edit or deletion as an update of its master, reference/recurrence.md
§3.6). `UserSync` takes these out of the pair road (`split_salesforce`, `split_exchange`) and hands them
to `SeriesRoad.run`, which reads each series touched on both sides (the Salesforce rows by series id, and
the single events of occurrences split out of them; the Exchange master with a CalendarView of the window),
plans and executes it, and commits its state. A window reconcile (first sync, gap, periodic, sync now)
touches every stored series and those its window and mailbox sync show (`leave_series`). A row's change is
routed to its user through the stored series (`Store.series_by_record`): a deleted row cannot be read.

What is built: R-REC-1 (a series created on the other side, Exchange -> Lightning series and back),
R-REC-2 (occurrences by original start), R-REC-3 (an occurrence changed becomes an exception, split out
of a Salesforce series where needed), R-REC-4 (one occurrence, and "this and following": an Exchange
master's range ends, a Salesforce series is deleted from its first row to go), R-REC-5 (a new pattern or
start: the master is updated in place, a Salesforce series deleted and created anew under a new id), and
the series' own fields and a whole series deleted on one side under the R-DEL table (R-REC-7,
`bridge.core.series_gone`; a deleted master comes from the mailbox sync's deletions), the invitees of an
Outlook series on every Lightning row (R-REC-7, `SeriesRoad._invitees`), and R-REC-6: a Lightning
series whose pattern Exchange cannot hold is written as single Outlook items (`CreateSingle`), read back
by the ids its pairs hold (`_singles`; the mailbox sync routes their changes and deletions here,
`split_exchange`, `series_deletions`), and follows its later changes both ways, a pattern change
(`bridge.core.series_expand`). A plan that needs a command not built writes nothing: the series keeps its
state and I-RECURRING says what waits. A series the bridge cannot read (a zone, a row without pattern)
is reported against it with the mapping issue; other series and users go on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Protocol

from bridge.core.attendees import resolve
from bridge.core.commands import (
    AddAttendeeRelation,
    CloseIssue,
    Command,
    Created,
    DeleteEvent,
    DeleteItem,
    RaiseIssue,
    RemoveAttendeeRelation,
    UpdateAttendeeStatus,
    UpdateEvent,
    UpdateItem,
)
from bridge.core.fields import ExchangeItem, item_from_exchange
from bridge.core.issues import Issue, IssueCode, make_issue
from bridge.core.model import Attendee, Policy, Side
from bridge.core.patterns_ews import EwsRecurrence
from bridge.core.series import (
    Occurrence,
    OccurrencePair,
    Series,
    SeriesState,
    recreation,
    without_deleting,
)
from bridge.core.series_commands import (
    CreateSeries,
    CreateSingle,
    DeleteOccurrence,
    DeleteSeries,
    EndSeries,
    RebuildSeries,
    SplitOccurrence,
    UpdateOccurrence,
    UpdateSeries,
)
from bridge.core.series_expand import plan_expanded_gone, singles_series
from bridge.core.series_gone import (
    LEFT_PREFIX,
    attended,
    finish_unsync,
    item_tombstones,
    left_key,
    left_series,
    opted_in_again,
    plan_gone,
    unsync_asked,
    unsync_interrupted,
    unsync_pending,
)
from bridge.core.series_invitees import series_invitee_writes, taken_off
from bridge.core.series_plan import SeriesPlan, plan_series
from bridge.core.series_writes import fresh, writable
from bridge.errors import CalbridgeError, MappingError, NotFoundError, RefusedError, TransientError
from bridge.ports import (
    ChangeType,
    Commit,
    EventChange,
    EventRecord,
    MailboxPort,
    SalesforcePort,
    Store,
    StoredIssue,
    StoredPair,
    StoredSeries,
    Written,
)
from bridge.runtime import series_journal
from bridge.runtime.executor import UserContext
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.passes import copy_of_event
from bridge.runtime.series_answers import rejoin
from bridge.runtime.series_heirs import SeriesHeirs, followed_series, follower
from bridge.runtime.series_masters import attended_series, colleague_mark, colleague_series, shared_meeting
from bridge.runtime.series_zones import OwnerZones, in_one_zone, salesforce_rule
from bridge.store.journal import JournalEntry, journal_of, record_series_writes

log = logging.getLogger(__name__)

BUILT = (
    CreateSeries,
    UpdateSeries,
    RebuildSeries,
    EndSeries,
    UpdateOccurrence,
    DeleteOccurrence,
    SplitOccurrence,
    UpdateEvent,
    UpdateItem,
    CreateSingle,
    DeleteEvent,
    DeleteItem,
    DeleteSeries,
    RaiseIssue,
    CloseIssue,
)
_ROUNDS = 2  # a plan that created a series is planned once more at once, to bind the new ids
# How long the rest of a transaction's change events are waited for (the pass retried with the actor's
# backoff meanwhile): the router hands them on one by one, and a busy bridge takes a while.
_RECREATION_WAIT_S = 5.0
# Asked again this often meanwhile (not the actor's doubling backoff, which would take the deletion of a
# series to 7.5 s or more): the rest of a re-creation is seen within a second, a deletion goes at 5 s.
_RECREATION_POLL_S = 1.0
_WAITED_KEPT = 1000
_COPIES_KEPT = 5000


class SalesforceSeries(Protocol):
    async def read_series(self, series_id: str, known: Mapping[str, datetime]) -> Series | None: ...

    async def series_ids(self, event_ids: Sequence[str]) -> dict[str, str]: ...

    async def create_series(self, fields: Mapping[str, object], rule: str) -> str: ...

    async def delete_onwards(self, row_id: str) -> None: ...


class MailboxSeries(Protocol):
    async def read_series(
        self, mailbox: str, master_id: str, start: datetime, end: datetime, policy: Policy
    ) -> Series | None: ...

    async def create_series(
        self, mailbox: str, fields: Mapping[str, object], rule: EwsRecurrence, categories: Sequence[str]
    ) -> Written: ...

    async def end_series(self, mailbox: str, master_id: str, last: date) -> Written: ...

    async def rebuild_series(
        self, mailbox: str, master_id: str, fields: Mapping[str, object], rule: EwsRecurrence
    ) -> Written: ...


@dataclass(slots=True)
class Touched:
    """What the streams said of series, for one user's pass."""

    sf_rows: set[str] = field(default_factory=set)  # row ids changed by someone else
    sf_series: set[str] = field(default_factory=set)  # ActivityRecurrence2Ids named by a change
    ex_masters: set[str] = field(default_factory=set)
    ex_singles: set[str] = field(default_factory=set)  # single items of expanded series (R-REC-6)
    # By Salesforce transaction key: the rows deleted and the series created in it (R-REC-5).
    deleted_in: dict[str, set[str]] = field(default_factory=dict)
    created_in: dict[str, set[str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)  # rows a change event said were deleted
    # A window reconcile: what reads as gone may have no change event (lost, or before a restart).
    window: bool = False

    def __bool__(self) -> bool:
        return bool(self.sf_rows or self.sf_series or self.ex_masters or self.ex_singles)

    def note(self, event_id: str, change: EventChange) -> None:
        """Keep what a row's change did in its transaction: Salesforce re-creates a series (a new start
        or pattern) by deleting its rows and creating a new series in one transaction."""
        if change.change_type is ChangeType.DELETE:
            self.deleted |= {event_id, *change.record_ids}
        key = change.transaction_key
        if not key:
            return
        if change.change_type is ChangeType.DELETE:
            self.deleted_in.setdefault(key, set()).update({event_id, *change.record_ids})
        created = change.fields.get("ActivityRecurrence2Id")
        if change.change_type is ChangeType.CREATE and created:
            self.created_in.setdefault(key, set()).add(str(created))

    def recreations(self) -> list[tuple[frozenset[str], str]]:
        """(rows deleted, series created) for each transaction that did both, oldest key first."""
        return [
            (frozenset(self.deleted_in[key]), series_id)
            for key in sorted(self.deleted_in.keys() & self.created_in.keys())
            for series_id in sorted(self.created_in[key])
        ]


def is_series_change(change: EventChange) -> bool:
    fields = change.fields
    return bool(fields.get("IsRecurrence2") or fields.get("ActivityRecurrence2Id"))


def split_salesforce(
    changes: dict[str, list[EventChange]], stored: Sequence[StoredSeries], touched: Touched
) -> None:
    """Take the changes of series rows out of `changes` (the pair road's work) into `touched`. An echo of
    the bridge's own write is dropped: the road re-reads what it wrote before it commits."""
    rows = {p.sf_id for s in stored for p in s.state.occurrences if p.sf_id}
    for event_id in list(changes):
        found = changes[event_id]
        if not (event_id in rows or any(is_series_change(c) for c in found)):
            continue
        if event_id not in rows and any(c.fields.get("IsChild") for c in found):
            continue  # an invitee's copy of a row: the pair road skips it (R-SCOPE-7)
        del changes[event_id]
        real = [c for c in found if not c.echo]
        if not real:
            continue
        touched.sf_rows.add(event_id)
        touched.sf_series |= {str(s) for c in real if (s := c.fields.get("ActivityRecurrence2Id"))}
        for change in real:
            touched.note(event_id, change)


def split_exchange(
    items: list[ExchangeItem], touched: Touched, stored: Sequence[StoredSeries] = ()
) -> list[ExchangeItem]:
    """The items of a mailbox sync that are not series masters, nor the single items of an expanded
    series (R-REC-6); those go to `touched` (a sync lists singles and masters only, never occurrences)."""
    masters = [i for i in items if i.is_recurring]
    touched.ex_masters |= {i.item_id for i in masters}
    held = _expanded_items(stored)
    touched.ex_singles |= {i.item_id for i in items if i.item_id in held}
    return [i for i in items if not i.is_recurring and i.item_id not in held]


def series_deletions(deleted: Sequence[str], stored: Sequence[StoredSeries], touched: Touched) -> None:
    """The items a mailbox sync lists as deleted that a stored series holds: its master (the whole series'
    deletion, R-REC-7) or one of an expanded series' single items (R-REC-4); the series road reads them."""
    touched.ex_masters |= {i for i in deleted if any(s.state.ex_series == i for s in stored)}
    held = _expanded_items(stored)
    touched.ex_singles |= {i for i in deleted if i in held}


def _expanded_items(stored: Sequence[StoredSeries]) -> set[str]:
    return {p.ex_id for s in stored if s.state.expanded for p in s.state.occurrences if p.ex_id}


def claimed(stored: Sequence[StoredSeries]) -> tuple[set[str], set[str]]:
    """The Salesforce rows and Exchange occurrences the stored series hold, kept out of the pair road's
    unpaired pass (they would only be skipped there as recurring, with an issue each)."""
    sf = {p.sf_id for s in stored for p in s.state.occurrences if p.sf_id}
    ex = {p.ex_id for s in stored for p in s.state.occurrences if p.ex_id}
    ex |= {s.state.ex_series for s in stored if s.state.ex_series}
    return sf, ex


def leave_series(
    events: Sequence[EventRecord],
    items: Sequence[ExchangeItem],
    held: tuple[set[str], set[str]],
    touched: Touched,
) -> tuple[list[EventRecord], list[ExchangeItem]]:
    """The events and items of a window read that the pair road's unpaired pass takes: not the records
    stored series hold (`claimed`), nor any Lightning row or Exchange occurrence, which are the series
    road's. The rows of series not stored yet go to `touched` (an invitee's copy excepted, R-SCOPE-7);
    an occurrence's master comes from the mailbox sync, which lists masters."""
    held_sf, held_ex = held
    rows = [e for e in events if e.fields.get("IsRecurrence2") and e.id not in held_sf]
    touched.sf_rows |= {e.id for e in rows if not e.fields.get("IsChild")}
    singles = [e for e in events if not e.fields.get("IsRecurrence2") and e.id not in held_sf]
    return singles, [i for i in items if not i.is_recurring and i.item_id not in held_ex]


class SeriesRoad:
    """Reads, plans, writes and stores the series one pass touched, one series at a time. Observing
    (issue 9's observe mode), it reads and plans them and reports the plans, writing and storing nothing."""

    observing = False
    heirs: SeriesHeirs | None = None  # R-MULTI-4 for series (`bridge.runtime.series_heirs`)

    def __init__(
        self,
        salesforce: SalesforcePort,
        exchange: MailboxPort,
        store: Store,
        metrics: RuntimeMetrics | None = None,
    ) -> None:
        self.salesforce = salesforce
        self.exchange = exchange
        self.store = store
        self.metrics = metrics or RuntimeMetrics()
        # Salesforce transactions whose deletions emptied a series while no series created in them was
        # seen yet, and since when (monotonic) they are waited for (R-REC-5); a bounded number, oldest first.
        self._waited: dict[str, float] = {}
        self.zones = OwnerZones(salesforce)  # the owners' Salesforce zones, where their series repeat
        # The single records last read (expanded copies, split events) by id, for the journal's "before"
        # of the writes a plan makes to them (issue 9's undo); a bounded number, oldest first.
        self.copies: dict[str, EventRecord | ExchangeItem] = {}
        # Series key -> the attendees taken off its old rows, until rows made anew are given invitees.
        self._taken_off: dict[str, frozenset[str]] = {}

    def _keep(self, record_id: str, copy: EventRecord | ExchangeItem) -> None:
        self.copies.pop(record_id, None)
        self.copies[record_id] = copy
        while len(self.copies) > _COPIES_KEPT:
            del self.copies[next(iter(self.copies))]

    async def _observe(
        self, ctx: UserContext, key: str, commands: Sequence[Command], issues: Sequence[Issue] = ()
    ) -> None:
        """Observe mode (issue 9): what the series' plan would do is kept for `calbridge observe-report`;
        nothing is written, nor stored of the series."""
        seen = series_journal.observed(ctx.user_id, key, commands, datetime.now(UTC), issues)
        await journal_of(self.store).observe(ctx.user_id, [seen] if seen else [], [] if seen else [key])
        self.metrics.plans(1)
        if seen is not None and seen.writes:
            would = dict(sorted(Counter(seen.writes).items()))
            log.info("observe_planned", extra={"user": ctx.user_id, "series": key, "would_write": would})

    async def _journal(self, entries: Sequence[JournalEntry]) -> None:
        await record_series_writes(self.store, entries)

    def available(self) -> bool:
        return hasattr(self.salesforce, "read_series") and hasattr(self.exchange, "read_series")

    @property
    def _sf(self) -> SalesforceSeries:
        return self.salesforce  # type: ignore[return-value]

    @property
    def _ex(self) -> MailboxSeries:
        return self.exchange  # type: ignore[return-value]

    async def run(self, ctx: UserContext, touched: Touched, now: datetime) -> None:
        """Plan every series `touched` names. Raises TransientError when a service is away (the caller's
        pass is retried; the series are read again then)."""
        if not self.available():
            return
        observed = await self._observed_before(ctx, touched)
        if not touched:
            return
        stored = await self._recreated(
            ctx, [s.state for s in await self.store.series_of(ctx.user_id)], touched
        )
        by_sf = {s.sf_series: s for s in stored if s.sf_series}
        by_ex = {s.ex_series: s for s in stored if s.ex_series}
        by_row = {p.sf_id: s for s in stored for p in s.occurrences if p.sf_id}
        by_item = {p.ex_id: s for s in stored if s.expanded for p in s.occurrences if p.ex_id}
        # A record an expanded series holds on its single copies' side names the series on its origin's.
        held = [by_row[r] for r in touched.sf_rows if r in by_row]
        held += [by_item[i] for i in touched.ex_singles if i in by_item]
        touched.ex_masters |= {s.ex_series for s in held if s.ex_series and not s.sf_series}
        wanted_sf = set(touched.sf_series) | {s.sf_series for s in held if s.sf_series}
        unknown = sorted(r for r in touched.sf_rows if r not in by_row)
        if unknown:
            wanted_sf |= set((await self._sf.series_ids(unknown)).values())
        work: dict[str, tuple[SeriesState | None, str | None, str | None]] = {}
        for series_id in sorted(wanted_sf - {""}):
            state = by_sf.get(series_id)
            key = state.key if state else f"series:sf:{series_id}"
            work[key] = (state, series_id, state.ex_series if state else None)
        for master_id in sorted(touched.ex_masters):
            state = by_ex.get(master_id)
            key = state.key if state else f"series:ex:{master_id}"
            work[key] = (state, state.sf_series if state else None, master_id)
        for state, sf_id, ex_id in work.values():
            try:
                async with self._claim(ctx, state, sf_id, ex_id) as taken:
                    if taken:
                        await self._one(ctx, state, sf_id, ex_id, now, touched)
            except (MappingError, RefusedError) as error:  # this series only; the others go on
                issue = make_issue(IssueCode.RECURRING, ctx.user_id, sf_id, ex_id, str(error))
                log.warning("series_skipped", extra={"user": ctx.user_id, "series": sf_id or ex_id,
                                                      "reason": str(error)})  # fmt: skip
                if self.observing:
                    await self._observe(ctx, state.key if state else f"series:{sf_id or ex_id}", (), [issue])
                    continue
                await self._commit(ctx, None, [issue], [])
        if observed:  # planned with writes on now: no longer what turning writes on would do
            await journal_of(self.store).observe(ctx.user_id, [], observed)

    def _claim(
        self, ctx: UserContext, state: SeriesState | None, sf_id: str | None, ex_id: str | None
    ) -> AbstractAsyncContextManager[bool]:
        """R-MULTI-1: an Outlook series not stored yet is taken under a claim on its meeting, so that two
        enrolled recipients of one outside organizer's series never make two (`SeriesHeirs.claim`)."""
        if self.heirs is None or self.observing or state is not None or sf_id is not None or ex_id is None:
            return nullcontext(True)
        return self.heirs.claim(ctx.user_id, ctx.policy, ctx.mailbox, ex_id)

    async def _observed_before(self, ctx: UserContext, touched: Touched) -> list[str]:
        """In a window reconcile with writes on: the series the user's observe mode planned (issue 9), their
        masters touched. A master seen while observing is no longer in the mailbox sync's changes (its sync
        state moved on), and the window shows occurrences only; a Lightning series shows by its rows."""
        if not touched.window or self.observing:
            return []
        keys = [
            p.key for p in await journal_of(self.store).observed(ctx.user_id) if p.key.startswith("series:")
        ]
        touched.ex_masters |= {k.removeprefix("series:ex:") for k in keys if k.startswith("series:ex:")}
        return keys

    async def _recreated(
        self, ctx: UserContext, stored: list[SeriesState], touched: Touched
    ) -> list[SeriesState]:
        """R-REC-5: a series Salesforce re-created (every row the state knows deleted in the transaction
        that created another series) is one change: its state is re-keyed to the new series, whose plan
        then rebuilds the other side in place, keeping exceptions; never a deletion and a new series.
        The old rows leave `touched`: read alone they are a whole series gone (R-REC-7)."""
        for deleted, series_id in touched.recreations():
            if any(s.sf_series == series_id for s in stored):
                continue
            olds = [
                s for s in stored if s.sf_series and not s.ended and _rows_of(s) and _rows_of(s) <= deleted
            ]
            created = await self._sf.read_series(series_id, {}) if olds else None
            for state in olds:
                rekeyed = recreation(state, deleted, created) if created is not None else None
                if rekeyed is None:
                    continue
                if state.expanded:  # R-REC-6: the copies of starts the new pattern lacks are to go
                    rekeyed = _dropped_kept(state, rekeyed)
                log.info("series_recreated", extra={"user": ctx.user_id, "series": state.key,
                                                     "salesforce_id": series_id,
                                                     "previous_id": state.sf_series})  # fmt: skip
                stored = [rekeyed if s is state else s for s in stored]
                if self.heirs is not None and not self.observing and state.sf_series:
                    await self.heirs.rebound(ctx.user_id, state.sf_series, rekeyed)  # R-MULTI-4: followers
                touched.sf_rows -= deleted
                touched.sf_series.discard(state.sf_series or "")
                touched.sf_series.add(series_id)
                break
        return stored

    async def _one(
        self,
        ctx: UserContext,
        state: SeriesState | None,
        sf_id: str | None,
        ex_id: str | None,
        now: datetime,
        touched: Touched,
    ) -> None:
        for _round in range(_ROUNDS):
            state, sf, ex = await self._read(ctx, state, sf_id, ex_id, now)
            if state is None and not self.observing:
                state, sf, ex = await self._recovered(ctx, sf, ex, now)
            if await self._unfollowed(ctx, state, ex):
                return
            gone = _gone_side(state, sf, ex)
            # R-DEL-3 part-way: the Lightning series the unsync deleted reads gone; the unsync is finished.
            finishing = (
                gone is Side.SALESFORCE and state is not None and unsync_pending(state, ex, ctx.policy)
            )
            gone = None if finishing else gone
            if state is not None and gone is Side.SALESFORCE:
                if not (touched.window or _rows_of(state) & touched.deleted):
                    # Read gone before the change events of its deletion came (a Lightning pattern
                    # edit re-creates a series, R-REC-5): the pass those events bring decides.
                    log.info("series_gone_unconfirmed", extra={"user": ctx.user_id, "series": state.key,
                                                               "salesforce_id": state.sf_series})  # fmt: skip
                    return
                self._wait_for_recreation(state, touched)
            if state is not None and gone is not None:
                await self._gone(ctx, state, gone, sf if gone is Side.EXCHANGE else ex)
                return
            if await self._unsync_passed(ctx, state, sf, ex):
                return
            if state is not None and state.ended and await self._shared_again(ctx, state, ex):
                return
            if finishing and state is not None and ex is not None:
                planned = SeriesPlan(*finish_unsync(state, ex, ctx.policy))
            else:
                planned = plan_series(state, sf, ex, ctx.policy, now)
            if self.observing:
                known = planned.state or state
                await self._observe(ctx, known.key if known else f"series:{sf_id or ex_id}", planned.commands)
                return
            missing = [c for c in planned.commands if not isinstance(c, BUILT)]
            if missing:
                detail = "Not synced yet: " + ", ".join(sorted({type(c).__name__ for c in missing})) + "."
                issue = make_issue(IssueCode.RECURRING, ctx.user_id, sf_id, ex_id, detail)
                log.warning("series_skipped", extra={"user": ctx.user_id, "series": sf_id or ex_id,
                                                      "reason": detail})  # fmt: skip
                await self._commit(ctx, state, [issue], [])
                return
            if planned.state is None:
                return
            writes = _Writes(self, ctx, planned, sf, ex, state)
            result = await writes.run()
            if not result.failed:
                await self._invitees(ctx, state, result, sf, ex)
            elif result.state.ended and state is not None and not state.ended:
                # An unsync stopped on a refused write: kept as it was, the next pass finishes it and
                # closes the issue, named as the series it keeps.
                result.state = unsync_interrupted(state, result.opened[0].code if result.opened else None)
                named = (state.sf_series, state.ex_series)
                result.opened = [replace(i, sf_id=named[0], ex_id=named[1]) for i in result.opened]
            await self._journal(writes.journal)
            await self._commit(ctx, result.state, result.opened, result.closed)
            self._report(ctx, result, planned)
            if not result.created:
                return
            state, sf_id, ex_id = result.state, result.state.sf_series, result.state.ex_series

    async def _invitees(
        self,
        ctx: UserContext,
        before: SeriesState | None,
        result: _Result,
        sf: Series | None,
        ex: Series | None,
    ) -> None:
        """R-REC-7: the Outlook master's attendee changes since the series' Exchange base on every Lightning
        row, as relations (`bridge.core.series_invitees`); every attendee on the rows this plan made (the
        series created or rebuilt, R-REC-5, or an occurrence split out, R-REC-3). For an Outlook series
        expanded into single events (R-REC-6), each occurrence's attendees on its own event. Written before
        the state is committed; when Salesforce is away the state keeps the old attendee base, so the next
        change or reconcile writes them again."""
        after = result.state
        policy = ctx.policy
        if self.heirs is not None and before is not None and before.sf_series and after.sf_series:
            await self.heirs.rebound(ctx.user_id, before.sf_series, after)  # R-REC-5: its followers follow
        if ex is None or after.ended or (after.sf_series is None and not after.expanded):
            return
        if after.masked is not None or not writable(Side.SALESFORCE, after, sf, policy):
            return
        if after.expanded:
            groups = _expanded_invitees(before, after, ex)
        elif after.base_ex is None:
            return
        else:
            groups = _series_invitees(before, after, ex)
            # R-REC-5: who was taken off the old rows stays off the new ones, which a rebuild to other
            # days binds only in the plan's next round (`taken_off`), when the state holds no old row
            if before is not None and _rows_of(before):
                self._taken_off.pop(after.key, None)
                if off := taken_off(before, sf):
                    self._taken_off[after.key] = off
        wanted = sorted({row for _, _, rows in groups for row in rows})
        if not groups:  # every attendee of the master is in the base: none is left unresolved
            _unresolved(result, set(), policy)
        if not wanted:
            return
        try:
            read = await self.salesforce.read_events(wanted)
            held = {i: {r.relation_id: r.status for r in e.relations} for i, e in read.items()}
            emails = sorted({a.email for base, now, _ in groups for a in (*(base or ()), *now)})
            directory = await self.salesforce.resolve(emails)
            commands: list[Command] = []
            off = self._taken_off.pop(after.key, frozenset())
            for base, now, rows in groups:
                found = {row: held[row] for row in rows if row in held}
                commands += series_invitee_writes(
                    base, now, found, directory, policy, off if base is None else ()
                )
            for command in commands:
                await self._relation(command)
                result.done.append(command)
            # R-ATT-8: an address that resolves to nobody stays out of the base, so the next change or
            # window reconcile of the series tries it again, as the pair road does for a single event.
            nobody = {
                a.email.lower() for _, now, _ in groups for a in now if resolve(a.email, directory) is None
            }
            if after.expanded:  # each occurrence's attendees are in step now: its pair's base says so
                written = {row: _known(now, nobody) for _, now, rows in groups for row in rows}
                result.state = _with_attendees(after, written)
            elif nobody and after.base_ex is not None:
                known = _known(after.base_ex.attendees, nobody)
                result.state = replace(after, base_ex=replace(after.base_ex, attendees=known))
            _unresolved(result, nobody, policy)
        except TransientError as error:
            log.warning("series_invitees_waiting", extra={"user": ctx.user_id, "series": after.key,
                                                          "reason": str(error)})  # fmt: skip
            if after.base_ex is not None and before is not None and before.base_ex is not None:
                old = before.base_ex.attendees
                result.state = replace(after, base_ex=replace(after.base_ex, attendees=old))

    async def _relation(self, command: Command) -> None:
        salesforce = self.salesforce
        try:
            if isinstance(command, AddAttendeeRelation):
                await salesforce.add_relation(str(command.event_id), command.relation_id, command.status)
            elif isinstance(command, UpdateAttendeeStatus):
                await salesforce.update_relation(str(command.event_id), command.relation_id, command.status)
            elif isinstance(command, RemoveAttendeeRelation):
                await salesforce.remove_relation(str(command.event_id), command.relation_id)
        except NotFoundError:
            return  # the row is gone: its deletion is planned on its own

    def _wait_for_recreation(self, state: SeriesState, touched: Touched) -> None:
        """R-REC-5: a Lightning pattern edit deletes every row and creates the new series in one
        transaction, whose change events may reach this pass only in part (the deletions first). A series
        whose rows a transaction deleted with no series created in it seen yet is not called deleted at
        once: the pass is retried a moment later with the rest of the transaction's events merged in, so
        the re-creation is seen as one change. For a few seconds only: a series deleted in Salesforce
        goes after that."""
        rows = _rows_of(state)
        now = time.monotonic()
        for key, deleted in sorted(touched.deleted_in.items()):
            if not deleted & rows or key in touched.created_in:
                continue
            since = self._waited.setdefault(key, now)
            while len(self._waited) > _WAITED_KEPT:
                del self._waited[next(iter(self._waited))]
            if (left := _RECREATION_WAIT_S - (now - since)) > 0:
                raise TransientError(
                    f"Salesforce transaction {key} deleted the rows of series {state.sf_series}: waiting for "
                    "the rest of its change events (a series re-created is one change)",
                    retry_after=min(_RECREATION_POLL_S, left),
                )

    async def _gone(self, ctx: UserContext, state: SeriesState, gone: Side, survivor: Series | None) -> None:
        """R-REC-7: a whole series gone on one side goes under the R-DEL table as one unit; the state is
        forgotten when nothing is left, else kept as the series' tombstone (R-DEL-9). An outside
        organizer's series another enrolled attendee follows passes to them instead (R-MULTI-4)."""
        heirs = self.heirs if gone is Side.EXCHANGE else None
        if heirs is not None and self.observing:  # issue 9: what passing it on would write
            would = await heirs.would_pass(ctx.policy, state, survivor, datetime.now(UTC))
            if would:
                await self._observe(ctx, state.key, would)
                return
        elif heirs is not None and await heirs.pass_on(ctx.policy, state, survivor, datetime.now(UTC)):
            return
        if state.expanded:  # R-REC-6: the single copies under the R-DEL table, one by one
            commands, after = plan_expanded_gone(state, survivor, ctx.policy)
        else:
            commands, after = plan_gone(state, gone, survivor, ctx.policy)
        if self.observing:
            await self._observe(ctx, state.key, commands)
            return
        if commands:
            planned = SeriesPlan(commands, state)
            sf, ex = (survivor, None) if gone is Side.EXCHANGE else (None, survivor)
            writes = _Writes(self, ctx, planned, sf, ex, state)
            result = await writes.run()
            await self._journal(writes.journal)
            self._report(ctx, result, planned)
            if result.opened:  # the write failed: the state stays as it was, and the issue says why
                await self._commit(ctx, state, result.opened, [])
                return
        closed = [(code, state.sf_series, state.ex_series) for code in state.open_issues]
        log.info("series_ended", extra={"user": ctx.user_id, "series": state.key, "gone": gone.value,
                                        "forgotten": after is None})  # fmt: skip
        await self._commit(ctx, after, [], closed, forget=state.key if after is None else None)

    async def _unfollowed(self, ctx: UserContext, state: SeriesState | None, ex: Series | None) -> bool:
        """R-MULTI with R-DEL-2/3 (kind E's cell for a follower): a follower of another enrolled attendee's
        series (`series_heirs`) deletes their copy or marks it `Salesforce Unsync`: their invitee relation
        goes from every row of the Lightning series, and the holder's series no longer passes to them
        (R-MULTI-4). An unsynced copy keeps a tombstone (R-DEL-9), a deleted one is forgotten. True when
        the state was a follower's mark that ended so (nothing else is planned for it)."""
        holder = followed_series(state.key) if state is not None else None
        if state is not None and state.key.startswith(LEFT_PREFIX):
            return await self._rejoined(ctx, state, ex)
        if state is not None and attended(state.key) is not None:
            # Kind E: an attendee's mark on their copy of a colleague's series, which is not synced on its
            # own; deleted (R-DEL-2) or unsynced (R-DEL-3), the attendee leaves the organizer's series.
            if ex is not None and not unsync_asked(ex, ctx.policy):
                return True
            holder = await attended_series(self.store, state.key)
            if holder is None and not self.observing:  # the organizer's series is gone: nothing to leave
                await self._commit(ctx, None, [], [], forget=state.key)
            if holder is None:
                return True
        elif state is None and ex is not None and unsync_asked(ex, ctx.policy) and self.heirs is not None:
            # Kind E: a colleague's meeting series, whose copy was never synced on its own.
            enrolled = self.heirs.enrolled
            holder = await colleague_series(
                self.exchange, self.store, enrolled, ctx.policy, ctx.mailbox, ex.id
            )
        elif state is None or holder is None or not (ex is None or unsync_asked(ex, ctx.policy)):
            return False
        if holder is None:
            return False
        key = state.key if state is not None else f"series:ex:{ex.id if ex else ''}"
        if self.observing:
            await self._observe(ctx, key, ())
            return True
        if self.heirs is not None:  # journaled, so `calbridge undo` makes them an invitee again
            await self.heirs.leave(ctx.user_id, key, state, holder)
        tombstone = None
        if ex is not None:  # R-DEL-9: kept apart from the user's own series' tombstones (`left_key`)
            tombstone = SeriesState(
                key=left_key(holder, ex.id), origin=Side.EXCHANGE, sf_series=None, ex_series=ex.id, ended=True
            )
        found = {"user": ctx.user_id, "series": key, "salesforce_id": holder}
        found["unsynced"] = str(ex is not None)
        log.info("series_unfollowed", extra=found)
        await self._commit(ctx, tombstone, [], [], forget=state.key if state is not None else None)
        return True

    async def _shared_again(self, ctx: UserContext, state: SeriesState, ex: Series | None) -> bool:
        """R-DEL-9 with R-MULTI-1: a tombstone given the `Salesforce` category again is not taken up as a
        series of this user's own when it is a meeting another enrolled person has too (an outside
        organizer's series passed on to them when this user unsynced it, R-MULTI-4): that could be a
        second Lightning series for the meeting. It stays a tombstone, logged. True then."""
        if ex is None or self.heirs is None or not opted_in_again(state, ex, ctx.policy):
            return False
        enrolled = self.heirs.enrolled
        if not await shared_meeting(self.exchange, enrolled, ctx.policy, ctx.mailbox, ex.id):
            return False
        if self.observing:
            await self._observe(ctx, state.key, ())
            return True
        # The series another enrolled person holds of the meeting (it passed to them, R-MULTI-4): this user
        # is an invitee of every row again, and a holder it can pass to (a follower's mark, R-DEL-9).
        holder = await self.heirs.holder_of(ctx.user_id, ctx.mailbox, ex.id)
        if holder is not None and await rejoin(
            self.salesforce, self.exchange, ctx.user_id, ctx.mailbox, ex.id, holder
        ):
            found = {"user": ctx.user_id, "series": state.key, "salesforce_id": holder}
            log.info("series_rejoined", extra=found)
            await self._commit(ctx, follower(holder, ex.id), [], [], forget=state.key)
            return True
        why = "a meeting another enrolled person has, held by nobody"
        log.info("series_not_taken_up", extra={"user": ctx.user_id, "series": state.key, "reason": why})
        return True

    async def _rejoined(self, ctx: UserContext, state: SeriesState, ex: Series | None) -> bool:
        """R-DEL-9 for an attendee who left another's series (`_unfollowed`): their copy given the
        `Salesforce` category again makes them an invitee of every row again; a follower of an outside
        organizer's series (kind D) follows it again (R-MULTI-4), a colleague's copy (kind E) is left out of
        the series road as before. True: nothing else is planned for the state."""
        holder = left_series(state.key)
        policy = ctx.policy
        if ex is None or holder is None or policy.sync_category not in ex.categories:
            return True
        if policy.unsync_category in ex.categories:
            return True
        if self.observing:
            await self._observe(ctx, state.key, ())
            return True
        if not await rejoin(self.salesforce, self.exchange, ctx.user_id, ctx.mailbox, ex.id, holder):
            return True  # the series is gone: the tombstone stays
        enrolled = self.heirs.enrolled if self.heirs is not None else {}
        copy = (await self.exchange.read_items(ctx.mailbox, [ex.id])).get(ex.id)
        colleague = (
            await colleague_mark(self.exchange, self.store, enrolled, ctx.user_id, copy) if copy else None
        )
        mark = colleague or follower(holder, ex.id)
        log.info("series_rejoined", extra={"user": ctx.user_id, "series": state.key, "salesforce_id": holder})
        await self._commit(ctx, mark, [], [], forget=state.key)
        return True

    async def _unsync_passed(
        self, ctx: UserContext, state: SeriesState | None, sf: Series | None, ex: Series | None
    ) -> bool:
        """R-MULTI-4 with R-DEL-3: the owner of an outside organizer's series (kind D) sets `Salesforce
        Unsync` on their master while another enrolled recipient follows it: the Lightning series passes
        to them, as when the owner deletes their copy (`SeriesHeirs.pass_on`); the owner's master loses
        the bridge's categories and keeps a tombstone (R-DEL-9). True when it was passed on."""
        heirs = self.heirs
        if heirs is None or state is None or state.ended or state.expanded or sf is None or ex is None:
            return False
        if not unsync_asked(ex, ctx.policy):
            return False
        if self.observing:  # issue 9: what passing it on would write
            would = await heirs.would_pass(ctx.policy, state, sf, datetime.now(UTC))
            if would:
                await self._observe(ctx, state.key, would)
            return bool(would)
        if not await heirs.pass_on(ctx.policy, state, sf, datetime.now(UTC)):
            return False
        ours = (ctx.policy.sync_category, ctx.policy.error_category)
        held = tuple(c for c in ours if c in ex.categories)
        tombstone = replace(
            state,
            ended=True,
            sf_series=None,
            sf_version=None,
            ex_version=None,
            occurrences=(),
            open_issues=frozenset(),
        )
        opened: list[Issue] = []
        if held:
            planned = SeriesPlan((UpdateItem(ex.id, None, remove_categories=held),), tombstone)
            writes = _Writes(self, ctx, planned, None, ex, state)
            result = await writes.run()
            await self._journal(writes.journal)
            self._report(ctx, result, planned)
            opened += result.opened  # the category write failed: the issue says why
        closed = [(code, state.sf_series, state.ex_series) for code in state.open_issues]
        log.info("series_unsynced_passed_on", extra={"user": ctx.user_id, "series": state.key})
        await self._commit(ctx, tombstone, opened, closed)
        return True

    async def _read(
        self, ctx: UserContext, state: SeriesState | None, sf_id: str | None, ex_id: str | None, now: datetime
    ) -> tuple[SeriesState | None, Series | None, Series | None]:
        """Both sides' series, and the state with the Salesforce rows still being deleted (R-REC-4)."""
        known = {p.sf_id: p.original_start for p in state.occurrences if p.sf_id} if state else {}
        sf = await self._sf.read_series(sf_id, known) if sf_id else None
        if sf is not None and state is not None:
            state, sf = without_deleting(state, sf)
            sf = await self._with_singles(sf, state)
        ex = None
        if ex_id:
            start, end = now - ctx.policy.past, now + ctx.policy.future
            ex = await self._ex.read_series(ctx.mailbox, ex_id, start, end, ctx.policy)
        if state is not None and state.expanded and not state.ended:
            if state.origin is Side.SALESFORCE:
                ex = await self._singles(ctx, state, Side.EXCHANGE, sf)
            else:
                sf = await self._singles(ctx, state, Side.SALESFORCE, ex)
        if ex is not None or (sf is not None and state is not None):
            sf, ex = in_one_zone(state, sf, ex, await self.zones.of(ctx.user_id))
        return state, sf, ex

    async def _recovered(
        self, ctx: UserContext, sf: Series | None, ex: Series | None, now: datetime
    ) -> tuple[SeriesState | None, Series | None, Series | None]:
        """R-PAIR-1 for an expanded series the store does not know (lost, or never committed): its single
        copies name their occurrence (an Outlook item its row's id, a Salesforce event its occurrence's
        item id), so a window read finds them and they are paired again, never created twice. The state
        and the copies read, or no state when none is found."""
        source = sf if ex is None else ex if sf is None else None
        if source is None or source.mappable or not source.occurrences:
            return None, sf, ex
        start, end = now - ctx.policy.past, now + ctx.policy.future
        starts = {o.id: o.original_start for o in source.occurrences}
        found: dict[datetime, str] = {}
        if source.side is Side.SALESFORCE:
            for item in await self.exchange.window_items(ctx.mailbox, start, end):
                named = item_from_exchange(item, ctx.policy).paired_id if not item.is_recurring else None
                if named in starts:
                    found[starts[named]] = item.item_id
        else:
            events = (await self.salesforce.window_events([ctx.user_id], start, end)).get(ctx.user_id, [])
            for record in events:
                if record.fields.get("IsRecurrence2") or record.fields.get("IsChild"):
                    continue
                named = copy_of_event(record).paired_id
                if named in starts:
                    found[starts[named]] = record.id
        if not found:
            return None, sf, ex
        log.info("series_recovered", extra={"user": ctx.user_id, "series": source.id, "copies": len(found)})
        own = {o.original_start: o.id for o in source.occurrences}
        pairs = tuple(
            OccurrencePair(key, own[key], twin)
            if source.side is Side.SALESFORCE
            else OccurrencePair(key, twin, own[key])
            for key, twin in sorted(found.items())
        )
        state = replace(fresh(source, None), occurrences=pairs)
        singles = await self._singles(ctx, state, source.side.other, source)
        return (state, source, singles) if source.side is Side.SALESFORCE else (state, singles, source)

    async def _singles(self, ctx: UserContext, state: SeriesState, side: Side, like: Series | None) -> Series:
        """The single copies of an expanded series on `side` (R-REC-6), read by the ids its pairs hold and
        keyed by their original starts; a copy missing from the answer is gone."""
        held = {
            held_id: p.original_start
            for p in state.occurrences
            if (held_id := p.sf_id if side is Side.SALESFORCE else p.ex_id) is not None
        }
        found: list[Occurrence] = []
        if side is Side.EXCHANGE and held:
            items = await self.exchange.read_items(ctx.mailbox, sorted(held))
            for item_id, item in sorted(items.items()):
                self._keep(item_id, item)
                copy = item_from_exchange(item, ctx.policy)
                found.append(
                    Occurrence(held[item_id], copy.id, copy.content, copy.version, categories=copy.categories)
                )
        elif held:
            events = await self.salesforce.read_events(sorted(held))
            for event_id, record in sorted(events.items()):
                self._keep(event_id, record)
                copy = copy_of_event(record)
                found.append(Occurrence(held[event_id], copy.id, copy.content, copy.version))
        return singles_series(side, found, like)

    async def _with_singles(self, sf: Series, state: SeriesState) -> Series:
        """The Salesforce series with its split occurrences' single events (R-REC-3) among its
        occurrences, at their original starts: they left the series' rows but stay paired, so an edit of
        one still travels and the pattern's gap there is no deletion. One missing is deleted (R-REC-4)."""
        split = {p.sf_id: p.original_start for p in state.occurrences if p.split and p.sf_id}
        if not split:
            return sf
        read = await self.salesforce.read_events(sorted(split))
        singles = []
        for event_id, record in sorted(read.items()):
            self._keep(event_id, record)
            copy = copy_of_event(record)
            singles.append(Occurrence(split[event_id], copy.id, copy.content, copy.version, exception=True))
        if not singles:
            return sf
        held = {o.original_start for o in singles}
        rows = [o for o in sf.occurrences if o.original_start not in held]
        starts = [o.original_start for o in singles] + ([sf.last_start] if sf.last_start else [])
        return replace(
            sf,
            occurrences=tuple(sorted((*rows, *singles), key=lambda o: o.original_start)),
            version="+".join((sf.version, *(o.version for o in singles))),
            last_start=max(starts),
        )

    def _report(self, ctx: UserContext, result: _Result, planned: SeriesPlan) -> None:
        """As the pair road does (docs/ops.md): one `series_written` line per plan that wrote, counted in
        the plan and write metrics, and each issue it raised."""
        self.metrics.plans(1)
        for issue in result.opened:
            self.metrics.issue(issue.code.value)
            log.info(
                "issue_raised",
                extra={"user": ctx.user_id, "code": issue.code.value, "salesforce_id": issue.sf_id,
                       "exchange_id": issue.ex_id, "reason": issue.message},
            )  # fmt: skip
        written = Counter(side for c in result.done for side in _written_sides(c))
        if not written:
            return
        for side, count in written.items():
            self.metrics.writes(side.value, count)
        kinds = Counter(type(c).__name__ for c in result.done if _written_sides(c))
        state = result.state
        log.info(
            "series_written",
            extra={
                "user": ctx.user_id,
                "series": state.key,
                "commands": dict(sorted(kinds.items())),
                "direction": "both" if len(written) > 1 else _DIRECTION[next(iter(written))],
                "salesforce_id": state.sf_series,
                "exchange_id": state.ex_series,
                "dropped_exceptions": len(planned.dropped),
            },
        )

    async def _commit(
        self,
        ctx: UserContext,
        state: SeriesState | None,
        opened: Sequence[Issue],
        closed: Sequence[tuple[IssueCode, str | None, str | None]],
        forget: str | None = None,
    ) -> None:
        now = datetime.now().astimezone()
        commit = Commit(user_id=ctx.user_id)
        stones = item_tombstones(state, now) if state is not None else None
        if stones is not None and state is not None:  # R-DEL-9: its items stand alone now
            commit.pairs += [StoredPair(ctx.user_id, stone) for stone in stones]
            forget = state.key
        elif state is not None:
            commit.series.append(StoredSeries(ctx.user_id, state))
        if forget is not None:
            commit.forget_series.append(forget)
        for issue in opened:
            commit.issues_opened.append(
                StoredIssue(ctx.user_id, issue.code.value, issue.sf_id, issue.ex_id, issue.message, now, now)
            )
        commit.issues_closed += [(code.value, sf_id, ex_id) for code, sf_id, ex_id in closed]
        await self.store.commit(commit)


def _unresolved(result: _Result, nobody: set[str], policy: Policy) -> None:
    """R-ATT-8 with R-REC-7: addresses of the series' attendees that resolve to nobody are listed in an
    info entry (I-UNRESOLVED-ATTENDEE, no `Sync Error`), as for a single event; it closes once every
    attendee resolves (or the unresolved ones left the series)."""
    code, state = IssueCode.UNRESOLVED_ATTENDEE, result.state
    if nobody and code not in state.open_issues:
        detail = ", ".join(sorted(nobody))
        result.opened.append(make_issue(code, policy.user_id, state.sf_series, state.ex_series, detail))
        result.state = replace(state, open_issues=state.open_issues | {code})
    elif not nobody and code in state.open_issues:
        result.closed.append((code, state.sf_series, state.ex_series))
        result.state = replace(state, open_issues=state.open_issues - {code})


def _dropped_kept(old: SeriesState, rekeyed: SeriesState) -> SeriesState:
    """An expanded series re-created by Salesforce (R-REC-5, R-REC-6): the pairs of original starts the
    new series no longer gives are kept without their row, so the plan deletes their single copies."""
    kept = {p.original_start for p in rekeyed.occurrences}
    dropped = [replace(p, sf_id=None, split=False) for p in old.occurrences if p.original_start not in kept]
    pairs = sorted((*rekeyed.occurrences, *dropped), key=lambda p: p.original_start)
    return replace(rekeyed, occurrences=tuple(pairs))


_InviteeGroup = tuple[tuple[Attendee, ...] | None, tuple[Attendee, ...], list[str]]


def _series_invitees(before: SeriesState | None, after: SeriesState, ex: Series) -> list[_InviteeGroup]:
    """A Lightning series: the master's attendees against the Exchange base on the rows it had, and all of
    them on the rows this plan made."""
    old = before.base_ex if before is not None and before.sf_series is not None else None
    base = old.attendees if old is not None else None
    current = ex.content.attendees
    rows = {p.sf_id for p in after.occurrences if p.sf_id}
    known = (
        {p.sf_id for p in before.occurrences if p.sf_id} if before is not None and base is not None else set()
    )
    fresh = sorted(rows - known)
    groups: list[_InviteeGroup] = [(None, current, fresh)] if fresh and current else []
    if base is not None and tuple(base) != tuple(current):
        groups.append((base, current, sorted(rows & known)))
    return groups


def _known(attendees: Sequence[Attendee], nobody: set[str]) -> tuple[Attendee, ...]:
    return tuple(a for a in attendees if a.email.lower() not in nobody)


def _with_attendees(state: SeriesState, written: Mapping[str, tuple[Attendee, ...]]) -> SeriesState:
    pairs = tuple(
        replace(p, base=replace(p.base, attendees=written[p.sf_id]))
        if p.sf_id is not None and p.sf_id in written and p.base is not None
        else p
        for p in state.occurrences
    )
    return replace(state, occurrences=pairs)


def _expanded_invitees(before: SeriesState | None, after: SeriesState, ex: Series) -> list[_InviteeGroup]:
    """An Outlook series expanded into single events (R-REC-6): each occurrence's attendees against its
    pair's base, on its own event; all of them on an event this plan made."""
    if after.origin is not Side.EXCHANGE:
        return []
    groups: list[_InviteeGroup] = []
    for pair in after.occurrences:
        found = ex.occurrence(pair.original_start)
        if pair.sf_id is None or found is None:
            continue
        prev = before.pair_at(pair.original_start) if before is not None else None
        kept = prev is not None and prev.sf_id == pair.sf_id and prev.base is not None
        base = prev.base.attendees if kept and prev is not None and prev.base is not None else None
        if base is None and not found.content.attendees:
            continue
        if base is None or tuple(base) != tuple(found.content.attendees):
            groups.append((base, found.content.attendees, [pair.sf_id]))
    return groups


def _rows_of(state: SeriesState) -> set[str]:
    """The rows of a state's Salesforce series (a split occurrence's single event is no row of it)."""
    return {p.sf_id for p in state.occurrences if p.sf_id and not p.split}


def _gone_side(state: SeriesState | None, sf: Series | None, ex: Series | None) -> Side | None:
    """The side whose stored series read as gone (a deleted master; no row left), if one did. A Lightning
    series whose rows the state no longer holds was emptied by the bridge's own writes (its last row
    deleted for an Outlook occurrence, or ended there), whose echoes are dropped: no deletion in
    Salesforce (R-DEL-5)."""
    if state is None or state.ended:
        return None
    read = {Side.SALESFORCE: sf, Side.EXCHANGE: ex}
    held = {Side.SALESFORCE: bool(_rows_of(state)), Side.EXCHANGE: True}
    return next((side for side in Side if state.series_of(side) and read[side] is None and held[side]), None)


@dataclass(slots=True)
class _Result:
    state: SeriesState
    opened: list[Issue] = field(default_factory=list)
    closed: list[tuple[IssueCode, str | None, str | None]] = field(default_factory=list)
    created: bool = False
    done: list[Command] = field(default_factory=list)  # the commands carried out, in order
    failed: bool = False  # a write was refused: the plan stopped there


InviteeWrite = AddAttendeeRelation | UpdateAttendeeStatus | RemoveAttendeeRelation
_DIRECTION = {Side.SALESFORCE: "to_salesforce", Side.EXCHANGE: "to_exchange"}


def _written_sides(command: Command) -> tuple[Side, ...]:
    """Where a series command writes (an issue command writes to neither service)."""
    if isinstance(command, SplitOccurrence | UpdateEvent | DeleteEvent | InviteeWrite):
        return (Side.SALESFORCE,)
    if isinstance(command, UpdateItem | DeleteItem):
        return (Side.EXCHANGE,)
    side = getattr(command, "side", None)
    return (side,) if isinstance(side, Side) else ()


class _Writes:
    """One series plan's commands through the ports, in order. A write that fails stops the plan: the
    state stored is the one before it, with what was created bound (so nothing is created twice)."""

    def __init__(
        self,
        road: SeriesRoad,
        ctx: UserContext,
        planned: SeriesPlan,
        sf: Series | None,
        ex: Series | None,
        prior: SeriesState | None,
    ) -> None:
        assert planned.state is not None
        self.road, self.ctx, self.planned, self.prior = road, ctx, planned, prior
        self.read = {Side.SALESFORCE: sf, Side.EXCHANGE: ex}
        self.result = _Result(planned.state)
        self.renamed: dict[str, str] = {}  # a Salesforce series rebuilt under a new id (R-REC-5)
        self.journal: list[JournalEntry] = []  # the writes made, for `calbridge undo` (issue 9)

    def _note(self, command: Command, record_id: str, made: str | None = None) -> None:
        master = self.read[Side.EXCHANGE]
        categories = sorted(master.categories) if master is not None else None
        copy = self.road.copies.pop(record_id, None)
        key, at = self.result.state.key, datetime.now(UTC)
        found = series_journal.entry(
            self.ctx.user_id, key, command, record_id, at, made, categories, copy, self.prior
        )
        if found is not None:
            self.journal.append(found)

    async def run(self) -> _Result:
        for command in self.planned.commands:
            try:
                await self._command(command)
                self.result.done.append(command)
            except NotFoundError:
                continue  # already gone there: the next read shows it
            except TransientError:
                raise
            except CalbridgeError as error:
                sf_id, ex_id = self.result.state.sf_series, self.result.state.ex_series
                code = (
                    IssueCode.SF_VALIDATION
                    if getattr(error, "side", None) is Side.SALESFORCE
                    else IssueCode.EXCHANGE_REFUSED
                )
                self.result.opened.append(make_issue(code, self.ctx.user_id, sf_id, ex_id, str(error)))
                self.result.failed = True
                log.warning("series_write_failed", extra={"user": self.ctx.user_id, "reason": str(error)})
                break
        return self.result

    def _series(self, side: Side, named: object) -> str:
        state = self.result.state
        found = state.series_of(side) if isinstance(named, Created) else str(named)
        found = self.renamed.get(found, found) if found is not None else None
        if found is None:
            raise AssertionError(f"the plan names the {side} series before creating it")
        return found

    async def _record(
        self, side: Side, series_id: str, original_start: datetime, record_id: str | None
    ) -> str:
        """An occurrence's own id: the one the plan names, else found by original start in a fresh read of
        a series this plan created (its ids were not known when it was planned)."""
        if record_id:
            return record_id
        state = self.result.state
        known = {p.sf_id: p.original_start for p in state.occurrences if p.sf_id}
        ctx = self.ctx
        if side is Side.SALESFORCE:
            fresh = await self.road._sf.read_series(series_id, known)
        else:
            start, end = original_start, original_start.replace(year=original_start.year + 1)
            fresh = await self.road._ex.read_series(ctx.mailbox, series_id, start, end, ctx.policy)
        found = fresh.occurrence(original_start) if fresh is not None else None
        if found is None:
            raise NotFoundError(side, f"{series_id}@{original_start.isoformat()}")
        return found.id

    async def _command(self, command: Command) -> None:
        ctx, result = self.ctx, self.result
        if isinstance(command, RaiseIssue):
            issue = command.issue
            state = result.state
            result.opened.append(
                replace(issue, sf_id=issue.sf_id or state.sf_series, ex_id=issue.ex_id or state.ex_series)
            )
        elif isinstance(command, CloseIssue):
            result.closed.append((command.code, command.sf_id, command.ex_id))
        elif isinstance(command, CreateSeries) and command.side is Side.SALESFORCE:
            assert isinstance(command.rule, str)
            values = {**dict(command.fields), "OwnerId": ctx.user_id}
            rule = salesforce_rule(command.rule, self.read[Side.EXCHANGE], self.road.zones.known(ctx.user_id))
            series_id = await self.road._sf.create_series(values, rule)
            result.state, result.created = result.state.after_create(Side.SALESFORCE, series_id), True
            self._note(command, series_id, made=series_id)
            await self._bind_rows(series_id)
        elif isinstance(command, CreateSeries):
            assert isinstance(command.rule, EwsRecurrence)
            written = await self.road._ex.create_series(
                ctx.mailbox, dict(command.fields), command.rule, command.categories
            )
            result.state, result.created = result.state.after_create(Side.EXCHANGE, written.id), True
            self._note(command, written.id, made=written.id)
        elif isinstance(command, UpdateSeries) and command.side is Side.SALESFORCE:
            if command.through_id is not None:  # API 58.0: an edit of a plain future row changes the series
                await self.road.salesforce.update_event(command.through_id, None, dict(command.fields))
                self._note(command, command.through_id)
        elif isinstance(command, UpdateSeries):
            master = self._series(Side.EXCHANGE, command.series_id)
            await self.road.exchange.update_item(
                ctx.mailbox, master, None, dict(command.fields), (), (), False
            )
            self._note(command, master)
        elif isinstance(command, DeleteSeries) and command.side is Side.EXCHANGE:
            await self.road.exchange.delete_item(ctx.mailbox, str(command.series_id), None, False)
            self._note(command, str(command.series_id))
        elif isinstance(command, DeleteSeries):
            rows = await self.road._sf.read_series(str(command.series_id), {})
            if rows is not None and rows.occurrences:
                await self.road._sf.delete_onwards(rows.occurrences[0].id)
                self._note(command, str(command.series_id))
        elif isinstance(command, UpdateItem):
            # The master's category, added (R-CAT-1) or removed (R-DEL-5); or an expanded series' single
            # item (R-REC-6), its fields or its category.
            await self.road.exchange.update_item(
                ctx.mailbox,
                str(command.item_id),
                None,
                dict(command.fields),
                command.add_categories,
                command.remove_categories,
                False,
            )
            self._note(command, str(command.item_id))
        elif isinstance(command, CreateSingle):
            await self._create_single(command)
        elif isinstance(command, DeleteItem):  # an expanded series' single item (R-REC-4, R-REC-7)
            await self.road.exchange.delete_item(ctx.mailbox, str(command.item_id), None, False)
            self._note(command, str(command.item_id))
        elif isinstance(command, DeleteEvent):  # an expanded series' single event
            await self.road.salesforce.delete_event(str(command.event_id), None)
            self._note(command, str(command.event_id))
        elif isinstance(command, EndSeries | RebuildSeries):
            series_id = self._series(command.side, command.series_id)
            await self._repattern(command)
            made = self.renamed.get(series_id)
            self._note(command, series_id, made=made)
        elif isinstance(command, UpdateOccurrence | DeleteOccurrence):
            series_id = self._series(command.side, command.series_id)
            record = await self._record(command.side, series_id, command.original_start, command.record_id)
            await self._occurrence(command, record)
            self._note(command, record)
        elif isinstance(command, SplitOccurrence):
            series_id = self._series(Side.SALESFORCE, command.series_id)
            row = await self._record(Side.SALESFORCE, series_id, command.original_start, command.record_id)
            await self.road.salesforce.delete_event(row, None)
            values = {**dict(command.fields), "OwnerId": ctx.user_id}
            single = await self.road.salesforce.create_event(values, ())
            self._rebind(command.original_start, single.id)
            self._note(command, row, made=single.id)
        elif isinstance(command, UpdateEvent):  # a split occurrence's single event, changed again
            await self.road.salesforce.update_event(str(command.event_id), None, dict(command.fields))
            self._note(command, str(command.event_id))
        else:
            raise AssertionError(f"no handler for {command!r}")

    async def _create_single(self, command: CreateSingle) -> None:
        """R-REC-6: one occurrence's single copy, bound to its pair at once (so a failure later in the plan
        never creates it twice). No invitations are sent (R-ATT-12)."""
        ctx = self.ctx
        values = {**dict(command.fields), "OwnerId": ctx.user_id}
        if command.side is Side.EXCHANGE:
            written = await self.road.exchange.create_item(
                ctx.mailbox, dict(command.fields), command.categories, False
            )
        else:
            written = await self.road.salesforce.create_event(values, ())
        state = self.result.state
        pairs = tuple(
            p
            if p.original_start != command.original_start
            else replace(p, ex_id=written.id)
            if command.side is Side.EXCHANGE
            else replace(p, sf_id=written.id)
            for p in state.occurrences
        )
        self.result.state = replace(state, occurrences=pairs)
        made = command.fields if command.side is Side.EXCHANGE else values
        key, at = state.key, datetime.now(UTC)
        self.journal.append(
            series_journal.created(self.ctx.user_id, key, command, written.id, made, at, self.prior)
        )

    async def _repattern(self, command: EndSeries | RebuildSeries) -> None:
        """R-REC-4/5. Exchange ends or re-patterns the master in place. Salesforce cannot update a pattern:
        it deletes the series from its first row to go ("this and following"), and a rebuild creates the
        series anew, whose id the later commands of the plan (naming the old one) then mean."""
        ctx, result = self.ctx, self.result
        series_id = self._series(command.side, command.series_id)
        if command.side is Side.EXCHANGE and isinstance(command, EndSeries):
            await self.road._ex.end_series(ctx.mailbox, series_id, command.last)
            return
        if command.side is Side.EXCHANGE:
            assert isinstance(command, RebuildSeries) and isinstance(command.rule, EwsRecurrence)
            await self.road._ex.rebuild_series(ctx.mailbox, series_id, dict(command.fields), command.rule)
            return
        split = {p.sf_id for p in result.state.occurrences if p.split}
        rows = await self.road._sf.read_series(series_id, {})
        held = [o for o in (rows.occurrences if rows else ()) if o.id not in split]
        after = command.after if isinstance(command, EndSeries) else None
        going = [o for o in held if after is None or o.original_start >= after]
        if going:
            first = min(going, key=lambda o: o.original_start)
            await self.road._sf.delete_onwards(first.id)
            if isinstance(command, EndSeries):  # the series stays: its rows go a moment later
                onwards = {o.id for o in held if o.original_start >= first.original_start}
                result.state = replace(result.state, deleting=result.state.deleting | onwards)
        if isinstance(command, RebuildSeries):
            assert isinstance(command.rule, str)
            values = {**dict(command.fields), "OwnerId": ctx.user_id}
            rule = salesforce_rule(command.rule, self.read[Side.EXCHANGE], self.road.zones.known(ctx.user_id))
            new_id = await self.road._sf.create_series(values, rule)
            self.renamed[series_id] = new_id
            result.state = replace(result.state, sf_series=new_id)
            result.created = True
            await self._bind_rows(new_id)

    async def _bind_rows(self, series_id: str) -> None:
        """The rows of a Salesforce series this plan created, bound to their pairs at once: the state
        stored names them, so their change events (a deletion, a re-creation) reach this user before the
        next plan reads them."""
        fresh = await self.road._sf.read_series(series_id, {})
        rows = {o.original_start: o.id for o in fresh.occurrences} if fresh is not None else {}
        state = self.result.state
        pairs = tuple(
            p if p.split or p.sf_id is not None else replace(p, sf_id=rows.get(p.original_start))
            for p in state.occurrences
        )
        self.result.state = replace(state, occurrences=pairs)

    async def _occurrence(self, command: UpdateOccurrence | DeleteOccurrence, record: str) -> None:
        ctx = self.ctx
        if isinstance(command, DeleteOccurrence) and command.side is Side.SALESFORCE:
            await self.road.salesforce.delete_event(record, None)
        elif isinstance(command, DeleteOccurrence):
            await self.road.exchange.delete_item(ctx.mailbox, record, None, False)
        elif command.side is Side.SALESFORCE:
            await self.road.salesforce.update_event(record, None, dict(command.fields))
        else:
            await self.road.exchange.update_item(
                ctx.mailbox, record, None, dict(command.fields), (), (), False
            )

    def _rebind(self, original_start: datetime, sf_id: str) -> None:
        """The split occurrence's Salesforce side is the single event from now on (R-REC-3)."""
        state = self.result.state
        pairs = tuple(
            replace(p, sf_id=sf_id, split=True) if p.original_start == original_start else p
            for p in state.occurrences
        )
        if not any(p.original_start == original_start for p in pairs):
            pairs = (*pairs, OccurrencePair(original_start, sf_id, None, split=True))
        self.result.state = replace(state, occurrences=pairs)


__all__ = [
    "SeriesRoad",
    "Touched",
    "claimed",
    "leave_series",
    "series_deletions",
    "split_exchange",
    "split_salesforce",
]
