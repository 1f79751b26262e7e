"""The ops HTTP server (aiohttp): what a platform engineer and their monitoring look at.

| endpoint | answer |
|---|---|
| GET /healthz | 200 `{"status": "alive"}` while the process runs; never needs a token |
| GET /readyz | 200 when every readiness check passes, else 503; the body names each check |
| GET /metrics | Prometheus text (`bridge.ops.metrics`) |
| GET /issues[?user=] | open issues as JSON, all or one user's (Salesforce user id or mailbox address) |
| POST /sync-now?user= | compare and sync one user's window now (R-TIME-5); answers once it is committed |
| GET /status, POST /status/confirm | the status page for a browser (`bridge.ops.status_page`) |

It listens on 127.0.0.1:8765 by default. Bound to any other address it refuses to start without a token,
and then every endpoint but /healthz needs `Authorization: Bearer <token>` (R-SEC-3); a token configured on
loopback is required too. A GET may carry the token as the password of HTTP Basic authentication instead,
so that a browser can open the status page; a browser re-sends Basic credentials on its own, so they never
authorise a POST. The server reads the bridge through `OpsSource`, which the runtime implements.

An adapter may add routes of its own before `start()` (`add_route`): Graph's change notifications POST to
/graph/notify and /graph/lifecycle without the ops token, so such a route is open and authenticates its
callers itself (Graph's `clientState`).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hmac
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from bridge.errors import ConfigError
from bridge.ops.metrics import Metrics
from bridge.ops.status_page import CONFIRM, PAGE, BridgeStatus, StatusPage
from bridge.ports import StoredIssue

if TYPE_CHECKING:
    from bridge.config import Config

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPEN_PATHS = frozenset({"/healthz", CONFIRM})  # the confirm route checks the ops token itself
READING = frozenset({"GET", "HEAD"})


class OpsSource(Protocol):
    """What the ops server needs from the running bridge."""

    async def readiness(self) -> dict[str, bool]:
        """Each readiness check by name (`store`, `salesforce_stream`, `exchange_subscriptions`,
        `first_sync`) and whether it passes now."""
        ...

    async def issues(self, user: str | None) -> list[StoredIssue]:
        """Open issues, of every user or of one (a Salesforce user id or a mailbox address)."""
        ...

    def collect(self, metrics: Metrics) -> None:
        """Bring the gauges read on demand (calls, streams) up to date before a scrape."""
        ...

    async def sync_now(self, user: str) -> str:
        """Sync `user` (Salesforce user id or mailbox address) now; returns the user id once committed.
        KeyError: no such enrolled user; TimeoutError: still running."""
        ...

    async def status(self) -> BridgeStatus:
        """Users, their last sync each way, latency, readiness and open issues, for the status page."""
        ...

    async def confirm(self, user: str) -> str:
        """Carry out `user`'s held deletions (R-DEL-10); returns the user id once committed. KeyError: no
        such enrolled user; ValueError: nothing held; TimeoutError: still running."""
        ...


def issue_json(issue: StoredIssue) -> dict[str, Any]:
    return {
        "user_id": issue.user_id,
        "code": issue.code,
        "salesforce_id": issue.sf_id,
        "exchange_id": issue.ex_id,
        "message": issue.message,
        "first_seen": issue.first_seen.isoformat(),
        "last_seen": issue.last_seen.isoformat(),
        "closed_at": issue.closed_at.isoformat() if issue.closed_at else None,
    }


def _is_loopback(host: str) -> bool:
    from bridge.config import is_loopback

    return is_loopback(host)


def _credential(header: str, *, basic: bool) -> str | None:
    """The token a request's Authorization header carries: a Bearer token, or (when `basic`) the password
    of Basic credentials, whatever the user name."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if basic and scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


