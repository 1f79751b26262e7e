"""Outlook's per app and mailbox limits: 4 requests in flight, 10,000 per 10 minutes, and injected 429s.

A request over the concurrency limit is refused at once (``ApplicationThrottled``, "MailboxConcurrency"),
as Graph does, rather than queued; throttled requests still count against the rate budget.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field

from .errors import GraphError


@dataclass
class _Budget:
    in_flight: int = 0
    stamps: deque[float] = field(default_factory=deque)


@dataclass
class InjectedThrottle:
    remaining: int
    retry_after: int
    mailbox: str | None


class Throttle:
    def __init__(
        self, concurrency: int, rate_limit: int, window: float, concurrency_retry_after: int
    ) -> None:
        self.concurrency = concurrency
        self.rate_limit = rate_limit
        self.window = window
        self.concurrency_retry_after = concurrency_retry_after
        self._budgets: dict[str, _Budget] = {}
        self.injected: list[InjectedThrottle] = []
        self.refused = 0

    def _budget(self, mailbox: str) -> _Budget:
        return self._budgets.setdefault(mailbox.lower(), _Budget())

    def enter(self, mailbox: str, now: float | None = None) -> None:
        """Take a slot for a request to ``mailbox`` or raise the 429; pair with ``leave``."""
        moment = time.monotonic() if now is None else now
        budget = self._budget(mailbox)
        while budget.stamps and budget.stamps[0] <= moment - self.window:
            budget.stamps.popleft()
        budget.stamps.append(moment)
        for rule in self.injected:
            if rule.remaining > 0 and (rule.mailbox is None or rule.mailbox.lower() == mailbox.lower()):
                rule.remaining -= 1
                self.injected = [r for r in self.injected if r.remaining > 0]
                self.refused += 1
                raise _too_many(rule.retry_after)
        if budget.in_flight >= self.concurrency:
            self.refused += 1
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                {"Retry-After": str(self.concurrency_retry_after)},
            )
        if len(budget.stamps) > self.rate_limit:
            self.refused += 1
            wait = math.ceil(budget.stamps[len(budget.stamps) - self.rate_limit - 1] + self.window - moment)
            raise _too_many(max(1, wait))
        budget.in_flight += 1

    def leave(self, mailbox: str) -> None:
        budget = self._budget(mailbox)
        budget.in_flight = max(0, budget.in_flight - 1)

    def in_flight(self) -> dict[str, int]:
        return {name: b.in_flight for name, b in self._budgets.items() if b.in_flight}


def _too_many(retry_after: int) -> GraphError:
    return GraphError(429, "TooManyRequests", "Please retry again later.", {"Retry-After": str(retry_after)})
