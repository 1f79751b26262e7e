"""The OAuth 2.0 token endpoint's logic: client credentials and the JWT bearer flow.

Errors carry Salesforce's OAuth error bodies (`{"error", "error_description"}`, HTTP 400). Nothing here
logs or echoes a secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509

from bridge.sandbox.salesforce.org import ConnectedApp, Org

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLIENT_CREDENTIALS = "client_credentials"
# Audiences Salesforce accepts for a JWT: its login hosts, and (for My Domain) the instance itself.
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass
class OAuthError(Exception):
    error: str
    description: str

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _app(org: Org, client_id: str | None) -> ConnectedApp:
    app = org.clients.get(client_id or "")
    if app is None:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    return app


def client_credentials(org: Org, form: Mapping[str, str]) -> tuple[str, ConnectedApp]:
    """(user id, app) for a client-credentials request: the app's run-as user."""
    app = _app(org, form.get("client_id"))
    secret = form.get("client_secret", "")
    if not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
        raise OAuthError("invalid_client", "invalid client credentials")
    user = org.store.get(app.run_as_user_id)
    if user is None or user.get("IsDeleted") or not user.get("IsActive", True):
        raise OAuthError("invalid_grant", "user is not active")
    return app.run_as_user_id, app


def jwt_bearer(org: Org, assertion: str, instance_url: str) -> tuple[str, ConnectedApp]:
    """(user id, app) for a JWT bearer assertion: RS256 signed by a certificate registered for `iss`,
    `sub` a username, `aud` a login host or this instance, `exp` in the future."""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise OAuthError("invalid_grant", "invalid assertion") from None
    if header.get("alg") != "RS256":
        raise OAuthError("invalid_grant", "invalid assertion")
    app = _app(org, str(unverified.get("iss", "")))
    claims: dict[str, Any] | None = None
    for pem in app.certificates:
        key = x509.load_pem_x509_certificate(pem.encode()).public_key()
        try:
            claims = jwt.decode(
                assertion,
                key,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=[*LOGIN_AUDIENCES, instance_url],
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
            break
        except jwt.ExpiredSignatureError:
            raise OAuthError("invalid_grant", "expired authorization code") from None
        except jwt.InvalidAudienceError:
            raise OAuthError("invalid_grant", "audience is invalid") from None
        except jwt.PyJWTError:
            continue
    if claims is None:
        raise OAuthError("invalid_grant", "invalid assertion")
    user = org.user_by_username(str(claims.get("sub", "")))
    if user is None or not user.get("IsActive", True):
        raise OAuthError("invalid_grant", "user hasn't approved this consumer")
    return user["Id"], app


def token_response(org: Org, app: ConnectedApp, user_id: str, instance_url: str) -> dict[str, str]:
    """Issue a session for `user_id` and describe it as Salesforce's token endpoint does."""
    token = org.issue_token(user_id, app.client_id)
    issued_at = str(int(time.time() * 1000))
    identity = f"{instance_url}/id/{org.org_id}/{user_id}"
    digest = hmac.new(app.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    return {
        "access_token": token,
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
        "signature": base64.b64encode(digest).decode(),
        "scope": "api",
    }
