"""Test hooks for the REST API: fail the next N calls, add latency, set the org's API usage.

Reachable from Python (`SalesforceSandbox.faults`) and from the admin endpoint, which passes faults
addressed to `{"target": "pubsub"}` on to the Pub/Sub server's `apply_fault`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from bridge.sandbox.salesforce.errors import SalesforceError, limit_exceeded
from bridge.sandbox.salesforce.org import Org

FAILURE_KINDS = ("429", "500", "503", "REQUEST_LIMIT_EXCEEDED")
PubSubFaults = Callable[[str, dict[str, Any]], dict[str, Any]]


def failure(kind: str) -> SalesforceError:
    """The error a forced failure of `kind` answers with."""
    if kind == "500":
        return SalesforceError(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: "
            "1924147851-60184 (-1473523457)",
        )
    if kind == "429":
        # Throttling in front of the API (Salesforce documents no body for it; this one is in its shape).
        return SalesforceError(
            429, "REQUEST_LIMIT_EXCEEDED", "Too many requests; try again later.", retry_after=1
        )
    if kind == "503":
        return SalesforceError(
            503, "SERVER_UNAVAILABLE", "Server is temporarily unavailable. Try again later."
        )
    if kind == "REQUEST_LIMIT_EXCEEDED":
        return limit_exceeded()
    raise ValueError(f"unknown failure kind {kind!r}; expected one of {', '.join(FAILURE_KINDS)}")


class Faults:
    """The REST faults in force. Thread-safe: tests set them from their own thread."""

    def __init__(self, org: Org) -> None:
        self._org = org
        self._lock = threading.Lock()
        self._failures: list[str] = []
        self.latency_s = 0.0
        self.pubsub: PubSubFaults | None = None

    def fail_next(self, count: int, kind: str = "503") -> None:
        """The next `count` API calls answer with `kind` (429, 500, 503 or REQUEST_LIMIT_EXCEEDED)."""
        failure(kind)
        if count < 0:
            raise ValueError(f"count must be 0 or more, not {count}")
        with self._lock:
            self._failures.extend([kind] * count)

    def set_latency(self, seconds: float) -> None:
        self.latency_s = max(0.0, seconds)

    def set_api_usage(self, used: int, limit: int | None = None) -> None:
        with self._org.lock:
            self._org.api_usage = max(0, used)
            if limit is not None:
                self._org.api_limit = limit

    def clear(self) -> None:
        with self._lock:
            self._failures.clear()
        self.latency_s = 0.0

    def take_failure(self) -> SalesforceError | None:
        """The forced failure for this call, if any is pending (consumes it)."""
        with self._lock:
            return failure(self._failures.pop(0)) if self._failures else None

    def pending_failures(self) -> int:
        with self._lock:
            return len(self._failures)

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        """Apply one admin request: `{"fault": name, ...params}`, optionally `"target": "pubsub"`.

        REST faults: `fail_next` (count, kind), `latency` (seconds), `api_usage` (used, limit?), `clear`.
        """
        params = {k: v for k, v in request.items() if k not in ("target", "fault")}
        name = str(request.get("fault", ""))
        if request.get("target", "rest") == "pubsub":
            if self.pubsub is None:
                raise ValueError("the Pub/Sub server is not running")
            return self.pubsub(name, params)
        if name == "fail_next":
            self.fail_next(int(params.get("count", 1)), str(params.get("kind", "503")))
        elif name == "latency":
            self.set_latency(float(params.get("seconds", 0)))
        elif name == "api_usage":
            if "used" not in params:
                raise ValueError("api_usage needs 'used' (and optionally 'limit')")
            limit = params.get("limit")
            self.set_api_usage(int(params["used"]), int(limit) if limit is not None else None)
        elif name == "clear":
            self.clear()
        else:
            raise ValueError(f"unknown fault {name!r}")
        return {
            "pending_failures": self.pending_failures(),
            "latency_seconds": self.latency_s,
            "api_usage": self._org.api_usage,
            "api_limit": self._org.api_limit,
        }
