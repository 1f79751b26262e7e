"""The Graph sandbox: an aiohttp server over TLS playing the Microsoft identity platform (token endpoint and
OpenID metadata) and Microsoft Graph v1.0's calendar (events, calendarView, delta, subscriptions, $batch).

Request path for ``/v1.0/...``: bearer token (401) -> ``$batch`` or one call -> router (faults, throttle,
latency, handler). Every answer carries ``request-id`` and ``client-request-id`` as Graph's do.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import secrets
import ssl
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from ..background import in_background
from ..exchange import persistence as store_persistence
from ..exchange.store import Store
from ..tls import SandboxTLS
from .auth import GRAPH_RESOURCE, Identity, TokenFailure, failure_body
from .batch import run_batch
from .calls import JSON_TYPE, Call, Reply
from .errors import error_body
from .faults import GraphFaults
from .ids import user_object_id
from .prefer import parse_prefer
from .router import Router
from .settings import GraphTimings
from .state import GraphState
from .subscriptions import Hub
from .throttle import Throttle

log = logging.getLogger(__name__)
ADMIN_PATH = "/_sandbox"
FORMAT_VERSION = 1
_WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)


class GraphSandbox:
    """Microsoft Graph (calendar) and its token endpoint for the given mailboxes, with faults on demand.

    ``store``: the mailbox store to serve; pass the EWS sandbox's (``ExchangeSandbox.store``) to share the
    mailboxes, and run both on one event loop. Without it the Graph sandbox keeps its own store.
    ``state_file``: Graph's own state (immutable id moves, delta tokens, subscriptions, transaction ids; and
    the mailboxes too when the store is its own) is loaded from it and saved to it.
    """

    def __init__(
        self,
        tls: SandboxTLS,
        mailboxes: Iterable[str] = (),
        *,
        store: Store | None = None,
        state_file: Path | None = None,
        timings: GraphTimings | None = None,
        plaintext: bool = False,
        notification_ca: bytes | None = None,
    ) -> None:
        """``notification_ca``: more PEM CAs to trust when POSTing to subscribers (the sandbox's always)."""
        self.tls = tls
        self.timings = timings or GraphTimings()
        self.plaintext = plaintext
        self.owns_store = store is None
        self.store = store if store is not None else Store()
        self.state_file = state_file
        saved = self._read_state()
        identity = Identity(token_lifetime=self.timings.token_lifetime)
        if saved:
            identity.tenant_id = saved.get("tenant_id", identity.tenant_id)
            identity.client_id = saved.get("client_id", identity.client_id)
            if self.owns_store and "store" in saved:
                store_persistence.restore(self.store, saved["store"])
        self.identity = identity
        client_ssl = ssl.create_default_context()
        client_ssl.load_verify_locations(cadata=tls.ca_pem.decode())
        if notification_ca:
            client_ssl.load_verify_locations(cadata=notification_ca.decode())
        hub = Hub(self.timings, identity.tenant_id, client_ssl)
        throttle = Throttle(
            self.timings.concurrency, self.timings.rate_limit, self.timings.rate_window,
            self.timings.concurrency_retry_after,
        )  # fmt: skip
        self.state = GraphState(self.store, identity, self.timings, hub, throttle)
        if saved:
            self.state.restore(saved)
        self.router = Router(self.state)
        self.faults = GraphFaults(self.state, self.router)
        self.admin_token = secrets.token_urlsafe(24)
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        for address in mailboxes:
            self.store.add_mailbox(address)

    # ---- public --------------------------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.identity.tenant_id}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def admin_url(self) -> str:
        return f"{self.base_url}{ADMIN_PATH}"

    def endpoints(self) -> dict[str, Any]:
        """The ``graph`` section of endpoints.json."""
        boxes = [mb.address for mb in self.store.mailboxes.values()]
        return {
            "authority": self.authority,
            "tenant_id": self.identity.tenant_id,
            "client_id": self.identity.client_id,
            "client_secret": self.identity.client_secret,
            "scope": f"{GRAPH_RESOURCE}/.default",
            "graph_url": self.graph_url,
            "mailboxes": boxes,
            "user_ids": {address: user_object_id(address) for address in boxes},
        }

    def admin(self) -> dict[str, str]:
        return {"admin_url": self.admin_url, "admin_token": self.admin_token}

    def add_mailbox(self, address: str) -> None:
        self.faults.run_in_loop(lambda: self.store.add_mailbox(address))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", self._openid)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        app.router.add_get("/{tenant}/discovery/v2.0/keys", self._keys)
        app.router.add_route("*", "/v1.0/{tail:.*}", self._graph)
        app.router.add_post(ADMIN_PATH + "/faults", self._admin_faults)
        app.router.add_get(ADMIN_PATH + "/state", self._admin_state)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            host,
            port,
            ssl_context=None if self.plaintext else self.tls.server_context(),
            backlog=1024,
        )
        await site.start()
        server = site._server
        assert server is not None
        bound = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"{'http' if self.plaintext else 'https'}://{shown}:{bound}"
        self.faults.bind(asyncio.get_running_loop())
        self._tasks.append(asyncio.create_task(self._sweep()))
        if self.state_file is not None:
            self._tasks.append(asyncio.create_task(self._save_periodically()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.state.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.save()

    def save(self) -> None:
        """Write Graph's state to the state file now (no-op without one). Safe from any thread."""
        if self.state_file is not None:
            store_persistence.write(self.state_file, self.faults.run_in_loop(self._snapshot))

    def snapshot_state(self) -> dict[str, Any]:
        """Counts for tests and ``GET <admin_url>/state``."""
        return self.faults.run_in_loop(self._state_summary)

    # ---- state -------------------------------------------------------------------------------------------

    def _read_state(self) -> dict[str, Any] | None:
        if self.state_file is None or not self.state_file.exists():
            return None
        data = json.loads(self.state_file.read_text())
        return data if isinstance(data, dict) and data.get("version") == FORMAT_VERSION else None

    def _snapshot(self) -> dict[str, Any]:
        data = {"version": FORMAT_VERSION, **self.state.snapshot()}
        if self.owns_store:
            data["store"] = store_persistence.snapshot(self.store)
        return data

    def _state_summary(self) -> dict[str, Any]:
        hub = self.state.hub
        return {
            "mailboxes": {
                mb.address: {"events": len(mb.folder("calendar").items)}
                for mb in self.store.mailboxes.values()
            },
            "subscriptions": len(hub.subscriptions),
            "notifications": {
                "delivered": hub.stats.delivered,
                "failed_attempts": hub.stats.failed_attempts,
                "dropped": hub.stats.dropped,
                "lifecycle_sent": hub.stats.lifecycle_sent,
                "validations": hub.stats.validations,
            },
            "delta_tokens": len(self.state.delta.states),
            "delta_refused": dict(self.state.delta.refused),
            "tokens_issued": self.identity.issued,
            "requests": self.router.requests,
            "throttled": self.state.throttle.refused,
            "in_flight": self.state.throttle.in_flight(),
        }

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self.timings.sweep)
            self.state.hub.sweep()

    async def _save_periodically(self) -> None:
        assert self.state_file is not None
        last = ""
        while True:
            await asyncio.sleep(self.timings.autosave)
            data = self._snapshot()
            marker = json.dumps(data, sort_keys=True, default=str)
            if marker != last:
                await asyncio.to_thread(store_persistence.write, self.state_file, data)
                last = marker

    # ---- identity platform ---------------------------------------------------------------------------------

    async def _openid(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        if not self.identity.knows_tenant(tenant):
            body = failure_body(
                TokenFailure(400, "invalid_tenant", 90002, f"AADSTS90002: Tenant '{tenant}' not found.")
            )
            return web.json_response(body, status=400)
        return web.json_response(self.identity.openid_configuration(self.base_url, tenant))

    async def _keys(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": []})

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        basic: tuple[str, str] | None = None
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
                basic = (user, password)
        answer = self.identity.token(request.match_info["tenant"], form, basic)
        if isinstance(answer, TokenFailure):
            return web.json_response(failure_body(answer), status=answer.status)
        return web.json_response(
            answer, headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        )

    # ---- Graph ---------------------------------------------------------------------------------------------

    async def _graph(self, request: web.Request) -> web.StreamResponse:
        request_id = str(uuid.uuid4())
        ids = {
            "request-id": request_id,
            "client-request-id": request.headers.get("client-request-id", request_id),
        }
        why = self.identity.check(request.headers.get("Authorization"))
        if why is not None:
            reply = Reply(
                401, error_body("InvalidAuthenticationToken", why), {"WWW-Authenticate": _WWW_AUTHENTICATE}
            )
            return self._respond(reply, ids)
        raw = await request.read()
        body: Any = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                reply = Reply(
                    400,
                    error_body(
                        "BadRequest",
                        "Unable to read JSON request payload. Please ensure "
                        "Content-Type header is set and payload is of valid JSON format.",
                    ),
                )
                return self._respond(reply, ids)
        path = request.match_info["tail"]
        if path == "$batch" and request.method == "POST":
            reply = await self.faults_safe_batch(body)
            return self._respond(reply, ids)
        call = Call(
            method=request.method,
            path=path,
            query={k: v for k, v in request.query.items()},
            headers=dict(request.headers),
            body=body,
            prefer=parse_prefer(request.headers.getall("Prefer", [])),
            base=self.graph_url,
        )
        return self._respond(await self.router.run(call), ids)

    async def faults_safe_batch(self, body: Any) -> Reply:
        from .errors import GraphError

        try:
            return await run_batch(self.router, body, self.graph_url)
        except GraphError as exc:
            return Reply.error(exc)

    def _respond(self, reply: Reply, ids: dict[str, str]) -> web.Response:
        headers = {**ids, **reply.headers}
        if isinstance(reply.body, dict) and "error" in reply.body:
            inner = reply.body["error"].get("innerError")
            if isinstance(inner, dict):
                inner.update({"request-id": ids["request-id"], "client-request-id": ids["client-request-id"]})
        if reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        headers["Content-Type"] = JSON_TYPE
        headers["OData-Version"] = "4.0"
        return web.Response(status=reply.status, body=json.dumps(reply.body).encode(), headers=headers)

    # ---- admin ---------------------------------------------------------------------------------------------

    def _admin_ok(self, request: web.Request) -> bool:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(supplied.encode(), self.admin_token.encode())

    async def _admin_faults(self, request: web.Request) -> web.Response:
        if not self._admin_ok(request):
            return web.json_response({"error": "admin token required"}, status=403)
        try:
            payload = await request.json()
            if not isinstance(payload, dict):
                raise ValueError("the body must be a JSON object")
            result = self.faults.apply_json(payload)
        except (ValueError, json.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(result)

    async def _admin_state(self, request: web.Request) -> web.Response:
        if not self._admin_ok(request):
            return web.json_response({"error": "admin token required"}, status=403)
        return web.json_response(self._state_summary())


@contextlib.contextmanager
def running_graph_sandbox(
    tls: SandboxTLS | None = None,
    mailboxes: Iterable[str] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> Iterator[GraphSandbox]:
    """Run a Graph sandbox on its own event loop in a background thread (synchronous tests and scripts)."""
    sandbox = GraphSandbox(tls or SandboxTLS.generate(), mailboxes, **options)
    with in_background(lambda: sandbox.start(host, port), sandbox.stop, "graph-sandbox"):
        yield sandbox
