"""One Lightning series per meeting series an outside organizer sends to several enrolled people (R-MULTI-1,
R-MULTI-4 for series, SPEC §15 R-REC-7).

Single meetings are matched across users by their Exchange UID through the store's pairs
(`Store.pairs_by_uids`). A series' state keeps no UID, and the other user's copy is another master with
another id, so the match is made here, when the second recipient's master reaches the series road:

- Following (`SeriesHeirs.followed`). A master of an outside organizer's series, answered and not stored,
  whose UID is that of a live Outlook-made series another enrolled attendee of it holds (the candidates:
  the master's enrolled attendees' stored series of the same subject, confirmed by reading their master's
  UID), is not synced as a series of its own: the holder's Lightning series is the meeting's one series,
  which lists this person as an invitee of every row (their address is among the holder's attendees). A
  follower's mark is stored for them (`follower_key`: an ended state, which plans nothing and keeps the
  master out of both roads), naming the holder's series and their own master.
- Claiming (`SeriesHeirs.claim`). The match above needs the first series stored: two recipients who
  accept within one pass (or while the bridge was stopped) would each find no holder and each make a
  series. So a new master of such a series is taken by the series road only under a claim on its UID,
  held from a second look for a holder until the series made is stored: the second recipient's road waits
  for the first's, then finds its series and follows it. One meeting (UID) gives one Lightning series,
  whatever the timing: the claim is held in this process and in the store the bridge processes share
  (replicas, backfill workers: `bridge.runtime.meeting_claims`).
- Passing on (`SeriesHeirs.pass_on`). When the holder deletes their Outlook series (R-DEL-2, kind D), the
  Lightning series is not deleted while a follower still has their copy: its owner becomes that follower
  (written through a future row, which changes the whole series), their invitee relation goes from every
  row (they own it now), and the holder's state becomes theirs, bound to their own master's occurrences.
  It is deleted only when no follower has a copy left.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from weakref import WeakKeyDictionary

from bridge.core.commands import Command, RemoveAttendeeRelation, frozen_fields
from bridge.core.fields import ExchangeItem, item_from_exchange
from bridge.core.model import Policy, Side
from bridge.core.scope import ANSWERED
from bridge.core.series import Series, SeriesState
from bridge.core.series_commands import UpdateSeries
from bridge.core.series_gone import left_key, left_series
from bridge.core.series_serial import series_to_dict
from bridge.errors import NotFoundError
from bridge.ports import Commit, MailboxPort, SalesforcePort, Store, StoredSeries
from bridge.runtime.meeting_claims import StoreClaims
from bridge.runtime.series_masters import colleague_mark
from bridge.store.journal import JournalEntry, record_series_writes

log = logging.getLogger(__name__)

FOLLOW_PREFIX = "series:follow:"

# The claims on meetings' UIDs under way (a lock, and how many roads hold or wait for it), per event loop
# and store (one bridge process runs one loop on one store; tests run many, and two bridges on two stores
# of one database play two processes).
_CLAIMS: WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[int, str], tuple[asyncio.Lock, list[int]]]
] = WeakKeyDictionary()


@asynccontextmanager
async def _claimed(store: Store, uid: str) -> AsyncIterator[None]:
    """The claim on one meeting's UID, shared by every user's road in this process; forgotten once no
    road holds or waits for it."""
    claims = _CLAIMS.setdefault(asyncio.get_running_loop(), {})
    lock, users = claims.setdefault((id(store), uid), (asyncio.Lock(), [0]))
    users[0] += 1
    try:
        async with lock:
            yield
    finally:
        users[0] -= 1
        if not users[0]:
            del claims[(id(store), uid)]


def follower_key(sf_series: str, master_id: str) -> str:
    return f"{FOLLOW_PREFIX}{sf_series}:{master_id}"


def followed_series(key: str) -> str | None:
    """The holder's Lightning series a follower's mark names."""
    if not key.startswith(FOLLOW_PREFIX):
        return None
    return key.removeprefix(FOLLOW_PREFIX).split(":", 1)[0]


def _emails(item: ExchangeItem) -> list[str]:
    return [a.email for a in (*item.required_attendees, *item.optional_attendees)]


def follower(sf_series: str, master_id: str) -> SeriesState:
    """A follower's mark: ended (it plans nothing and is never synced on its own), holding the master."""
    key = follower_key(sf_series, master_id)
    return SeriesState(key=key, origin=Side.EXCHANGE, sf_series=None, ex_series=master_id, ended=True)


