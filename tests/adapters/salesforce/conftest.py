"""One sandbox per test module, the adapter under test connected to it over TLS, and a plain
simple-salesforce client standing for a person editing in Salesforce (its writes carry no `client=`)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce

from bridge.ports import SalesforceNotice
from bridge.salesforce import SalesforceAdapter, SalesforceConnection, open_salesforce
from bridge.sandbox.runner import Sandbox, running_sandbox

_serial = itertools.count(1)
NOTICE_TIMEOUT_S = 15.0


def unique(prefix: str) -> str:
    return f"{prefix} {next(_serial):05d}"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with (
        tempfile.TemporaryDirectory(prefix="calbridge-sf-") as state,
        running_sandbox(Path(state), persist=False, users=2) as running,
    ):
        yield running


@pytest.fixture
def endpoints(sandbox: Sandbox) -> dict[str, Any]:
    sandbox.salesforce.faults.clear()
    sandbox.salesforce.pubsub.set_latency(0)
    return sandbox.endpoints()


@pytest.fixture
def connection(endpoints: dict[str, Any]) -> SalesforceConnection:
    # Short waits so retries and reconnects stay quick; the values themselves are what production uses.
    return SalesforceConnection.from_sandbox(
        endpoints, batch_linger_s=0.02, backoff_initial_s=0.05, backoff_max_s=0.3, budget_poll_s=0.2
    )


@pytest.fixture
async def salesforce(connection: SalesforceConnection, sandbox: Sandbox) -> AsyncIterator[SalesforceAdapter]:
    async with open_salesforce(connection) as adapter:
        yield adapter
    sandbox.salesforce.faults.clear()


@pytest.fixture
def plain(sandbox: Sandbox, endpoints: dict[str, Any]) -> Salesforce:
    """simple-salesforce as a person's tool: its own session, no Sforce-Call-Options."""
    app = sandbox.salesforce.client
    token = sandbox.salesforce.org.issue_token(app.run_as_user_id, app.client_id)
    session = requests.Session()
    session.verify = endpoints["ca_bundle"]
    session.trust_env = False
    return Salesforce(
        instance_url=endpoints["salesforce"]["instance_url"],
        session_id=token,
        session=session,
        version="62.0",
    )


@pytest.fixture
def owner(endpoints: dict[str, Any]) -> str:
    return str(endpoints["users"][0]["salesforce_user_id"])


@pytest.fixture
def make_event(plain: Salesforce, owner: str) -> Callable[..., str]:
    """An Event created as a person would, tomorrow at 09:00 for an hour unless told otherwise."""

    def create(**fields: Any) -> str:
        start = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        data = {
            "Subject": unique("Meeting"),
            "StartDateTime": start.isoformat(),
            "EndDateTime": (start + timedelta(hours=1)).isoformat(),
            "OwnerId": owner,
            **fields,
        }
        return str(plain.Event.create(data)["id"])

    return create


class Listener:
    """The adapter's merged notice stream, read in the background into a queue the test picks from."""

    def __init__(self, adapter: SalesforceAdapter, resume: dict[str, str] | None = None) -> None:
        self.adapter = adapter
        self.queue: asyncio.Queue[SalesforceNotice] = asyncio.Queue()
        self._task = asyncio.create_task(self._run(resume or {}))

    async def _run(self, resume: dict[str, str]) -> None:
        async for notice in self.adapter.notices(resume):
            self.queue.put_nowait(notice)

    async def ready(self, connects: int = 3) -> Listener:
        """Once every topic's Subscribe call is open (a LATEST subscription starts there)."""
        for _ in range(500):
            if self.adapter.pubsub.connects >= connects:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        return self

    async def next(
        self, matches: Callable[[SalesforceNotice], bool], timeout: float = NOTICE_TIMEOUT_S
    ) -> SalesforceNotice:
        """The first notice that `matches`, skipping others (other tests' leftovers)."""

        async def find() -> SalesforceNotice:
            while True:
                notice = await self.queue.get()
                if matches(notice):
                    return notice

        if self._task.done():
            self._task.result()  # raises what ended the stream
        return await asyncio.wait_for(find(), timeout)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


@pytest.fixture
async def listen(salesforce: SalesforceAdapter) -> AsyncIterator[Callable[..., Any]]:
    """`await listen(resume=None)`: a ready Listener on the test's adapter, closed after the test."""
    opened: list[Listener] = []

    async def start(
        resume: dict[str, str] | None = None, adapter: SalesforceAdapter | None = None
    ) -> Listener:
        listener = Listener(adapter or salesforce, resume)
        opened.append(listener)
        return await listener.ready()

    yield start
    for listener in opened:
        await listener.close()
