"""Which handler answers a request, and what every mailbox request goes through first: faults, the per
mailbox throttle (4 in flight, the rate budget), latency. ``$batch`` members come through here one by one."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import api_events, api_sync
from .calls import Call, Reply
from .errors import GraphError
from .state import GraphState

log = logging.getLogger(__name__)

MailboxHandler = Callable[..., Reply]
PlainHandler = Callable[[GraphState, Call, dict[str, str]], Awaitable[Reply]]
_USER = r"users/(?P<user>[^/]+)"
_CAL = r"(?:/calendar|/calendars/(?P<cal>[^/]+))?"
_EVENT = _USER + _CAL + r"/events/(?P<eid>[^/]+)"

MAILBOX_ROUTES: list[tuple[str, str, MailboxHandler]] = [
    ("GET", _USER, api_events.get_user),
    ("GET", _USER + "/calendar", api_events.get_calendar),
    ("GET", _USER + "/calendars", api_events.list_calendars),
    ("GET", _USER + _CAL + "/events", api_events.list_events),
    ("POST", _USER + _CAL + "/events", api_events.create_event),
    ("GET", _EVENT, api_events.get_event),
    ("GET", _EVENT + "/instances", api_events.instances),
    ("PATCH", _EVENT, api_events.update_event),
    ("DELETE", _EVENT, api_events.delete_event),
    ("POST", _EVENT + r"/(?P<action>accept|decline|tentativelyAccept|cancel)", api_events.respond),
    ("GET", _USER + _CAL + "/calendarView", api_events.calendar_view),
    ("GET", _USER + _CAL + "/calendarView/delta", api_sync.delta),
]
PLAIN_ROUTES: list[tuple[str, str, PlainHandler]] = [
    ("POST", "subscriptions", api_sync.create_subscription),
    ("GET", "subscriptions", api_sync.list_subscriptions),
    ("GET", r"subscriptions/(?P<sid>[^/]+)", api_sync.get_subscription),
    ("PATCH", r"subscriptions/(?P<sid>[^/]+)", api_sync.renew_subscription),
    ("DELETE", r"subscriptions/(?P<sid>[^/]+)", api_sync.delete_subscription),
    ("POST", r"subscriptions/(?P<sid>[^/]+)/reauthorize", api_sync.reauthorize),
]
_COMPILED_MAILBOX = [(m, re.compile(f"^{p}$", re.IGNORECASE), h) for m, p, h in MAILBOX_ROUTES]
_COMPILED_PLAIN = [(m, re.compile(f"^{p}$", re.IGNORECASE), h) for m, p, h in PLAIN_ROUTES]


@dataclass
class FailRule:
    remaining: int
    status: int
    retry_after: int | None


_FAILURES = {
    500: ("generalException", "An unspecified error has occurred."),
    502: ("badGateway", "The server received an invalid response from an upstream server."),
    503: ("serviceNotAvailable", "The service is temporarily unavailable. Please retry after a short delay."),
    504: ("UnknownError", "The gateway timed out."),
}


@dataclass
class Router:
    state: GraphState
    latency: float = 0.0
    failures: list[FailRule] | None = None
    requests: int = 0

    def _take_failure(self) -> GraphError | None:
        for rule in self.failures or []:
            if rule.remaining > 0:
                rule.remaining -= 1
                self.failures = [r for r in self.failures or [] if r.remaining > 0]
                code, message = _FAILURES.get(rule.status, _FAILURES[503])
                headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
                return GraphError(rule.status, code, message, headers)
        return None

    async def run(self, call: Call) -> Reply:
        """Answer one request (errors become Graph's error replies; nothing escapes)."""
        self.requests += 1
        try:
            return await self._run(call)
        except GraphError as exc:
            return Reply.error(exc)
        except Exception:
            log.exception("Graph %s %s failed", call.method, call.path)
            return Reply.error(GraphError(500, "generalException", "An unspecified error has occurred."))

    async def _run(self, call: Call) -> Reply:
        path = call.path.strip("/")
        if path.lower() == "me" or path.lower().startswith("me/"):
            raise GraphError(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        failure = self._take_failure()
        if failure is not None:
            raise failure
        for method, pattern, plain in _COMPILED_PLAIN:
            match = pattern.match(path)
            if match and method == call.method:
                if self.latency:
                    await asyncio.sleep(self.latency)
                return await plain(self.state, call, _groups(match))
        for method, pattern, handler in _COMPILED_MAILBOX:
            match = pattern.match(path)
            if match and method == call.method:
                return await self._mailbox_call(call, handler, _groups(match))
        if any(p.match(path) for _, p, _ in [*_COMPILED_MAILBOX, *_COMPILED_PLAIN]):
            raise GraphError(405, "Request_BadRequest", f"The HTTP method '{call.method}' is not supported.")
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{path.split('/')[-1]}'.")

    async def _mailbox_call(self, call: Call, handler: MailboxHandler, groups: dict[str, str]) -> Reply:
        box = self.state.mailbox(groups["user"])
        self.state.throttle.enter(box.address)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            return handler(self.state, call, box, groups)
        finally:
            self.state.throttle.leave(box.address)


def _groups(match: re.Match[str]) -> dict[str, Any]:
    return {k: v for k, v in match.groupdict().items() if v is not None}
