"""End-to-end: the sandbox, and the bridge as its own process (`calbridge run`), driven by people's tools.

Each test module gets one sandbox and one bridge (starting them is the slow part); tests keep out of each
other's way by using their own subjects, times and users. A module may set `BRIDGE_ENV` (CALBRIDGE_*
variables for the bridge process, kept across restarts) and `BRIDGE_SETTINGS` (TOML text
appended to the written config) to run the bridge under other policies, and `PROVIDERS = ("ews", "graph")`
to run every test once per Exchange provider (R-GRAPH-1), with one world per provider. A test about one
provider only (an EWS fault hook, EWS streaming) says so with `@pytest.mark.providers("ews", reason=...)`:
it runs in that provider's world alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import Outlook, SalesforceDesk
from bridge.sandbox.runner import Sandbox, running_sandbox

_SLOTS = count(1)
GRAPH_POLLING = "poll_seconds = 0.5\npoll_fast_seconds = 0.25\n"  # delta polling, fast


@dataclass
class World:
    sandbox: Sandbox
    endpoints: dict[str, Any]
    desk: SalesforceDesk
    bridge: BridgeProcess
    root: Path
    provider: str = "ews"

    def stored_id(self, ews_id: str) -> str:
        """The id the bridge keeps for an item Outlook (EWS) shows as `ews_id`: Graph names items by
        immutable ids of its own."""
        return self.sandbox.graph.state.ids.immutable_id(ews_id) if self.provider == "graph" else ews_id

    def ews_id(self, stored_id: str) -> str:
        """The id Outlook (EWS) knows an item by, from the id the bridge keeps."""
        return self.sandbox.graph.state.ids.to_ews(stored_id) if self.provider == "graph" else stored_id

    @property
    def exchange_side(self) -> str:
        """The sandbox the bridge's provider talks to, for its faults (the people's Outlook speaks EWS)."""
        return "graph" if self.provider == "graph" else "exchange"

    def user(self, index: int = 0) -> tuple[str, str]:
        """(Salesforce user id, mailbox address) of a seeded user."""
        user = self.endpoints["users"][index]
        return user["salesforce_user_id"], user["email"]

    def outlook(self, index: int = 0) -> Outlook:
        return Outlook(self.endpoints, self.user(index)[1])

    @staticmethod
    def slot(hours: int = 1) -> tuple[datetime, datetime]:
        """A start and end of their own for each test, inside the default window, on the hour."""
        base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
        start = base + timedelta(hours=3 * next(_SLOTS))
        return start, start + timedelta(hours=hours)

    def restart(self) -> None:
        assert self.bridge.stop() == 0, self.bridge.tail()
        self.bridge = BridgeProcess(self.bridge.config, env=self.bridge.env).start()


def use_graph(config: Path, graph: dict[str, Any], settings: str) -> None:
    """The written EWS config switched to `provider = "graph"` with the sandbox's app registration (its
    secret in an owner-only file); `settings`: more `[exchange.graph]` lines."""
    secret = config.parent / "graph-client-secret"
    secret.write_text(graph["client_secret"] + "\n", encoding="utf-8")
    secret.chmod(0o600)
    text = config.read_text().replace('provider = "ews"', 'provider = "graph"', 1)
    config.write_text(
        text
        + "\n[exchange.graph]\n"
        + f'authority = "{graph["authority"]}"\n'
        + f'client_id = "{graph["client_id"]}"\n'
        + f'client_secret_file = "{secret}"\n'
        + f'graph_url = "{graph["graph_url"]}"\n'
        + settings
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "providers(*names, reason): the Exchange providers a test of a PROVIDERS module runs under"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    providers = getattr(metafunc.module, "PROVIDERS", None)
    if providers and "world" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("providers")
        if only is not None:
            assert only.kwargs.get("reason"), f"{metafunc.definition.name}: providers() needs a reason"
            providers = tuple(p for p in providers if p in only.args)
        metafunc.parametrize("world", providers, indirect=True, scope="module")


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    provider = getattr(request, "param", "ews")
    root = tmp_path_factory.mktemp(f"e2e-{provider}")
    with running_sandbox(root / "sandbox") as sandbox:
        config = sandbox.write_bridge_config(root / "bridge")
        endpoints = sandbox.endpoints()
        if provider == "graph":  # delta polling, fast (test_graph_provider.py covers notifications)
            use_graph(config, endpoints["graph"], GRAPH_POLLING)
        extra = getattr(request.module, "BRIDGE_SETTINGS", "")
        if extra:
            config.write_text(config.read_text() + "\n" + extra)
        bridge = BridgeProcess(config, env=getattr(request.module, "BRIDGE_ENV", None)).start()
        world = World(sandbox, endpoints, SalesforceDesk(endpoints), bridge, root, provider)
        try:
            yield world
        finally:
            code = world.bridge.stop()
            assert code == 0, f"calbridge run exited with {code}:\n{world.bridge.tail()}"
