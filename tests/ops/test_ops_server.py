"""bridge.ops: /healthz, /readyz, /metrics, /issues over a real socket, and the token rule (R-SEC-3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge.errors import ConfigError
from bridge.ops import Metrics, OpsServer, PrometheusSink
from bridge.ports import StoredIssue

SEEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
TOKEN = "ops-token-for-tests-0123456789"


def _issue(user: str, code: str, sf_id: str | None = "00U1") -> StoredIssue:
    return StoredIssue(user, code, sf_id, "AAMk1", f"{code} for {user}", SEEN, SEEN)


class FakeBridge:
    """An `OpsSource` whose answers the tests set."""

    def __init__(self) -> None:
        self.checks = {"store": True, "salesforce_stream": True, "exchange_subscriptions": True}
        self.open = [
            _issue("005B", "E-TOO-LONG"),
            _issue("005A", "W-UNANSWERED"),
            _issue("005A", "E-TOO-LONG"),
        ]
        self.asked: list[str | None] = []
        self.broken = False
        self.calls: dict[str, int] = {}
        self.synced: list[str] = []

    async def readiness(self) -> dict[str, bool]:
        if self.broken:
            raise RuntimeError("store closed")
        return dict(self.checks)

    def collect(self, metrics: Metrics) -> None:
        metrics.count_salesforce_calls(self.calls)

    async def sync_now(self, user: str) -> str:
        if user not in ("005A", "ann@example.com"):
            raise KeyError(user)
        self.synced.append(user)
        return "005A"

    async def issues(self, user: str | None) -> list[StoredIssue]:
        self.asked.append(user)
        if self.broken:
            raise RuntimeError("store closed")
        return [i for i in self.open if user is None or i.user_id == user]


@pytest.fixture
def bridge() -> FakeBridge:
    return FakeBridge()


@pytest.fixture
async def served(bridge: FakeBridge) -> AsyncIterator[tuple[OpsServer, aiohttp.ClientSession]]:
    server = OpsServer(bridge, Metrics(), port=0)
    await server.start()
    async with aiohttp.ClientSession(server.url) as http:
        yield server, http
    await server.stop()


async def test_healthz_says_alive(served: tuple[OpsServer, aiohttp.ClientSession]) -> None:
    server, http = served
    assert server.port != 0 and server.url.startswith("http://127.0.0.1:")
    async with http.get("/healthz") as answer:
        assert answer.status == 200 and await answer.json() == {"status": "alive"}


async def test_readyz_is_200_only_when_every_check_passes(
    served: tuple[OpsServer, aiohttp.ClientSession], bridge: FakeBridge
) -> None:
    _, http = served
    async with http.get("/readyz") as answer:
        assert answer.status == 200
        assert await answer.json() == {
            "ready": True,
            "checks": {"store": True, "salesforce_stream": True, "exchange_subscriptions": True},
        }
    bridge.checks["exchange_subscriptions"] = False
    async with http.get("/readyz") as answer:
        assert answer.status == 503
        body = await answer.json()
        assert body["ready"] is False and body["checks"]["exchange_subscriptions"] is False
    bridge.broken = True
    async with http.get("/readyz") as answer:
        assert answer.status == 503 and (await answer.json())["error"] == "RuntimeError"


async def test_issues_lists_open_issues_of_everyone_or_one_user(
    served: tuple[OpsServer, aiohttp.ClientSession], bridge: FakeBridge
) -> None:
    _, http = served
    async with http.get("/issues") as answer:
        body = await answer.json()
    assert body["count"] == 3
    assert [(i["user_id"], i["code"]) for i in body["issues"]] == [
        ("005A", "E-TOO-LONG"),
        ("005A", "W-UNANSWERED"),
        ("005B", "E-TOO-LONG"),
    ]
    assert body["issues"][0] == {
        "user_id": "005A",
        "code": "E-TOO-LONG",
        "salesforce_id": "00U1",
        "exchange_id": "AAMk1",
        "message": "E-TOO-LONG for 005A",
        "first_seen": "2026-03-01T09:30:00+00:00",
        "last_seen": "2026-03-01T09:30:00+00:00",
        "closed_at": None,
    }
    async with http.get("/issues", params={"user": "005B"}) as answer:
        assert (await answer.json())["count"] == 1
    assert bridge.asked == [None, "005B"]
    bridge.broken = True
    async with http.get("/issues") as answer:
        assert answer.status == 503 and "see /readyz" in (await answer.json())["error"]


async def test_metrics_export_prometheus_text_with_open_issues_counted(
    served: tuple[OpsServer, aiohttp.ClientSession], bridge: FakeBridge
) -> None:
    server, http = served
    metrics = server.metrics
    metrics.propagated("to_exchange", 0.4)
    metrics.propagated("to_exchange", 70)
    metrics.queue_depth.set(5)
    metrics.actors.set(3)
    metrics.count_salesforce_calls({"query": 4, "write": 2})
    metrics.count_salesforce_calls({"query": 6, "write": 2})
    metrics.set_stream("salesforce", True)
    async with http.get("/metrics") as answer:
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain")
        text = await answer.text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("calbridge_propagation_seconds_count", (("direction", "to_exchange"),))] == 2
    assert (
        samples[("calbridge_propagation_seconds_bucket", (("direction", "to_exchange"), ("le", "0.5")))] == 1
    )
    assert (
        samples[("calbridge_propagation_seconds_bucket", (("direction", "to_exchange"), ("le", "60.0")))] == 1
    )
    assert samples[("calbridge_propagation_seconds_count", (("direction", "to_salesforce"),))] == 0
    assert samples[("calbridge_changes_propagated_total", (("direction", "to_exchange"),))] == 2
    assert samples[("calbridge_queue_depth", ())] == 5
    assert samples[("calbridge_actors", ())] == 3
    assert samples[("calbridge_salesforce_calls_total", (("kind", "query"),))] == 6
    assert samples[("calbridge_salesforce_calls_total", (("kind", "write"),))] == 2
    assert samples[("calbridge_stream_connected", (("stream", "salesforce"),))] == 1
    assert samples[("calbridge_issues_open", (("code", "E-TOO-LONG"),))] == 2
    assert samples[("calbridge_issues_open", (("code", "W-UNANSWERED"),))] == 1
    bridge.open = []
    async with http.get("/metrics") as answer:
        text = await answer.text()
    assert 'calbridge_issues_open{code="E-TOO-LONG"} 0.0' in text


def test_each_metrics_has_its_own_registry_and_takes_the_runtimes_calls() -> None:
    one, two = Metrics(), Metrics()
    sink = PrometheusSink(one)
    sink.latency("to_salesforce", 1.5)
    sink.queue_depth(7)
    sink.actors(2)
    sink.plans(3)
    sink.writes("exchange", 2)
    sink.issue("E-MASS-DELETE")
    sink.failure("transient")
    sink.salesforce_calls_per_change(0.5)
    text = one.render().decode()
    assert 'calbridge_changes_propagated_total{direction="to_salesforce"} 1.0' in text
    assert "calbridge_queue_depth 7.0" in text and "calbridge_plans_total 3.0" in text
    assert 'calbridge_writes_total{side="exchange"} 2.0' in text
    assert 'calbridge_issues_raised_total{code="E-MASS-DELETE"} 1.0' in text
    assert "calbridge_queue_depth 0.0" in two.render().decode()


def test_r_sec_3_off_loopback_the_server_refuses_to_start_without_a_token(bridge: FakeBridge) -> None:
    with pytest.raises(ConfigError, match=r"ops.token: required when ops.host \(0.0.0.0\) is not loopback"):
        OpsServer(bridge, Metrics(), host="0.0.0.0", port=0)


async def test_r_sec_3_off_loopback_every_endpoint_but_healthz_needs_the_token(bridge: FakeBridge) -> None:
    server = OpsServer(bridge, Metrics(), host="0.0.0.0", port=0, token=TOKEN)
    await server.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
            async with http.get("/healthz") as answer:
                assert answer.status == 200
            for path in ("/readyz", "/metrics", "/issues"):
                for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                    async with http.get(path, headers=headers) as answer:
                        assert answer.status == 401, (path, headers)
                        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
                        assert TOKEN not in await answer.text()
                async with http.get(path, headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
                    assert answer.status == 200, path
    finally:
        await server.stop()


async def test_r_sec_3_an_added_open_route_needs_no_token_and_every_other_endpoint_still_does(
    bridge: FakeBridge,
) -> None:
    from aiohttp import web

    async def hook(request: web.Request) -> web.Response:
        return web.Response(text="hook", status=202)

    server = OpsServer(bridge, Metrics(), host="0.0.0.0", port=0, token=TOKEN)
    server.add_route("POST", "/graph/notify", hook)
    server.add_route("POST", "/closed", hook, open=False)
    await server.start()
    try:
        with pytest.raises(RuntimeError, match="before the ops server starts"):
            server.add_route("POST", "/late", hook)
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
            async with http.post("/graph/notify") as answer:
                assert (answer.status, await answer.text()) == (202, "hook")
            async with http.post("/closed") as answer:
                assert answer.status == 401
            async with http.get("/issues") as answer:
                assert answer.status == 401
    finally:
        await server.stop()


async def test_from_config_takes_host_port_and_token(bridge: FakeBridge) -> None:
    from bridge.config import Config

    config = Config.model_validate(
        {
            "salesforce": {"instance_url": "https://x.my.salesforce.com", "client_id": "c"},
            "exchange": {},
            "ops": {"host": "0.0.0.0", "port": 0, "token": TOKEN},
        }
    )
    server = OpsServer.from_config(config, bridge, Metrics())
    assert (server.host, server.port) == ("0.0.0.0", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{server.port}/readyz"
            async with http.get(url) as answer:
                assert answer.status == 401
            async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
                assert answer.status == 200
    finally:
        await server.stop()


async def test_r_api_1_calls_per_propagated_change_counts_only_calls_against_the_daily_limit(
    served: tuple[OpsServer, aiohttp.ClientSession], bridge: FakeBridge
) -> None:
    server, http = served
    for _ in range(4):
        server.metrics.propagated("to_salesforce", 0.3)
    bridge.calls = {"query": 3, "write": 2, "read": 1, "auth": 5}  # token requests are not API calls
    async with http.get("/metrics") as answer:
        text = await answer.text()
    assert "calbridge_salesforce_calls_per_change 1.5" in text
    assert 'calbridge_salesforce_calls_total{kind="auth"} 5.0' in text


async def test_r_time_5_sync_now_through_the_ops_endpoint_names_the_user_or_says_who_is_unknown(
    served: tuple[OpsServer, aiohttp.ClientSession], bridge: FakeBridge
) -> None:
    _, http = served
    async with http.post("/sync-now", params={"user": "ann@example.com"}) as answer:
        assert answer.status == 200 and await answer.json() == {"user": "005A", "done": True}
    async with http.post("/sync-now", params={"user": "nobody@example.com"}) as answer:
        assert answer.status == 404 and "nobody@example.com" in (await answer.json())["error"]
    async with http.post("/sync-now") as answer:
        assert answer.status == 400
    async with http.get("/sync-now", params={"user": "005A"}) as answer:
        assert answer.status == 405  # a change is asked for with POST only
    assert bridge.synced == ["ann@example.com"]