class SeriesHeirs:
    """The cross-user matches of outside organizers' series; `enrolled` maps lower-case addresses to
    user ids (R-MULTI)."""

    def __init__(
        self,
        store: Store,
        salesforce: SalesforcePort,
        exchange: MailboxPort,
        enrolled: Mapping[str, str],
    ) -> None:
        self.store, self.salesforce, self.exchange, self.enrolled = store, salesforce, exchange, enrolled
        # The series masters the mailbox sync of the pass listed (`followed`), claimed next (`claim`).
        self._seen: dict[str, ExchangeItem] = {}
        self.store_claims = StoreClaims(store)  # R-MULTI-1 across the processes sharing the store

    def _others(self, emails: Sequence[str], user_id: str) -> list[tuple[str, str]]:
        """(user id, address) of the enrolled people among `emails`, this user left out."""
        found = [(self.enrolled.get(e.lower()), e.lower()) for e in emails]
        return sorted({(u, e) for u, e in found if u is not None and u != user_id})

    def _candidate(self, item: ExchangeItem, policy: Policy) -> bool:
        """An answered master of an outside organizer's meeting series, which another enrolled attendee's
        series may hold."""
        if not item.is_recurring or not item.organizer or not item.uid:
            return False
        organizer = item.organizer.lower()
        if organizer in self.enrolled or organizer == policy.user_email.lower():
            return False  # the user's own series, or a colleague's (`series_masters.followed_masters`)
        # R-SCOPE-6 holds an unanswered one (`series_answers`)
        return item.my_response_type in ANSWERED or policy.sync_unanswered

    def _colleagues(self, item: ExchangeItem, policy: Policy) -> bool:
        """An answered copy of a meeting series an enrolled colleague organizes (kind E), not marked
        `Salesforce Unsync` (that one goes to the series road, `series_masters.followed_masters`)."""
        organizer = (item.organizer or "").lower()
        if (
            self.enrolled.get(organizer) in (None, policy.user_id)
            or policy.unsync_category in item.categories
        ):
            return False
        return item.my_response_type in ANSWERED or policy.sync_unanswered

    async def holder_of(self, user_id: str, mailbox: str, master_id: str) -> str | None:
        """The Lightning series another enrolled attendee holds of the meeting series whose copy in this
        user's mailbox is `master_id` (an outside organizer's, R-MULTI-1), if one does."""
        item = (await self.exchange.read_items(mailbox, [master_id])).get(master_id)
        if item is None or not item.is_recurring or not item.uid:
            return None
        return await self._holder(item, self._others(_emails(item), user_id))

    async def followed(
        self,
        user_id: str,
        policy: Policy,
        items: Sequence[ExchangeItem],
        stored: Sequence[StoredSeries],
        *,
        record: bool = True,
    ) -> set[str]:
        """The masters among `items` that follow another enrolled attendee's series (see the module doc);
        their follower's marks are stored unless `record` is off (observe mode)."""
        held = {s.state.ex_series for s in stored if s.state.ex_series}
        found: set[str] = set()
        marks: list[StoredSeries] = []
        self._seen.clear()  # one pass's
        for item in items:
            if item.item_id in held or not item.is_recurring:
                continue
            self._seen[item.item_id] = item  # the road claims it (`claim`) before making a series
            if self._colleagues(item, policy):  # kind E: marked, so that its deletion is seen (R-DEL-2)
                mark = await colleague_mark(self.exchange, self.store, self.enrolled, user_id, item)
                marks += [StoredSeries(user_id, mark)] if mark is not None else []
                continue
            if not self._candidate(item, policy):
                continue
            holder = await self._holder(item, self._others(_emails(item), user_id))
            if holder is None:
                continue
            found.add(item.item_id)
            marks.append(StoredSeries(user_id, follower(holder, item.item_id)))
            log.info("series_followed", extra={"user": user_id, "exchange_id": item.item_id,
                                               "salesforce_id": holder})  # fmt: skip
        if marks and record:
            commit = Commit(user_id=user_id)
            commit.series += marks
            await self.store.commit(commit)
        return found

    @asynccontextmanager
    async def claim(self, user_id: str, policy: Policy, mailbox: str, master_id: str) -> AsyncIterator[bool]:
        """R-MULTI-1 whatever the timing (see the module doc): the series road takes a master not stored
        yet inside this claim, and only when it yields True. For an outside organizer's series with other
        enrolled attendees, the claim on its UID is held, and the holder looked for again under it: found
        (another user's road made the series meanwhile), this user follows it (their mark is stored) and
        the claim yields False. Any other master yields True at once."""
        item = self._seen.pop(master_id, None)
        if item is None:  # a master the pass's mailbox sync did not list (a window reconcile shows it)
            item = (await self.exchange.read_items(mailbox, [master_id])).get(master_id)
        others = self._others(_emails(item), user_id) if item is not None else []
        if item is None or not others or not self._candidate(item, policy):
            yield True
            return
        assert item.uid is not None
        async with _claimed(self.store, item.uid), self._store_claim(user_id, item.uid):
            holder = await self._holder(item, others)
            if holder is None:
                yield True
                return
            commit = Commit(user_id=user_id)
            commit.series.append(StoredSeries(user_id, follower(holder, master_id)))
            await self.store.commit(commit)
            log.info("series_followed", extra={"user": user_id, "exchange_id": master_id,
                                               "salesforce_id": holder, "claimed": True})  # fmt: skip
            yield False

    @asynccontextmanager
    async def _store_claim(self, user_id: str, uid: str) -> AsyncIterator[None]:
        """The claim on the UID in the store, which the bridge processes sharing it honour (replicas,
        backfill workers: `bridge.runtime.meeting_claims`), held as the one of this process is."""
        await self.store_claims.take(user_id, [uid])
        try:
            yield
        finally:
            await self.store_claims.let_go(user_id, [uid])

    async def _holder(self, item: ExchangeItem, others: Sequence[tuple[str, str]]) -> str | None:
        """The Lightning series of another enrolled attendee's live Outlook-made series of this meeting."""
        for other_id, address in others:
            for series in await self.store.series_of(other_id):
                state = series.state
                live = not state.ended and state.sf_series and state.ex_series
                if not live or state.origin is not Side.EXCHANGE or state.base_ex is None:
                    continue
                if state.base_ex.subject != item.subject:
                    continue
                assert state.ex_series is not None
                read = await self.exchange.read_items(address, [state.ex_series])
                master = read.get(state.ex_series)
                if master is not None and master.uid == item.uid:
                    return state.sf_series
        return None

    async def rebound(self, user_id: str, old: str, state: SeriesState) -> None:
        """R-REC-5 with R-MULTI-4: the holder's Lightning series was made anew under another id (a new
        pattern); the followers' marks are made to name it, so that it still passes to them and their
        leaving still takes them off its rows; and so are the tombstones of those who left it
        (`series_gone.left_key`), so that giving their copy `Salesforce` again still brings them back."""
        new = state.sf_series
        if state.base_ex is None or new is None or new == old:
            return
        for other_id, _ in self._others([a.email for a in state.base_ex.attendees], user_id):
            named = [
                s.state
                for s in await self.store.series_of(other_id)
                if s.state.ex_series and old in (followed_series(s.state.key), left_series(s.state.key))
            ]
            if not named:
                continue
            commit = Commit(user_id=other_id)
            for mark in named:
                assert mark.ex_series is not None
                if followed_series(mark.key) == old:
                    moved = follower(new, mark.ex_series)
                else:
                    moved = replace(mark, key=left_key(new, mark.ex_series))
                commit.series.append(StoredSeries(other_id, moved))
                commit.forget_series.append(mark.key)
            await self.store.commit(commit)
            log.info("series_followers_rebound", extra={"user": other_id, "salesforce_id": new,
                                                        "previous_id": old})  # fmt: skip

    async def _heir(
        self, policy: Policy, state: SeriesState
    ) -> tuple[str, str, SeriesState, ExchangeItem] | None:
        """The follower the holder's series passes to (R-MULTI-4): their user id, address, follower's mark
        and copy. A follower whose own state holds the series already (it passed to them before, and an
        undo gave it back to the holder) comes with that state in place of a mark."""
        if state.sf_series is None or state.origin is not Side.EXCHANGE:
            return None
        if state.base_ex is None or not state.base_ex.attendees:
            return None
        emails = [a.email for a in state.base_ex.attendees]
        for heir_id, address in self._others(emails, policy.user_id):
            marks = [
                s.state
                for s in await self.store.series_of(heir_id)
                if s.state.ex_series
                and (
                    followed_series(s.state.key) == state.sf_series
                    or (s.state.sf_series == state.sf_series and not s.state.ended)
                )
            ]
            for mark in marks:
                assert mark.ex_series is not None
                copy = (await self.exchange.read_items(address, [mark.ex_series])).get(mark.ex_series)
                if copy is None or copy.is_cancelled:
                    found = {"user": heir_id, "exchange_id": mark.ex_series, "salesforce_id": state.sf_series}
                    log.info("series_heir_without_copy", extra=found)
                    continue
                return heir_id, address, mark, copy
        return None

    async def pass_on(
        self, policy: Policy, state: SeriesState, survivor: Series | None, now: datetime
    ) -> bool:
        """R-MULTI-4: the holder's Outlook series is gone; when a follower still has their copy, the
        Lightning series passes to them (see the module doc). True when it was passed on."""
        if survivor is None:
            return False
        found = await self._heir(policy, state)
        if found is None:
            return False
        heir_id, address, mark, copy = found
        await self._pass(policy, heir_id, address, state, mark, copy, survivor, now)
        return True

    async def would_pass(
        self, policy: Policy, state: SeriesState, survivor: Series | None, now: datetime
    ) -> list[Command]:
        """Observe mode (issue 9): the writes `pass_on` would make, as commands to report; none when the
        series would not pass on."""
        found = await self._heir(policy, state) if survivor is not None else None
        if found is None or state.sf_series is None or survivor is None:
            return []
        heir_id = found[0]
        commands: list[Command] = []
        through = _through(survivor, now)
        if through is not None:
            fields = frozen_fields({"OwnerId": heir_id})
            commands.append(UpdateSeries(Side.SALESFORCE, state.sf_series, None, fields, through_id=through))
        commands += [RemoveAttendeeRelation(o.id, heir_id) for o in survivor.occurrences]
        return commands

    async def _pass(
        self,
        policy: Policy,
        heir_id: str,
        address: str,
        state: SeriesState,
        mark: SeriesState,
        copy: ExchangeItem,
        survivor: Series,
        now: datetime,
    ) -> None:
        """The heir's state first (the rows' change events the writes bring find it), then Salesforce. The
        writes are journaled under the holder, whose pass made them, with the holder's state before them:
        `calbridge undo` gives the series back to the holder and the heir their invitee relations."""
        assert state.sf_series is not None and mark.ex_series is not None
        if mark.sf_series != state.sf_series:  # a follower's mark: the heir's state is made from it
            heir_policy = replace(policy, user_id=heir_id, user_email=address)
            content = item_from_exchange(copy, heir_policy).content
            ex_ids = await self._occurrence_ids(address, mark.ex_series, state, heir_policy)
            pairs = tuple(replace(p, ex_id=ex_ids.get(p.original_start)) for p in state.occurrences)
            base = state.base_ex
            inherited = replace(
                state,
                key=f"series:ex:{mark.ex_series}",
                ex_series=mark.ex_series,
                ex_version=None,
                sf_version=None,
                base_ex=replace(content, when=base.when) if base is not None else content,
                occurrences=pairs,
            )
            heir = Commit(user_id=heir_id)
            heir.series.append(StoredSeries(heir_id, inherited))
            heir.forget_series.append(mark.key)
            await self.store.commit(heir)
        holder = Commit(user_id=policy.user_id)
        holder.forget_series.append(state.key)
        await self.store.commit(holder)
        entries: list[JournalEntry] = []
        at = datetime.now(UTC)
        # The heir's invitee relations first (they own it next), then the owner: an undo, newest write
        # first, gives the series back to the holder before it makes the heir an invitee again.
        rows = [o.id for o in survivor.occurrences]
        for row, status in (await self._uninvited(rows, heir_id)).items():
            was, gone = {"relation_id": heir_id, "status": status}, {"relation_id": heir_id, "status": None}
            entry = _entry(
                policy.user_id, state.key, state, Side.SALESFORCE, "remove_relation", row, at, was, gone
            )
            entries.append(entry)
        through = _through(survivor, now)
        if through is not None:  # API 58.0: a future row's edit changes the whole series
            await self.salesforce.update_event(through, None, {"OwnerId": heir_id})
            owners = {"fields": {"OwnerId": policy.user_id}}, {"fields": {"OwnerId": heir_id}}
            entries.append(
                _entry(policy.user_id, state.key, state, Side.SALESFORCE, "update", through, at, *owners)
            )
        await self._journal(entries)
        log.info("series_passed_on", extra={"user": policy.user_id, "heir": heir_id, "series": state.key,
                                            "salesforce_id": state.sf_series})  # fmt: skip

    async def leave(self, user_id: str, key: str, prior: SeriesState | None, series_id: str) -> None:
        """R-DEL-2/3 for a follower (`SeriesRoad._unfollowed`): their invitee relation taken off every row of
        the Lightning series `series_id`, journaled under them and `key` with their state before (`prior`,
        their mark), so `calbridge undo` makes them an invitee of every row again and puts the mark back."""
        read = getattr(self.salesforce, "read_series", None)
        found = await read(series_id, {}) if read is not None else None
        rows = [o.id for o in found.occurrences] if isinstance(found, Series) else []
        at, entries = datetime.now(UTC), []
        for row, status in (await self._uninvited(rows, user_id)).items():
            was, now = {"relation_id": user_id, "status": status}, {"relation_id": user_id, "status": None}
            entries.append(_entry(user_id, key, prior, Side.SALESFORCE, "remove_relation", row, at, was, now))
        await self._journal(entries)

    async def _uninvited(self, rows: Sequence[str], relation_id: str) -> dict[str, str]:
        """`relation_id` taken off each of `rows` it is an invitee of; its status there before, by row."""
        if not rows:
            return {}
        read = await self.salesforce.read_events(rows)
        held = {row: r.status for row, e in read.items() for r in e.relations if r.relation_id == relation_id}
        removed: dict[str, str] = {}
        for row in rows:
            if row not in held:
                continue
            try:
                await self.salesforce.remove_relation(row, relation_id)
            except NotFoundError:
                continue
            removed[row] = held[row]
        return removed

    async def _journal(self, entries: Sequence[JournalEntry]) -> None:
        await record_series_writes(self.store, entries)

    async def _occurrence_ids(
        self, address: str, master_id: str, state: SeriesState, policy: Policy
    ) -> dict[datetime, str]:
        """The heir's occurrences of their master by original start, over the span the state holds."""
        starts = [p.original_start for p in state.occurrences]
        if not starts:
            return {}
        read = getattr(self.exchange, "read_series", None)
        if read is None:
            return {}
        found = await read(address, master_id, min(starts), max(starts).replace(year=max(starts).year + 1),
                           policy)  # fmt: skip
        return {o.original_start: o.id for o in found.occurrences} if found is not None else {}


def _through(survivor: Series, now: datetime) -> str | None:
    """The row an edit of the whole Lightning series goes through: its first future plain row (API 58.0),
    else its first plain row."""
    rows = [o for o in survivor.occurrences if not o.exception]
    future = [o.id for o in rows if o.original_start > now]
    return future[0] if future else (rows[0].id if rows else None)


def _entry(
    user_id: str,
    key: str,
    prior: SeriesState | None,
    side: Side,
    action: str,
    record_id: str,
    at: datetime,
    before: Mapping[str, object],
    after: Mapping[str, object],
) -> JournalEntry:
    """One handover write in the journal, in the pair road's terms (`bridge.runtime.journal`), under the
    series' key with its state before the write (`series_journal`)."""
    was = {"series": series_to_dict(prior) if prior is not None else None}
    return JournalEntry(user_id, key, side, action, record_id, at, before, after, pair_before=was)
