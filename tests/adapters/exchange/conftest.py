"""One Exchange sandbox per test module, reached over TLS by the adapter and, as "the user", by exchangelib.

The adapter (`open_ews`) is made per test, on that test's event loop; the sandbox, its CA and the user's
exchangelib accounts live for the module. Each test works on items it creates, so tests do not depend on
one another; faults are cleared after every test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from exchangelib import Account

from bridge.exchange.ews import EwsConnection, EwsMailboxes, open_ews
from bridge.sandbox.exchange import ExchangeSandbox, running_exchange_sandbox
from bridge.sandbox.exchange.client_tls import sandbox_account
from bridge.sandbox.tls import SandboxTLS

ANA = "ana.lopez@calbridge.test"
BO = "bo.chen@calbridge.test"
CY = "cy.okafor@calbridge.test"
DEE = "dee.novak@calbridge.test"
MAILBOXES = [ANA, BO, CY, DEE]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExchangeSandbox]:
    tls = SandboxTLS.generate()
    with running_exchange_sandbox(tls, MAILBOXES) as running:
        ca = tmp_path_factory.mktemp("ews") / "ca.pem"
        tls.write_ca(ca)
        running.ca_path = ca  # type: ignore[attr-defined]
        yield running


@pytest.fixture(scope="module")
def endpoints(sandbox: ExchangeSandbox) -> dict[str, Any]:
    return {"exchange": sandbox.endpoints(), "ca_bundle": str(sandbox.ca_path)}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def user(sandbox: ExchangeSandbox, endpoints: dict[str, Any]) -> Callable[[str], Account]:
    """The person behind a mailbox, using exchangelib directly (as Outlook would change things)."""
    ca_pem = Path(endpoints["ca_bundle"]).read_bytes()
    accounts: dict[str, Account] = {}

    def account(address: str) -> Account:
        if address not in accounts:
            accounts[address] = sandbox_account(endpoints["exchange"], ca_pem, address)
        return accounts[address]

    return account


@pytest.fixture
async def mailboxes(endpoints: dict[str, Any], sandbox: ExchangeSandbox) -> AsyncIterator[EwsMailboxes]:
    port = open_ews(EwsConnection.from_sandbox(endpoints), workers=4, stream_connections=2)
    try:
        yield port
    finally:
        sandbox.faults.clear()
        await port.close()
