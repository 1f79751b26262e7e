"""Both sandboxes as one: a local Salesforce and a local Exchange sharing one CA, seeded with the same users.

`calbridge sandbox` and `calbridge demo` run this; tests use `running_sandbox()`. Everything a client needs to
connect lands in `<state dir>/endpoints.json` (secrets included, so only its owner may read it) and
the CA in `<state dir>/ca.pem`; `write_bridge_config` writes a `calbridge.toml` for `calbridge run`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bridge.sandbox.background import in_background
from bridge.sandbox.exchange.seed import seed_mailboxes
from bridge.sandbox.exchange.server import ExchangeSandbox
from bridge.sandbox.graph import GraphSandbox
from bridge.sandbox.salesforce import setup_objects
from bridge.sandbox.salesforce.seed import DOMAIN, MAX_USERS, seed_org
from bridge.sandbox.salesforce.server import INTEGRATION_USERNAME, SalesforceSandbox
from bridge.sandbox.tls import SandboxTLS

ORG_FILE = "org.json"
EXCHANGE_FILE = "exchange.json"
GRAPH_FILE = "graph.json"
ENDPOINTS_FILE = "endpoints.json"
CA_FILE = "ca.pem"
BRIDGE_CONFIG_FILE = "calbridge.toml"
SALESFORCE_SECRET_FILE = "salesforce-client-secret"
EXCHANGE_PASSWORD_FILE = "exchange-password"


class SandboxStateError(Exception):
    """A saved state file cannot be loaded; the message names it and says what to do."""


def _check_state_file(path: Path, what: str) -> None:
    """A state file must be a JSON object: refuse an empty or corrupt one before anything reads it."""
    if not path.exists():
        return
    fix = f"move it away (e.g. mv {path} {path}.bad) and start again to begin {what}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SandboxStateError(f"{path} cannot be read ({exc.__class__.__name__}); {fix}") from None
    if not text.strip():
        raise SandboxStateError(f"{path} is empty; {fix}")
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SandboxStateError(f"{path} is not valid JSON ({exc}); {fix}") from None
    if not isinstance(state, dict):
        raise SandboxStateError(f"{path} does not hold a saved sandbox state; {fix}")


def _owner_only(path: Path, text: str) -> None:
    # Created owner-only before anything is written: it holds a secret.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _toml_str(value: object) -> str:
    return json.dumps(str(value))  # a JSON string is a TOML basic string


class Sandbox:
    """The Salesforce and Exchange sandboxes on one event loop; every seeded user has a mailbox."""

    def __init__(
        self,
        state_dir: Path,
        *,
        users: int = 3,
        events_per_user: int = 0,
        persist: bool = True,
        **salesforce: Any,
    ) -> None:
        """`users` (1 to MAX_USERS, 10,000) are seeded in a new org; beyond eight they get generated names and
        a light seed (bridge.sandbox.salesforce.seed). A reloaded org keeps its own users. `events_per_user`
        (load tests) adds that many plain appointments per user to a new sandbox, half as Salesforce events
        (the odd one there) and half as items in the mailbox, so a first sync writes both ways."""
        if not 1 <= users <= MAX_USERS:
            raise ValueError(f"users must be between 1 and {MAX_USERS}, not {users}")
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.tls = SandboxTLS.generate()
        org_file = state_dir / ORG_FILE if persist else None
        exchange_file = state_dir / EXCHANGE_FILE if persist else None
        for path, what in ((org_file, "a new org"), (exchange_file, "new mailboxes")):
            if path is not None:
                _check_state_file(path, what)
        fresh = org_file is None or not org_file.exists()
        self.fresh = fresh
        try:
            self.salesforce = SalesforceSandbox(self.tls, state_file=org_file, **salesforce)
        except (ValueError, KeyError, TypeError) as exc:
            raise SandboxStateError(
                f"{org_file} is not a state this sandbox can load ({exc.__class__.__name__}: {exc}); "
                f"move it away (e.g. mv {org_file} {org_file}.bad) and start again to begin a new org"
            ) from None
        if fresh:
            self.users = seed_org(
                self.salesforce.org, users=users, events_per_user=events_per_user - events_per_user // 2
            )
            # Enrolled people hold the package's user permission set, as an admin would have assigned it.
            setup_objects.assign(
                self.salesforce.org,
                [u["salesforce_user_id"] for u in self.users],
                setup_objects.USER_SET,
                self.salesforce.client.run_as_user_id,
            )
        else:
            # A reloaded org keeps its users; the seeded ones are those on the sandbox's own domain.
            self.users = [
                {"salesforce_user_id": u["Id"], "email": u["Email"]}
                for u in self.salesforce.org.users()
                if str(u.get("Email", "")).endswith("@" + DOMAIN)
                and u.get("Username") != INTEGRATION_USERNAME
            ]
        addresses = [u["email"] for u in self.users]
        try:
            self.exchange = ExchangeSandbox(self.tls, addresses, state_file=exchange_file)
        except (ValueError, KeyError, TypeError) as exc:
            raise SandboxStateError(
                f"{exchange_file} is not a state this sandbox can load ({exc.__class__.__name__}: {exc}); "
                f"move it away (e.g. mv {exchange_file} {exchange_file}.bad) and start again to begin new "
                "mailboxes"
            ) from None
        # A reloaded store keeps its items; seeding adds nothing to a mailbox that already has some.
        seed_mailboxes(self.exchange, addresses, items_per_user=events_per_user // 2 if fresh else 0)
        # Graph serves the same mailboxes (one store, one loop); it keeps ids, delta tokens, subscriptions.
        graph_file = state_dir / GRAPH_FILE if persist else None
        if graph_file is not None:
            _check_state_file(graph_file, "Graph's delta tokens and subscriptions afresh")
        self.graph = GraphSandbox(self.tls, store=self.exchange.store, state_file=graph_file)

    async def start(self, host: str = "127.0.0.1") -> dict[str, Any]:
        await self.salesforce.start(host)
        await self.exchange.start(host)
        await self.graph.start(host)
        self.write_endpoints()
        return self.endpoints()

    async def stop(self) -> None:
        await self.graph.stop()
        await self.exchange.stop()
        await self.salesforce.stop()

    def endpoints(self) -> dict[str, Any]:
        return {
            "ca_bundle": str(self.state_dir / CA_FILE),
            "salesforce": self.salesforce.endpoints(),
            "exchange": self.exchange.endpoints(),
            "graph": self.graph.endpoints(),
            "users": self.users,
            "admin": {
                "salesforce": self.salesforce.admin(),
                "exchange": self.exchange.admin(),
                "graph": self.graph.admin(),
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

    def write_bridge_config(self, directory: Path | None = None, *, ops_port: int | None = None) -> Path:
        """Write `<directory>/calbridge.toml` (default: the state dir): a config for `calbridge run` against
        this sandbox, with the bridge's store in `directory`, every seeded user enrolled with their mailbox,
        the sandbox CA trusted, the ops server on a free loopback port (or `ops_port`), and the secrets in
        owner-only files beside it, named by `*_file` keys. Only the sections it needs are written, so TOML
        appended to it may add `[policy]`, `[sync]`, `[log]` or `[store]`. Call it once the sandbox runs."""
        directory = (directory or self.state_dir).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        endpoints = self.endpoints()
        sf, ex = endpoints["salesforce"], endpoints["exchange"]
        ca_bundle = (self.state_dir / CA_FILE).resolve()
        self.tls.write_ca(ca_bundle)
        _owner_only(directory / SALESFORCE_SECRET_FILE, sf["client_secret"] + "\n")
        _owner_only(directory / EXCHANGE_PASSWORD_FILE, ex["password"] + "\n")
        port = ops_port if ops_port is not None else _free_port("127.0.0.1")
        lines = [
            "# calbridge run --config "
            + str(directory / BRIDGE_CONFIG_FILE)
            + ", against the local sandbox.",
            "# Written by the sandbox; secrets are in the files named by *_file keys (owner-only).",
            f"state_dir = {_toml_str(directory)}",
            "",
            "[salesforce]",
            f"instance_url = {_toml_str(sf['instance_url'])}",
            f"token_url = {_toml_str(sf['token_url'])}",
            'auth = "client_credentials"',
            f"client_id = {_toml_str(sf['client_id'])}",
            f"client_secret_file = {_toml_str(directory / SALESFORCE_SECRET_FILE)}",
            f"pubsub = {_toml_str(sf['pubsub'])}",
            f"org_id = {_toml_str(sf['org_id'])}",
            f"api_version = {_toml_str(sf['api_version'])}",
            f"ca_bundle = {_toml_str(ca_bundle)}",
            "",
            "[exchange]",
            'provider = "ews"',
            f"ews_url = {_toml_str(ex['ews_url'])}",
            f"username = {_toml_str(ex['username'])}",
            f"password_file = {_toml_str(directory / EXCHANGE_PASSWORD_FILE)}",
            'auth_type = "basic"',
            f"ca_bundle = {_toml_str(ca_bundle)}",
            "",
            "[ops]",
            'host = "127.0.0.1"',
            f"port = {port}",
        ]
        for user in self.users:
            lines += [
                "",
                "[[users]]",
                f"email = {_toml_str(user['email'])}",
                f"salesforce_user_id = {_toml_str(user['salesforce_user_id'])}",
            ]
        path = directory / BRIDGE_CONFIG_FILE
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


@contextlib.contextmanager
def running_sandbox(state_dir: Path, **options: Any) -> Iterator[Sandbox]:
    """A started Sandbox on a background thread's event loop, for synchronous callers; stopped on exit."""
    sandbox = Sandbox(state_dir, **options)
    with in_background(sandbox.start, sandbox.stop, "sandbox"):
        yield sandbox
