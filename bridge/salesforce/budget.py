"""The org's API usage as `Sforce-Limit-Info` reports it on every answer, and the budget writes keep
(R-API-1, R-API-2): while usage is above `fraction` of the daily limit, writes wait; never dropped.

Shutdown does not wait for the budget: once `release()` is called, a write waiting for room (or asking for
it later) fails with a TransientError instead. The runtime recorded the write as an intent before making
it (R-MERGE-4), so the restart reconciles the pair and makes the write then.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

from bridge.errors import TransientError

log = logging.getLogger(__name__)

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_RECHECK_S = 0.5  # how often a waiting write looks at the usage other calls reported


class ApiBudget:
    """Last reported usage; updated from worker threads (plain attribute writes, atomic under the GIL)."""

    def __init__(self, fraction: float) -> None:
        self.fraction = fraction
        self.used: int | None = None
        self.limit: int | None = None
        self.waiting = 0  # writes held back right now
        self.released = False  # shutting down: writes over the budget fail instead of waiting

    def observe(self, header: str | None) -> None:
        """Read a `Sforce-Limit-Info` header (`api-usage=18/5000[; per-app-api-usage=...]`)."""
        match = _USAGE.search(header or "")
        if match:
            self.used, self.limit = int(match.group(1)), int(match.group(2))

    @property
    def exceeded(self) -> bool:
        if self.used is None or not self.limit:
            return False
        return self.used >= self.fraction * self.limit

    def release(self) -> None:
        """Shutdown: every write waiting for room, and every later one over the budget, gives up."""
        self.released = True

    def _give_up(self) -> None:
        if self.released:
            raise TransientError(
                "salesforce: shutting down while over the API budget; the write is made after the restart"
            )

    async def wait_for_room(self, probe: Callable[[], Awaitable[None]], poll_s: float) -> None:
        """Return once usage is under the budget. While over it, re-read the usage other calls report and
        `probe` (a cheap `limits` call) every `poll_s`, so writes resume when the daily window rolls."""
        if not self.exceeded:
            return
        self._give_up()
        self.waiting += 1
        log.warning(
            "salesforce: API usage %s/%s is over the budget; writes wait (W-API-BUDGET)",
            self.used,
            self.limit,
        )
        try:
            next_probe = time.monotonic() + poll_s
            while self.exceeded:
                await asyncio.sleep(min(_RECHECK_S, poll_s))
                self._give_up()
                if time.monotonic() >= next_probe:
                    await probe()
                    next_probe = time.monotonic() + poll_s
        finally:
            self.waiting -= 1
