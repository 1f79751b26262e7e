"""One Graph sandbox per test session, driven by MSAL (tokens) and requests (calls) with the sandbox CA."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msal
import pytest
import requests
from aiohttp import web

from bridge.sandbox.background import in_background
from bridge.sandbox.graph import GraphSandbox, GraphTimings, running_graph_sandbox
from bridge.sandbox.tls import SandboxTLS

MAILBOXES = ["ana@graph.example", "ben@graph.example", "cleo@graph.example", "dan@graph.example"]
SF_PROP = "String {6a1f0c2e-3b7d-4a59-9c1e-5f0b8d2a7e11} Name SalesforceEventId"
TIMINGS = GraphTimings(
    validation_timeout=1.0,
    notification_timeout=1.0,
    notification_gather=0.02,
    retry_delays=(0.1, 0.2),
    sweep=0.05,
    reauthorize_before=2.0,
    reauthorize_grace=0.3,
)
_days = itertools.count(1)


@pytest.fixture(scope="session")
def tls() -> SandboxTLS:
    return SandboxTLS.generate()


@pytest.fixture(scope="session")
def ca_path(tls: SandboxTLS, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tls.write_ca(tmp_path_factory.mktemp("graph-ca") / "ca.pem"))


@pytest.fixture(scope="session")
def graph(tls: SandboxTLS) -> Iterator[GraphSandbox]:
    with running_graph_sandbox(tls, MAILBOXES, timings=TIMINGS) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _no_faults(graph: GraphSandbox) -> Iterator[None]:
    yield
    graph.faults.clear()


def msal_app(
    ends: dict[str, Any], ca_path: str, secret: str | None = None
) -> msal.ConfidentialClientApplication:
    """MSAL as a client configures it. ``verify=`` alone is not enough where REQUESTS_CA_BUNDLE is set
    (requests lets the environment replace a session's ``verify``), so MSAL gets a session that ignores it."""
    session = requests.Session()
    session.verify = ca_path
    session.trust_env = False
    return msal.ConfidentialClientApplication(
        ends["client_id"],
        client_credential=secret or ends["client_secret"],
        authority=ends["authority"],
        instance_discovery=False,
        verify=ca_path,
        http_client=session,
    )


@pytest.fixture(scope="session")
def token(graph: GraphSandbox, ca_path: str) -> str:
    result = msal_app(graph.endpoints(), ca_path).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"]
    )
    assert "access_token" in result, result
    return str(result["access_token"])


class GraphClient:
    """Plain HTTP in Graph's shape: a requests session that trusts only the sandbox CA."""

    def __init__(self, base: str, token: str, ca_path: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.verify = ca_path
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {token}"

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.base}/{path.lstrip('/')}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, self.url(path), timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create(
        self,
        user: str,
        subject: str,
        start: datetime,
        minutes: int = 30,
        headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        body = {
            "subject": subject,
            "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {
                "dateTime": (start + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC",
            },
            **fields,
        }
        answer = self.post(f"users/{user}/events", json=body, headers=headers)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())


@pytest.fixture
def client(graph: GraphSandbox, token: str, ca_path: str) -> GraphClient:
    return GraphClient(graph.graph_url, token, ca_path)


@pytest.fixture
def day() -> datetime:
    """A day of its own, far from other tests' events, so windows and deltas see only this test's events."""
    base = datetime(2031, 1, 1, tzinfo=UTC)
    return base + timedelta(days=3 * next(_days))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Receiver:
    """A subscriber's webhook on loopback: answers the validation handshake (unless told otherwise) and keeps
    every notification POST."""

    def __init__(self) -> None:
        self.mode = "echo"  # echo | wrong | error | slow
        self.status = 202
        self.validations: list[str] = []
        self.posts: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            self.validations.append(token)
            if self.mode == "wrong":
                return web.Response(text="not the token", content_type="text/plain")
            if self.mode == "error":
                return web.Response(status=500)
            if self.mode == "slow":
                await asyncio.sleep(3)
            return web.Response(text=token, content_type="text/plain")
        body = await request.json()
        self.posts.append(body)
        return web.Response(status=self.status)

    async def start(self, tls: SandboxTLS | None = None) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=tls.server_context() if tls else None)
        await site.start()
        assert site._server is not None
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def notifications(self) -> list[dict[str, Any]]:
        return [n for post in list(self.posts) for n in post["value"]]

    def wait_for(
        self, test: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.notifications()
            if test(found):
                return found
            time.sleep(0.02)
        raise AssertionError(f"timed out; received {self.notifications()}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    with in_background(hook.start, hook.stop, "graph-webhook"):
        yield hook
