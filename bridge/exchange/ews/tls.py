"""Verifying Exchange's certificate against a CA bundle of our choosing, with verification always on.

exchangelib mounts `BaseProtocol.HTTP_ADAPTER_CLS` on every HTTP session it makes, and that is a
process-wide class attribute. So the bundles asked for so far are joined (with the public roots) into one
file, and the adapter verifies against it: connections made earlier keep working when another is added.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import certifi
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from bridge.errors import ConfigError

_lock = threading.Lock()
_bundles: list[bytes] = []
_joined: str | None = None


class _BundleAdapter(HTTPAdapter):
    bundle: str | None = None

    def send(
        self, request: PreparedRequest, stream: bool = False, timeout: Any = None, verify: bool | str = True,
        cert: Any = None, proxies: Any = None,
    ) -> Response:  # fmt: skip
        # requests may pass REQUESTS_CA_BUNDLE from the environment here; our bundle is the one that counts.
        if verify is not False and self.bundle:
            verify = self.bundle
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


def _remove_joined() -> None:
    if _joined and os.path.exists(_joined):
        os.unlink(_joined)


def trust_bundle(path: str) -> None:
    """Make exchangelib verify servers against the CAs in `path` too (process-wide)."""
    global _joined
    from exchangelib.protocol import BaseProtocol

    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError("exchange.ca_bundle", f"cannot read {path}: {exc.strerror}") from None
    with _lock:
        changed = pem not in _bundles
        if changed:
            _bundles.append(pem)
        if _joined is None:
            handle, _joined = tempfile.mkstemp(prefix="calbridge-ews-ca-", suffix=".pem")
            os.close(handle)
            atexit.register(_remove_joined)
            changed = True
        if changed:  # renamed over, never rewritten in place under connections being made
            staged = _joined + ".new"
            Path(staged).write_bytes(b"\n".join([*_bundles, Path(certifi.where()).read_bytes()]))
            os.replace(staged, _joined)
        BaseProtocol.HTTP_ADAPTER_CLS = type("CalbridgeEwsAdapter", (_BundleAdapter,), {"bundle": _joined})
