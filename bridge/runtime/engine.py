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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bridge.ports import Commit, MailboxPort, SalesforcePort, Store
from bridge.runtime.actor import Actors, ActorSettings
from bridge.runtime.executor import Executor
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.passes import PassServices
from bridge.runtime.reconcile import Reader, owner_batches
from bridge.runtime.router import Router
from bridge.runtime.sync import UserBinding, UserSync, Work, exchange_stream
from bridge.runtime.watermark import Watermarks

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    flush_s: float = 0.5  # how often the stream watermarks are stored
    reconcile_every_s: float = 6 * 3600.0  # R-TIME-4; 0 turns the periodic reconcile off
    actor: ActorSettings = field(default_factory=ActorSettings)
    stream_retry_s: float = 1.0


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
    ) -> None:
        self.salesforce = salesforce
        self.exchange = exchange
        self.store = store
        self.users = {u.user_id: u for u in users}
        self.settings = settings or BridgeSettings()
        self.metrics = metrics or RuntimeMetrics()
        self.clock = clock
        enrolled = {u.mailbox.lower(): u.user_id for u in users}
        enrolled.update({u.policy.user_email.lower(): u.user_id for u in users if u.policy.user_email})
        self.reader = Reader(salesforce, exchange, store, enrolled)
        self.services = PassServices(Executor(salesforce, exchange, store, clock=clock), self.metrics, clock)
        self.actors = Actors(self._make_sync, self.metrics, self.settings.actor)
        self.watermarks = Watermarks()
        self.router = Router(self.actors, store, salesforce, self.users, self.watermarks)
        self._tasks: list[asyncio.Task[None]] = []
        self._digests: dict[str, str] = {}  # user id -> their window's digest at the last periodic pass
        self.ready = asyncio.Event()
        self.started_at: datetime | None = None

    def _make_sync(self, user_id: str) -> UserSync:
        return UserSync(self.users[user_id], self.services, self.reader)

    def _now(self) -> datetime:
        return self.clock() if self.clock is not None else datetime.now(UTC)

    # ------------------------------------------------------------------------------------- life

    async def start(self) -> None:
        stored = await self.store.positions("sf:")
        self.watermarks = Watermarks(stored)
        self.router.watermarks = self.watermarks
        pending = {i.user_id for i in await self.store.pending_intents()}
        for user in self.users.values():
            known = await self.store.position(exchange_stream(user.mailbox))
            first = known is None or user.user_id in pending
            self.actors.submit(user.user_id, Work(reconcile=True) if first else Work(exchange=True))
        self._spawn(self._salesforce_pump(stored), "salesforce stream")
        self._spawn(self._exchange_pump(), "exchange stream")
        self._spawn(self._flusher(), "watermark flusher")
        if self.settings.reconcile_every_s > 0:
            self._spawn(self._scheduler(), "periodic reconcile")
        self.started_at = self._now()
        self.ready.set()

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

    async def run_users(
        self,
        user_ids: Sequence[str],
        *,
        sync_now: bool = False,
        done: Callable[[str], None] | None = None,
    ) -> None:
        """Reconcile these users' windows and return when committed, without reading the streams (the
        CLI's `sync-now` and `backfill`). `done` hears of each user finished."""
        for user_id in user_ids:
            self.actors.submit(user_id, Work(sync_now_all=True) if sync_now else Work(reconcile=True))
        pending = set(user_ids)
        while pending:
            await asyncio.sleep(0.05)
            running = self.actors.running
            for user_id in list(pending):
                actor = running.get(user_id)
                if actor is None or (actor.passes > 0 and not actor.depth and not actor.busy):
                    pending.discard(user_id)
                    if done is not None:
                        done(user_id)
        await self.actors.wait_idle()

    async def reconcile_all(self) -> None:
        """One periodic reconcile pass over every user at once (R-TIME-4); the scheduler spreads the same
        batches over the period instead."""
        for batch in self._batches():
            await self._reconcile_batch(batch)

    def _batches(self) -> list[list[UserBinding]]:
        """The users in batches of up to 200 that share a window (one Salesforce query each)."""
        groups: dict[tuple[int, int], list[UserBinding]] = {}
        for user in self.users.values():
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

    def _spawn(self, job: object, name: str) -> None:
        assert asyncio.iscoroutine(job)
        self._tasks.append(asyncio.create_task(job, name=name))

    async def _salesforce_pump(self, resume: dict[str, str]) -> None:
        while True:
            try:
                async for notice in self.salesforce.notices(resume):
                    await self.router.salesforce_notice(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Salesforce stream failed; resuming from the stored positions")
            await asyncio.sleep(self.settings.stream_retry_s)
            await self._flush()
            resume = await self.store.positions("sf:")

    async def _exchange_pump(self) -> None:
        mailboxes = [u.mailbox for u in self.users.values()]
        while True:
            try:
                async for notice in self.exchange.notices(mailboxes):
                    self.router.mailbox_notice(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Exchange notifications failed; catching every mailbox up")
            await asyncio.sleep(self.settings.stream_retry_s)
            for user in self.users.values():
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
