"""Faults on demand: throttling, 503s, latency, dropped streams, expired subscriptions, lost sync states.

Usable from Python (``sandbox.faults.server_busy(...)``, safe from any thread) and through the admin endpoint
(``POST /_sandbox/faults`` with a JSON body naming one ``fault`` and its arguments; see ``apply_json``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.sandbox.background import LoopBound

from .store import Store
from .subscriptions import SubscriptionHub


@dataclass
class FaultRule:
    kind: str  # "busy" (ErrorServerBusy SOAP fault) or "unavailable" (HTTP 503)
    remaining: int
    operations: frozenset[str] | None
    back_off_ms: int = 2000
    retry_after: int | None = None


class FaultHooks(LoopBound):
    def __init__(self, store: Store, hub: SubscriptionHub, drop_streams: Callable[[], int]) -> None:
        self._store = store
        self._hub = hub
        self._drop_streams = drop_streams
        self._rules: list[FaultRule] = []
        self.latency = 0.0

    # ---- request faults ------------------------------------------------------------------------------------

    def server_busy(
        self, count: int = 1, back_off_ms: int = 2000, operations: list[str] | None = None
    ) -> None:
        """The next ``count`` matching requests get an ErrorServerBusy fault with BackOffMilliseconds."""
        rule = FaultRule(
            "busy", count, frozenset(operations) if operations else None, back_off_ms=back_off_ms
        )
        self.run_in_loop(lambda: self._rules.append(rule))

    def unavailable(
        self, count: int = 1, retry_after: int | None = None, operations: list[str] | None = None
    ) -> None:
        """The next ``count`` matching requests get HTTP 503 (with Retry-After when given)."""
        rule = FaultRule(
            "unavailable", count, frozenset(operations) if operations else None, retry_after=retry_after
        )
        self.run_in_loop(lambda: self._rules.append(rule))

    def add_latency(self, seconds: float) -> None:
        """Every request waits this long before it is served (0 turns it off)."""
        self.latency = max(0.0, float(seconds))

    def take(self, operation: str) -> FaultRule | None:
        """The rule that applies to this request, consuming one use of it."""
        for rule in self._rules:
            if rule.remaining > 0 and (rule.operations is None or operation in rule.operations):
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
                return rule
        return None

    # ---- state faults --------------------------------------------------------------------------------------

    def drop_streams(self) -> int:
        """Cut every open GetStreamingEvents connection mid-stream (no final part); returns how many."""
        return self.run_in_loop(self._drop_streams)

    def expire_subscriptions(self, mailbox: str | None = None) -> int:
        return self.run_in_loop(lambda: self._hub.expire(mailbox))

    def invalidate_sync_states(self, mailbox: str | None = None) -> int:
        """Every sync state issued so far (for one mailbox) becomes ErrorInvalidSyncStateData."""

        def bump() -> int:
            count = 0
            for folder in self._store.folders.values():
                if mailbox is None or folder.mailbox.lower() == mailbox.lower():
                    folder.sync_epoch += 1
                    count += 1
            return count

        return self.run_in_loop(bump)

    def clear(self) -> None:
        self.latency = 0.0
        self.run_in_loop(self._rules.clear)

    # ---- admin endpoint ------------------------------------------------------------------------------------

    def apply_json(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"fault": name, ...arguments}``; raises ValueError for an unknown fault or bad arguments."""
        name = payload.get("fault")
        args = {k: v for k, v in payload.items() if k != "fault"}
        actions: dict[str, Callable[..., Any]] = {
            "server_busy": self.server_busy,
            "unavailable": self.unavailable,
            "latency": self.add_latency,
            "drop_streams": self.drop_streams,
            "expire_subscriptions": self.expire_subscriptions,
            "invalidate_sync_states": self.invalidate_sync_states,
            "clear": self.clear,
        }
        if not isinstance(name, str) or name not in actions:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(actions))}")
        try:
            result = actions[name](**args)
        except TypeError as exc:
            raise ValueError(f"bad arguments for {name}: {exc}") from None
        return {"fault": name, "result": result}
