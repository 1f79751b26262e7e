"""Delta polling (R-GRAPH-2 without a public address): each watched mailbox is asked for changes every
`poll_seconds`, every `poll_fast_seconds` for a while after a change was seen (a user editing tends to
edit again).

The poller keeps a delta state of its own, separate from the runtime's: it only says that something
changed (a `MailboxNotice` naming the ids, timed from the start of the round that found them, as a change
notification is from its arrival: the propagation metrics count and time them, R-TIME-1), and the runtime's
`sync` reads the changes. An idle poll costs one request, far below Graph's 10,000 per mailbox per 10
minutes. A refused state starts a new round and says `lost=True` (changes may have been missed: the runtime
reconciles, R-TIME-3).

A first round (at `watch`, or after a refused state) has no state to compare with: it lists the whole
window and only learns where "now" is. It is announced all the same, with no ids and no time (nothing to
measure a latency from): the runtime caught the mailbox up before the poller began, and a change made in
between is in that first round alone; unannounced, it would wait for the mailbox's next change. The cost
is one `sync` per mailbox at start, usually merged with the catch-up still under way.

A mailbox whose changes arrive by change notifications is `relax`ed: polled every `fallback_poll_seconds`
only, to catch what a notification lost; when its subscription goes, polling speeds up again at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bridge.errors import CalbridgeError, StreamGapError
from bridge.ports import MailboxNotice

from . import reading
from .client import GraphClient
from .connection import GraphConnection

log = logging.getLogger(__name__)
BACKOFF_MAX = 60.0


class Poller:
    def __init__(
        self,
        client: GraphClient,
        connection: GraphConnection,
        deliver: Callable[[MailboxNotice], None],
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._connection = connection
        self._deliver = deliver
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._relaxed: set[str] = set()
        self._wake: dict[str, asyncio.Event] = {}
        self._clock = clock or (lambda: asyncio.get_running_loop().time())

    def watch(self, mailbox: str) -> None:
        key = mailbox.lower()
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._poll(mailbox), name=f"graph-poll-{key}")

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._tasks)

    def relax(self, mailbox: str, pushed: bool) -> None:
        """`pushed`: change notifications cover the mailbox now, poll it slowly; else poll at full speed
        (a slow wait under way ends at once)."""
        key = mailbox.lower()
        if pushed:
            self._relaxed.add(key)
        elif key in self._relaxed:
            self._relaxed.discard(key)
            self._wake.setdefault(key, asyncio.Event()).set()

    async def unwatch(self, mailbox: str) -> None:
        self._relaxed.discard(mailbox.lower())
        self._wake.pop(mailbox.lower(), None)
        task = self._tasks.pop(mailbox.lower(), None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        for mailbox in list(self._tasks):
            await self.unwatch(mailbox)

    async def _round(self, mailbox: str, state: str | None) -> tuple[tuple[str, ...], str]:
        """Every page of one delta round: the ids named, and the delta state to ask next."""
        ids: list[str] = []
        while True:
            named, state, more = await reading.peek(self._client, mailbox, state)
            ids += named
            if not more:
                return tuple(dict.fromkeys(ids)), state

    async def _poll(self, mailbox: str) -> None:
        state: str | None = None
        fast_until = 0.0
        wait = self._connection.poll_fast_seconds
        while True:
            try:
                if state is None:
                    _, state = await self._round(mailbox, None)  # where "now" is
                    # What changed since the runtime's last sync is unknown: it syncs to find out.
                    self._deliver(MailboxNotice(mailbox=mailbox))
                else:
                    began = datetime.now(UTC)  # the changes it finds: committed by then, near enough
                    ids, state = await self._round(mailbox, state)
                    log.debug("delta poll of %s: %d changed %s", mailbox, len(ids), ",".join(ids)[:600])
                    if ids:
                        self._deliver(MailboxNotice(mailbox=mailbox, item_ids=ids, committed_at=began))
                        fast_until = self._clock() + self._connection.fast_for_seconds
                wait = self._connection.poll_fast_seconds
            except StreamGapError as gap:
                log.info("delta polling of %s starts over: %s", mailbox, gap)
                state = None
                self._deliver(MailboxNotice(mailbox=mailbox, lost=True))
                continue
            except CalbridgeError as exc:
                wait = min(max(wait * 2, getattr(exc, "retry_after", None) or 0), BACKOFF_MAX)
                log.warning("delta polling of %s failed (%s); next try in %.1f s", mailbox, exc, wait)
                await asyncio.sleep(wait)
                continue
            await self._rest(mailbox, self._period(mailbox, self._clock() < fast_until))

    def _period(self, mailbox: str, fast: bool) -> float:
        connection = self._connection
        if mailbox.lower() in self._relaxed:
            return max(connection.fallback_poll_seconds, connection.poll_seconds)
        return connection.poll_fast_seconds if fast else connection.poll_seconds

    async def _rest(self, mailbox: str, seconds: float) -> None:
        """Sleep `seconds`, or less when `relax(mailbox, False)` asks for full speed."""
        wake = self._wake.setdefault(mailbox.lower(), asyncio.Event())
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), seconds)
