"""One EWS + Graph sandbox pair per test module, sharing their mailboxes: the adapter reaches Graph over
TLS (MSAL for the token, aiohttp for the calls), and "the user" changes things through exchangelib, as
Outlook would, on the same mailboxes.

The adapter (`open_graph`) is made per test, on that test's event loop; each test works on items it creates,
so tests do not depend on one another; faults are cleared after every test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exchangelib import Account

from bridge.exchange.graph import GraphConnection, GraphMailboxes, open_graph
from bridge.sandbox.background import in_background
from bridge.sandbox.exchange import ExchangeSandbox
from bridge.sandbox.exchange.client_tls import sandbox_account
from bridge.sandbox.graph import GraphSandbox, GraphTimings
from bridge.sandbox.tls import SandboxTLS

ANA = "ana.lopez@calbridge.test"
BO = "bo.chen@calbridge.test"
CY = "cy.okafor@calbridge.test"
DEE = "dee.novak@calbridge.test"
MAILBOXES = [ANA, BO, CY, DEE]
TIMINGS = GraphTimings(
    validation_timeout=2.0,
    notification_timeout=1.0,
    notification_gather=0.02,
    retry_delays=(0.1, 0.2),
    sweep=0.05,
    reauthorize_before=1.0,  # below the lifetimes the notification tests give their subscriptions
)
POLL = {"poll_seconds": 0.3, "poll_fast_seconds": 0.1}


class Sandboxes:
    def __init__(self, ews: ExchangeSandbox, graph: GraphSandbox, ca_path: str) -> None:
        self.ews = ews
        self.graph = graph
        self.ca_path = ca_path

    def state(self) -> dict[str, Any]:
        return self.graph._state_summary()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    tls = SandboxTLS.generate()
    ews = ExchangeSandbox(tls, MAILBOXES)
    graph = GraphSandbox(tls, store=ews.store, timings=TIMINGS)

    async def start() -> None:
        await ews.start()
        await graph.start()

    async def stop() -> None:
        await graph.stop()
        await ews.stop()

    ca = tmp_path_factory.mktemp("graph") / "ca.pem"
    tls.write_ca(ca)
    with in_background(start, stop, "ews+graph"):
        yield Sandboxes(ews, graph, str(ca))


@pytest.fixture(scope="module")
def endpoints(sandbox: Sandboxes) -> dict[str, Any]:
    return {
        "graph": sandbox.graph.endpoints(),
        "exchange": sandbox.ews.endpoints(),
        "ca_bundle": sandbox.ca_path,
    }


@pytest.fixture(scope="module")
def user(endpoints: dict[str, Any]) -> Callable[[str], Account]:
    """The person behind a mailbox, changing things through EWS (as Outlook would) on the shared store."""
    ca_pem = Path(endpoints["ca_bundle"]).read_bytes()
    accounts: dict[str, Account] = {}

    def account(address: str) -> Account:
        if address not in accounts:
            accounts[address] = sandbox_account(endpoints["exchange"], ca_pem, address)
        return accounts[address]

    return account


@pytest.fixture
async def mailboxes(endpoints: dict[str, Any], sandbox: Sandboxes) -> AsyncIterator[GraphMailboxes]:
    port = open_graph(GraphConnection.from_sandbox(endpoints, **POLL))
    try:
        yield port
    finally:
        sandbox.graph.faults.clear()
        sandbox.ews.faults.clear()
        await port.close()
