"""Several replicas over one PostgreSQL store: which replica syncs which user, and how changes reach it.

Theory (docs/replicas.md says it for admins). Every replica runs `ReplicaBridge` with the same enrolled
users; leases in the shared store (`bridge.store.leases`) decide who does what:

- A user is synced by the replica holding the user's lease, and only there: its actor, its Exchange
  subscription, its periodic reconcile. Every commit and every write intent of that user is fenced by the
  lease's token (`FencedStore`), so a replica that lost the lease (paused past its expiry, cut off) stores
  nothing more for the user and starts no more writes.
- One replica holds the stream lease and reads the Salesforce stream, once for the whole deployment. It
  routes each change as a single replica would; work for a user another replica holds is handed over
  through the store (`bridge.runtime.handoff`), and that replica's inbox picks it up.
- Who should hold what is rendezvous hashing over the live replicas (`preferred`): every replica computes
  the same answer from the same heartbeats, a new replica takes about 1/N of the users, and a dead one's
  users spread over the rest. A replica gives up what is no longer its own (finishing the pass in flight,
  handing its pending work over, then releasing), and takes what is free or expired.
- Every `lease_s / 3` a replica renews its heartbeat and leases. A replica that dies stops renewing: its
  leases expire after `lease_s` and the others take them at their next round, within `lease_s * 4/3` plus a
  pass (20 s with the default 15 s). A replica that cannot renew stops syncing on its own once
  `SAFETY * lease_s` passed since its last renewal, before anyone else may take its leases.

Taking a user over costs what a restart costs (R-TIME-2): the mailbox syncs from the stored sync state, a
user with pending intents (a pass cut short) gets a window reconcile (R-MERGE-4), the handed-over work
waiting in the store is done, and a new stream holder replays the stream from the stored low watermark.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.config import Config
from bridge.errors import ConfigError, TransientError
from bridge.ports import Commit, Intent, MailboxPort, SalesforcePort, Store
from bridge.runtime.actor import Actor, Actors
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.handoff import Inbox, Outbox
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.reconcile import owner_batches
from bridge.runtime.sync import UserBinding, UserSync, Work, sync_state_of
from bridge.runtime.watermark import Ticket, Watermarks
from bridge.store.leases import STREAM_KEY, Fence, LeaseBook, LeaseLostError
from bridge.store.sql import SqlStore

log = logging.getLogger(__name__)
SAFETY = 0.8  # of a lease's life: how long a replica goes on syncing without a successful renewal


@dataclass(frozen=True, slots=True)
class ReplicaSettings:
    replica_id: str
    lease_s: float = 15.0
    inbox_poll_s: float = 0.2  # how often handed-over work is looked for

    @property
    def round_s(self) -> float:
        return self.lease_s / 3


def preferred(key: str, live: Sequence[str]) -> str:
    """The live replica that should hold `key`: highest random weight (rendezvous hashing), the same on
    every replica, moving only the keys of a replica that came or went."""

    def weight(replica: str) -> bytes:
        return hashlib.blake2b(f"{replica}\x00{key}".encode(), digest_size=8).digest()

    return max(live, key=weight)


class FencedStore(SqlStore):
    """The store as one replica's runtime uses it: each commit and intent of a user is made under the user's
    lease; a commit of stream positions alone (the watermark flush) under the stream lease. A lease this
    replica does not hold (or no longer trusts, see SAFETY) fails at once, before anything is written."""

    def __init__(self, store: SqlStore, token: Callable[[str], int | None]) -> None:
        super().__init__(store.engine, now=store._now, schema=store.schema)
        self._token = token

    def _fence(self, key: str) -> Fence:
        token = self._token(key)
        if token is None:
            raise LeaseLostError(Fence(key, -1), None)
        return Fence(key, token)

    async def commit(self, commit: Commit, *, fence: Fence | None = None) -> None:
        if fence is None and commit.user_id:
            fence = self._fence(commit.user_id)
        elif fence is None and any(p.stream.startswith("sf:") for p in commit.positions):
            fence = self._fence(STREAM_KEY)
        await super().commit(commit, fence=fence)

    async def record_intent(self, intent: Intent, *, fence: Fence | None = None) -> None:
        await super().record_intent(intent, fence=fence or self._fence(intent.user_id))


class ReplicaActors(Actors):
    """Actors for the users this replica holds; work for any other user is handed over to its holder."""

    def __init__(
        self,
        make_sync: Callable[[str], UserSync],
        metrics: RuntimeMetrics,
        bridge: Bridge,
        holds: Callable[[str], bool],
        outbox: Outbox,
    ) -> None:
        super().__init__(make_sync, metrics, bridge.settings.actor)
        self._holds = holds
        self._outbox = outbox

    def submit(self, user_id: str, work: Work, tickets: list[Ticket] | None = None) -> None:
        if self._holds(user_id):
            super().submit(user_id, work, tickets)
        else:
            self._outbox.put(user_id, work, tickets or [])

    async def release(self, user_id: str) -> None:
        """The user leaves this replica: the pass in flight finishes (or fails on a lost lease), the work
        still pending is handed over with its tickets."""
        actor: Actor | None = self.running.get(user_id)
        if actor is None:
            return
        await actor.stop()
        left = actor._pending  # what the stopped actor had not started; it is ours now
        if left.work:
            self._outbox.put(user_id, left.work, left.tickets)
        else:
            for ticket in left.tickets:
                ticket.release()


class ReplicaBridge(Bridge):
    """One replica of a deployment: a `Bridge` that syncs only the users whose leases it holds."""

    def __init__(
        self,
        salesforce: SalesforcePort,
        exchange: MailboxPort,
        store: SqlStore,
        users: Sequence[UserBinding],
        *,
        replica: ReplicaSettings,
        settings: BridgeSettings | None = None,
        metrics: RuntimeMetrics | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.replica = replica
        self.held: dict[str, int] = {}  # lease key -> token, while trusted
        self._trusted_until = 0.0  # time.monotonic() after which no lease is trusted without renewal
        fenced = FencedStore(store, self._token)
        super().__init__(salesforce, exchange, fenced, users, settings=settings, metrics=metrics, clock=clock)
        self.book = LeaseBook(fenced, replica.replica_id, timedelta(seconds=replica.lease_s))
        self.outbox = Outbox(self.book)
        self.actors = ReplicaActors(self._make_sync, self.metrics, self, self.holds, self.outbox)
        self.router.actors = self.actors
        self.inbox = Inbox(self.book, self.actors.submit)
        self._stream_held = asyncio.Event()
        self.live: list[str] = []

    # ------------------------------------------------------------------------------------ leases

    def _token(self, key: str) -> int | None:
        return self.held.get(key) if time.monotonic() < self._trusted_until else None

    def holds(self, key: str) -> bool:
        return self._token(key) is not None

    @property
    def held_users(self) -> list[str]:
        return sorted(k for k in self.held if k != STREAM_KEY and k in self.users)

    @property
    def reads_salesforce(self) -> bool:
        """Whether this replica holds the stream lease (readiness checks the stream only then)."""
        return self.holds(STREAM_KEY)

    def local_users(self) -> list[UserBinding]:
        """The users this replica syncs now (readiness counts their subscriptions only)."""
        return [self.users[u] for u in self.held_users]

    async def rebalance(self) -> None:
        """One round: heartbeat, renew, give up what another live replica should hold, take what is free."""
        started = time.monotonic()
        self.live = await self.book.heartbeat()
        renewed = await self.book.renew()
        self._trusted_until = started + SAFETY * self.replica.lease_s
        lost = [k for k in self.held if k not in renewed]
        for key in lost:
            await self._leave(key)
        me = self.replica.replica_id
        keys = [*self.users, STREAM_KEY]
        mine = {k for k in keys if preferred(k, self.live or [me]) == me}
        given = [k for k in self.held if k not in mine]
        for key in given:
            token = self.held[key]
            await self._leave(key, finish=True)
            await self.outbox.flush()  # the new holder finds the pending work when it takes the lease
            await self.book.release({key: token})
        won = await self.book.acquire(sorted(mine - set(self.held)))
        for key, token in sorted(won.items()):
            await self._take(key, token)
        if lost or given or won:
            log.log(
                logging.WARNING if lost else logging.INFO,
                "replica %s: %d leases lost, %d given up, %d taken; holds %d users%s (live: %s)",
                me,
                len(lost),
                len(given),
                len(won),
                len(self.held_users),
                " and the Salesforce stream" if STREAM_KEY in self.held else "",
                ", ".join(self.live),
                extra={"replica": me, "users": len(self.held_users)},
            )

    async def _take(self, key: str, token: int) -> None:
        self.held[key] = token
        if key == STREAM_KEY:
            self._stream_held.set()
            return
        binding = self.users.get(key)
        if binding is None:
            return
        try:
            await self.exchange.watch(binding.mailbox)
        except Exception as error:  # a refused mailbox must not stop the others; the catch-up still runs
            log.error("cannot watch %s: %s", binding.mailbox, error)
        known = await sync_state_of(self.store, binding.mailbox)
        cut_short = await self.store.pending_intents(key)
        # As after a restart (R-TIME-2, R-MERGE-4): from the stored sync state, or the whole window.
        self.actors.submit(key, Work(reconcile=True) if known is None or cut_short else Work(exchange=True))

    async def _leave(self, key: str, *, finish: bool = False) -> None:
        """Stop syncing `key` here. `finish`: the lease is still ours, so the pass in flight may commit."""
        if key == STREAM_KEY:
            self._stream_held.clear()
            self.held.pop(key, None)
            return
        if not finish:
            self.held.pop(key, None)
        assert isinstance(self.actors, ReplicaActors)
        await self.actors.release(key)
        self.held.pop(key, None)
        self.inbox.forget(key)
        binding = self.users.get(key)
        if binding is not None:
            with contextlib.suppress(Exception):
                await self.exchange.unwatch(binding.mailbox)

    async def _rounds(self) -> None:
        while True:
            await asyncio.sleep(self.replica.round_s)
            try:
                await self.rebalance()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("lease round failed: %s", error)
                if time.monotonic() >= self._trusted_until and self.held:
                    log.error("leases not renewed in time: this replica stops syncing until it can renew")
                    for key in list(self.held):
                        await self._leave(key)

    # -------------------------------------------------------------------------------------- life

    async def start(self) -> None:
        await self.rebalance()  # hold this replica's users before it says it is ready
        self._spawn(self._salesforce_pump({}), "salesforce stream")
        self._spawn(self._exchange_pump(), "exchange stream")
        self._spawn(self._flusher(), "watermark flusher")
        if self.settings.reconcile_every_s > 0:
            self._spawn(self._scheduler(), "periodic reconcile")
        self._spawn(self._rounds(), "leases")
        self._spawn(self.outbox.run(), "hand-over")
        self._spawn(self.inbox.run(self.replica.inbox_poll_s), "handed-over work")
        self.started_at = self._now()
        self.ready.set()

    async def stop(self) -> None:
        """As `Bridge.stop`, then the work for other replicas written and every lease released, so the
        others take this replica's users at their next round instead of after the expiry."""
        await super().stop()
        with contextlib.suppress(TransientError):
            await self.outbox.flush()
            await self._flush()
            await self.book.release(self.held)
            await self.book.leave()
        self.held.clear()

    # ------------------------------------------------------------------------------ the streams

    async def _salesforce_pump(self, resume: dict[str, str]) -> None:
        """Read the Salesforce stream while holding the stream lease, from the stored positions."""
        while True:
            await self._stream_held.wait()
            stored = await self.store.positions("sf:")
            self.watermarks = self.router.watermarks = Watermarks(stored)
            reading = asyncio.create_task(super()._salesforce_pump(stored), name="salesforce stream read")
            lost = asyncio.create_task(self._stream_lost(), name="stream lease")
            try:
                await asyncio.wait({reading, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (reading, lost):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            log.info("stopped reading the Salesforce stream: another replica holds it now")

    async def _stream_lost(self) -> None:
        while self._stream_held.is_set():
            await asyncio.sleep(0.1)

    async def _exchange_pump(self) -> None:
        """Notices of the held users' mailboxes (watched as their leases are taken)."""
        while True:
            try:
                async for notice in self.exchange.notices([]):
                    self.router.mailbox_notice(notice)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Exchange notifications failed; catching the held mailboxes up")
            await asyncio.sleep(self.settings.stream_retry_s)
            for user_id in self.held_users:
                self.actors.submit(user_id, Work(exchange=True))

    def _batches(self) -> list[list[UserBinding]]:
        """The periodic reconcile's batches (R-TIME-4) over the held users only."""
        groups: dict[tuple[int, int], list[UserBinding]] = {}
        for user_id in self.held_users:
            user = self.users[user_id]
            groups.setdefault((user.policy.past_days, user.policy.future_days), []).append(user)
        return [
            [self.users[user_id] for user_id in batch]
            for users in groups.values()
            for batch in owner_batches([u.user_id for u in users])
        ]


def open_replica(
    config: Config,
    salesforce: SalesforcePort,
    exchange: MailboxPort,
    store: Store,
    users: Sequence[UserBinding],
    settings: BridgeSettings,
    metrics: RuntimeMetrics,
) -> ReplicaBridge:
    """The replica `config.replica` describes, over the shared PostgreSQL store."""
    if not isinstance(store, SqlStore) or store.dialect != "postgresql":
        raise ConfigError(
            "replica.enabled", "replicas share one store: set store.url to a PostgreSQL database"
        )
    replica = ReplicaSettings(config.replica.replica_id, lease_s=config.replica.lease_seconds)
    return ReplicaBridge(
        salesforce, exchange, store, users, replica=replica, settings=settings, metrics=metrics
    )


__all__: Sequence[str] = ("FencedStore", "ReplicaBridge", "ReplicaSettings", "open_replica", "preferred")
