"""What one user's actor does with the work it drained: the two roads in, and the reconcile.

Salesforce: a change event is applied onto the stored Event record and mapped, so it costs no REST read;
the record is read only when the change cannot be applied (diff fields, an EventRelation change, a GAP,
a record the store has no copy of). An echo of the bridge's own write (`echo=True`) only refreshes the
stored record and its version (R-MERGE-3). A record no live pair claims sends the user through the
unpaired pass (both windows read, `match_unpaired`).

Exchange: a notice is a poke. The actor runs `MailboxPort.sync` from the stored sync state until `more` is
false, plans every changed and deleted item, and commits the new sync state with those plans. No stored
state (the user's first sync), a state refused (`StreamGapError`) or a lost subscription is a window
reconcile instead (R-TIME-3).

Items the sync state may not know: a sync state reports an item deleted only if it knew the item (EWS
SyncFolderItems and Graph delta both report nothing for an item that came and went between two rounds). A
pass that pairs an item its own sync did not report (found by a window read made after that sync, or made
by the bridge) commits a state that may predate the item, so the item's deletion before the next sync would
never be reported (R-DEL-2 waited for the next window reconcile, hours). Such items are remembered
(`UserSync.unconfirmed`); the next mailbox sync that does not report one of them reads it by id, and one
gone is planned as deleted. That sync runs at once, as a follow-up pass, rather than waiting for a notice
(none comes when the item came and went between two polls).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bridge.core.commands import Changed, Deleted, SyncNow, UserSwitchedOff
from bridge.core.fields import ExchangeItem
from bridge.core.model import Copy, PairStatus, Policy, Side
from bridge.core.scope import opted_in
from bridge.errors import CalbridgeError, MappingError, StreamGapError
from bridge.ports import ChangeType, EventChange, EventRecord, Store, StoredPair, StoredSeries, StreamPosition
from bridge.runtime import records
from bridge.runtime.executor import UserContext
from bridge.runtime.passes import (
    Job,
    PassServices,
    copy_of_event,
    copy_of_item,
    live,
    mapping_issue,
    run_pass,
)
from bridge.runtime.reconcile import Gathered, Reader, with_directory
from bridge.runtime.series import (
    SeriesRoad,
    Touched,
    leave_series,
    series_deletions,
    split_exchange,
    split_salesforce,
)
from bridge.runtime.series import claimed as claimed_by_series
from bridge.runtime.series_answers import note_answers
from bridge.runtime.series_heirs import SeriesHeirs
from bridge.runtime.series_masters import followed_masters, masters_of_deleted

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class UserBinding:
    """An enrolled user: Salesforce user id, mailbox address and policy (the mailbox zone is looked up)."""

    user_id: str
    mailbox: str
    policy: Policy
    observe: bool = False  # planned and reported, nothing written (issue 9's observe mode)


@dataclass(slots=True)
class Work:
    """What an actor has to do, coalesced: later work on the same record joins earlier work."""

    sf: dict[str, list[EventChange]] = field(default_factory=dict)
    reread: set[str] = field(default_factory=set)
    sync_now: set[str] = field(default_factory=set)
    sync_now_all: bool = False
    exchange: bool = False
    reconcile: bool = False
    confirmed: bool = False
    switched_off: bool = False  # R-DEL-6: end every pair of the user, then nothing more
    events: list[EventRecord] | None = None  # the user's window, read by a batched reconcile
    exchange_since: datetime | None = None  # earliest notice time, for the latency metric

    def __bool__(self) -> bool:
        return bool(
            self.sf
            or self.reread
            or self.sync_now
            or self.sync_now_all
            or self.exchange
            or self.reconcile
            or self.switched_off
        )

    def merge(self, other: Work) -> None:
        for event_id, changes in other.sf.items():
            self.sf.setdefault(event_id, []).extend(changes)
        self.reread |= other.reread
        self.sync_now |= other.sync_now
        self.sync_now_all |= other.sync_now_all
        self.exchange |= other.exchange
        self.reconcile |= other.reconcile
        self.confirmed |= other.confirmed
        self.switched_off |= other.switched_off
        if other.events is not None:
            self.events = other.events
        if other.exchange_since is not None:
            since = self.exchange_since
            self.exchange_since = other.exchange_since if since is None else min(since, other.exchange_since)

    def records(self) -> int:
        return (
            len(self.sf)
            + len(self.reread)
            + len(self.sync_now)
            + int(self.exchange)
            + int(self.reconcile)
            + int(self.switched_off)
        )


NO_SYNC_STATE = ""  # a mailbox's stored sync state once forgotten (R-DEL-6): read as none


def exchange_stream(mailbox: str) -> str:
    return f"ex:{mailbox.lower()}"


async def sync_state_of(store: Store, mailbox: str) -> str | None:
    """The mailbox's stored sync state; None when it never synced or was forgotten at a switch-off."""
    return await store.position(exchange_stream(mailbox)) or None


