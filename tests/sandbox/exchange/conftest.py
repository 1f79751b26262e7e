"""One Exchange sandbox per test session, driven by the real exchangelib over HTTPS with the sandbox CA."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    UTC,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    ExtendedProperty,
    Version,
)
from exchangelib.protocol import close_connections

from bridge.sandbox.exchange import ExchangeSandbox, SandboxTimings, running_exchange_sandbox
from bridge.sandbox.exchange.client_tls import trust_ca
from bridge.sandbox.tls import SandboxTLS

MAILBOXES = ["alice@sandbox.example", "bob@sandbox.example", "carol@sandbox.example", "dave@sandbox.example"]
VERSION = Version(build=Build(15, 1, 2507, 6))


class SalesforceId(ExtendedProperty):  # type: ignore[misc]
    property_set_id = "6a1f0c2e-3b7d-4a59-9c1e-5f0b8d2a7e11"
    property_name = "SalesforceEventId"
    property_type = "String"


_counter = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def _sf_id_property() -> Iterator[None]:
    CalendarItem.register("sf_id", SalesforceId)
    yield
    CalendarItem.deregister("sf_id")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[ExchangeSandbox]:
    tls = SandboxTLS.generate()
    trust_ca(tls.ca_pem)
    timings = SandboxTimings(minute=1.0, heartbeat=0.5, streaming_idle=60.0)
    with running_exchange_sandbox(tls, MAILBOXES, timings=timings) as running:
        running.add_mailbox("locked@sandbox.example", impersonation=False, delegate=False)
        yield running
    close_connections()


def make_config(sandbox: ExchangeSandbox, password: str | None = None, **options: Any) -> Configuration:
    ends = sandbox.endpoints()
    options.setdefault("version", VERSION)
    return Configuration(
        service_endpoint=ends["ews_url"],
        credentials=Credentials(ends["username"], password or ends["password"]),
        auth_type=BASIC,
        max_connections=4,
        **options,
    )


@pytest.fixture(scope="session")
def config(sandbox: ExchangeSandbox) -> Configuration:
    return make_config(sandbox)


@pytest.fixture(scope="session")
def account_for(config: Configuration) -> Callable[..., Account]:
    def make(address: str, access_type: str = IMPERSONATION) -> Account:
        return Account(
            address, config=config, autodiscover=False, access_type=access_type, default_timezone=UTC
        )

    return make


@pytest.fixture
def alice(account_for: Callable[..., Account]) -> Account:
    return account_for("alice@sandbox.example")


@pytest.fixture
def bob(account_for: Callable[..., Account]) -> Account:
    return account_for("bob@sandbox.example")


@pytest.fixture
def carol_delegate(account_for: Callable[..., Account]) -> Account:
    return account_for("carol@sandbox.example", DELEGATE)


@pytest.fixture(autouse=True)
def _clean_faults(sandbox: ExchangeSandbox) -> Iterator[None]:
    yield
    sandbox.faults.clear()


@pytest.fixture
def fresh(sandbox: ExchangeSandbox, account_for: Callable[..., Account]) -> Account:
    """A new, empty mailbox of its own (impersonated), so tests do not see each other's items."""
    address = f"user{next(_counter)}@sandbox.example"
    sandbox.add_mailbox(address)
    return account_for(address)
