"""Faults on demand, from Python (``sandbox.faults.throttle(...)``, safe from any thread) or from
``POST <admin_url>/faults`` with a JSON body naming one ``fault`` and its arguments (see ``apply_json``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.sandbox.background import LoopBound

from .router import FailRule, Router
from .state import GraphState
from .subscriptions import LIFECYCLE_EVENTS
from .throttle import InjectedThrottle


class GraphFaults(LoopBound):
    def __init__(self, state: GraphState, router: Router) -> None:
        self._state = state
        self._router = router

    # ---- requests ------------------------------------------------------------------------------------------

    def latency(self, seconds: float) -> None:
        """Every Graph request waits this long inside its mailbox slot (0 turns it off)."""
        self._router.latency = max(0.0, float(seconds))

    def throttle(self, count: int = 1, retry_after: int = 1, mailbox: str | None = None) -> None:
        """The next ``count`` mailbox requests (to ``mailbox``, or any) get 429 with Retry-After."""
        rule = InjectedThrottle(int(count), int(retry_after), mailbox)
        self.run_in_loop(lambda: self._state.throttle.injected.append(rule))

    def rate_limit(self, limit: int, window_seconds: float | None = None) -> None:
        """Set the per-mailbox request budget (Graph: 10,000 per 600 s)."""

        def change() -> None:
            self._state.throttle.rate_limit = int(limit)
            if window_seconds is not None:
                self._state.throttle.window = float(window_seconds)

        self.run_in_loop(change)

    def unavailable(self, count: int = 1, status: int = 503, retry_after: int | None = None) -> None:
        """The next ``count`` Graph requests fail with ``status`` (500, 502, 503 or 504)."""
        if int(status) not in (500, 502, 503, 504):
            raise ValueError("status must be 500, 502, 503 or 504")
        rule = FailRule(int(count), int(status), retry_after)
        self.run_in_loop(lambda: setattr(self._router, "failures", [*(self._router.failures or []), rule]))

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired (401); MSAL's cached token must be replaced."""

        def bump() -> None:
            self._state.identity.generation += 1

        self.run_in_loop(bump)

    # ---- delta ---------------------------------------------------------------------------------------------

    def expire_delta_tokens(self, mailbox: str | None = None) -> int:
        """Delta and skip tokens issued so far (for one mailbox) answer 410 SyncStateNotFound."""
        return self.run_in_loop(lambda: self._state.delta.invalidate(mailbox))

    def resync_delta(self, mailbox: str, count: int = 1) -> None:
        """The next ``count`` delta follow-ups for ``mailbox`` answer 410 resyncRequired with a Location."""

        def arm() -> None:
            self._state.delta.resync[mailbox.lower()] = self._state.delta.resync.get(
                mailbox.lower(), 0
            ) + int(count)

        self.run_in_loop(arm)

    # ---- subscriptions -------------------------------------------------------------------------------------

    def lifecycle(self, event: str, subscription_id: str | None = None) -> int:
        """Send a lifecycle notification to one subscription or all; returns how many were sent.

        ``reauthorizationRequired`` pauses notifications after the grace period until reauthorized or renewed;
        ``subscriptionRemoved`` deletes the subscription; ``missed`` only tells.
        """
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"event must be one of {', '.join(LIFECYCLE_EVENTS)}")

        def send() -> int:
            hub = self._state.hub
            chosen = [s for s in hub.subscriptions.values() if subscription_id in (None, s.id)]
            sent = 0
            for sub in chosen:
                if event == "reauthorizationRequired":
                    sent += hub.require_reauthorization(sub)
                else:
                    sent += hub.lifecycle(sub, event)
                    if event == "subscriptionRemoved":
                        hub.subscriptions.pop(sub.id, None)
            return sent

        return self.run_in_loop(send)

    def drop_notifications(self, count: int = 1, send_missed: bool = True) -> None:
        """Lose the next ``count`` notifications; ``send_missed`` tells their subscriptions (``missed``).

        (One ``missed`` per subscription that lost some.)"""

        def arm() -> None:
            self._state.hub.drop_next += int(count)
            if send_missed:
                self._state.hub.missed_after_drop = True

        self.run_in_loop(arm)

    def expire_subscriptions(self, subscription_id: str | None = None) -> int:
        """Subscriptions reach their expiry now: gone (404), no more notifications."""

        def expire() -> int:
            hub = self._state.hub
            gone = [s for s in hub.subscriptions if subscription_id in (None, s)]
            for key in gone:
                del hub.subscriptions[key]
            return len(gone)

        return self.run_in_loop(expire)

    def clear(self) -> None:
        def reset() -> None:
            self._router.latency = 0.0
            self._router.failures = []
            self._state.throttle.injected.clear()
            self._state.hub.drop_next = 0
            self._state.delta.resync.clear()

        self.run_in_loop(reset)

    # ---- admin endpoint ------------------------------------------------------------------------------------

    def apply_json(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"fault": name, ...arguments}``; raises ValueError for an unknown fault or bad arguments."""
        name = payload.get("fault")
        args = {k: v for k, v in payload.items() if k not in ("fault", "target")}
        actions: dict[str, Callable[..., Any]] = {
            "latency": self.latency,
            "throttle": self.throttle,
            "rate_limit": self.rate_limit,
            "unavailable": self.unavailable,
            "expire_tokens": self.expire_tokens,
            "expire_delta_tokens": self.expire_delta_tokens,
            "resync_delta": self.resync_delta,
            "lifecycle": self.lifecycle,
            "drop_notifications": self.drop_notifications,
            "expire_subscriptions": self.expire_subscriptions,
            "clear": self.clear,
        }
        if not isinstance(name, str) or name not in actions:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(actions))}")
        try:
            result = actions[name](**args)
        except TypeError as exc:
            raise ValueError(f"bad arguments for {name}: {exc}") from None
        return {"fault": name, "result": result}
