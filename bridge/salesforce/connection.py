"""Everything the Salesforce adapter needs to connect, as one frozen value.

Secrets (`client_secret`, `private_key`) are held here but never shown: they are excluded from `repr`, and
nothing in the adapter formats them into a message or a log line (R-SEC-1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bridge.errors import ConfigError

AuthFlow = Literal["client_credentials", "jwt"]
DEFAULT_API_VERSION = "62.0"
LOGIN_AUDIENCE = "https://login.salesforce.com"


@dataclass(frozen=True, slots=True)
class SalesforceConnection:
    """How to reach one org: REST instance, OAuth token endpoint, Pub/Sub address and the bridge's identity.

    `auth` picks the OAuth 2.0 flow: `client_credentials` needs `client_id` + `client_secret`; `jwt` (JWT
    bearer) needs `client_id` (the connected app's consumer key), `username` and `private_key` (PEM text).
    `ca_bundle` is a PEM file of trusted CAs (None: the system's). `call_client` is sent as
    `Sforce-Call-Options: client=<call_client>` on every write and recognises the echo of those writes in
    `changeOrigin` (R-MERGE-3). Salesforce writes wait while org API usage is above `api_budget` of the daily
    limit (R-API-2); `budget_poll_s` is how often the adapter then asks `limits` whether usage has fallen.
    """

    instance_url: str
    token_url: str
    org_id: str
    pubsub: str  # host:port
    client_id: str
    auth: AuthFlow = "client_credentials"
    client_secret: str = field(default="", repr=False)
    username: str = ""
    private_key: str = field(default="", repr=False)
    jwt_audience: str = LOGIN_AUDIENCE
    api_version: str = DEFAULT_API_VERSION
    ca_bundle: str | None = None
    call_client: str = "calbridge"
    api_budget: float = 0.8
    budget_poll_s: float = 60.0
    # REST and Pub/Sub tuning; the defaults suit production, tests shorten them.
    batch_linger_s: float = 0.005
    batch_size: int = 200  # records per sObject Collections call (Salesforce allows 200)
    max_workers: int = 8
    retries: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    pubsub_batch: int = 100
    directory_ttl_s: float = 600.0
    # Topics read besides Event, EventRelation and commands (the settings object's change events).
    extra_topics: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.auth not in ("client_credentials", "jwt"):
            raise ConfigError(
                "salesforce.auth", f"{self.auth!r} is not a flow; use client_credentials or jwt"
            )
        if self.auth == "client_credentials" and not (self.client_id and self.client_secret):
            raise ConfigError(
                "salesforce.client_secret", "client credentials need client_id and client_secret"
            )
        if self.auth == "jwt" and not (self.client_id and self.username and self.private_key):
            raise ConfigError(
                "salesforce.private_key", "JWT bearer needs client_id, username and private_key"
            )
        if not 0 < self.api_budget <= 1:
            raise ConfigError("salesforce.api_budget", f"{self.api_budget} is not a fraction in (0, 1]")
        if not self.instance_url.startswith("https://"):
            raise ConfigError("salesforce.instance_url", f"{self.instance_url!r} must be an https:// URL")
        if ":" not in self.pubsub:
            raise ConfigError("salesforce.pubsub", f"{self.pubsub!r} must be host:port")
        if not 1 <= self.pubsub_batch <= 100:
            raise ConfigError("salesforce.pubsub_batch", "must be 1..100 (Pub/Sub's outstanding limit)")

    @property
    def ca_pem(self) -> bytes | None:
        """The trusted CAs as PEM bytes for gRPC, or None for the system's."""
        if self.ca_bundle is None:
            return None
        try:
            return Path(self.ca_bundle).read_bytes()
        except OSError as error:
            raise ConfigError(
                "salesforce.ca_bundle", f"cannot read {self.ca_bundle}: {error.strerror}"
            ) from None

    @classmethod
    def from_sandbox(cls, endpoints: Mapping[str, Any], **overrides: Any) -> SalesforceConnection:
        """The connection to a sandbox from its `endpoints.json` (client credentials, the sandbox CA)."""
        sf = endpoints["salesforce"]
        values: dict[str, Any] = {
            "instance_url": sf["instance_url"],
            "token_url": sf["token_url"],
            "org_id": sf["org_id"],
            "pubsub": sf["pubsub"],
            "client_id": sf["client_id"],
            "client_secret": sf["client_secret"],
            "api_version": sf.get("api_version", DEFAULT_API_VERSION),
            "ca_bundle": endpoints.get("ca_bundle"),
        }
        values.update(overrides)
        return cls(**values)
