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
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from bridge.config import Config
from bridge.errors import CalbridgeError, ConfigError, MappingError, TransientError
from bridge.ports import Commit, Intent, MailboxPort, SalesforcePort, Store
from bridge.runtime.actor import Actors
from bridge.runtime.admin import switched_off
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.gate import CommandGate
from bridge.runtime.handoff import Inbox, Outbox
from bridge.runtime.issues_out import IssueMirror
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.settings import SettingsFollower, resolve
from bridge.runtime.shared_settings import enrolment_from_text, publishing, stored_enrolment
from bridge.runtime.sync import UserBinding, UserSync, Work
from bridge.runtime.watermark import Ticket, Watermark, Watermarks
from bridge.salesforce.settings import Enrolment
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


class HeldElsewhereError(CalbridgeError):
    """An in-process command (`calbridge sync-now`, `backfill`) found users another replica is syncing."""


class FencedStore(SqlStore):
    """The store as one replica's runtime uses it: each commit and intent of a user is made under the user's
    lease; a commit of stream positions alone (the watermark flush) under the stream lease. A lease this
    replica does not hold (or no longer trusts, see SAFETY) fails at once, before anything is written."""

    def __init__(self, store: SqlStore, token: Callable[[str], int | None]) -> None:
        super().__init__(store.engine, now=store._now, schema=store.schema)
        self._token = token

    def fence(self, key: str) -> Fence:
        """The fence of the lease on `key` as this replica holds it; `LeaseLostError` when it does not."""
        token = self._token(key)
        if token is None:
            raise LeaseLostError(Fence(key, -1), None)
        return Fence(key, token)

    async def commit(self, commit: Commit, *, fence: Fence | None = None) -> None:
        if fence is None and commit.user_id:
            fence = self.fence(commit.user_id)
        elif fence is None and any(p.stream.startswith("sf:") for p in commit.positions):
            fence = self.fence(STREAM_KEY)
        await super().commit(commit, fence=fence)

    async def record_intent(self, intent: Intent, *, fence: Fence | None = None) -> None:
        await super().record_intent(intent, fence=fence or self.fence(intent.user_id))

    async def record_intents(self, many: Sequence[Intent], *, fence: Fence | None = None) -> None:
        for user_id in sorted({i.user_id for i in many}):
            mine = [i for i in many if i.user_id == user_id]
            await super().record_intents(mine, fence=fence or self.fence(user_id))


