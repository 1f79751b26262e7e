"""The app's access token for Graph (client credentials), through MSAL.

MSAL is synchronous (requests underneath), so a token is acquired on a worker thread; MSAL caches it until
near its expiry, so most calls cost no request. A token Graph refuses (401) is dropped from MSAL's cache
and acquired again once (`refresh`).

TLS: requests lets REQUESTS_CA_BUNDLE replace a session's `verify=`, so MSAL is given a session that
ignores the environment and verifies against the configured bundle (or the system's CAs).
"""

from __future__ import annotations

import asyncio
from typing import Any

import msal
import requests

from bridge.errors import ConfigError, TransientError

from .connection import GraphConnection

# Entra error -> the configuration key that is wrong.
_KEY_OF_ERROR = {
    "invalid_client": "exchange.graph.client_secret",
    "unauthorized_client": "exchange.graph.client_id",
    "invalid_scope": "exchange.graph.client_id",
    "invalid_request": "exchange.graph.authority",
}


class TokenSource:
    """Bearer tokens of one app registration."""

    def __init__(self, connection: GraphConnection) -> None:
        self._connection = connection
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenSource({self._connection.authority!r}, client_id={self._connection.client_id!r})"

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            session = requests.Session()
            session.trust_env = False
            session.verify = self._connection.ca_bundle or True
            try:
                self._app = msal.ConfidentialClientApplication(
                    self._connection.client_id,
                    client_credential=self._connection.client_secret,
                    authority=self._connection.authority,
                    instance_discovery=False,
                    http_client=session,
                )
            except ValueError as exc:  # MSAL checks the authority's metadata as it starts
                raise ConfigError("exchange.graph.authority", f"not usable: {exc}") from None
            except requests.RequestException as exc:
                raise TransientError(
                    f"the identity platform could not be reached ({type(exc).__name__})"
                ) from None
        return self._app

    def _acquire(self) -> str:
        try:
            result: dict[str, Any] = self._application().acquire_token_for_client(
                scopes=[self._connection.scope]
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"the identity platform could not be reached ({type(exc).__name__})"
            ) from None
        token = result.get("access_token")
        if token:
            return str(token)
        error = str(result.get("error") or "unknown_error")
        described = str(result.get("error_description") or "").split("\r\n")[0].split("\n")[0]
        if error in ("temporarily_unavailable", "server_error"):
            raise TransientError(f"the identity platform failed: {error}")
        raise ConfigError(_KEY_OF_ERROR.get(error, "exchange.graph.client_id"), f"{error}: {described}")

    async def token(self) -> str:
        async with self._lock:
            return await asyncio.to_thread(self._acquire)

    async def refresh(self) -> str:
        """A new token: the cached one was refused."""
        async with self._lock:
            app = self._app
            if app is not None:
                app.remove_tokens_for_client()
            return await asyncio.to_thread(self._acquire)
