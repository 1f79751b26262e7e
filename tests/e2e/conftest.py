"""End-to-end: the sandbox, and the bridge as its own process (`calbridge run`), driven by people's tools.

Each test module gets one sandbox and one bridge (starting them is the slow part); tests keep out of each
other's way by using their own subjects, times and users. A module may set `BRIDGE_SETTINGS` (TOML text
appended to the written config) to run the bridge under other policies.
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


@dataclass
class World:
    sandbox: Sandbox
    endpoints: dict[str, Any]
    desk: SalesforceDesk
    bridge: BridgeProcess
    root: Path

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
        self.bridge = BridgeProcess(self.bridge.config).start()


@pytest.fixture(scope="module")
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("e2e")
    with running_sandbox(root / "sandbox") as sandbox:
        config = sandbox.write_bridge_config(root / "bridge")
        extra = getattr(request.module, "BRIDGE_SETTINGS", "")
        if extra:
            config.write_text(config.read_text() + "\n" + extra)
        endpoints = sandbox.endpoints()
        bridge = BridgeProcess(config).start()
        world = World(sandbox, endpoints, SalesforceDesk(endpoints), bridge, root)
        try:
            yield world
        finally:
            code = world.bridge.stop()
            assert code == 0, f"calbridge run exited with {code}:\n{world.bridge.tail()}"
