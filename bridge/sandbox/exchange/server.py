"""The Exchange sandbox: an aiohttp server speaking EWS at POST /EWS/Exchange.asmx over TLS.

Request path: latency fault -> Basic auth (401 like IIS) -> XML parse (ErrorSchemaValidation fault) ->
throttling faults -> impersonation (SOAP fault when denied) -> one operation handler (per-message errors,
HTTP 200).
Anything unexpected becomes an ErrorInternalServerError fault for that request only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from ..background import in_background
from ..tls import SandboxTLS
from . import external, ops_find, ops_folders, ops_items, ops_subscribe, ops_sync, ops_update, persistence
from .context import AccessFault, RequestContext, build_context
from .faults import FaultHooks
from .items_xml import local
from .settings import SandboxTimings
from .store import Store
from .streaming import StreamRegistry, serve_stream
from .subscriptions import SubscriptionHub
from .timezones import zone_for
from .wire import REQUEST_ZONE, SOAP_NS, T_NS, Element, RequestXMLError, Response, parse_request, soap_fault

log = logging.getLogger(__name__)

EWS_PATH = "/EWS/Exchange.asmx"
ADMIN_BASE = "/_sandbox"  # POST <base>/faults, GET <base>/state: the same shape as the Salesforce sandbox
ADMIN_PATH = ADMIN_BASE + "/faults"
Handler = Callable[[RequestContext, Element], Response]
HANDLERS: dict[str, Handler] = {
    **ops_folders.HANDLERS,
    **ops_items.HANDLERS,
    **ops_update.HANDLERS,
    **ops_find.HANDLERS,
    **ops_sync.HANDLERS,
    **ops_subscribe.HANDLERS,
}
XML_TYPE = "text/xml; charset=utf-8"


def _xml(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, headers={"Content-Type": XML_TYPE})


class ExchangeSandbox:
    """A local Exchange 2016 (EWS) with mailboxes, a service account and faults on demand."""

    def __init__(
        self,
        tls: SandboxTLS,
        mailboxes: Iterable[str],
        username: str | None = None,
        password: str | None = None,
        plaintext: bool = False,
        timings: SandboxTimings | None = None,
        state_file: Path | None = None,
    ) -> None:
        """``state_file``: when given, the store is loaded from it (if it exists) and saved to it on ``stop``
        and every ``timings.autosave`` seconds while running; ``mailboxes`` missing from it are added."""
        self.tls = tls
        self.username = username or "svc-calbridge@sandbox.example"
        self.password = password or secrets.token_urlsafe(18)
        self.plaintext = plaintext
        self.timings = timings or SandboxTimings()
        self.store = Store()
        self.state_file = state_file
        if state_file is not None:
            persistence.load(self.store, state_file)
        self._saver: asyncio.Task[None] | None = None
        self.hub = SubscriptionHub(self.store)
        self.streams = StreamRegistry()
        self.faults = FaultHooks(self.store, self.hub, self.streams.drop_all)
        self.admin_token = secrets.token_urlsafe(24)
        self._backend_cookie = f"SANDBOX-MBX01~{secrets.token_hex(8)}"
        self.admin_url = ""  # the faults URL itself (kept for older callers); `admin()` gives the base
        self.admin_base_url = ""
        self.ews_url = ""
        self._runner: web.AppRunner | None = None
        for address in mailboxes:
            self.store.add_mailbox(address)

    # ---- public --------------------------------------------------------------------------------------------

    def add_mailbox(self, address: str, impersonation: bool = True, delegate: bool = True) -> None:
        """Add a mailbox with a calendar; the flags say what rights the service account has on it."""

        def add() -> None:
            mailbox = self.store.add_mailbox(address)
            mailbox.impersonation = impersonation
            mailbox.delegate = delegate

        self.faults.run_in_loop(add)

    def deliver_external_meeting(
        self,
        recipients: Iterable[str],
        organizer: str,
        subject: str,
        start: datetime,
        end: datetime,
        **fields: Any,
    ) -> str:
        """An organizer outside the sandbox sends (or, with ``uid=``, updates) a meeting; returns its UID.

        ``fields``: uid, body, location, is_all_day, time_zone (a Windows zone id), as in ``external``.
        """
        recipients = list(recipients)
        return self.faults.run_in_loop(
            lambda: external.deliver_external_meeting(
                self.store, recipients, organizer, subject, start, end, **fields
            )
        )

    def cancel_external_meeting(self, uid: str) -> int:
        """The outside organizer cancels meeting ``uid``; returns how many sandbox copies were cancelled."""
        return self.faults.run_in_loop(lambda: external.cancel_external_meeting(self.store, uid))

    def endpoints(self) -> dict[str, Any]:
        return {
            "ews_url": self.ews_url,
            "username": self.username,
            "password": self.password,
            "mailboxes": [mb.address for mb in self.store.mailboxes.values()],
        }

    def admin(self) -> dict[str, str]:
        """The admin endpoint (`POST <admin_url>/faults`, `GET <admin_url>/state`) and its Bearer token."""
        return {"admin_url": self.admin_base_url, "admin_token": self.admin_token}

    def state(self) -> dict[str, Any]:
        """Counts for `GET <admin_url>/state`: items per mailbox, subscriptions, open streams, faults."""

        def count() -> dict[str, Any]:
            per_mailbox = {address: 0 for address in sorted(self.store.mailboxes)}
            for item in self.store.items.values():
                per_mailbox[item.mailbox.lower()] = per_mailbox.get(item.mailbox.lower(), 0) + 1
            return {
                "mailboxes": len(self.store.mailboxes),
                "items": per_mailbox,
                "subscriptions": len(self.hub.subscriptions),
                "open_streams": len(self.streams.drops),
                "streams_opened": self.streams.opened,
                "latency": self.faults.latency,
            }

        return self.faults.run_in_loop(count)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post(EWS_PATH, self._handle_ews)
        app.router.add_post(ADMIN_PATH, self._handle_admin)
        app.router.add_post(ADMIN_BASE, self._handle_admin)  # the older habit: POST <admin_url> itself
        app.router.add_get(ADMIN_BASE + "/state", self._handle_admin_state)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        ssl_context = None if self.plaintext else self.tls.server_context()
        site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context, backlog=2048)
        await site.start()
        server = site._server
        assert server is not None
        bound_port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        scheme = "http" if self.plaintext else "https"
        shown_host = f"[{host}]" if ":" in host else host
        self.ews_url = f"{scheme}://{shown_host}:{bound_port}{EWS_PATH}"
        self.admin_url = f"{scheme}://{shown_host}:{bound_port}{ADMIN_PATH}"
        self.admin_base_url = f"{scheme}://{shown_host}:{bound_port}{ADMIN_BASE}"
        self.faults.bind(asyncio.get_running_loop())
        if self.state_file is not None:
            self._saver = asyncio.create_task(self._save_periodically())

    async def stop(self) -> None:
        """Close open streams, stop serving, and save the store (when it has a state file)."""
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saver
            self._saver = None
        self.streams.closing = True
        for subscription in self.hub.subscriptions.values():
            if subscription.waker is not None:
                subscription.waker()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.save()

    def save(self) -> None:
        """Write the store to the state file now (no-op without one). Safe from any thread."""
        if self.state_file is not None:
            persistence.write(
                self.state_file, self.faults.run_in_loop(lambda: persistence.snapshot(self.store))
            )

    async def _save_periodically(self) -> None:
        assert self.state_file is not None
        last = persistence.fingerprint(self.store)
        while True:
            await asyncio.sleep(self.timings.autosave)
            marker = persistence.fingerprint(self.store)
            if marker != last:
                state = persistence.snapshot(self.store)  # on the loop: the store is single-threaded
                await asyncio.to_thread(persistence.write, self.state_file, state)
                last = marker

    # ---- HTTP ----------------------------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        user_ok = hmac.compare_digest(user.lower().encode(), self.username.lower().encode())
        return hmac.compare_digest(password.encode(), self.password.encode()) and user_ok

    async def _handle_ews(self, request: web.Request) -> web.StreamResponse:
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if not self._authorised(request):
            return web.Response(
                status=401, text="401 - Unauthorized", headers={"WWW-Authenticate": 'Basic realm="sandbox"'}
            )
        body = await request.read()
        try:
            envelope = parse_request(body)
        except RequestXMLError as exc:
            values = {"LineNumber": str(exc.line), "LinePosition": str(exc.column), "Violation": str(exc)}
            return _xml(
                soap_fault("ErrorSchemaValidation", "The request failed schema validation.", values), 500
            )
        soap_body = envelope.find(f"{{{SOAP_NS}}}Body")
        if soap_body is None or not len(soap_body):
            return _xml(soap_fault("ErrorSchemaValidation", "The request failed schema validation."), 500)
        operation_elem = soap_body[0]
        operation = local(operation_elem)
        rule = self.faults.take(operation)
        if rule is not None and rule.kind == "busy":
            message = "The server cannot service this request right now. Try again later."
            values = {"BackOffMilliseconds": str(rule.back_off_ms)}
            return _xml(soap_fault("ErrorServerBusy", message, values), 500)
        if rule is not None:
            headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
            return web.Response(status=503, text="Service Unavailable", headers=headers)
        try:
            ctx = build_context(
                self.store,
                self.hub,
                self.timings,
                envelope.find(f"{{{SOAP_NS}}}Header"),
                request.headers.get("X-AnchorMailbox"),
            )
        except AccessFault as exc:
            return _xml(soap_fault(exc.code, exc.message), 500)
        zone = envelope.find(f"{{{SOAP_NS}}}Header/{{{T_NS}}}TimeZoneContext/{{{T_NS}}}TimeZoneDefinition")
        REQUEST_ZONE.set(zone_for(zone.get("Id") if zone is not None else None))
        try:
            if operation == "GetStreamingEvents":
                return await serve_stream(request, ctx, operation_elem, self.streams)
            handler = HANDLERS.get(operation)
            if handler is None:
                # Not ErrorInvalidRequest: exchangelib would take that for a version mismatch and retry.
                response = Response(operation)
                response.error(
                    "ErrorInvalidOperation", f"The operation {operation} is not supported by this server."
                )
                return _xml(response.to_bytes())
            answer = _xml(handler(ctx, operation_elem).to_bytes())
            if (
                operation == "Subscribe"
                and request.headers.get("X-PreferServerAffinity", "").lower() == "true"
            ):
                # Exchange pins notification traffic to one mailbox server with this cookie; clients echo it.
                answer.set_cookie("X-BackEndOverrideCookie", self._backend_cookie, path="/", httponly=True)
            return answer
        except Exception:
            log.exception("EWS %s failed", operation)
            return _xml(soap_fault("ErrorInternalServerError", "An internal server error occurred."), 500)

    def _admin_ok(self, request: web.Request) -> bool:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(supplied.encode(), self.admin_token.encode())

    async def _handle_admin_state(self, request: web.Request) -> web.Response:
        if not self._admin_ok(request):
            return web.json_response({"error": "admin token required"}, status=403)
        return web.json_response(self.state())

    async def _handle_admin(self, request: web.Request) -> web.Response:
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


@contextmanager
def running_exchange_sandbox(
    tls: SandboxTLS | None = None,
    mailboxes: Iterable[str] = (),
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> Iterator[ExchangeSandbox]:
    """Run a sandbox on its own event loop in a background thread (for synchronous tests and scripts)."""
    sandbox = ExchangeSandbox(tls or SandboxTLS.generate(), mailboxes, **options)
    with in_background(lambda: sandbox.start(host, port), sandbox.stop, "exchange-sandbox"):
        yield sandbox
