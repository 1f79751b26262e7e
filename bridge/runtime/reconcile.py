"""Window reconcile of one user, the unpaired pass, and the periodic reconcile batched across users.

A window reconcile reads both windows (R-SCOPE-1) and plans every pair from fresh copies: a copy of a
stored pair missing from its window is read by id (gone: `Deleted`, out of the window: the core plans
R-DEL-4); every copy no live pair claims goes with the waiting rows through `match_unpaired` (recovery by
the pairing fields of R-PAIR-1, adoption R-PAIR-2, duplicates R-PAIR-3); the whole pass goes through
`guard_deletions` (R-DEL-10). It is how a user's first sync runs, how a gap is healed (R-TIME-3), how an
interrupted create is found again (R-MERGE-4) and the periodic safety net (R-TIME-4).

The periodic reconcile (`bridge.runtime.engine`) asks Salesforce for a digest of up to 200 owners' windows
in one call, reads the windows whose digest changed in one `window_events` call, and hands each of those
users' events to their actor; the others only catch their mailbox up. A pass over users with nothing
changed costs one Salesforce call per 200 users (R-TIME-4).

R-MULTI-1 whatever the timing (`MeetingClaims`): the first enrolled attendee to sync an outside organizer's
meeting owns its event, the others join it as invitees. Two of them whose answers reach the bridge in one
moment (both accepted while it was stopped) would each find no owner in the store, the other's pass not
committed yet, and each make an event. So a pass claims the UIDs of the outside organizers' meetings among
its unpaired copies before it looks for their owners, and holds the claims until it ended (committed or
not, `UserSync.run`): a second user's pass waits for the first to end, then reads the store and finds the
owner it made. Across processes (replicas, backfill workers) the meetings this pass would make the event
of (no owner stored) are claimed in the store too (`bridge.runtime.meeting_claims`), and read again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bridge.core import match_unpaired
from bridge.core.commands import Changed, Deleted
from bridge.core.fields import ExchangeItem
from bridge.core.issues import Issue
from bridge.core.model import Copy, Directory, Kind, MeetingContext, PairStatus, Side
from bridge.core.scope import unsync_requested
from bridge.errors import MappingError
from bridge.ports import EventRecord, MailboxPort, SalesforcePort, Store, StoredPair
from bridge.runtime.executor import UserContext
from bridge.runtime.invitees import resolve_attendees
from bridge.runtime.meeting_claims import StoreClaims
from bridge.runtime.passes import Job, copy_of_event, copy_of_item, live, mapping_issue
from bridge.runtime.records import pair_key
from bridge.runtime.series import Touched, leave_series

log = logging.getLogger(__name__)

BATCH_OWNERS = 200  # owners per periodic batch: the Salesforce adapter's owners per query (reads.py)


@dataclass(slots=True)
class Gathered:
    """What a pass read: jobs to plan and the issues found while reading."""

    jobs: list[Job] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    copies: list[Copy] = field(default_factory=list)  # every copy read, for the directory
    series: Touched = field(default_factory=Touched)  # what the window showed of series (SPEC §15)


def window(ctx: UserContext, now: datetime) -> tuple[datetime, datetime]:
    return now - ctx.policy.past, now + ctx.policy.future


class MeetingClaims:
    """The meetings (UIDs) the passes in flight in this process claimed, by user (see the module doc).

    A pass claims at most once (`Reader.meetings`), and a pass that waits holds no claim: it waits until
    none of the UIDs it wants is held by another user, then claims them all at once. So no two passes ever
    wait for each other."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[str, asyncio.Event]] = {}  # UID -> (user id, set once let go)
        self._by_user: dict[str, set[str]] = {}

    def _theirs(self, user_id: str, uids: Collection[str]) -> list[asyncio.Event]:
        return [held[1] for u in uids if (held := self._held.get(u)) is not None and held[0] != user_id]

    async def take(self, user_id: str, uids: Collection[str]) -> None:
        """Every one of `uids` claimed for `user_id`'s pass, once no other user's pass holds any of them."""
        while theirs := self._theirs(user_id, uids):
            log.debug("meeting_claim_waits", extra={"user": user_id, "meetings": len(theirs)})
            await asyncio.gather(*(let_go.wait() for let_go in theirs))
        mine = self._by_user.setdefault(user_id, set())
        for uid in uids:
            if uid not in self._held:
                self._held[uid] = (user_id, asyncio.Event())
                mine.add(uid)

    def let_go(self, user_id: str, uids: Iterable[str] | None = None) -> None:
        """`user_id`'s claims on `uids` (all of them by default) let go: the passes waiting go on."""
        mine = self._by_user.get(user_id, set())
        for uid in list(mine) if uids is None else [u for u in uids if u in mine]:
            mine.discard(uid)
            self._held.pop(uid)[1].set()
        if not mine:
            self._by_user.pop(user_id, None)


