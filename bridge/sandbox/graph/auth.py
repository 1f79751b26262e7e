"""The Microsoft identity platform, as far as app-only Graph needs it: OpenID metadata and the v2.0 token
endpoint with the client-credentials grant, issuing JWT access tokens that the Graph endpoints check.

MSAL reads ``<authority>/v2.0/.well-known/openid-configuration`` (``instance_discovery=False`` skips the
call to login.microsoftonline.com), then POSTs the form to ``token_endpoint``. The tokens are signed with a
secret of this sandbox (HS256): clients must treat Graph tokens as opaque anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GRAPH_RESOURCE = "https://graph.microsoft.com"
ROLES = ["Calendars.ReadWrite"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class TokenFailure:
    """An OAuth error answer (``status`` and AADSTS ``code``)."""

    status: int
    error: str
    code: int
    description: str


@dataclass
class Identity:
    """One tenant with one confidential client app."""

    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    tenant_domain: str = "calbridge.test"
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    app_name: str = "calbridge"
    token_lifetime: int = 3599
    generation: int = 0  # bumped to revoke every token issued so far
    issued: int = 0
    _key: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def knows_tenant(self, tenant: str) -> bool:
        return tenant.lower() in (self.tenant_id.lower(), self.tenant_domain.lower())

    def openid_configuration(self, base: str, tenant: str) -> dict[str, Any]:
        root = f"{base}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{self.tenant_id}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "roles"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def _failure(self, status: int, error: str, code: int, text: str) -> TokenFailure:
        return TokenFailure(status, error, code, f"AADSTS{code}: {text}")

    def token(
        self, tenant: str, form: dict[str, str], basic: tuple[str, str] | None
    ) -> dict[str, Any] | TokenFailure:
        """Answer a token request: the token JSON, or the failure to send back."""
        if not self.knows_tenant(tenant):
            return self._failure(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        grant = form.get("grant_type", "")
        if grant != "client_credentials":
            return self._failure(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self.client_id:
            return self._failure(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'.",
            )
        if "client_assertion" in form:
            return self._failure(
                401, "invalid_client", 700027, "Client assertion contains an invalid signature."
            )
        if not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            return self._failure(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{self.client_id}'.",
            )
        scopes = form.get("scope", "").split()
        if scopes != [f"{GRAPH_RESOURCE}/.default"]:
            return self._failure(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {' '.join(scopes)} is not valid. Client credential flows must "
                "have a scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        return {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": self.issue(),
        }

    def issue(self, now: float | None = None) -> str:
        moment = int(now if now is not None else time.time())
        self.issued += 1
        claims = {
            "aud": GRAPH_RESOURCE,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": moment,
            "nbf": moment,
            "exp": moment + self.token_lifetime,
            "app_displayname": self.app_name,
            "appid": self.client_id,
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "roles": ROLES,
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "tid": self.tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
            "xms_sbx_gen": self.generation,
        }
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        mac = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(mac)}"

    def check(self, header: str | None, now: float | None = None) -> str | None:
        """None when the Authorization header carries a valid token, else why not (Graph's wording)."""
        if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
            return "Access token is empty."
        token = header[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            return "CompactToken parsing failed with error code: 80049217"
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(_unb64(parts[2]), expected)
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return "CompactToken parsing failed with error code: 80049217"
        if not valid:
            return "Access token validation failure. Invalid signature."
        moment = now if now is not None else time.time()
        if claims.get("exp", 0) <= moment or claims.get("xms_sbx_gen") != self.generation:
            return "Lifetime validation failed, the token is expired."
        return None


def failure_body(failure: TokenFailure) -> dict[str, Any]:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return {
        "error": failure.error,
        "error_description": f"{failure.description}\r\nTrace ID: {trace}\r\n"
        f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
        "error_codes": [failure.code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={failure.code}",
    }
