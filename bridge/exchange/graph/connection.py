"""Where and as whom the bridge reaches Microsoft Graph: one app registration (client credentials)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import ConfigError

SCOPE = "https://graph.microsoft.com/.default"


@dataclass(frozen=True, slots=True)
class GraphConnection:
    """The identity platform authority, the app's id and secret, and Graph's base URL.

    `graph_url` is the service root without the version (`https://graph.microsoft.com`) or with it
    (`.../v1.0`). `ca_bundle` is a PEM file of the CAs to trust (None: the system's). `notification_url`
    is the bridge's public https address for change notifications, under which Graph reaches the ops
    server's /graph/notify and /graph/lifecycle (None: delta polling alone, R-GRAPH-2).
    `poll_seconds` is the delta poll period of an idle mailbox; `poll_fast_seconds` the period for
    `fast_for_seconds` after a change was seen. With notifications, a mailbox is still polled every
    `fallback_poll_seconds`, and each subscription asks to live `subscription_minutes` (below both limits
    Graph has documented for Outlook, 4,230 and 10,080) and is renewed half-way. The secret never appears in
    a repr, a log line or an error.
    """

    authority: str
    client_id: str
    client_secret: str = field(repr=False)
    graph_url: str = "https://graph.microsoft.com"
    ca_bundle: str | None = None
    notification_url: str | None = None
    poll_seconds: float = 10.0
    poll_fast_seconds: float = 2.0
    fast_for_seconds: float = 120.0
    fallback_poll_seconds: float = 300.0
    subscription_minutes: float = 4200.0
    scope: str = SCOPE

    def __post_init__(self) -> None:
        if not re.match(r"^https://[^/\s]+/[^/\s]+", self.authority):
            raise ConfigError(
                "exchange.graph.authority",
                f"{self.authority!r} is not an authority; use https://login.microsoftonline.com/<tenant id>",
            )
        if not self.client_id:
            raise ConfigError("exchange.graph.client_id", "the app registration's client id is required")
        if not self.client_secret:
            raise ConfigError("exchange.graph.client_secret", "the app registration's secret is required")
        if not re.match(r"^https://[^/\s]+", self.graph_url):
            raise ConfigError(
                "exchange.graph.graph_url", f"{self.graph_url!r} is not an https URL of Microsoft Graph"
            )
        if self.notification_url is not None and not re.match(r"^https?://[^/\s]+", self.notification_url):
            raise ConfigError(
                "exchange.graph.notification_url",
                f"{self.notification_url!r} is not a URL; use the bridge's public https address",
            )
        if not 0 < self.poll_fast_seconds <= self.poll_seconds:
            raise ConfigError(
                "exchange.graph.poll_seconds", "poll_fast_seconds must be above 0 and at most poll_seconds"
            )

    @property
    def notification_urls(self) -> tuple[str, str] | None:
        """Where Graph posts change and lifecycle notifications: the ops server's routes under the public
        address `notification_url`; None without one."""
        if self.notification_url is None:
            return None
        base = self.notification_url.rstrip("/")
        return f"{base}/graph/notify", f"{base}/graph/lifecycle"

    @property
    def api(self) -> str:
        """Graph's v1.0 root, without a trailing slash."""
        root = self.graph_url.rstrip("/")
        return root if root.endswith("/v1.0") else f"{root}/v1.0"

    @classmethod
    def from_sandbox(cls, endpoints: Mapping[str, Any], **options: Any) -> GraphConnection:
        """The connection to a sandbox, from its `endpoints.json` (the whole document, or its `graph`
        part with `ca_bundle` beside it); `options` set or replace any field."""
        graph = endpoints.get("graph", endpoints)
        values: dict[str, Any] = {
            "authority": str(graph["authority"]),
            "client_id": str(graph["client_id"]),
            "client_secret": str(graph["client_secret"]),
            "graph_url": str(graph["graph_url"]),
            "ca_bundle": endpoints.get("ca_bundle") or graph.get("ca_bundle"),
        }
        return cls(**{**values, **options})
