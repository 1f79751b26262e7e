"""Make exchangelib (through requests) trust a sandbox CA, with verification left on.

exchangelib mounts ``BaseProtocol.HTTP_ADAPTER_CLS`` (a process-wide class attribute) on every session it
makes. ``trust_ca`` installs an adapter class whose requests verify against a bundle of the CAs trusted so
far, so several sandboxes (each with its own CA) can be reached from one process.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import certifi
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from exchangelib import Account

_lock = threading.Lock()
_trusted: list[bytes] = []
_bundle_path: str | None = None


def _remove_bundle() -> None:
    if _bundle_path and os.path.exists(_bundle_path):
        os.unlink(_bundle_path)


def ca_bundle(ca_pem: bytes) -> str:
    """Add ``ca_pem`` to the process's sandbox bundle and return the bundle's file path."""
    global _bundle_path
    with _lock:
        changed = ca_pem not in _trusted
        if changed:
            _trusted.append(ca_pem)
        if _bundle_path is None:
            handle, _bundle_path = tempfile.mkstemp(prefix="sandbox-ca-", suffix=".pem")
            os.close(handle)
            atexit.register(_remove_bundle)
            changed = True
        if changed:
            # Written beside and renamed over, never rewritten in place: a connection being made on another
            # thread reads either the old bundle or the new one, never a half-written file. The public roots
            # stay trusted too, so the same adapter still reaches real servers.
            staged = _bundle_path + ".new"
            Path(staged).write_bytes(b"\n".join([*_trusted, Path(certifi.where()).read_bytes()]))
            os.replace(staged, _bundle_path)
        return _bundle_path


class SandboxCAAdapter(HTTPAdapter):
    """An HTTPAdapter that verifies servers against the sandbox CAs plus the public roots."""

    bundle_path: str | None = None

    def send(
        self, request: PreparedRequest, stream: bool = False, timeout: Any = None, verify: bool | str = True,
        cert: Any = None, proxies: Any = None,
    ) -> Response:  # fmt: skip
        # verify may arrive as a path (REQUESTS_CA_BUNDLE); either way, verify against the bundle.
        if verify is not False and self.bundle_path:
            verify = self.bundle_path
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


def adapter_class(ca_pem: bytes) -> type[SandboxCAAdapter]:
    """An adapter class bound to the bundle that includes ``ca_pem``."""
    return type("SandboxCAAdapterBound", (SandboxCAAdapter,), {"bundle_path": ca_bundle(ca_pem)})


def trust_ca(ca_pem: bytes) -> None:
    """Point exchangelib's adapter at a bundle holding ``ca_pem`` (process-wide)."""
    from exchangelib.protocol import BaseProtocol

    BaseProtocol.HTTP_ADAPTER_CLS = adapter_class(ca_pem)


# The build the sandbox reports; giving it to exchangelib skips its version probe.
SANDBOX_BUILD = (15, 1, 2507, 6)


def sandbox_account(
    endpoints: Mapping[str, Any], ca_pem: bytes, address: str, *, delegate: bool = False, **config: Any
) -> Account:
    """An exchangelib Account on one sandbox mailbox, connected as a deployment would: Basic auth to the
    service account, impersonation (or delegate access), no autodiscover, TLS verified against `ca_pem`,
    UTC. `endpoints` is the sandbox's `exchange` section; `config` goes to exchangelib's Configuration."""
    from exchangelib import (
        BASIC,
        DELEGATE,
        IMPERSONATION,
        UTC,
        Account,
        Build,
        Configuration,
        Credentials,
        Version,
    )

    trust_ca(ca_pem)
    config.setdefault("version", Version(build=Build(*SANDBOX_BUILD)))
    configuration = Configuration(
        service_endpoint=endpoints["ews_url"],
        credentials=Credentials(endpoints["username"], endpoints["password"]),
        auth_type=BASIC,
        **config,
    )
    return Account(
        address,
        config=configuration,
        autodiscover=False,
        access_type=DELEGATE if delegate else IMPERSONATION,
        default_timezone=UTC,
    )