class UserSync:
    """The passes of one user. Not concurrent: its actor calls `run` for one piece of work at a time."""

    def __init__(self, binding: UserBinding, services: PassServices, reader: Reader) -> None:
        self.binding = binding
        self.services = services
        self.reader = reader
        self._heirs = SeriesHeirs(reader.store, reader.salesforce, reader.exchange, reader.enrolled)
        self.series = SeriesRoad(reader.salesforce, reader.exchange, reader.store, services.metrics)
        self._ctx: UserContext | None = None
        # Items of live pairs that the stored sync state may not know (see the module doc); kept in memory:
        # after a restart the first pass of each user catches up, and a window reconcile covers the rest.
        self.unconfirmed: set[str] = set()

    @property
    def series(self) -> SeriesRoad:
        return self._series

    @series.setter
    def series(self, road: SeriesRoad) -> None:
        """Any series road this user's passes take (observe mode swaps it) matches outside organizers'
        series across users (R-MULTI-1, R-MULTI-4; `bridge.runtime.series_heirs`)."""
        road.heirs = self._heirs
        self._series = road

    def rebind(self, binding: UserBinding) -> None:
        """A new policy or mailbox for the user (settings changed): the next pass plans under it."""
        self.binding = binding
        self._ctx = None

    async def context(self) -> UserContext:
        if self._ctx is None:
            zone = await self.reader.exchange.time_zone(self.binding.mailbox)
            policy = replace(
                self.binding.policy,
                user_id=self.binding.user_id,
                user_email=self.binding.policy.user_email or self.binding.mailbox,
                mailbox_time_zone=zone or self.binding.policy.mailbox_time_zone,
            )
            self._ctx = UserContext(self.binding.user_id, self.binding.mailbox, policy)
        return self._ctx

    async def run(self, work: Work) -> bool:
        """Do `work`; True when a window reconcile should follow (a create was interrupted). A pass that
        paired items its sync did not report is followed by one mailbox sync (see the module doc)."""
        again = await self._pass(work)
        if self.unconfirmed and not again and not work.switched_off:
            again = await self._pass(Work(exchange=True))
        return again

    async def _pass(self, work: Work) -> bool:
        """One pass; the meetings it claimed (R-MULTI-1, `Reader.meetings`) are let go once it ended,
        committed or not, so another user's pass waiting for one of them goes on."""
        try:
            return await self._run(work)
        finally:
            await self.reader.let_go(self.binding.user_id)

    async def _run(self, work: Work) -> bool:
        ctx = await self.context()
        store = self.reader.store
        stream = exchange_stream(ctx.mailbox)
        if work.switched_off:
            return await self.switch_off(ctx)
        if work.reconcile or work.sync_now_all:
            return await self.reconcile(ctx, work)
        sync_state = await sync_state_of(store, ctx.mailbox) if work.exchange else None
        if work.exchange and sync_state is None:
            return await self.reconcile(ctx, work)  # the user's first sync
        pairs = await store.pairs_of(ctx.user_id)
        # Series rows and masters take the series road (SPEC §15), never the pair road.
        touched = Touched()
        series = await store.series_of(ctx.user_id) if self.series.available() else []
        if self.series.available():
            # The rows leave this pass's copy only: a pass retried after a transient failure needs them.
            work = replace(work, sf=dict(work.sf))
            split_salesforce(work.sf, series, touched)
        by_sf = {p.state.sf_id: p for p in pairs if live(p) and p.state.sf_id}
        by_ex = {p.state.ex_id: p for p in pairs if live(p) and p.state.ex_id}
        waiting_ex = {p.state.ex_id: p for p in pairs if not live(p) and p.state.ex_id}
        got = Gathered()
        quiet: list[StoredPair] = []
        unpaired = self._salesforce(ctx, work, by_sf, got, quiet)
        unpaired |= await self._reads(ctx, work, by_sf, got)
        positions: list[StreamPosition] = []
        synced_ids: set[str] = set()
        reported: set[str] = set()
        checked: set[str] = set()
        if work.exchange:
            # Items at the version a live pair recorded are not read (the bridge's own writes coming back).
            known = {i: p.state.ex_version for i, p in by_ex.items() if p.state.ex_version}
            try:
                changed, deleted, new_state, unchanged = await self._sync(ctx, sync_state, known)
            except StreamGapError:
                return await self.reconcile(ctx, work)
            reported = {item.item_id for item in changed} | set(deleted) | set(unchanged)
            checked = set(self.unconfirmed)
            deleted = [*deleted, *await self._gone_unreported(ctx, checked - reported, by_ex)]
            unsync = ctx.policy.unsync_category  # an attendee's copy marked so leaves the series (kind E)
            followed = followed_masters(changed, series, self.reader.enrolled, ctx.user_id, unsync)
            changed_all = changed
            changed = split_exchange(changed, touched, series) if self.series.available() else changed
            touched.ex_masters -= followed  # a colleague's meeting series: the organizer's is the one
            if self.series.available():  # R-SCOPE-6: a series invitation not answered waits
                touched.ex_masters -= await self._unanswered(ctx, changed_all, series)
                touched.ex_masters -= await self._followed(ctx, changed_all, series)
            # A deleted master is its series' deletion (R-REC-7), a deleted single item of an expanded
            # series its occurrence's (R-REC-6): the series road reads them as gone.
            series_deletions(deleted, series, touched)
            touched.ex_masters |= masters_of_deleted(deleted, series)  # Graph: occurrences removed
            synced_ids = {item.item_id for item in changed}
            positions.append(StreamPosition(stream, new_state))
            unpaired |= self._exchange(ctx, work, changed, deleted, by_ex, waiting_ex, got)
            await self._opted_in_again(ctx, got)
        if unpaired:
            start, end = _window(ctx, self.services.now())
            events = (await self.reader.salesforce.window_events([ctx.user_id], start, end)).get(
                ctx.user_id, []
            )
            items = await self.reader.exchange.window_items(ctx.mailbox, start, end)
            claimed = {(s, i) for p in pairs if live(p) for s in Side if (i := p.state.id_of(s))}
            events = [e for e in events if (Side.SALESFORCE, e.id) not in claimed]
            items = [i for i in items if (Side.EXCHANGE, i.item_id) not in claimed]
            if self.series.available():
                events, items = leave_series(events, items, claimed_by_series(series), touched)
            await self.reader.unpaired(
                ctx,
                events,
                items,
                [p for p in pairs if not live(p)],
                got,
            )
            _time_new_copies(got.jobs, work, synced_ids)
        # Before the pass commits its positions: a series road that fails transiently leaves them unread.
        await self.series.run(ctx, touched, self.services.now())
        again = await self._finish_noting(ctx, got, pairs, reported, positions=positions, quiet=quiet)
        self.unconfirmed -= checked
        return again

    async def _unanswered(
        self, ctx: UserContext, items: Sequence[ExchangeItem], series: Sequence[StoredSeries]
    ) -> set[str]:
        """R-SCOPE-6: the series masters among `items` the user has not answered (W-UNANSWERED)."""
        store, observing = self.reader.store, self.series.observing
        return await note_answers(store, ctx.user_id, ctx.policy, items, series, record=not observing)

    async def _followed(
        self, ctx: UserContext, items: Sequence[ExchangeItem], series: Sequence[StoredSeries]
    ) -> set[str]:
        """R-MULTI-1: an outside organizer's series masters that another enrolled attendee's series holds."""
        heirs, observing = self.series.heirs, self.series.observing
        if heirs is None:
            return set()
        return await heirs.followed(ctx.user_id, ctx.policy, items, series, record=not observing)

    async def reconcile(self, ctx: UserContext, work: Work) -> bool:
        """Window reconcile (first sync, gap, interrupted create, periodic, sync-now, backfill)."""
        store = self.reader.store
        stream = exchange_stream(ctx.mailbox)
        pending = [i.token for i in await store.pending_intents(ctx.user_id)]
        sync_state = await sync_state_of(store, ctx.mailbox)
        try:
            changed, deleted, new_state, _ = await self._sync(ctx, sync_state)
        except StreamGapError:
            changed, deleted, new_state, _ = await self._sync(ctx, None)
        reported = {item.item_id for item in changed} | set(deleted)
        checked = set(self.unconfirmed)  # the window shows them, or reads them by id: resolved either way
        pairs = await store.pairs_of(ctx.user_id)
        road = self.series.available()
        series = await store.series_of(ctx.user_id) if road else []
        got = await self.reader.window_reconcile(
            ctx,
            self.services.now(),
            pairs=pairs,
            events=work.events,
            series=claimed_by_series(series) if road else None,
        )
        if road:  # SPEC §15: every stored series, and those the window or the mailbox sync shows
            touched = got.series
            touched.window = True
            split_exchange(changed, touched, series)
            unsync = ctx.policy.unsync_category  # an attendee's copy marked so leaves the series (kind E)
            touched.ex_masters -= followed_masters(changed, series, self.reader.enrolled, ctx.user_id, unsync)
            touched.ex_masters -= await self._unanswered(ctx, changed, series)
            touched.ex_masters -= await self._followed(ctx, changed, series)
            touched.sf_series |= {s.state.sf_series for s in series if s.state.sf_series}
            touched.ex_masters |= {s.state.ex_series for s in series if s.state.ex_series}
            await self.series.run(ctx, touched, self.services.now())
        if work.sync_now_all:
            for job in got.jobs:
                if isinstance(job.observation, Changed) and job.stored is not None:
                    seen = job.observation
                    job.observation = SyncNow(seen.sf, seen.ex, seen.directory, seen.meeting, seen.duplicate)
        again = await self._finish_noting(
            ctx,
            got,
            pairs,
            reported,
            positions=[StreamPosition(stream, new_state)],
            intents=pending,
            confirmed=work.confirmed,
        )
        self.unconfirmed -= checked
        return again

    async def switch_off(self, ctx: UserContext) -> bool:
        """R-DEL-6: every live pair planned as `UserSwitchedOff` (categories removed, items the bridge made
        from Salesforce deleted) from the stored copies, with no read. Switching off is an admin's decision,
        so the mass-delete guard does not hold it for a confirm the user could no longer send (R-DEL-10)."""
        pairs = await self.reader.store.pairs_of(ctx.user_id)
        got = Gathered()
        got.jobs = [Job(p, UserSwitchedOff(), p.event, p.item) for p in pairs if live(p)]
        # The mailbox's sync state is forgotten with the pairs, so switching the user back on is a first
        # sync (a window reconcile) and not a catch-up that would miss what changed while they were off.
        forgotten = [StreamPosition(exchange_stream(ctx.mailbox), NO_SYNC_STATE)]
        await self._finish(ctx, got, pairs, positions=forgotten, confirmed=True)
        self.unconfirmed.clear()
        return False

    async def _finish_noting(
        self,
        ctx: UserContext,
        got: Gathered,
        pairs: Sequence[StoredPair],
        reported: set[str],
        **kwargs: Any,
    ) -> bool:
        """`_finish`, then remember the items of the pairs it made that `reported` (the items this pass's
        mailbox sync reported) leaves out, even when the pass failed part-way: what it committed stands.
        A pass that failed committed its pairs without its sync state, so what its sync reported is not
        known to the stored state either: every item it paired is remembered then."""
        known = {p.state.ex_id for p in pairs if live(p) and p.state.ex_id}
        may_pair = any(job.stored is None or not live(job.stored) for job in got.jobs)
        committed = False
        try:
            again = await self._finish(ctx, got, pairs, **kwargs)
            committed = True
            return again
        finally:
            if may_pair:
                await self._remember_unreported(ctx, known | reported if committed else known)

    async def _remember_unreported(self, ctx: UserContext, known: set[str]) -> None:
        try:
            now = await self.reader.store.claimed_item_ids(ctx.user_id)
        except CalbridgeError:
            return  # the store is away: the next window reconcile finds such a deletion instead
        self.unconfirmed |= now - known

    async def _gone_unreported(
        self, ctx: UserContext, wanted: set[str], by_ex: Mapping[str, StoredPair]
    ) -> list[str]:
        """Of the `unconfirmed` items this sync did not report, those gone (read by id). One still there
        needs nothing: a sync from a state that did not know it would have reported it as new."""
        ids = sorted(i for i in wanted if i in by_ex)
        if not ids:
            return []
        found = await self.reader.exchange.read_items(ctx.mailbox, ids)
        return [i for i in ids if i not in found]

    async def _finish(
        self,
        ctx: UserContext,
        got: Gathered,
        pairs: Sequence[StoredPair],
        *,
        positions: Sequence[StreamPosition] = (),
        quiet: Sequence[StoredPair] = (),
        intents: Sequence[str] = (),
        confirmed: bool = False,
    ) -> bool:
        await self.reader.with_holders(ctx, got.jobs)
        needing = [c for job in got.jobs if _may_merge(job) for c in _copies(job)]
        events = [e for job in got.jobs for e in (job.event, job.stored.event if job.stored else None)]
        directory = await self.reader.directory(needing, events)
        jobs = with_directory(got.jobs, directory)
        active = sum(1 for p in pairs if p.state.status is PairStatus.ACTIVE)
        result = await run_pass(
            self.services,
            ctx,
            jobs,
            directory=directory,
            pair_count=active,
            confirmed=confirmed,
            positions=positions,
            intents_done=intents,
            extra_issues=got.issues,
            extra_pairs=quiet,
        )
        return result.reconcile_next

    # ---------------------------------------------------------------------------------- Salesforce

    def _salesforce(
        self,
        ctx: UserContext,
        work: Work,
        by_sf: Mapping[str, StoredPair],
        got: Gathered,
        quiet: list[StoredPair],
    ) -> bool:
        """Jobs for change events that apply onto stored records; the rest are left to read. True when a
        record no live pair claims changed."""
        unpaired = False
        for event_id, changes in work.sf.items():
            stored = by_sf.get(event_id)
            real = [c for c in changes if not c.echo]
            if stored is None:
                unpaired |= bool(real)
                continue
            if changes[-1].change_type is ChangeType.DELETE:
                if real:
                    got.jobs.append(Job(stored, Deleted(Side.SALESFORCE), stored.event, stored.item))
                continue
            if not stored.state.owns_event:
                # The owner's pair would have had this change; reaching a sharer, the event may have been
                # passed on to this user (R-MULTI-4), even by the bridge's own write: read it.
                work.reread.add(event_id)
                continue
            record: EventRecord | None = stored.event
            for change in changes:
                record = records.apply_change(record, change, event_id) if record is not None else None
            if record is None:
                if real:
                    work.reread.add(event_id)
                continue
            if not real:  # our own writes coming back: refresh the stored copy and its version only
                state = stored.state
                if state.sf_version is None and state.base_sf is not None:
                    state = records.with_ids(state, Side.SALESFORCE, event_id, records.event_version(record))
                quiet.append(replace(stored, state=state, event=record))
                continue
            try:
                copy = copy_of_event(record)
            except MappingError as error:
                got.issues.append(mapping_issue(ctx, Side.SALESFORCE, event_id, error))
                continue
            got.copies.append(copy)
            first = min(c.committed_at for c in real)
            got.jobs.append(
                Job(stored, Changed(sf=copy), record, stored.item, source=Side.SALESFORCE, committed_at=first)
            )
        return unpaired

    async def _reads(
        self, ctx: UserContext, work: Work, by_sf: Mapping[str, StoredPair], got: Gathered
    ) -> bool:
        wanted = sorted(work.reread | work.sync_now)
        if not wanted:
            return False
        found = await self.reader.salesforce.read_events(wanted)
        unpaired = False
        for event_id in wanted:
            stored = by_sf.get(event_id)
            if stored is None:
                unpaired = True
                continue
            record = found.get(event_id)
            if record is None:
                got.jobs.append(Job(stored, Deleted(Side.SALESFORCE), stored.event, stored.item))
                continue
            try:
                copy = copy_of_event(record)
            except MappingError as error:
                got.issues.append(mapping_issue(ctx, Side.SALESFORCE, event_id, error))
                continue
            got.copies.append(copy)
            seen = SyncNow(sf=copy) if event_id in work.sync_now else Changed(sf=copy)
            if event_id in work.sync_now and stored.state.ex_id:
                items = await self.reader.exchange.read_items(ctx.mailbox, [stored.state.ex_id])
                item = items.get(stored.state.ex_id)
                if item is not None:
                    seen = SyncNow(sf=copy, ex=copy_of_item(ctx, item))
            got.jobs.append(Job(stored, seen, record, stored.item, source=Side.SALESFORCE))
        return unpaired

    # ------------------------------------------------------------------------------------ Exchange

    async def _sync(
        self, ctx: UserContext, sync_state: str | None, known: Mapping[str, str] | None = None
    ) -> tuple[list[ExchangeItem], list[str], str, list[str]]:
        """Every page of changes since `sync_state`: the items changed (last version of each), the ids
        gone, the new state, and the ids listed at the version `known` gives (not read: no change)."""
        changed: dict[str, ExchangeItem] = {}
        deleted: dict[str, None] = {}
        unchanged: dict[str, None] = {}
        state = sync_state
        while True:
            page = await self.reader.exchange.sync(ctx.mailbox, state, known)
            for item in page.changed:
                changed[item.item_id] = item
                deleted.pop(item.item_id, None)
                unchanged.pop(item.item_id, None)
            for item_id in page.unchanged:  # a later listing: an earlier page's copy is older
                changed.pop(item_id, None)
                unchanged[item_id] = None
            for item_id in page.deleted:
                changed.pop(item_id, None)
                unchanged.pop(item_id, None)
                deleted[item_id] = None
            state = page.sync_state
            if not page.more:
                log.debug(
                    "mailbox %s synced from %s: changed %s, deleted %s, unchanged %s",
                    ctx.mailbox,
                    "a stored state" if sync_state else "the start",
                    sorted(changed),
                    list(deleted),
                    list(unchanged),
                )
                return list(changed.values()), list(deleted), state, list(unchanged)

    def _exchange(
        self,
        ctx: UserContext,
        work: Work,
        changed: Sequence[ExchangeItem],
        deleted: Sequence[str],
        by_ex: Mapping[str, StoredPair],
        waiting_ex: Mapping[str, StoredPair],
        got: Gathered,
    ) -> bool:
        """Jobs for changed and deleted items of stored pairs. True when an item no live pair claims
        changed, or one a waiting row held was deleted."""
        unpaired = False
        for item in changed:
            stored = by_ex.get(item.item_id)
            if stored is None:
                unpaired = True
                continue
            try:
                copy = copy_of_item(ctx, item)
            except MappingError as error:
                got.issues.append(mapping_issue(ctx, Side.EXCHANGE, item.item_id, error))
                continue
            got.copies.append(copy)
            got.jobs.append(
                Job(
                    stored,
                    Changed(ex=copy),
                    stored.event,
                    item,
                    source=Side.EXCHANGE,
                    committed_at=work.exchange_since,
                )
            )
        for item_id in deleted:
            stored = by_ex.get(item_id)
            if stored is not None:
                got.jobs.append(Job(stored, Deleted(Side.EXCHANGE), stored.event, stored.item))
            elif (row := waiting_ex.get(item_id)) is not None:
                # A waiting copy is gone: its row goes with its issue, and the copies it kept from pairing
                # (its twin under R-PAIR-3) are matched again now; left to the next reconcile, that
                # reconcile would write what this pass should have (R-MERGE-3).
                got.jobs.append(Job(row, Deleted(Side.EXCHANGE), row.event, row.item))
                unpaired = True
        return unpaired

    async def _opted_in_again(self, ctx: UserContext, got: Gathered) -> None:
        """An ended pair's item now carries the `Salesforce` category: its event is read as well, since
        only both copies can take the pair up again (R-SCOPE-8, R-DEL-9; the tombstone vouches for no
        version, see core.plan._revive). Other changes to an ended item cost no Salesforce call."""
        wanted: dict[str, Job] = {}
        for job in got.jobs:
            seen, state = job.observation, job.stored.state if job.stored else None
            if state is None or state.status is not PairStatus.ENDED or not state.sf_id:
                continue
            if isinstance(seen, Changed) and seen.sf is None and seen.ex and opted_in(seen.ex, ctx.policy):
                wanted[state.sf_id] = job
        if not wanted:
            return
        found = await self.reader.salesforce.read_events(sorted(wanted))
        for event_id, job in wanted.items():
            record = found.get(event_id)
            if record is None:
                continue
            try:
                copy = copy_of_event(record)
            except MappingError as error:
                got.issues.append(mapping_issue(ctx, Side.SALESFORCE, event_id, error))
                continue
            got.copies.append(copy)
            assert isinstance(job.observation, Changed)
            job.observation = replace(job.observation, sf=copy)
            job.event = record


