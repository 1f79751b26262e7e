"""Where and how the bridge reaches Exchange Web Services: one service account, impersonating each mailbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import ConfigError

AUTH_TYPES = ("basic", "ntlm")


@dataclass(frozen=True, slots=True)
class EwsConnection:
    """The EWS endpoint and the service account that impersonates every synced mailbox.

    `ca_bundle` is a PEM file of the CAs to trust (None: the system's); `version` is the server build as
    four numbers (e.g. (15, 1, 2507, 6)), which spares exchangelib its version probe (None: probe once).
    The password never appears in a repr, a log line or an error.
    """

    ews_url: str
    username: str
    password: str = field(repr=False)
    auth_type: str = "basic"
    ca_bundle: str | None = None
    version: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.ews_url.startswith(("https://", "http://")):
            raise ConfigError("exchange.ews_url", f"{self.ews_url!r} is not an http(s) URL of Exchange.asmx")
        if self.auth_type not in AUTH_TYPES:
            raise ConfigError(
                "exchange.auth_type",
                f"{self.auth_type!r} is not supported; use one of {', '.join(AUTH_TYPES)}",
            )
        if not self.username or not self.password:
            raise ConfigError("exchange.username", "the service account's username and password are required")
        if self.version is not None and not 2 <= len(self.version) <= 4:
            raise ConfigError("exchange.version", f"{self.version!r} is not a build like (15, 1, 2507, 6)")

    @classmethod
    def from_sandbox(cls, endpoints: Mapping[str, Any]) -> EwsConnection:
        """The connection to a sandbox, from its `endpoints.json` (the whole document or its `exchange` part
        with `ca_bundle` beside it). The sandbox reports Exchange 2016's build, so no probe is needed."""
        exchange = endpoints.get("exchange", endpoints)
        return cls(
            ews_url=str(exchange["ews_url"]),
            username=str(exchange["username"]),
            password=str(exchange["password"]),
            auth_type="basic",
            ca_bundle=endpoints.get("ca_bundle") or exchange.get("ca_bundle"),
            version=(15, 1, 2507, 6),
        )