class Reader:
    """Reads for one user's passes, with the services every pass needs."""

    def __init__(
        self, salesforce: SalesforcePort, exchange: MailboxPort, store: Store, enrolled: Mapping[str, str]
    ) -> None:
        self.salesforce = salesforce
        self.exchange = exchange
        self.store = store
        self.enrolled = enrolled  # lower-case address -> user id (R-MULTI)
        self.claims = MeetingClaims()  # let go by `UserSync.run` once the pass ended (`let_go`)
        self.store_claims = StoreClaims(store)  # the same across the processes sharing the store

    async def let_go(self, user_id: str) -> None:
        """The claims of `user_id`'s pass let go once it ended, committed or not: the store's first (a store
        failure is logged, the claims then expire), then this process's, so the passes waiting go on."""
        try:
            await self.store_claims.let_go(user_id)
        except Exception as error:
            log.warning("meeting_claims_not_released", extra={"user": user_id, "error": type(error).__name__})
        finally:
            self.claims.let_go(user_id)

    async def directory(self, copies: Iterable[Copy], events: Iterable[EventRecord | None] = ()) -> Directory:
        """Every attendee address of the Exchange copies, resolved (R-ATT-8): `invitees.resolve_attendees`,
        which a re-plan after a lost race also uses for the addresses the pass had not resolved."""
        return await resolve_attendees(self.salesforce, copies, events)

    async def meetings(self, ctx: UserContext, copies: Iterable[Copy]) -> dict[str, MeetingContext | None]:
        """`meeting` of each copy, by copy id, with one store read for all their UIDs (a first sync of a
        full calendar would otherwise read once per item). Called once per pass: the UIDs of outside
        organizers' meetings are claimed first (`MeetingClaims`, see the module doc), so the read sees the
        event another user's pass made of one meeting; the claims on meetings that have an owner already
        are let go at once (this pass joins them and makes nothing)."""
        copies = list(copies)
        meetings = [(c, c.uid, c.organizer) for c in copies if c.side is Side.EXCHANGE]
        by_uid = {c.id: uid for c, uid, organizer in meetings if uid and organizer is not None}
        outside = {
            uid for c, uid, host in meetings if uid and host is not None and host.lower() not in self.enrolled
        }
        await self.claims.take(ctx.user_id, outside)
        known = await self.store.pairs_by_uids(set(by_uid.values())) if by_uid else {}
        found = {c.id: self._meeting(ctx, c, known) for c in copies}
        owned = {uid for i, uid in by_uid.items() if (m := found[i]) is not None and m.event_id is not None}
        self.claims.let_go(ctx.user_id, owned & outside)
        if unowned := outside - owned:
            # Another process's pass may be making one of these events: claimed in the store too, then read
            # again (its event may have been stored after the read above, whether this take waited or not).
            await self.store_claims.take(ctx.user_id, unowned)
            known = {**known, **await self.store.pairs_by_uids(unowned)}
            for c in copies:
                if c.side is Side.EXCHANGE and c.uid in unowned:
                    found[c.id] = self._meeting(ctx, c, known)
            joined = {uid for i, uid in by_uid.items() if uid in unowned and (m := found[i]) and m.event_id}
            if joined:
                await self.store_claims.let_go(ctx.user_id, joined)
                self.claims.let_go(ctx.user_id, joined)
        return found

    def _meeting(
        self, ctx: UserContext, item: Copy, known: Mapping[str, list[StoredPair]]
    ) -> MeetingContext | None:
        """Other enrolled users' copies of this meeting (R-MULTI-1), by UID."""
        if item.side is not Side.EXCHANGE or not item.uid or item.organizer is None:
            return None
        organizer_user = self.enrolled.get(item.organizer.lower())
        others = [p for p in known.get(item.uid, []) if p.user_id != ctx.user_id]
        owner = next(
            (
                p
                for p in others
                if p.state.owns_event and p.state.sf_id and p.state.status is PairStatus.ACTIVE
            ),
            None,
        )
        if owner is None:
            return MeetingContext(organizer_user_id=organizer_user)
        return MeetingContext(organizer_user, owner.state.sf_id, owner.user_id)

    async def with_holders(self, ctx: UserContext, jobs: Sequence[Job]) -> None:
        """R-MULTI-4: a job that may end this user's ownership of a meeting an outside organizer sent (the
        item deleted, or marked `Salesforce Unsync`) learns which other enrolled users still hold it."""
        for job in jobs:
            state, seen = job.stored.state if job.stored else None, job.observation
            if state is None or state.kind is not Kind.D or not state.owns_event or not state.uid:
                continue
            ending = (isinstance(seen, Deleted) and seen.side is Side.EXCHANGE) or (
                isinstance(seen, Changed) and seen.ex is not None and unsync_requested(seen.ex, ctx.policy)
            )
            if not ending:
                continue
            holders = tuple(
                p.user_id
                for p in await self.store.pairs_by_uid(state.uid)
                if p.user_id != ctx.user_id
                and p.state.status is PairStatus.ACTIVE
                and not p.state.owns_event
                and p.state.sf_id == state.sf_id
                and p.state.ex_id
            )
            meeting = MeetingContext(event_id=state.sf_id, event_owner_id=ctx.user_id, holders=holders)
            assert isinstance(seen, Changed | Deleted)
            job.observation = replace(seen, meeting=meeting)

    async def window_reconcile(
        self,
        ctx: UserContext,
        now: datetime,
        *,
        pairs: Sequence[StoredPair],
        events: Sequence[EventRecord] | None = None,
        series: tuple[set[str], set[str]] | None = None,
    ) -> Gathered:
        """Jobs for every pair and unpaired copy of the user's window (see the module doc). With `series`
        (the records stored series hold) the records of recurring series are left to the series road
        (SPEC §15, `leave_series`), and `Gathered.series` names the rows of series not stored yet."""
        start, end = window(ctx, now)
        if events is None:
            events = (await self.salesforce.window_events([ctx.user_id], start, end)).get(ctx.user_id, [])
        items = await self.exchange.window_items(ctx.mailbox, start, end)
        got = Gathered()
        event_by_id = {str(e.fields.get("Id")): e for e in events}
        item_by_id = {i.item_id: i for i in items}
        claimed = [p for p in pairs if live(p)]
        missing_sf = [
            p.state.sf_id
            for p in claimed
            if p.state.status is PairStatus.ACTIVE and p.state.sf_id and p.state.sf_id not in event_by_id
        ]
        missing_ex = [
            p.state.ex_id
            for p in claimed
            if p.state.status is PairStatus.ACTIVE and p.state.ex_id and p.state.ex_id not in item_by_id
        ]
        if missing_sf:
            event_by_id.update(await self.salesforce.read_events(missing_sf))
        if missing_ex:
            item_by_id.update(await self.exchange.read_items(ctx.mailbox, missing_ex))
        taken: set[tuple[Side, str]] = set()
        for pair in claimed:
            state = pair.state
            taken.update((s, i) for s in Side if (i := state.id_of(s)) is not None)
            job = self._pair_job(ctx, pair, event_by_id, item_by_id, got)
            if job is not None:
                got.jobs.append(job)
        unpaired_events = [e for i, e in event_by_id.items() if (Side.SALESFORCE, i) not in taken]
        unpaired_items = [i for k, i in item_by_id.items() if (Side.EXCHANGE, k) not in taken]
        if series is not None:
            unpaired_events, unpaired_items = leave_series(
                unpaired_events, unpaired_items, series, got.series
            )
        waiting = [p for p in pairs if not live(p)]
        await self.unpaired(ctx, unpaired_events, unpaired_items, waiting, got)
        return got

    def _pair_job(
        self,
        ctx: UserContext,
        pair: StoredPair,
        events: Mapping[str, EventRecord],
        items: Mapping[str, ExchangeItem],
        got: Gathered,
    ) -> Job | None:
        state = pair.state
        event = events.get(state.sf_id) if state.sf_id else None
        item = items.get(state.ex_id) if state.ex_id else None
        if state.status is PairStatus.ACTIVE:
            if state.sf_id and event is None and state.owns_event:
                return Job(pair, Deleted(Side.SALESFORCE), pair.event, pair.item)
            if state.ex_id and item is None:
                return Job(pair, Deleted(Side.EXCHANGE), pair.event, pair.item)
        elif event is None and item is None:
            return None  # out of the window or ended, and not back in sight
        try:
            sf = copy_of_event(event) if event is not None else None
            ex = copy_of_item(ctx, item) if item is not None else None
        except MappingError as error:
            side, record_id = (
                (Side.EXCHANGE, state.ex_id) if item is not None else (Side.SALESFORCE, state.sf_id)
            )
            got.issues.append(mapping_issue(ctx, side, record_id or "", error))
            return None
        got.copies += [c for c in (sf, ex) if c is not None]
        return Job(pair, Changed(sf=sf, ex=ex), event or pair.event, item or pair.item)

    async def unpaired(
        self,
        ctx: UserContext,
        events: Sequence[EventRecord],
        items: Sequence[ExchangeItem],
        waiting: Sequence[StoredPair],
        got: Gathered,
    ) -> None:
        """Jobs for every copy no live pair claims, matched all at once (R-PAIR-1..3)."""
        event_copies: list[Copy] = []
        item_copies: list[Copy] = []
        raw_events: dict[str, EventRecord] = {}
        raw_items: dict[str, ExchangeItem] = {}
        for record in events:
            try:
                event_copies.append(copy_of_event(record))
                raw_events[record.id] = record
            except MappingError as error:
                got.issues.append(mapping_issue(ctx, Side.SALESFORCE, record.id, error))
        for item in items:
            try:
                item_copies.append(copy_of_item(ctx, item))
                raw_items[item.item_id] = item
            except MappingError as error:
                got.issues.append(mapping_issue(ctx, Side.EXCHANGE, item.item_id, error))
        got.copies += event_copies + item_copies
        rows = {(s, p.state.id_of(s)): p for p in waiting for s in Side if p.state.id_of(s)}
        # R-PAIR-5: this user's items joined to another user's event make their look-alike events no twin.
        joined = [
            p.state.base_ex
            for p in await self.store.pairs_of(ctx.user_id)
            if live(p) and not p.state.owns_event and p.state.base_ex is not None
        ]
        matching = match_unpaired(event_copies, item_copies, joined)

        def job(observation: Changed, *copies: Copy) -> Job:
            found = [rows[(c.side, c.id)] for c in copies if (c.side, c.id) in rows]
            stored = found[0] if found else None
            forget = tuple(pair_key(r.state) for r in found[1:])
            sf = next((c for c in copies if c.side is Side.SALESFORCE), None)
            ex = next((c for c in copies if c.side is Side.EXCHANGE), None)
            return Job(
                stored,
                observation,
                raw_events.get(sf.id) if sf else None,
                raw_items.get(ex.id) if ex else None,
                forget=forget,
            )

        meetings = await self.meetings(
            ctx, [*(ex for _, ex in matching.pairs), *matching.singles, *matching.duplicates]
        )
        for sf, ex in matching.pairs:
            got.jobs.append(job(Changed(sf=sf, ex=ex, meeting=meetings[ex.id]), sf, ex))
        for single in matching.singles + matching.duplicates:
            duplicate = single in matching.duplicates
            meeting = meetings[single.id]
            if single.side is Side.SALESFORCE:
                got.jobs.append(job(Changed(sf=single, duplicate=duplicate), single))
            else:
                got.jobs.append(job(Changed(ex=single, meeting=meeting, duplicate=duplicate), single))


def with_directory(jobs: Iterable[Job], directory: Directory) -> list[Job]:
    """The jobs' `Changed` observations with the resolved directory (R-ATT-8)."""
    out = []
    for job in jobs:
        seen = job.observation
        if isinstance(seen, Changed) and directory.entries:
            job.observation = replace(seen, directory=directory)
        out.append(job)
    return out


def owner_batches(user_ids: Sequence[str], size: int = BATCH_OWNERS) -> list[list[str]]:
    """Users in groups of `size` for one `window_events` call each (R-TIME-4)."""
    return [list(user_ids[i : i + size]) for i in range(0, len(user_ids), size)]
