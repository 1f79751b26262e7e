"""The REST API over HTTPS (aiohttp): OAuth token endpoint, `/services/data/...`, and the admin endpoints.

Per API call, in Salesforce's order: injected latency and failures, the session (401), the daily limit (403),
then the resource. Every response carries `Sforce-Limit-Info: api-usage=N/M`. Handler code is synchronous
and quick; the org's lock keeps it consistent with Python callers on other threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hmac
import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bridge.sandbox.salesforce import auth, rest_collections, rest_composite, rest_query, rest_records
from bridge.sandbox.salesforce.calls import Call, Reply, locate_value
from bridge.sandbox.salesforce.errors import SalesforceError, invalid_session, limit_exceeded, not_found
from bridge.sandbox.salesforce.faults import Faults, failure
from bridge.sandbox.salesforce.org import Org
from bridge.sandbox.salesforce.platform_events import PlatformEventPublisher
from bridge.sandbox.salesforce.values import DeserializeError

log = logging.getLogger(__name__)

MIN_VERSION = 44
LATEST_VERSION = 62
_VERSION = re.compile(r"^v(\d+)\.0$")
_SEASONS = ("Winter", "Spring", "Summer")


def versions(base: str = "") -> list[dict[str, str]]:
    """`/services/data/`: every supported API version with its release label."""
    out = []
    for number in range(MIN_VERSION, LATEST_VERSION + 1):
        step = number - MIN_VERSION
        label = f"{_SEASONS[step % 3]} '{19 + step // 3}"
        out.append({"label": label, "url": f"{base}/services/data/v{number}.0", "version": f"{number}.0"})
    return out


def _json_response(status: int, body: Any, org: Org, retry_after: int | None = None) -> web.Response:
    headers = {"Sforce-Limit-Info": f"api-usage={org.api_usage}/{org.api_limit}"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if body is None:
        return web.Response(status=status, headers=headers)
    return web.Response(
        status=status, body=json.dumps(body).encode(), content_type="application/json", headers=headers
    )


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") and token.strip() else None


class RestApi:
    """The aiohttp application serving one org. Set `instance_url` once the server's port is known."""

    def __init__(self, org: Org, faults: Faults, admin_token: str) -> None:
        self.org = org
        self.faults = faults
        self.admin_token = admin_token
        self.instance_url = ""
        self.cursors = rest_query.QueryCursors()
        self.publisher: PlatformEventPublisher | None = None
        self.pubsub_counts: Callable[[], dict[str, dict[str, int]]] | None = None  # set by the server

    def application(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/services/oauth2/token", self.token)
        app.router.add_get("/services/data", self.version_list)
        app.router.add_get("/services/data/", self.version_list)
        app.router.add_route("*", "/services/data/{version}/{rest:.*}", self.data)
        app.router.add_route("*", "/services/data/{version}", self.data)
        app.router.add_post("/_sandbox/faults", self.admin_faults)
        app.router.add_get("/_sandbox/state", self.admin_state)
        return app

    # -- OAuth --------------------------------------------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        grant = form.get("grant_type", "")
        try:
            if grant == auth.CLIENT_CREDENTIALS:
                user_id, app = auth.client_credentials(self.org, form)
            elif grant == auth.JWT_BEARER:
                user_id, app = auth.jwt_bearer(self.org, form.get("assertion", ""), self.instance_url)
            else:
                raise auth.OAuthError("unsupported_grant_type", "grant type not supported")
        except auth.OAuthError as error:
            return web.json_response(error.body(), status=400)
        return web.json_response(auth.token_response(self.org, app, user_id, self.instance_url))

    # -- data API -----------------------------------------------------------------------------------------

    async def version_list(self, request: web.Request) -> web.Response:
        return _json_response(200, versions(), self.org)

    async def data(self, request: web.Request) -> web.Response:
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
        body = await request.read()
        try:
            reply = self._data(request, body)
        except DeserializeError as error:
            line, column = locate_value(body, error.field_name)
            located = SalesforceError(
                error.status, error.error_code, f"{error.message} at [line:{line}, column:{column}]"
            )
            return _json_response(located.status, located.body(), self.org)
        except SalesforceError as error:
            return _json_response(error.status, error.body(), self.org, error.retry_after)
        except Exception:
            log.exception("sandbox REST handler failed for %s %s", request.method, request.path)
            unexpected = failure("500")  # the same body as an injected 500
            return _json_response(500, unexpected.body(), self.org)
        return _json_response(reply.status, reply.body, self.org)

    def _data(self, request: web.Request, body: bytes) -> Reply:
        forced = self.faults.take_failure()
        if forced is not None:
            raise forced
        token = _bearer(request)
        user_id = self.org.session_user(token) if token else None
        if user_id is None:
            raise invalid_session()
        if not self.org.count_api_call():
            raise limit_exceeded()
        match = _VERSION.match(request.match_info["version"])
        if not match or not MIN_VERSION <= int(match.group(1)) <= LATEST_VERSION:
            raise not_found()
        version = f"{match.group(1)}.0"
        path = [p for p in request.match_info.get("rest", "").split("/") if p]
        call = Call(
            org=self.org,
            method=request.method,
            version=version,
            path=path,
            params={k: str(v) for k, v in request.query.items()},
            headers=request.headers,
            body=body,
            user_id=user_id,
            publisher=self.publisher,
        )
        return self._route(call)

    def _route(self, call: Call) -> Reply:
        if not call.path:
            base = f"/services/data/v{call.version}"
            names = ("sobjects", "query", "queryAll", "limits", "composite")
            return Reply(200, {name: f"{base}/{name}" for name in names})
        head = call.path[0]
        if head == "sobjects":
            return rest_records.handle(call)
        if head in ("query", "queryAll"):
            return rest_query.handle(call, self.cursors)
        if head == "tooling" and call.path[1:2] == ["query"]:
            # Tooling API queries (the setup objects of schema.py) share the one query engine.
            return rest_query.handle(dataclasses.replace(call, path=call.path[1:]), self.cursors)
        if head == "composite" and len(call.path) >= 2 and call.path[1] == "sobjects":
            return rest_collections.handle(call)
        if head == "composite" and len(call.path) == 1:
            return rest_composite.handle(call, self._route)
        if head == "limits" and len(call.path) == 1:
            return Reply(200, self.limits())
        raise not_found()

    def limits(self) -> dict[str, dict[str, int]]:
        remaining = max(0, self.org.api_limit - self.org.api_usage)
        return {
            "DailyApiRequests": {"Max": self.org.api_limit, "Remaining": remaining},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
            "MonthlyPlatformEventsUsageEntitlement": {"Max": 1500000, "Remaining": 1500000},
        }

    # -- admin --------------------------------------------------------------------------------------------

    def _admin_ok(self, request: web.Request) -> bool:
        token = _bearer(request) or ""
        return hmac.compare_digest(token.encode(), self.admin_token.encode())

    async def admin_faults(self, request: web.Request) -> web.Response:
        if not self._admin_ok(request):
            return web.json_response({"error": "admin token required"}, status=401)
        try:
            payload = await request.json()
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            result = self.faults.apply(payload)
        except (ValueError, KeyError, TypeError) as error:
            return web.json_response({"error": str(error)}, status=400)
        return web.json_response(result)

    async def admin_state(self, request: web.Request) -> web.Response:
        if not self._admin_ok(request):
            return web.json_response({"error": "admin token required"}, status=401)
        return web.json_response(self.state())

    def state(self) -> dict[str, Any]:
        with self.org.lock:
            live: Counter[str] = Counter()
            deleted: Counter[str] = Counter()
            for record_id, record in self.org.store.records.items():
                entity = self.org.store.entity_of[record_id]
                (deleted if record.get("IsDeleted") else live)[entity] += 1
            return {
                "org_id": self.org.org_id,
                "shared_activities": self.org.shared_activities,
                "api_usage": self.org.api_usage,
                "api_limit": self.org.api_limit,
                "commits": self.org.commit_number,
                "records": dict(sorted(live.items())),
                "deleted": dict(sorted(deleted.items())),
                "pending_failures": self.faults.pending_failures(),
                "pubsub": self.pubsub_counts() if self.pubsub_counts is not None else {},
            }
