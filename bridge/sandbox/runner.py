"""Both sandboxes as one: a local Salesforce and a local Exchange sharing one CA, seeded with the same users.

`calbridge sandbox` and `calbridge demo` run this; tests use `running_sandbox()`. Everything a client needs to
connect lands in `<state dir>/endpoints.json` (secrets included, so only its owner may read it) and
the CA in `<state dir>/ca.pem`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bridge.sandbox.background import in_background
from bridge.sandbox.exchange.seed import seed_mailboxes
from bridge.sandbox.exchange.server import ExchangeSandbox
from bridge.sandbox.salesforce.seed import DOMAIN, seed_org
from bridge.sandbox.salesforce.server import INTEGRATION_USERNAME, SalesforceSandbox
from bridge.sandbox.tls import SandboxTLS

ORG_FILE = "org.json"
EXCHANGE_FILE = "exchange.json"
ENDPOINTS_FILE = "endpoints.json"
CA_FILE = "ca.pem"


class Sandbox:
    """The Salesforce and Exchange sandboxes on one event loop; every seeded user has a mailbox."""

    def __init__(self, state_dir: Path, *, users: int = 3, persist: bool = True, **salesforce: Any) -> None:
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.tls = SandboxTLS.generate()
        org_file = state_dir / ORG_FILE if persist else None
        fresh = org_file is None or not org_file.exists()
        self.salesforce = SalesforceSandbox(self.tls, state_file=org_file, **salesforce)
        if fresh:
            self.users = seed_org(self.salesforce.org, users=users)
        else:
            # A reloaded org keeps its users; the seeded ones are those on the sandbox's own domain.
            self.users = [
                {"salesforce_user_id": u["Id"], "email": u["Email"]}
                for u in self.salesforce.org.users()
                if str(u.get("Email", "")).endswith("@" + DOMAIN)
                and u.get("Username") != INTEGRATION_USERNAME
            ]
        addresses = [u["email"] for u in self.users]
        exchange_file = state_dir / EXCHANGE_FILE if persist else None
        self.exchange = ExchangeSandbox(self.tls, addresses, state_file=exchange_file)
        # A reloaded store keeps its items; seeding adds nothing to a mailbox that already has some.
        seed_mailboxes(self.exchange, addresses)

    async def start(self, host: str = "127.0.0.1") -> dict[str, Any]:
        await self.salesforce.start(host)
        await self.exchange.start(host)
        self.write_endpoints()
        return self.endpoints()

    async def stop(self) -> None:
        await self.exchange.stop()
        await self.salesforce.stop()

    def endpoints(self) -> dict[str, Any]:
        return {
            "ca_bundle": str(self.state_dir / CA_FILE),
            "salesforce": self.salesforce.endpoints(),
            "exchange": self.exchange.endpoints(),
            "users": self.users,
            "admin": {
                "salesforce": self.salesforce.admin(),
                "exchange": {"admin_url": self.exchange.admin_url, "admin_token": self.exchange.admin_token},
            },
        }

    def write_endpoints(self) -> Path:
        self.tls.write_ca(self.state_dir / CA_FILE)
        path = self.state_dir / ENDPOINTS_FILE
        # Created owner-only before anything is written: it holds the sandbox's secrets.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(self.endpoints(), out, indent=2)
            out.write("\n")
        return path


@contextlib.contextmanager
def running_sandbox(state_dir: Path, **options: Any) -> Iterator[Sandbox]:
    """A started Sandbox on a background thread's event loop, for synchronous callers; stopped on exit."""
    sandbox = Sandbox(state_dir, **options)
    with in_background(sandbox.start, sandbox.stop, "sandbox"):
        yield sandbox