class AdminView:
    """The store as the stream holder's deployment-wide duties use it (W-SETTINGS, W-COMMAND-REFUSED about
    any user): commits fenced by the stream lease instead of the user's, which another replica may hold."""

    def __init__(self, store: FencedStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def commit(self, commit: Commit) -> None:
        await self._store.commit(commit, fence=self._store.fence(STREAM_KEY))


class ReplicaActors(Actors):
    """Actors for the users this replica holds; work for any other user is handed over to its holder.
    A switch-off pass (R-DEL-6) is tracked (`leaving`) so the user's lease is kept until it committed."""

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
        self.leaving: dict[str, Ticket] = {}  # user -> the ticket of their switch-off pass

    def submit(self, user_id: str, work: Work, tickets: list[Ticket] | None = None) -> None:
        if not self._holds(user_id):
            self._outbox.put(user_id, work, tickets or [])
            return
        if work.switched_off:
            ticket = Watermark(f"leaving:{user_id}").begin(user_id)
            self.leaving[user_id] = ticket
            tickets = [*(tickets or []), ticket]
        super().submit(user_id, work, tickets)

    def still_leaving(self) -> set[str]:
        """The users whose switch-off pass has not committed yet (their leases are kept meanwhile)."""
        for user_id in [u for u, t in self.leaving.items() if t.done]:
            del self.leaving[user_id]
        return set(self.leaving)

    async def release(self, user_id: str) -> None:
        """The user leaves this replica: the pass in flight finishes (or fails on a lost lease), the work
        still pending is handed over with its tickets."""
        work, tickets = await self.stop_user(user_id)
        if work:
            self._outbox.put(user_id, work, tickets)
        else:
            for ticket in tickets:
                ticket.release()


class ReplicaBridge(Bridge):
    """One replica of a deployment: a `Bridge` that syncs only the users whose leases it holds.

    With settings from Salesforce (`follow_settings`), the stream holder reads them and stores what it read
    (`bridge.runtime.shared_settings`); every replica applies the stored enrolment at each lease round. With
    issues kept in Salesforce (`mirror_issues`), the stream holder mirrors every replica's issues."""

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
        switched_off: Sequence[UserBinding] = (),
        config: Config | None = None,
        mirror_issues: bool = False,
    ) -> None:
        self.replica = replica
        self.held: dict[str, int] = {}  # lease key -> token, while trusted
        self._trusted_until = 0.0  # time.monotonic() after which no lease is trusted without renewal
        fenced = FencedStore(store, self._token)
        super().__init__(
            salesforce,
            exchange,
            fenced,
            users,
            settings=settings,
            metrics=metrics,
            clock=clock,
            switched_off=switched_off,
        )
        self.fenced = fenced
        self.book = LeaseBook(fenced, replica.replica_id, timedelta(seconds=replica.lease_s))
        self.outbox = Outbox(self.book)
        self.replica_actors = ReplicaActors(self._make_sync, self.metrics, self, self.holds, self.outbox)
        self.actors = self.router.actors = self.replica_actors
        self.inbox = Inbox(self.book, self.actors.submit)
        self._stream_held = asyncio.Event()
        self.live: list[str] = []
        self.config = config
        self.mirror_issues = mirror_issues
        self._applied: str | None = None  # the stored enrolment text last applied here
        self._read_enrolment: Callable[[], Awaitable[Enrolment]] | None = None
        holds = getattr(salesforce, "holds", None)
        if holds is not None:  # commands from Salesforce pass the gate on the stream holder
            self.gate = CommandGate(holds, self.owner_of, cast(Store, AdminView(fenced)))
        if config is not None and config.sync.settings_source == "salesforce":
            read = getattr(salesforce, "read_enrolment", None)
            if read is None:
                raise ConfigError(
                    "sync.settings_source", "this Salesforce port cannot read the settings object"
                )
            self._read_enrolment = read
            publish = publishing(read, fenced, lambda: fenced.fence(STREAM_KEY))
            self.follower = SettingsFollower(config, publish, cast(Store, AdminView(fenced)))

    # ------------------------------------------------------------------------------------ leases

    def _token(self, key: str) -> int | None:
        return self.held.get(key) if time.monotonic() < self._trusted_until else None

    def holds(self, key: str) -> bool:
        return self._token(key) is not None

    def syncs_here(self, user_id: str) -> bool:
        return self.holds(user_id)

    @property
    def held_users(self) -> list[str]:
        return sorted(k for k in self.held if k != STREAM_KEY and k in self.users)

    @property
    def reads_salesforce(self) -> bool:
        """Whether this replica holds the stream lease (readiness checks the stream only then)."""
        return self.holds(STREAM_KEY)

    def lease_keys(self) -> list[str]:
        """Everything a replica may hold: the enrolled users, the users switched off in calbridge.toml (their
        holder makes the R-DEL-6 pass), users whose switch-off pass is under way, and the stream."""
        return sorted({*self.users, *self.switched_off, *self.replica_actors.still_leaving(), STREAM_KEY})

    async def rebalance(self) -> None:
        """One round: heartbeat, renew, give up what another live replica should hold, take what is free;
        then the users taken start as after a restart, spread (bridge.runtime.startup)."""
        started = time.monotonic()
        self.live = await self.book.heartbeat()
        renewed = await self.book.renew()
        self._trusted_until = started + SAFETY * self.replica.lease_s
        lost = [k for k in self.held if k not in renewed]
        for key in lost:
            await self._leave(key)
        await self._follow_settings()
        me = self.replica.replica_id
        mine = {k for k in self.lease_keys() if preferred(k, self.live or [me]) == me}
        given = [k for k in self.held if k not in mine]
        for key in given:
            token = self.held[key]
            await self._leave(key, finish=True)
            await self.outbox.flush()  # the new holder finds the pending work when it takes the lease
            await self.book.release({key: token})
        won = await self.book.acquire(sorted(mine - set(self.held)))
        taken = [key for key, token in sorted(won.items()) if await self._take(key, token)]
        if self.started_at is not None:  # at start, `Bridge.start` catches every held user up
            await self.catch_up(taken)
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

    async def _take(self, key: str, token: int) -> bool:
        """Hold `key` from now on; whether it is an enrolled user to catch up."""
        self.held[key] = token
        if key == STREAM_KEY:
            self._stream_held.set()
            return False
        binding = self.users.get(key)
        if binding is None:
            off = self.switched_off.get(key)
            if off is not None and self.started_at is not None:
                await self._end_switched_off()  # R-DEL-6 for the user, if they still have pairs
            return False
        try:
            await self.exchange.watch(binding.mailbox)
        except Exception as error:  # a refused mailbox must not stop the others; the catch-up still runs
            log.error("cannot watch %s: %s", binding.mailbox, error)
        return True

    async def _leave(self, key: str, *, finish: bool = False) -> None:
        """Stop syncing `key` here. `finish`: the lease is still ours, so the pass in flight may commit."""
        if key == STREAM_KEY:
            self._stream_held.clear()
            self.held.pop(key, None)
            return
        if not finish:
            self.held.pop(key, None)
        await self.replica_actors.release(key)
        self.held.pop(key, None)
        self.inbox.forget(key)
        binding = self.users.get(key)
        if binding is not None:
            with contextlib.suppress(Exception):
                await self.exchange.unwatch(binding.mailbox)

    async def _switch_off(self, user_id: str) -> None:
        """As in one process, and the user stays a lease key, as switched off: when no replica held them as
        they left (their lease between two replicas), whichever takes the lease next makes the R-DEL-6
        pass; a pass already made leaves no live pair, so taking the lease again changes nothing."""
        binding = self.users.get(user_id)
        if binding is not None:
            self.switched_off[user_id] = binding
        await super()._switch_off(user_id)

    async def _follow_settings(self) -> None:
        """Apply the enrolment the stream holder stored, when it changed since the last one applied here.
        Users new here are only known; the round that follows takes the ones this replica should hold."""
        if self.follower is None or self.config is None:
            return
        text = await stored_enrolment(self.store)
        if text is None or text == self._applied:
            return
        self._applied = text
        try:
            resolved = resolve(self.config, enrolment_from_text(text))
        except MappingError as error:
            log.error("the stored enrolment cannot be read (%s); keeping the users as they were", error)
            return
        await self.apply_users(resolved.bindings)

    async def refresh_settings(self) -> None:
        """Read the settings from Salesforce, on the stream holder only (it stores them for the others)."""
        if self.reads_salesforce:
            await super().refresh_settings()

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
        """Hold this replica's users before it says it is ready; then start as one process does, over
        them (their first passes spread); then the lease rounds and the hand-overs."""
        await self._first_users()
        await self.rebalance()
        await super().start()
        self._spawn(self._rounds(), "leases")
        self._spawn(self.outbox.run(), "hand-over")
        self._spawn(self.inbox.run(self.replica.inbox_poll_s), "handed-over work")

    async def _first_users(self) -> None:
        """With settings from Salesforce: the users of the stored enrolment, or of a read of our own when
        no replica stored one yet (this read is not stored: only the stream holder stores)."""
        if self.follower is None or self.config is None:
            return
        await self._follow_settings()
        if self._applied is None:
            assert self._read_enrolment is not None  # set with the follower
            await self.apply_users(resolve(self.config, await self._read_enrolment()).bindings)

    async def stop(self) -> None:
        """As `Bridge.stop`, then the work for other replicas written and every lease released, so the
        others take this replica's users at their next round instead of after the expiry."""
        started = self.started_at is not None
        await super().stop()
        with contextlib.suppress(TransientError):
            await self.outbox.flush()
            await self._flush()
            await self.book.release(self.held)
            if started:  # an in-process command shares the replica's id but never said it was alive
                await self.book.leave()
        self.held.clear()

    # ------------------------------------------------------------------------------ commands

    async def run_users(
        self,
        user_ids: Sequence[str],
        *,
        sync_now: bool = False,
        done: Callable[[str], None] | None = None,
    ) -> None:
        """`calbridge sync-now`/`backfill` in this process: the users' leases are taken first (under an id
        of the command's own, never counted as a live replica), renewed while it runs and released after,
        so no replica syncs them meanwhile and every commit is fenced. `HeldElsewhereError`, taking
        nothing, when a running replica holds any of them."""
        ids = list(dict.fromkeys(user_ids))
        book = LeaseBook(self.fenced, f"{self.replica.replica_id}/cli-{os.getpid()}", self.book.ttl)
        won = await book.acquire(ids)
        refused = [u for u in ids if u not in won]
        if refused:
            await book.release(won)
            holders = await book.holders()
            named = ", ".join(f"{u} by replica {holders[u][0]}" for u in refused[:3] if u in holders)
            more = f" and {len(refused) - 3} more" if len(refused) > 3 else ""
            raise HeldElsewhereError(
                f"{len(refused)} of these users are being synced by a running replica ({named}{more}): "
                "ask that replica (POST /sync-now on its ops port), or run this with the replicas stopped"
            )
        self.held.update(won)
        self._trusted_until = time.monotonic() + SAFETY * self.replica.lease_s
        renewing = asyncio.create_task(self._renew_while_running(book), name="command leases")
        try:
            await super().run_users(ids, sync_now=sync_now, done=done)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            with contextlib.suppress(TransientError):
                await book.release(won)
            for key in won:
                self.held.pop(key, None)

    async def _renew_while_running(self, book: LeaseBook) -> None:
        while True:
            await asyncio.sleep(self.replica.round_s)
            started = time.monotonic()
            try:
                renewed = await book.renew()
            except TransientError as error:
                log.warning("renewing the command's leases failed: %s", error)
                continue
            for key in [k for k in self.held if k not in renewed]:
                self.held.pop(key, None)  # lost: its next commit fails instead of racing the new holder
            self._trusted_until = started + SAFETY * self.replica.lease_s

    # ------------------------------------------------------------------------------ the streams

    async def read_salesforce(self, resume: dict[str, str]) -> None:
        """Read the Salesforce stream while holding the stream lease, from the stored positions; meanwhile
        follow the settings and mirror the issues for the deployment."""
        while True:
            await self._stream_held.wait()
            stored = await self.store.positions("sf:")
            self.watermarks = self.router.watermarks = Watermarks(stored)
            duties = [
                asyncio.create_task(super().read_salesforce(stored), name="salesforce stream read"),
                asyncio.create_task(self._stream_lost(), name="stream lease"),
            ]
            if self.follower is not None:
                duties.append(asyncio.create_task(self.refresh_settings(), name="settings on taking over"))
            if self.mirror_issues:
                duties.append(asyncio.create_task(self._mirror_issues(), name="issues to Salesforce"))
            try:
                await asyncio.wait(duties[:2], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in duties:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            await self._flush()  # what this replica finished is stored if it still may, else replayed
            self.watermarks = self.router.watermarks = Watermarks()
            log.info("stopped reading the Salesforce stream: another replica holds it now")

    async def _stream_lost(self) -> None:
        while self._stream_held.is_set():
            await asyncio.sleep(0.1)

    async def _mirror_issues(self) -> None:
        """Issues of every replica kept in Salesforce: the store is read every lease round (the commits
        that opened them were made on other replicas, which cannot poke this one). A new mirror per
        takeover reads the open records afresh, since another replica may have changed them meanwhile."""
        mirror = IssueMirror(cast(Any, self.salesforce), self.store)
        running = asyncio.create_task(mirror.run(), name="issue mirror")
        try:
            while not running.done():
                await asyncio.sleep(self.replica.round_s)
                mirror.poke()
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running


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
    if config.sync.issues_to_salesforce and not hasattr(salesforce, "create_issue"):
        raise ConfigError("sync.issues_to_salesforce", "this Salesforce port cannot write issues")
    replica = ReplicaSettings(config.replica.replica_id, lease_s=config.replica.lease_seconds)
    return ReplicaBridge(
        salesforce,
        exchange,
        store,
        users,
        replica=replica,
        settings=settings,
        metrics=metrics,
        switched_off=switched_off(config),
        config=config,
        mirror_issues=config.sync.issues_to_salesforce,
    )


__all__: Sequence[str] = (
    "AdminView",
    "FencedStore",
    "HeldElsewhereError",
    "ReplicaBridge",
    "ReplicaSettings",
    "open_replica",
    "preferred",
)
