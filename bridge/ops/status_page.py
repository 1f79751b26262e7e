"""The status page: one server-rendered HTML page on the ops server, for an admin in a browser.

- GET /status: every configured user (syncing or switched off) with the last sync each way and their open
  issues; latency each way; readiness; the open issues; the held deletions (R-DEL-10) with a confirm form.
- POST /status/confirm, form fields `user` and `token`: carries out the user's held deletions, then `303`
  back to the page.

Contracts:

- Every value is escaped (Jinja2 autoescape); the page has no script and works without JavaScript. Its
  headers forbid scripts, framing and forms to other origins (Content-Security-Policy), and caching.
- Reading the page is protected like every ops endpoint (`OpsServer`): open on loopback without a token,
  else the ops token as `Authorization: Bearer` or, so that a browser can open it, as the password of HTTP
  Basic authentication (any user name). Basic credentials are accepted for reading only.
- Confirming always needs the ops token, even on loopback, typed into the form: a browser re-sends Basic
  credentials by itself, so they prove nothing about who built the request; the typed token does (a page
  from another origin cannot know it). A client may send `Authorization: Bearer` instead, which browsers
  never add on their own. Without a configured ops token, confirming here is refused and the page says so
  (a `confirm` command from Salesforce still works). A request whose `Origin` or `Sec-Fetch-Site` says
  it comes from another origin is refused too. The token is never written into the page.
- Confirming a user with nothing held is refused (`409`), so a stale page cannot release a later hold it
  never showed. The answer comes once the confirmed pass is committed (`504` past the source's wait).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from bridge.ports import StoredIssue

PAGE = "/status"
CONFIRM = "/status/confirm"
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make a browser send `Origin: null` on the form
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class UserStatus:
    user_id: str
    mailbox: str
    enabled: bool
    last_to_exchange: datetime | None  # the last pass that wrote to Exchange for this user
    last_to_salesforce: datetime | None
    open_issues: int
    held: StoredIssue | None = None  # the open E-MASS-DELETE while deletions wait for a confirm


@dataclass(frozen=True, slots=True)
class Latency:
    direction: str  # to_exchange, to_salesforce
    changes: int  # how many of the latest propagated changes the figures cover
    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class BridgeStatus:
    checks: Mapping[str, bool]
    users: list[UserStatus] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    issues: list[StoredIssue] = field(default_factory=list)


class StatusSource(Protocol):
    """What the page needs from the running bridge (the supervisor)."""

    async def status(self) -> BridgeStatus: ...

    async def confirm(self, user: str) -> str:
        """Carry out `user`'s held deletions (R-DEL-10) and return their user id once the confirmed pass
        is committed. KeyError: no such enrolled user; ValueError: nothing is held for them;
        TimeoutError: the pass still runs."""
        ...


def _when(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if now is None:
        return text
    ago = (now - value).total_seconds()
    return f"{text} ({_ago(ago)})" if ago >= 0 else text


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return f"{seconds / 86400:.0f} days ago"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("bridge.ops", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,  # a misspelt name fails the test that renders it, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = _seconds
    env.filters["when"] = _when
    return env


class StatusPage:
    """The page's two routes over `source`; `token` is the ops token (None: confirming is refused)."""

    def __init__(self, source: StatusSource, token: str | None) -> None:
        self.source = source
        self._token = token
        self._template = _environment().get_template("status.html")

    def render(self, status: BridgeStatus, message: str = "", *, error: bool = False) -> str:
        return self._template.render(
            status=status,
            now=datetime.now(UTC),
            held=[u for u in status.users if u.held is not None],
            can_confirm=self._token is not None,
            message=message,
            message_is_error=error,
        )

    async def page(self, request: web.Request) -> web.Response:
        """GET /status; `?confirmed=U` (after a confirm) adds a line saying so."""
        confirmed = request.query.get("confirmed", "")
        message = f"Confirmed: the held deletions of {confirmed} were carried out." if confirmed else ""
        return await self._answer(message)

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        """POST /status/confirm with form fields `user` and `token`."""
        if not _same_origin(request):
            return await self._answer("Refused: the confirmation came from another site.", 403)
        form = await request.post()
        user = str(form.get("user", "")).strip()
        if self._token is None:
            return await self._answer(
                "Confirming from this page needs an ops token (ops.token_file); none is configured.", 403
            )
        if not self._authorised(request, form):
            return await self._answer("The ops token was not right; nothing was confirmed.", 403)
        if not user:
            return await self._answer("Name the user whose deletions to confirm.", 400)
        try:
            user_id = await self.source.confirm(user)
        except KeyError:
            return await self._answer(f"No enrolled user {user}.", 404)
        except ValueError:
            return await self._answer(f"No deletions are held for {user}; nothing was confirmed.", 409)
        except TimeoutError:
            return await self._answer(
                f"Confirmed for {user}: the deletions are still being made; refresh to follow them.", 504
            )
        raise web.HTTPSeeOther(f"{PAGE}?confirmed={quote(user_id)}", headers=HEADERS)

    def _authorised(self, request: web.Request, form: Mapping[str, Any]) -> bool:
        assert self._token is not None
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        supplied = bearer.strip() if scheme.lower() == "bearer" else str(form.get("token", ""))
        return hmac.compare_digest(supplied.encode(), self._token.encode())

    async def _answer(self, message: str, status: int = 200) -> web.Response:
        try:
            found = await self.source.status()
        except Exception as exc:  # the store is unavailable: say so rather than fail the page
            found = BridgeStatus(checks={"store": False})
            message = (message + " " if message else "") + (
                f"The bridge's state cannot be read now ({exc.__class__.__name__}); see /readyz."
            )
            status = status if status != 200 else 503
        body = self.render(found, message, error=status >= 400)
        return web.Response(text=body, status=status, content_type="text/html", headers=HEADERS)


def _same_origin(request: web.Request) -> bool:
    """False when the browser says the request was made by a page of another origin."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host
