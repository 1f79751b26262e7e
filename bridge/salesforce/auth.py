"""OAuth 2.0 access tokens for REST and Pub/Sub: client credentials or the JWT bearer flow (PyJWT).

One `Tokens` serves both APIs. A caller whose token was refused (REST 401 INVALID_SESSION_ID, Pub/Sub
`service.auth.error`) calls `refresh(stale)`; concurrent refusals of the same token share one new token.
The token endpoint is called with the adapter's own requests Session, in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Executor

import jwt
import requests

from bridge.errors import ConfigError, TransientError
from bridge.logs import add_secret
from bridge.salesforce.connection import SalesforceConnection
from bridge.salesforce.metrics import CallCounter

log = logging.getLogger(__name__)

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_S = 180  # Salesforce accepts at most 3 minutes
TOKEN_TIMEOUT_S = 30.0


class Tokens:
    """The current access token, fetched on first use and replaced when a caller reports it refused."""

    def __init__(
        self,
        connection: SalesforceConnection,
        session: requests.Session,
        executor: Executor,
        counter: CallCounter,
    ) -> None:
        self._connection = connection
        self._session = session
        self._executor = executor
        self._counter = counter
        self._token: str | None = None
        self._lock = asyncio.Lock()
        self.refreshed = 0  # tokens fetched so far
        # The token answer's identity URL (`.../id/<org id>/<user id>`): who the bridge is in the org.
        self.identity = ""

    def __repr__(self) -> str:
        return f"Tokens({self._connection.token_url}, {self._connection.auth}, fetched={self.refreshed})"

    @property
    def user_id(self) -> str | None:
        """The id of the user the tokens act as (the run-as user), once a token was fetched."""
        tail = self.identity.rstrip("/").rsplit("/", 1)[-1]
        return tail if tail.startswith("005") else None

    async def current(self) -> str:
        if self._token is not None:
            return self._token
        return await self.refresh(None)

    async def refresh(self, stale: str | None) -> str:
        """A token other than `stale`: the one another caller already fetched, or a new one."""
        async with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            loop = asyncio.get_running_loop()
            self._token = await loop.run_in_executor(self._executor, self._fetch)
            self.refreshed += 1
            log.info("salesforce: new access token (%s flow)", self._connection.auth)
            return self._token

    def _form(self) -> dict[str, str]:
        c = self._connection
        if c.auth == "jwt":
            claims = {"iss": c.client_id, "sub": c.username, "aud": c.jwt_audience}
            claims_exp = {**claims, "exp": int(time.time()) + JWT_LIFETIME_S}
            try:
                assertion = jwt.encode(claims_exp, c.private_key, algorithm="RS256")
            except (ValueError, TypeError, jwt.PyJWTError):
                # The key's text is never part of the message.
                raise ConfigError("salesforce.private_key", "is not a PEM RSA private key") from None
            return {"grant_type": JWT_GRANT, "assertion": assertion}
        return {
            "grant_type": "client_credentials",
            "client_id": c.client_id,
            "client_secret": c.client_secret,
        }

    def _fetch(self) -> str:
        self._counter.add("auth")
        try:
            answer = self._session.post(
                self._connection.token_url, data=self._form(), timeout=TOKEN_TIMEOUT_S
            )
        except requests.RequestException as error:
            raise TransientError(f"Salesforce token endpoint unreachable: {type(error).__name__}") from None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise TransientError(f"Salesforce token endpoint answered {answer.status_code}; retrying later")
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            code = body.get("error", "") if isinstance(body, dict) else ""
            description = body.get("error_description", "") if isinstance(body, dict) else ""
            raise ConfigError(
                "salesforce.auth",
                f"the token endpoint refused the {self._connection.auth} flow "
                f"({answer.status_code} {code}: {description}); check the connected app's credentials",
            )
        self.identity = str(body.get("id") or "")
        token = str(body["access_token"])
        add_secret(token)  # never logged from now on, wherever it turns up (R-SEC-1)
        return token
