"""Timings of the sandbox. Exchange counts several of them in minutes; tests shrink the minute."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxTimings:
    """``minute`` is how many seconds one EWS minute lasts (ConnectionTimeout, pull Timeout).

    ``heartbeat`` is the gap between empty "OK" parts on an idle stream; ``streaming_idle`` is how long a
    streaming subscription lives without a connected reader (Exchange: 30 minutes); ``autosave`` is the gap
    between saves of a changed store to its state file.
    """

    minute: float = 60.0
    heartbeat: float = 30.0
    streaming_idle: float = 30 * 60.0
    autosave: float = 10.0

    def minutes(self, count: float) -> float:
        return count * self.minute
