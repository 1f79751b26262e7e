"""Fixtures for the REST tests: one Salesforce sandbox per session, driven by the real simple-salesforce
over HTTPS, verifying the sandbox's own CA."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from bridge.sandbox.salesforce.changes import RecordChange
from bridge.sandbox.salesforce.server import SalesforceSandbox, running_salesforce_sandbox
from bridge.sandbox.tls import SandboxTLS

API_VERSION = "62.0"
_serial = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test uses, so tests can share one org."""
    return f"{prefix} {next(_serial):05d}"


def https_session(ca_path: Path) -> requests.Session:
    session = requests.Session()
    session.verify = str(ca_path)
    # REQUESTS_CA_BUNDLE in the environment would otherwise replace the sandbox CA for every request.
    session.trust_env = False
    return session


def client(sandbox: SalesforceSandbox, ca_path: Path, token: str | None = None) -> Salesforce:
    endpoints = sandbox.endpoints()
    return Salesforce(
        instance_url=endpoints["instance_url"],
        session_id=token or endpoints["access_token"],
        session=https_session(ca_path),
        version=API_VERSION,
    )


class ListSink:
    """A change sink that keeps every transaction and passes it on to the sandbox's event bus."""

    def __init__(self, downstream: Any) -> None:
        self.downstream = downstream
        self.transactions: list[list[RecordChange]] = []

    def publish_transaction(self, changes: Sequence[RecordChange]) -> None:
        self.transactions.append(list(changes))
        self.downstream.publish_transaction(changes)


@pytest.fixture(scope="session")
def sf_tls() -> SandboxTLS:
    return SandboxTLS.generate()


@pytest.fixture(scope="session")
def ca_path(sf_tls: SandboxTLS, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sf_tls.write_ca(tmp_path_factory.mktemp("sf-ca") / "ca.pem")


@pytest.fixture(scope="session")
def sandbox(sf_tls: SandboxTLS) -> Iterator[SalesforceSandbox]:
    with running_salesforce_sandbox(sf_tls) as running:
        yield running


@pytest.fixture
def sf(sandbox: SalesforceSandbox, ca_path: Path) -> Iterator[Salesforce]:
    sandbox.faults.clear()
    yield client(sandbox, ca_path)
    sandbox.faults.clear()


@pytest.fixture
def http(ca_path: Path) -> requests.Session:
    return https_session(ca_path)


@pytest.fixture
def sink(sandbox: SalesforceSandbox) -> Iterator[ListSink]:
    collecting = ListSink(sandbox.org.change_sink)
    sandbox.org.change_sink = collecting
    yield collecting
    sandbox.org.change_sink = collecting.downstream


@pytest.fixture
def make_user(sf: Salesforce) -> Callable[[], str]:
    def create() -> str:
        name = unique("user").replace(" ", "")
        return str(
            sf.User.create(
                {"Username": f"{name}@calbridge.test", "Email": f"{name}@calbridge.test", "LastName": name}
            )["id"]
        )

    return create


@pytest.fixture
def make_contact(sf: Salesforce) -> Callable[..., str]:
    def create(**fields: Any) -> str:
        name = unique("Contact").replace(" ", "")
        data = {"LastName": name, "Email": f"{name.lower()}@example.test", **fields}
        return str(sf.Contact.create(data)["id"])

    return create


@pytest.fixture
def make_lead(sf: Salesforce) -> Callable[[], str]:
    def create() -> str:
        name = unique("Lead").replace(" ", "")
        return str(sf.Lead.create({"LastName": name, "Company": "Quarry Labs"})["id"])

    return create
