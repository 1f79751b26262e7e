"""Timings and limits of the Graph sandbox. Tests shrink the long ones."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GraphTimings:
    """Graph's numbers, with the sandbox's own choices where Microsoft documents none.

    ``max_subscription_minutes``: the current Outlook limit (10,080 min; older docs said 4,230).
    ``validation_timeout`` / ``notification_timeout``: Graph's 10 s handshake and 3 s acknowledgement.
    ``notification_gather``: how long changes are collected into one POST (Graph batches too).
    ``retry_delays``: waits between delivery attempts before a notification is dropped (Graph: up to 4 h).
    ``reauthorize_before``: a subscription this close to expiry gets ``reauthorizationRequired`` (our choice).
    ``reauthorize_grace``: notifications keep flowing this long after ``reauthorizationRequired``, then pause.
    ``concurrency`` / ``rate_limit`` per ``rate_window``: Outlook's per app and mailbox limits.
    ``concurrency_retry_after``: the Retry-After of a MailboxConcurrency 429 (sandbox choice).
    """

    token_lifetime: int = 3599
    max_subscription_minutes: int = 10_080
    validation_timeout: float = 10.0
    notification_timeout: float = 3.0
    notification_gather: float = 0.05
    retry_delays: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0)
    sweep: float = 1.0
    reauthorize_before: float = 3600.0
    reauthorize_grace: float = 60.0
    concurrency: int = 4
    rate_limit: int = 10_000
    rate_window: float = 600.0
    concurrency_retry_after: int = 1
    default_page_size: int = 10
    max_page_size: int = 1000
    autosave: float = 10.0
