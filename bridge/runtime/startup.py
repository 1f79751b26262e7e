"""First passes of many users, spread: at most `limit` in flight, a progress line as they finish.

At start every enrolled user needs a pass (a window reconcile for a new user, a mailbox catch-up for the
others); 10,000 of them submitted at once would open 10,000 reads against both services in the same
second (a thundering herd: Exchange answers ErrorServerBusy, Salesforce counts every call). `spread`
submits them `limit` at a time and the next one as soon as one finishes, so the services see a steady
trickle and the first users are synced within seconds rather than after everyone.

A user whose turn has not come yet still gets their stream notices: the router submits those at once, so a
change is never held back by the start-up; the spread pass then finds little to do.

Progress: one info line `startup_progress` (users done, total, seconds) at most every `every_s` seconds,
and one when all are done.

Once all are done the freed heap is given back to the system (glibc's `malloc_trim`, where there is one):
the start-up's passes in flight and the EWS worker threads grew the C heap, and glibc keeps freed pages
otherwise; at 2,000 users that was about 10 MB of the resident set (docs/performance.md, "Memory").
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import time
from collections.abc import Callable, Sequence

from bridge.runtime.actor import Actors
from bridge.runtime.sync import Work

log = logging.getLogger(__name__)

POLL_S = 0.02  # how often finished passes are looked for: cheap, only the users in flight are looked at


async def spread(
    actors: Actors,
    works: Sequence[tuple[str, Work]],
    *,
    limit: int,
    what: str = "startup",
    every_s: float = 5.0,
    done: Callable[[str], None] | None = None,
) -> None:
    """Submit each `(user, work)` with at most `limit` users' passes in flight; return when all have run.
    `done` hears of each user finished (a progress bar)."""
    total, finished = len(works), 0
    started = last = time.monotonic()
    queue = list(reversed(works))
    flight: dict[str, int] = {}  # user -> their actor's pass count when the work was submitted
    while queue or flight:
        while queue and len(flight) < max(1, limit):
            user_id, work = queue.pop()
            actor = actors.actor_of(user_id)
            flight[user_id] = actor.passes if actor is not None else 0
            actors.submit(user_id, work)
        await asyncio.sleep(POLL_S)
        for user_id in [u for u, before in flight.items() if _finished(actors, u, before)]:
            del flight[user_id]
            finished += 1
            if done is not None:
                done(user_id)
        now = time.monotonic()
        if now - last >= every_s and finished < total:
            last = now
            _progress(what, finished, total, now - started)
    if total:
        _progress(what, finished, total, time.monotonic() - started)
        give_back_heap()


def _finished(actors: Actors, user_id: str, before: int) -> bool:
    """The user's actor ran a pass after the submit and has nothing more pending (or it ended, idle)."""
    actor = actors.actor_of(user_id)
    if actor is None:
        return True
    return actor.passes > before and not actor.depth and not actor.busy


def _progress(what: str, finished: int, total: int, seconds: float) -> None:
    log.info(
        "%s: %d of %d users synced in %.0f s",
        what,
        finished,
        total,
        seconds,
        extra={"event": "startup_progress", "done": finished, "total": total, "seconds": round(seconds, 1)},
    )


def give_back_heap() -> bool:
    """Return the C heap's free pages to the system (glibc's `malloc_trim(0)`); False where there is none
    (musl, macOS). It only gives back what is free: nothing the process uses is touched."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own symbols: libc's, without a library search
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))