def _time_new_copies(jobs: Sequence[Job], work: Work, synced_ids: set[str]) -> None:
    """A copy the streams announced that no pair holds yet (a create on its way across) is timed from its
    source's commit, as an update is (the propagation latency metric). A reconcile's finds are not."""
    for job in jobs:
        seen = job.observation
        if job.source is not None or not isinstance(seen, Changed) or (seen.sf is None) == (seen.ex is None):
            continue
        if seen.sf is not None and (real := [c for c in work.sf.get(seen.sf.id, ()) if not c.echo]):
            job.source, job.committed_at = Side.SALESFORCE, min(c.committed_at for c in real)
        elif seen.ex is not None and seen.ex.id in synced_ids and work.exchange_since is not None:
            job.source, job.committed_at = Side.EXCHANGE, work.exchange_since


def _window(ctx: UserContext, now: datetime) -> tuple[datetime, datetime]:
    return now - ctx.policy.past, now + ctx.policy.future


def _copies(job: Job) -> list[Copy]:
    seen = job.observation
    if not isinstance(seen, Changed):
        return []
    return [c for c in (seen.sf, seen.ex) if c is not None]


def _may_merge(job: Job) -> bool:
    """Whether planning this job may need the directory: not a replay of versions already seen (so a
    reconcile where nothing changed resolves nobody and costs no Salesforce call, R-TIME-4)."""
    if job.stored is None or not live(job.stored):
        return True
    state = job.stored.state
    return any(c.version != state.version_of(c.side) for c in _copies(job))


__all__ = ["NO_SYNC_STATE", "UserBinding", "UserSync", "Work", "exchange_stream", "sync_state_of"]