class OpsServer:
    """`/healthz`, `/readyz`, `/metrics`, `/issues` over `source` and `metrics`; `start()` then `stop()`."""

    def __init__(
        self,
        source: OpsSource,
        metrics: Metrics,
        *,
        host: str = "127.0.0.1",
        port: int = 8765,
        token: str | None = None,
    ) -> None:
        if not _is_loopback(host) and not token:
            raise ConfigError(
                "ops.token", f"required when ops.host ({host}) is not loopback (R-SEC-3); set ops.token_file"
            )
        self.source = source
        self.metrics = metrics
        self.host = host
        self.port = port
        self._token = token
        self._runner: web.AppRunner | None = None
        self._routes: list[tuple[str, str, Handler]] = []
        self._open_paths = set(OPEN_PATHS)

    @classmethod
    def from_config(cls, config: Config, source: OpsSource, metrics: Metrics) -> OpsServer:
        ops = config.ops
        token = ops.token.get_secret_value() if ops.token is not None else None
        return cls(source, metrics, host=ops.host, port=ops.port, token=token)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def add_route(self, method: str, path: str, handler: Handler, *, open: bool = True) -> None:
        """Serve `handler` at `method path` too; `open` routes need no ops token, so the handler must check
        its callers itself. Only before `start()`."""
        if self._runner is not None:
            raise RuntimeError("routes are added before the ops server starts")
        self._routes.append((method, path, handler))
        if open:
            self._open_paths.add(path)

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/issues", self._issues)
        app.router.add_post("/sync-now", self._sync_now)
        page = StatusPage(self.source, self._token)
        app.router.add_get(PAGE, page.page)
        app.router.add_post(CONFIRM, page.confirm)
        for method, path, handler in self._routes:
            app.router.add_route(method, path, handler)
        return app

    async def start(self) -> None:
        """Listen; with port 0 a free port is picked and `port` tells which."""
        runner = web.AppRunner(self.application(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        addresses = runner.addresses
        if addresses:
            self.port = int(addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- HTTP ----------------------------------------------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._token is None or request.path in self._open_paths:
            return await handler(request)
        supplied = _credential(request.headers.get("Authorization", ""), basic=request.method in READING)
        if supplied is None or not hmac.compare_digest(supplied.encode(), self._token.encode()):
            challenges = [("WWW-Authenticate", 'Bearer realm="calbridge"')]
            if request.method in READING:  # lets a browser ask for the token (as the password)
                challenges.append(("WWW-Authenticate", 'Basic realm="calbridge", charset="UTF-8"'))
            return web.json_response(
                {"error": "send Authorization: Bearer <ops token>"}, status=401, headers=challenges
            )
        return await handler(request)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        try:
            checks = {name: bool(ok) for name, ok in (await self.source.readiness()).items()}
        except Exception as exc:  # a failing check is an answer, not a crash of the endpoint
            return web.json_response(
                {"ready": False, "checks": {}, "error": exc.__class__.__name__}, status=503
            )
        ready = all(checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        with contextlib.suppress(Exception):  # a gauge that cannot be read now keeps its last value
            self.source.collect(self.metrics)
        try:
            open_issues = await self.source.issues(None)
        except Exception:
            pass  # the store is unavailable: keep the last counts; /readyz says why
        else:
            self.metrics.set_open_issues(Counter(issue.code for issue in open_issues))
        return web.Response(
            body=self.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        )

    async def _issues(self, request: web.Request) -> web.Response:
        user = request.query.get("user") or None
        try:
            found = await self.source.issues(user)
        except Exception as exc:
            return web.json_response(
                {"error": f"issues cannot be read now ({exc.__class__.__name__}); see /readyz"}, status=503
            )
        found = sorted(found, key=lambda i: (i.user_id, i.code, i.first_seen))
        return web.json_response({"count": len(found), "issues": [issue_json(i) for i in found]})

    async def _sync_now(self, request: web.Request) -> web.Response:
        user = request.query.get("user", "")
        if not user:
            return web.json_response(
                {"error": "name the user: POST /sync-now?user=<email or id>"}, status=400
            )
        try:
            user_id = await self.source.sync_now(user)
        except KeyError:
            return web.json_response({"error": f"no enrolled user {user!r}"}, status=404)
        except TimeoutError:
            return web.json_response({"user": user, "done": False, "error": "still running"}, status=504)
        return web.json_response({"user": user_id, "done": True})
