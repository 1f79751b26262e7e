"""Changes announced by Graph's change notifications (R-GRAPH-2 with an address Graph can reach): the
validation handshake, `clientState`, renewal, lifecycle notifications, a restart's leftovers, and delta
polling behind them. The Graph sandbox posts to the port's routes served here on loopback, as the ops
server serves them in the bridge."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from exchangelib import Account

from bridge.exchange.graph import GraphConnection, GraphMailboxes, open_graph

from .conftest import ANA, BO, CY, DEE, Sandboxes
from .notice_steps import next_notice, user_item

START = datetime.now(UTC).replace(hour=11, minute=0, second=0, microsecond=0) + timedelta(days=60)
SLOW_POLL = {"poll_seconds": 30.0, "poll_fast_seconds": 30.0, "fallback_poll_seconds": 60.0}

Open = Callable[..., Awaitable[GraphMailboxes]]


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


async def serve_routes(sock: socket.socket, routes: list[tuple[str, str, Any]]) -> web.AppRunner:
    app = web.Application()
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return runner


@pytest.fixture
async def served(
    endpoints: dict[str, Any], sandbox: Sandboxes
) -> AsyncIterator[tuple[Open, Callable[[], str]]]:
    """`open(**connection options)`: a Graph port with a notification_url whose routes are served here
    (on a port of its own, as a bridge's ops server would serve them); and the base URL last used."""
    ports: list[GraphMailboxes] = []
    runners: list[web.AppRunner] = []
    bases: list[str] = []

    async def open_port(base: str | None = None, serve: bool = True, **options: Any) -> GraphMailboxes:
        """`base`: an address served by the test itself; else one served here (`serve=False`: nothing
        answers there)."""
        sock = listening_socket() if base is None else None
        base = base or f"http://127.0.0.1:{sock.getsockname()[1]}"  # type: ignore[union-attr]
        bases.append(base)
        connection = GraphConnection.from_sandbox(
            endpoints, notification_url=base, **{**SLOW_POLL, **options}
        )
        port = open_graph(connection)
        ports.append(port)
        if sock is not None:
            runners.append(await serve_routes(sock, port.routes() if serve else []))
        return port

    try:
        yield open_port, lambda: bases[-1]
    finally:
        sandbox.graph.faults.clear()
        for port in ports:
            await port.close()
        for runner in runners:
            await runner.cleanup()


async def until(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "not seen in time"
        await asyncio.sleep(0.02)
    return found


def subscriptions_to(sandbox: Sandboxes, base: str) -> list[Any]:
    hub = sandbox.graph.state.hub
    return [s for s in list(hub.subscriptions.values()) if s.notification_url.startswith(base)]


async def test_r_graph_2_a_change_is_announced_by_a_notification_within_a_second(
    served: tuple[Open, Callable[[], str]], sandbox: Sandboxes, user: Callable[[str], Account]
) -> None:
    open_port, base = served
    validations = sandbox.state()["notifications"]["validations"]
    port = await open_port()
    stream = port.notices([ANA])
    waiting = asyncio.ensure_future(next_notice(stream))
    await until(lambda: ANA in port.pushed)
    (sub,) = subscriptions_to(sandbox, base())
    assert sub.notification_url == base() + "/graph/notify"
    assert sub.lifecycle_url == base() + "/graph/lifecycle"
    assert sub.immutable_ids and sub.change_types == ["created", "updated", "deleted"]
    assert sandbox.state()["notifications"]["validations"] == validations + 2  # both URLs answered
    made = time.monotonic()
    await asyncio.to_thread(user_item, user(ANA), "Pushed", START)
    notice = await waiting
    assert time.monotonic() - made < 1.0  # polling, every 30 s here, could not have found it
    assert notice.mailbox == ANA and notice.item_ids and not notice.lost and notice.committed_at
    found = await port.read_items(ANA, notice.item_ids)
    assert [i.subject for i in found.values()] == ["Pushed"]


async def test_r_graph_2_a_notification_without_the_bridges_client_state_is_ignored(
    served: tuple[Open, Callable[[], str]],
    sandbox: Sandboxes,
    user: Callable[[str], Account],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    open_port, base = served
    port = await open_port()
    stream = port.notices([BO])
    waiting = asyncio.ensure_future(next_notice(stream, timeout=10))
    await until(lambda: BO in port.pushed)
    (sub,) = subscriptions_to(sandbox, base())
    forged = {
        "value": [
            {
                "subscriptionId": sub.id,
                "changeType": "updated",
                "clientState": "guessed",
                "resourceData": {"id": "AAMkforged"},
            },
            {"subscriptionId": sub.id, "lifecycleEvent": "missed"},  # no clientState at all
        ]
    }
    async with aiohttp.ClientSession(base()) as http:
        async with http.post("/graph/notify", json=forged) as answer:
            assert answer.status == 202  # acknowledged, so Graph would not retry it
        async with http.post("/graph/lifecycle", params={"validationToken": "not now"}) as answer:
            assert answer.status == 404  # nothing of ours is being subscribed
        async with http.post("/graph/notify", data=b"not json") as answer:
            assert answer.status == 400
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await asyncio.to_thread(user_item, user(BO), "Genuine", START)
    notice = await waiting
    assert notice.mailbox == BO and not notice.lost and "AAMkforged" not in notice.item_ids
    assert sub.client_state and len(sub.client_state) >= 32
    assert sub.client_state not in caplog.text  # the secret is never logged
    assert "clientState was ignored" in caplog.text


async def test_r_graph_2_subscriptions_are_renewed_before_they_expire(
    served: tuple[Open, Callable[[], str]], sandbox: Sandboxes, user: Callable[[str], Account]
) -> None:
    open_port, base = served
    port = await open_port(subscription_minutes=0.05)  # 3 s, renewed every 1.5 s
    stream = port.notices([CY])
    await port.watch(CY)
    await until(lambda: CY in port.pushed)
    (first,) = subscriptions_to(sandbox, base())
    expires = first.expiration
    await asyncio.sleep(4.0)  # past the first expiry
    (now,) = subscriptions_to(sandbox, base())
    assert now.id == first.id and now.expiration > expires + timedelta(seconds=1)
    await asyncio.to_thread(user_item, user(CY), "Still pushed", START)
    notice = await next_notice(stream, timeout=1.5)
    assert notice.mailbox == CY and not notice.lost


async def test_r_graph_2_lifecycle_notifications_reauthorize_resubscribe_and_catch_up(
    served: tuple[Open, Callable[[], str]], sandbox: Sandboxes, user: Callable[[str], Account]
) -> None:
    open_port, base = served
    port = await open_port()
    stream = port.notices([DEE])
    await port.watch(DEE)
    await until(lambda: DEE in port.pushed)
    (sub,) = subscriptions_to(sandbox, base())

    assert sandbox.graph.faults.lifecycle("reauthorizationRequired", sub.id) == 1
    await until(lambda: sub.reauthorization_due is not None)
    await until(lambda: sub.reauthorization_due is None)  # renewed, so notifications never pause

    assert sandbox.graph.faults.lifecycle("missed", sub.id) == 1
    notice = await next_notice(stream)
    assert notice.mailbox == DEE and notice.lost  # the runtime reconciles the window (R-TIME-3)

    assert sandbox.graph.faults.lifecycle("subscriptionRemoved", sub.id) == 1
    notice = await next_notice(stream)
    assert notice.mailbox == DEE and notice.lost
    (again,) = subscriptions_to(sandbox, base())
    assert again.id != sub.id
    await asyncio.to_thread(user_item, user(DEE), "After removal", START)
    notice = await next_notice(stream, timeout=1.5)
    assert notice.mailbox == DEE and not notice.lost


async def test_r_graph_2_a_restart_deletes_the_subscriptions_the_last_run_left_and_close_deletes_its_own(
    served: tuple[Open, Callable[[], str]], sandbox: Sandboxes
) -> None:
    open_port, _ = served
    # One address, as a bridge's public one, served by whichever run is alive.
    alive: list[GraphMailboxes] = []

    async def route(request: web.Request) -> web.StreamResponse:
        return await alive[-1].routes()[0][2](request)

    sock = listening_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    runner = await serve_routes(sock, [("POST", "/graph/notify", route), ("POST", "/graph/lifecycle", route)])
    try:
        alive.append(await open_port(base=base))
        for mailbox in (ANA, BO):
            await alive[-1].watch(mailbox)
        await until(lambda: alive[-1].pushed == {ANA, BO})
        left = {s.id for s in subscriptions_to(sandbox, base)}
        assert len(left) == 2
        # That run dies without deleting them (its clientState dies with it); the next one starts.
        alive.append(await open_port(base=base))
        for mailbox in (ANA, BO):
            await alive[-1].watch(mailbox)
        await until(lambda: alive[-1].pushed == {ANA, BO})
        now = {s.id for s in subscriptions_to(sandbox, base)}
        assert len(now) == 2 and not now & left

        await alive[-1].unwatch(BO)
        assert {s.mailbox for s in subscriptions_to(sandbox, base)} == {ANA}
        await alive[-1].close()
        assert subscriptions_to(sandbox, base) == []
    finally:
        await runner.cleanup()


async def test_r_graph_2_without_a_reachable_route_delta_polling_announces_changes(
    served: tuple[Open, Callable[[], str]],
    sandbox: Sandboxes,
    user: Callable[[str], Account],
    caplog: pytest.LogCaptureFixture,
) -> None:
    open_port, base = served
    port = await open_port(serve=False, poll_seconds=0.3, poll_fast_seconds=0.1)  # Graph cannot validate
    stream = port.notices([BO])
    waiting = asyncio.ensure_future(next_notice(stream))
    await until(lambda: "are not set up" in caplog.text)
    assert "ValidationError" in caplog.text or "validation" in caplog.text.lower()
    assert not port.pushed and subscriptions_to(sandbox, base()) == []
    await asyncio.to_thread(user_item, user(BO), "Polled instead", START)
    notice = await waiting
    assert notice.mailbox == BO and notice.item_ids
