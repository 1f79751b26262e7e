"""`Bridge`: the runtime over any ports, started and stopped in-process.

    bridge = Bridge(salesforce, exchange, store, users)
    await bridge.start()       # resumes every stream from the store (R-TIME-2), first-syncs new users
    ...                        # notices flow: streams -> router -> actors -> executor -> store
    await bridge.wait_idle()   # (tests) until every notice so far is planned and committed
    await bridge.stop()        # finishes the passes in flight, stores the watermarks; ports stay open

On start, every user catches up: one with no stored Exchange sync state or with pending intents gets a
window reconcile (their first sync, or recovery after a crash, R-MERGE-4); the others sync their mailbox
from the stored state. The Salesforce stream resumes from the stored replay ids. The periodic reconcile
(R-TIME-4) asks Salesforce one cheap question per 200 owners (a digest of each window), reads only the
windows whose digest changed, and spreads the batches over the period. `bridge.runtime.supervisor`
builds a Bridge from the configuration; tests build one over the in-memory ports or the real adapters.

Users change while it runs (`apply_users`, from `bridge.runtime.settings` when settings come from
Salesforce): a new user is watched and first-synced, a user whose policy or mailbox changed is re-planned
under it (a window reconcile), and a user who left is switched off (R-DEL-6: every pair ended as the
R-DEL table says) and unwatched; a user switched off while the bridge was stopped (`switched_off`, from
`enabled = false` in calbridge.toml) gets the same pass at start if they still have pairs, and since that
pass forgets their pairs and mailbox sync state, switching them back on later is a first sync.

Commands from Salesforce pass `gate` (`bridge.runtime.gate`) first; a `sync_now` command and every
periodic pass read the settings again first (`follower`), since Salesforce does not stream permission set
assignments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bridge.core.model import PairStatus, Side
from bridge.ports import BridgeCommand, CommandKind, Commit, EventChange, MailboxPort, SalesforcePort, Store
from bridge.runtime.actor import Actors, ActorSettings
from bridge.runtime.executor import Executor
from bridge.runtime.gate import CommandGate
from bridge.runtime.issues_out import IssueMirror
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.observe import UnplannedSeries
from bridge.runtime.passes import PassServices, live
from bridge.runtime.reconcile import Reader, owner_batches
from bridge.runtime.router import Router
from bridge.runtime.series import SeriesRoad
from bridge.runtime.settings import SettingsFollower
from bridge.runtime.startup import spread
from bridge.runtime.sync import UserBinding, UserSync, Work, sync_state_of
from bridge.runtime.watermark import Watermarks
from bridge.salesforce.changes import stream_name
from bridge.salesforce.settings import SETTINGS_TOPIC
from bridge.store.journal import journal_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    flush_s: float = 0.5  # how often the stream watermarks are stored
    reconcile_every_s: float = 6 * 3600.0  # R-TIME-4; 0 turns the periodic reconcile off
    actor: ActorSettings = field(default_factory=ActorSettings)
    stream_retry_s: float = 1.0
    observe: frozenset[str] = frozenset()  # users in observe mode (issue 9): planned, reported, not written
    journal_keep_days: int = 30  # journal entries older than this are pruned at start (issue 9)
    startup_parallel: int = 32  # users' first passes in flight at start (bridge.runtime.startup)


class Bridge:
    def __init__(
        self,
        salesforce: SalesforcePort,
        exchange: MailboxPort,
        store: Store,
        users: Sequence[UserBinding],
        *,
        settings: BridgeSettings | None = None,
        metrics: RuntimeMetrics | None = None,
        clock: Callable[[], datetime] | None = None,
        switched_off: Sequence[UserBinding] = (),
    ) -> None:
        self.salesforce = salesforce
        self.exchange = exchange
        self.store = store
        self.users = {u.user_id: u for u in users}
        self._bindings = dict(self.users)  # every user ever enrolled, for passes made after they left
        # Users switched off before this start (`enabled = false`): R-DEL-6 once for those with pairs.
        self.switched_off = {u.user_id: u for u in switched_off if u.user_id not in self.users}
        self.settings = settings or BridgeSettings()
        self.metrics = metrics or RuntimeMetrics()
        self.clock = clock
        enrolled = {u.mailbox.lower(): u.user_id for u in users}
        enrolled.update({u.policy.user_email.lower(): u.user_id for u in users if u.policy.user_email})
        self.reader = Reader(salesforce, exchange, store, enrolled)
        executor = Executor(salesforce, exchange, store, clock=clock)
        self.services = PassServices(executor, self.metrics, clock, self.settings.observe)
        self.services.on_owned = self._meeting_owned
        self._wakers: set[asyncio.Task[None]] = set()
        self.actors = Actors(self._make_sync, self.metrics, self.settings.actor)
        self.watermarks = Watermarks()
        self.router = Router(
            self.actors, store, salesforce, self.users, self.watermarks, executor.created_events
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._startup: asyncio.Task[None] | None = None  # first passes, spread (bridge.runtime.startup)
        self._digests: dict[str, str] = {}  # user id -> their window's digest at the last periodic pass
        self.ready = asyncio.Event()
        self.started_at: datetime | None = None
        self.follower: SettingsFollower | None = None  # settings from Salesforce (bridge.runtime.settings)
        self.gate: CommandGate | None = None  # who may command from Salesforce (bridge.runtime.gate)
        self.mirror: IssueMirror | None = None  # issues kept in Salesforce (bridge.runtime.issues_out)

    def _make_sync(self, user_id: str) -> UserSync:
        sync = UserSync(self._bindings[user_id], self.services, self.reader)
        if user_id in self.services.observe:
            sync.series = UnplannedSeries(self.salesforce, self.exchange, self.store)  # writes as it plans
        return sync

    def _observe(self, binding: UserBinding) -> None:
        """Observe mode as the user's settings now say (from Salesforce they can change while running);
        the first pass with writes on after it reconciles the window (`bridge.runtime.observe`)."""
        observed = binding.observe
        if observed == (binding.user_id in self.services.observe):
            return
        if observed:
            self.services.observe = self.services.observe | {binding.user_id}
        else:
            self.services.observe = self.services.observe - {binding.user_id}
        sync = self.actors.sync_of(binding.user_id)
        if sync is not None:  # the series road follows: one that writes only when observing is off
            sync.series = (
                UnplannedSeries(self.salesforce, self.exchange, self.store)
                if observed
                else SeriesRoad(self.salesforce, self.exchange, self.store, self.services.metrics)
            )

    def _now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    # ------------------------------------------------------------------------------------- life

    async def start(self) -> None:
        keep = timedelta(days=self.settings.journal_keep_days)
        pruned = await journal_of(self.store).prune(self._now() - keep)
        if pruned:
            log.info("journal_pruned", extra={"entries": pruned})
        stored = await self.store.positions("sf:")
        self.watermarks = Watermarks(stored)
        self.router.watermarks = self.watermarks
        await self.catch_up([u.user_id for u in self.local_users()])
        await self._end_switched_off()
        self._spawn(self.read_salesforce(stored), "salesforce stream")
        self._spawn(self._exchange_pump(), "exchange stream")
        self._spawn(self._flusher(), "watermark flusher")
        if self.settings.reconcile_every_s > 0:
            self._spawn(self._scheduler(), "periodic reconcile")
        if self.mirror is not None:
            self._spawn(self.mirror.run(), "issues to Salesforce")
        self.started_at = self._now()
        self.ready.set()

    async def catch_up(self, user_ids: Sequence[str]) -> None:
        """Start the first passes of these users, as after a restart (R-TIME-2): a window reconcile for one
        with no stored sync state or with pending intents (R-MERGE-4), else a mailbox catch-up. Spread,
        not all at once (no thundering herd at 10,000 users); notices are routed meanwhile. Returns once
        the spread has begun; `wait_idle` waits for it."""
        pending = {i.user_id for i in await self.store.pending_intents()}
        works = []
        for user_id in user_ids:
            known = await sync_state_of(self.store, self.users[user_id].mailbox)
            first = known is None or user_id in pending
            works.append((user_id, Work(reconcile=True) if first else Work(exchange=True)))
        if not works:
            return
        self._startup = asyncio.create_task(
            spread(self.actors, works, limit=self.settings.startup_parallel), name="startup"
        )
        self._tasks.append(self._startup)

    async def stop(self) -> None:
        """Stop reading the streams, finish the passes in flight, store the watermarks (SIGTERM). A write
        held back by the Salesforce API budget does not hold the stop up: it fails, stays a recorded intent,
        and is made after the restart (R-API-2, R-MERGE-4)."""
        self.ready.clear()
        release = getattr(self.salesforce, "release_budget", None)  # ports that have no budget lack it
        if callable(release):
            release()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.actors.stop()
        await self._flush()

    async def wait_idle(self, settle_s: float = 0.05) -> None:
        """Until no actor has work and no notice is in flight, twice in a row `settle_s` apart."""
        if self._startup is not None and not self._startup.done():
            await asyncio.shield(self._startup)
        quiet = 0
        while quiet < 2:
            await self.actors.wait_idle()
            await asyncio.sleep(settle_s)
            idle = not self.actors.depth and all(not a.busy for a in self.actors.running.values())
            quiet = quiet + 1 if idle else 0
        await self._flush()

    # ------------------------------------------------------------------------------ commands

    def sync_now(self, user_id: str) -> None:
        self.router.submit(user_id, Work(sync_now_all=True))

    def backfill(self, user_id: str) -> None:
        self.router.submit(user_id, Work(reconcile=True))

    def confirm(self, user_id: str) -> None:
        self.router.submit(user_id, Work(reconcile=True, confirmed=True))

    # ------------------------------------------------------------------------------------ users

    def syncs_here(self, user_id: str) -> bool:
        """Whether this process syncs the user's passes and watches their mailbox. Always, for one process;
        a replica (bridge.runtime.replicas) only for the users whose leases it holds."""
        return True

    def local_users(self) -> list[UserBinding]:
        """The enrolled users this process syncs (`syncs_here`): its streams, catch-ups and reconciles."""
        return [u for u in self.users.values() if self.syncs_here(u.user_id)]

    async def apply_users(self, wanted: Mapping[str, UserBinding]) -> None:
        """Make the enrolled users `wanted`: switch off who left, enrol who is new, rebind who changed."""
        for user_id in [u for u in self.users if u not in wanted]:
            await self._switch_off(user_id)
        for user_id, binding in wanted.items():
            if self.users.get(user_id) != binding:
                await self._enrol(binding)

    async def _enrol(self, binding: UserBinding) -> None:
        old = self.users.get(binding.user_id)
        self.switched_off.pop(binding.user_id, None)
        self.users[binding.user_id] = self._bindings[binding.user_id] = binding
        self._observe(binding)
        self._index()
        sync = self.actors.sync_of(binding.user_id)
        if sync is not None:
            sync.rebind(binding)
        if not self.syncs_here(binding.user_id):
            return  # another replica syncs the user; this one only knows them now
        if old is not None and old.mailbox.lower() != binding.mailbox.lower():
            await self.exchange.unwatch(old.mailbox)
        if old is None or old.mailbox.lower() != binding.mailbox.lower():
            await self.exchange.watch(binding.mailbox)
        log.info(
            "user %s", "enrolled" if old is None else "settings changed", extra={"user": binding.user_id}
        )
        # First sync of a new user; for a changed policy, the window planned again under it.
        self.actors.submit(binding.user_id, Work(reconcile=True))

    async def _switch_off(self, user_id: str) -> None:
        """R-DEL-6: no more notices for the user; one last pass ends every pair as the R-DEL table says."""
        binding = self.users.pop(user_id)
        self._index()
        if not self.syncs_here(user_id):
            return  # the replica holding the user makes the pass
        self.actors.submit(user_id, Work(switched_off=True))
        await self.exchange.unwatch(binding.mailbox)
        log.info("user switched off", extra={"user": user_id})

    async def _end_switched_off(self) -> None:
        """R-DEL-6 for users switched off while the bridge was stopped: one who still has pairs gets the
        switch-off pass (which forgets them), so a later start finds none and leaves the user alone. Their
        mailbox is not watched and their notices are not routed."""
        for user_id, binding in self.switched_off.items():
            if not self.syncs_here(user_id) or not any(live(p) for p in await self.store.pairs_of(user_id)):
                continue
            self._bindings[user_id] = binding
            self.actors.submit(user_id, Work(switched_off=True))
            log.info("user switched off", extra={"user": user_id})

    def _index(self) -> None:
        """The router's and reader's views of who is enrolled, after `users` changed."""
        self.router.users = dict(self.users)
        self.router.by_mailbox = {b.mailbox.lower(): b.user_id for b in self.users.values()}
        enrolled = {u.mailbox.lower(): u.user_id for u in self.users.values()}
        enrolled.update(
            {u.policy.user_email.lower(): u.user_id for u in self.users.values() if u.policy.user_email}
        )
        self.reader.enrolled = enrolled

    async def refresh_settings(self) -> None:
        """Read enrolment and policies again (when they come from Salesforce) and apply them. A failed read
        leaves the users as they were: the next ask reads again."""
        if self.follower is None:
            return
        try:
            await self.follower.refresh(self.apply_users)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not read the settings from Salesforce; keeping the users as they were")

    async def owner_of(self, event_id: str) -> str | None:
        """The user an event belongs to: its pair's user, else its owner as Salesforce says."""
        pair = await self.store.pair_by_record(Side.SALESFORCE, event_id)
        if pair is not None:
            return pair.user_id
        record = (await self.salesforce.read_events([event_id])).get(event_id)
        return record.owner_id if record is not None else None

    async def _admitted(self, notice: object) -> bool:
        """Whether a Salesforce notice goes on to the router: a settings change is read here instead, a
        command must pass the gate, and a `sync_now` reads the settings first (a new assignment)."""
        position = getattr(notice, "position", None)
        if isinstance(notice, EventChange) and notice.position.stream == stream_name(SETTINGS_TOPIC):
            await self.refresh_settings()
        elif (
            isinstance(notice, BridgeCommand) and self.gate is not None and not await self.gate.allows(notice)
        ):
            pass
        else:
            if isinstance(notice, BridgeCommand) and notice.kind is CommandKind.SYNC_NOW:
                await self.refresh_settings()
            return True
        if position is not None:
            self.watermarks.begin(position).release()  # done with: its replay id may be stored
        return False

    async def run_users(
        self,
        user_ids: Sequence[str],
        *,
        sync_now: bool = False,
        done: Callable[[str], None] | None = None,
    ) -> None:
        """Reconcile these users' windows and return when committed, without reading the streams (the
        CLI's `sync-now` and `backfill`). `done` hears of each user finished. A backfill reads the
        Salesforce windows of up to 200 users in one query (R-API-3), a batch at a time, so memory holds
        one batch's events and not every user's."""
        if sync_now:
            works = [(u, Work(sync_now_all=True)) for u in user_ids]
            await spread(self.actors, works, limit=self.settings.startup_parallel, what="sync now", done=done)
        else:
            wanted = set(user_ids)
            for batch in self._batches():
                ids = [u.user_id for u in batch if u.user_id in wanted]
                if not ids:
                    continue
                policy, now = batch[0].policy, self._now()
                found = await self.salesforce.window_events(ids, now - policy.past, now + policy.future)
                works = [(u, Work(reconcile=True, events=list(found.get(u, [])))) for u in ids]
                await spread(
                    self.actors, works, limit=self.settings.startup_parallel, what="backfill", done=done
                )
        await self.actors.wait_idle()

    async def reconcile_all(self) -> None:
        """One periodic reconcile pass over every user at once (R-TIME-4); the scheduler spreads the same
        batches over the period instead."""
        for batch in self._batches():
            await self._reconcile_batch(batch)

    def _batches(self) -> list[list[UserBinding]]:
        """The users in batches of up to 200 that share a window (one Salesforce query each)."""
        groups: dict[tuple[int, int], list[UserBinding]] = {}
        for user in self.local_users():
            groups.setdefault((user.policy.past_days, user.policy.future_days), []).append(user)
        return [
            [self.users[user_id] for user_id in batch]
            for users in groups.values()
            for batch in owner_batches([u.user_id for u in users])
        ]

    async def _reconcile_batch(self, batch: Sequence[UserBinding]) -> None:
        """R-TIME-4 for one batch: one cheap question to Salesforce (a digest of each owner's window); the
        windows whose digest changed since the last pass are read (one more query) and reconciled, and the
        other users only catch their mailbox up, which costs no Salesforce call. A port that cannot give
        digests has every window read."""
        policy = batch[0].policy
        now = self._now()
        start, end = now - policy.past, now + policy.future
        user_ids = [u.user_id for u in batch]
        changed = user_ids
        digests = getattr(self.salesforce, "window_digests", None)
        if digests is not None:
            answers: dict[str, str] = await digests(user_ids, start, end)
            changed = [u for u in user_ids if u not in self._digests or answers.get(u) != self._digests[u]]
            self._digests.update(answers)
        found = await self.salesforce.window_events(changed, start, end) if changed else {}
        for user_id in user_ids:
            if user_id in changed:
                self.actors.submit(user_id, Work(reconcile=True, events=list(found.get(user_id, []))))
            else:
                self.actors.submit(user_id, Work(exchange=True))

    # ---------------------------------------------------------------------------------- tasks

    def _meeting_owned(self, user_id: str, uids: frozenset[str]) -> None:
        """A pass made `user_id` the owner of these meetings' events (R-MULTI-1): other users' copies that
        wait for it (W-WAIT-ORGANIZER) are taken up now. Nothing else would wake them: the event's own
        change events go to its owner, and one that reached an attendee before the commit found no owner."""
        task = asyncio.create_task(self._wake_waiting(user_id, uids), name="wake waiting copies")
        self._wakers.add(task)
        task.add_done_callback(self._wakers.discard)

    async def _wake_waiting(self, user_id: str, uids: frozenset[str]) -> None:
        try:
            waiting = {
                pair.user_id
                for copies in (await self.store.pairs_by_uids(uids)).values()
                for pair in copies
                if pair.user_id != user_id
                and pair.user_id in self.users
                and pair.state.status is PairStatus.WAITING
            }
        except Exception:
            log.exception("reading the copies waiting for meetings %s failed", sorted(uids))
            return  # they are taken up by their user's next pass or reconcile
        for other in sorted(waiting):
            self.actors.submit(other, Work(reconcile=True))

    def _spawn(self, job: object, name: str) -> None:
        assert asyncio.iscoroutine(job)
        self._tasks.append(asyncio.create_task(job, name=name))

    async def read_salesforce(self, resume: dict[str, str]) -> None:
        """Route the Salesforce stream's notices from `resume` until cancelled, resuming from the stored
        positions after a failure. (A replica reads it only while it holds the stream lease.)"""
        while True:
            try:
                async for notice in self.salesforce.notices(resume):
                    if await self._admitted(notice):
                        await self.router.salesforce_notice(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Salesforce stream failed; resuming from the stored positions")
            await asyncio.sleep(self.settings.stream_retry_s)
            await self._flush()
            resume = await self.store.positions("sf:")

    async def _exchange_pump(self) -> None:
        mailboxes = [u.mailbox for u in self.local_users()]
        while True:
            try:
                async for notice in self.exchange.notices(mailboxes):
                    self.router.mailbox_notice(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Exchange notifications failed; catching every mailbox up")
            await asyncio.sleep(self.settings.stream_retry_s)
            for user in self.local_users():
                self.actors.submit(user.user_id, Work(exchange=True))

    async def _flusher(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_s)
            await self._flush()

    async def _flush(self) -> None:
        positions = self.watermarks.take()
        if not positions:
            return
        try:
            await self.store.commit(Commit(user_id="", positions=positions))
        except Exception:
            self.watermarks.untake(positions)
            log.exception("could not store the stream positions; trying again")

    async def _scheduler(self) -> None:
        """R-TIME-4: every period, each batch of users once, the batches spread evenly over the period (so
        10,000 users make 50 small passes, not one burst)."""
        period = self.settings.reconcile_every_s
        while True:
            await self.refresh_settings()  # assignments are not streamed: read with every period
            batches = self._batches()
            if not batches:
                await asyncio.sleep(period)
                continue
            for batch in batches:
                await asyncio.sleep(period / len(batches))
                try:
                    await self._reconcile_batch(batch)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("periodic reconcile failed; trying again next period")
