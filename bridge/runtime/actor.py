"""One asyncio task and one coalescing queue per user; one plan at a time per user.

An actor is made when work arrives for its user and ends after `idle_s` without work, so an idle user
costs a dict entry and no task. Work that arrives while a pass runs is merged into what is pending
(`Work.merge`: changes to one record pile up and are planned once), and runs as the next pass. Tickets of
the stream notices that fed the work are released once the pass committed (bridge.runtime.watermark).

Failures: a TransientError keeps the work (and its tickets) pending and retries after a backoff that
doubles up to `max_backoff_s`; any other error is logged and counted and the work dropped, so one user's
broken record never stops the user, let alone another user. What the dropped work would have told (a
mailbox sync's changes: the stored sync state did not move past them, but no notice will name them again)
is not left for the periodic reconcile, hours away: a window reconcile follows at once, unless the failed
pass was one (then the work waits for the user's next change or reconcile, never loops). A pass that
interrupted a create asks for a window reconcile, queued as the next work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.errors import TransientError
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.sync import UserSync, Work
from bridge.runtime.watermark import Ticket

log = logging.getLogger(__name__)

DEPTH_EVERY_S = 0.25  # the queue-depth gauge is updated at most this often (`Actors._depth_changed`)


@dataclass(frozen=True, slots=True)
class ActorSettings:
    idle_s: float = 30.0
    first_backoff_s: float = 0.5
    max_backoff_s: float = 60.0
    workers: int = 16  # passes running at once, over every user ([sync] workers)


@dataclass(slots=True)
class _Pending:
    work: Work = field(default_factory=Work)
    tickets: list[Ticket] = field(default_factory=list)


class Actor:
    """The task of one user."""

    def __init__(
        self,
        sync: UserSync,
        settings: ActorSettings,
        metrics: RuntimeMetrics,
        on_exit: Callable[[Actor], None],
        slots: asyncio.Semaphore | None = None,
    ) -> None:
        self.sync = sync
        self.settings = settings
        self._slots = slots or asyncio.Semaphore(settings.workers)
        self.metrics = metrics
        self._on_exit = on_exit
        self._pending = _Pending()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stopping = False
        self.busy = False
        self.passes = 0
        self.task: asyncio.Task[None] = asyncio.create_task(
            self._loop(), name=f"actor {sync.binding.user_id}"
        )

    @property
    def user_id(self) -> str:
        return self.sync.binding.user_id

    @property
    def depth(self) -> int:
        return self._pending.work.records()

    def submit(self, work: Work, tickets: list[Ticket] | None = None) -> None:
        self._pending.work.merge(work)
        self._pending.tickets += tickets or []
        self._idle.clear()
        self._wake.set()

    async def wait_idle(self) -> None:
        """Until nothing is pending and no pass runs."""
        await self._idle.wait()

    async def stop(self) -> None:
        """Finish the pass in flight (and nothing more), then end."""
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def _loop(self) -> None:
        backoff = self.settings.first_backoff_s
        try:
            while not self._stopping:
                if not self._pending.work:
                    self._idle.set()
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=self.settings.idle_s)
                    except TimeoutError:
                        if not self._pending.work:
                            return  # idle: the task ends, the user costs nothing
                    continue
                # Work that arrives while this actor waits for a slot joins the pass it is waiting for.
                async with self._slots:
                    if self._stopping:
                        break
                    again, pending, backoff_for = await self._pass(backoff)
                if backoff_for is not None:
                    await self._sleep(backoff_for)
                    backoff = min(backoff * 2, self.settings.max_backoff_s)
                    continue
                backoff = self.settings.first_backoff_s
                self.passes += 1
                for ticket in pending.tickets:
                    ticket.release()
                if again:
                    self.submit(Work(reconcile=True))
        finally:
            self._idle.set()
            self._on_exit(self)

    async def _pass(self, backoff: float) -> tuple[bool, _Pending, float | None]:
        """Run what is pending: (whether a reconcile should follow, what ran, seconds to back off after a
        transient failure or None)."""
        pending, self._pending = self._pending, _Pending()
        self.busy = True
        try:
            again = await self.sync.run(pending.work)
        except TransientError as error:
            self.metrics.failure("transient")
            log.warning("user %s: %s; retrying in %.1f s", self.user_id, error, backoff)
            self._requeue(pending)
            return False, pending, error.retry_after or backoff
        except Exception:
            self.metrics.failure("bug")
            again = not (pending.work.reconcile or pending.work.sync_now_all or pending.work.switched_off)
            log.exception(
                "user %s: a pass failed; its work is dropped%s",
                self.user_id,
                ", a window reconcile follows" if again else "",
            )
        finally:
            self.busy = False
        return again, pending, None

    def _requeue(self, pending: _Pending) -> None:
        pending.work.merge(self._pending.work)
        pending.tickets += self._pending.tickets
        self._pending = pending

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)


class Actors:
    """Every user's actor, made on demand. `submit` never blocks."""

    def __init__(
        self,
        make_sync: Callable[[str], UserSync],
        metrics: RuntimeMetrics,
        settings: ActorSettings | None = None,
    ) -> None:
        self._make_sync = make_sync
        self.metrics = metrics
        self.settings = settings or ActorSettings()
        self._slots = asyncio.Semaphore(self.settings.workers)  # shared: [sync] workers passes at once
        self._syncs: dict[str, UserSync] = {}
        self._actors: dict[str, Actor] = {}
        self._stopping = False
        self._depth_timer: asyncio.TimerHandle | None = None

    def submit(self, user_id: str, work: Work, tickets: list[Ticket] | None = None) -> None:
        if self._stopping:
            return  # not released: the notice is replayed after the restart
        actor = self._actors.get(user_id)
        if actor is None:
            sync = self._syncs.get(user_id)
            if sync is None:
                sync = self._syncs[user_id] = self._make_sync(user_id)
            actor = self._actors[user_id] = Actor(
                sync, self.settings, self.metrics, self._exited, self._slots
            )
            self.metrics.actors(len(self._actors))
        actor.submit(work, tickets)
        self._depth_changed()

    def _depth_changed(self) -> None:
        """Update the queue-depth gauge `DEPTH_EVERY_S` after a submit (once for all the submits in between):
        summing every actor's work at each submit cost a seventh of the event loop's time at 20 changes a
        second over 100 users (py-spy, issue 10)."""
        if self._depth_timer is None and not self._stopping:
            self._depth_timer = asyncio.get_running_loop().call_later(DEPTH_EVERY_S, self._push_depth)

    def _push_depth(self) -> None:
        self._depth_timer = None
        self.metrics.queue_depth(self.depth)

    def sync_of(self, user_id: str) -> UserSync | None:
        """The user's passes, when made already (a settings change rebinds them)."""
        return self._syncs.get(user_id)

    def actor_of(self, user_id: str) -> Actor | None:
        """The user's running actor, if any (without copying the map, as `running` does)."""
        return self._actors.get(user_id)

    def _exited(self, actor: Actor) -> None:
        if self._actors.get(actor.user_id) is actor:
            del self._actors[actor.user_id]
            self.metrics.actors(len(self._actors))

    @property
    def depth(self) -> int:
        return sum(a.depth for a in self._actors.values())

    @property
    def running(self) -> dict[str, Actor]:
        return dict(self._actors)

    async def wait_idle(self) -> None:
        """Until every actor has nothing pending (new work may arrive meanwhile; loop until quiet)."""
        while True:
            actors = list(self._actors.values())
            if not actors or all(a._idle.is_set() for a in actors):
                return
            await asyncio.gather(*(a.wait_idle() for a in actors))

    async def stop_user(self, user_id: str) -> tuple[Work, list[Ticket]]:
        """End one user's actor after the pass in flight (a replica giving the user up) and return the work
        it had not started with that work's tickets, which are the caller's now. Nothing for a user with
        no actor. Work submitted afterwards starts a new actor."""
        actor = self._actors.get(user_id)
        if actor is None:
            return Work(), []
        await actor.stop()
        left, actor._pending = actor._pending, _Pending()
        return left.work, left.tickets

    async def stop(self) -> None:
        """Finish the passes in flight, then end every actor (SIGTERM)."""
        self._stopping = True
        if self._depth_timer is not None:
            self._depth_timer.cancel()
            self._depth_timer = None
        await asyncio.gather(*(a.stop() for a in list(self._actors.values())))
