"""A start-up's burst of streaming subscriptions (issue 10, R-TIME-1): mailboxes watched together join
their connection once (the group gathers them, then opens one GetStreamingEvents with every id) rather
than reopening it for each new subscription, and every mailbox's changes are still noticed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exchangelib import Account

from bridge.exchange.ews import EwsConnection, EwsMailboxes, open_ews
from bridge.sandbox.exchange import ExchangeSandbox, running_exchange_sandbox
from bridge.sandbox.tls import SandboxTLS

from .test_streaming import next_where, settle, streaming, user_creates

BURST = [f"user{n:02d}@calbridge.test" for n in range(24)]
PER_CONNECTION = 12  # two groups of twelve


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeSandbox]:
    tls = SandboxTLS.generate()
    with running_exchange_sandbox(tls, BURST) as running:
        ca: Path = tmp_path_factory.mktemp("ews-burst") / "ca.pem"
        tls.write_ca(ca)
        running.ca_path = ca  # type: ignore[attr-defined]
        yield running


@pytest.fixture
async def burst_port(endpoints: dict[str, Any], sandbox: ExchangeSandbox) -> AsyncIterator[EwsMailboxes]:
    port = open_ews(
        EwsConnection.from_sandbox(endpoints),
        workers=8,
        stream_connections=2,
        per_connection=PER_CONNECTION,
    )
    try:
        yield port
    finally:
        sandbox.faults.clear()
        await port.close()


async def test_r_time_1_a_burst_of_subscriptions_opens_each_connection_once_and_every_mailbox_is_heard(
    burst_port: EwsMailboxes, user: Callable[[str], Account], sandbox: ExchangeSandbox
) -> None:
    opened_before = sandbox.state()["streams_opened"]
    stream = burst_port.notices(BURST)
    first = asyncio.ensure_future(anext(stream))
    await settle(streaming(sandbox, *BURST), timeout=20)
    # Two groups, each connection opened once with all of its twelve subscriptions (before: once per
    # subscription that joined, 24 in all).
    assert sandbox.state()["streams_opened"] - opened_before == 2
    assert sandbox.state()["open_streams"] == 2

    ids = {mailbox: await user_creates(user(mailbox), f"For {mailbox}") for mailbox in BURST}
    heard = await first
    assert not heard.lost and ids[heard.mailbox] in heard.item_ids
    seen = {heard.mailbox}
    while seen != set(BURST):
        notice = await next_where(stream, lambda n: not n.lost and n.mailbox not in seen, timeout=10)
        assert ids[notice.mailbox] in notice.item_ids
        seen.add(notice.mailbox)
    assert sandbox.state()["streams_opened"] - opened_before == 2  # nothing reopened meanwhile
    await stream.aclose()


async def test_r_time_3_a_mailbox_read_during_the_burst_is_subscribed_first(
    endpoints: dict[str, Any], sandbox: ExchangeSandbox
) -> None:
    """A first sync of the last mailbox of a burst does not wait for the whole burst, nor read before its
    subscription: the mailbox's Subscribe goes at once and the read follows it (no change falls between)."""
    port = open_ews(EwsConnection.from_sandbox(endpoints), workers=4, stream_connections=2)
    sandbox.faults.add_latency(0.05)  # each call takes a while, as a busy server's would
    try:
        stream = port.notices(BURST)
        first = asyncio.ensure_future(anext(stream))
        for _ in range(5):  # the stream starts, then its watches ask for their turns
            await asyncio.sleep(0)
        last = BURST[-1]
        await port.sync(last, None)
        subscribed = port.subscribed
        assert last in subscribed
        assert len(subscribed) < len(BURST) // 2  # it went ahead of most of the burst
        await settle(lambda: port.subscribed == frozenset(BURST), timeout=20)
        first.cancel()
        await asyncio.gather(first, return_exceptions=True)
        await stream.aclose()
    finally:
        sandbox.faults.clear()
        await port.close()
