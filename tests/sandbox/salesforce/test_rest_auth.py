"""OAuth token endpoint (client credentials, JWT bearer) and session checks on every API call."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce, SalesforceExpiredSession

from bridge.sandbox.salesforce.server import INTEGRATION_USERNAME, SalesforceSandbox
from tests.sandbox.salesforce.conftest import client


def _key_and_certificate() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calbridge-jwt-test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem, certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def signing_key(sandbox: SalesforceSandbox) -> bytes:
    key, certificate = _key_and_certificate()
    sandbox.org.clients[sandbox.client.client_id].certificates.append(certificate)
    return key


def _assertion(key: bytes, **claims: object) -> str:
    body = {"aud": "https://login.salesforce.com", "exp": int(time.time()) + 180, **claims}
    return jwt.encode(body, key, algorithm="RS256")


def _token(http: requests.Session, sandbox: SalesforceSandbox, **form: str) -> requests.Response:
    return http.post(sandbox.endpoints()["token_url"], data=form)


def test_client_credentials_token_works_with_simple_salesforce(
    sandbox: SalesforceSandbox, http: requests.Session, ca_path: Path
) -> None:
    endpoints = sandbox.endpoints()
    reply = _token(
        http,
        sandbox,
        grant_type="client_credentials",
        client_id=endpoints["client_id"],
        client_secret=endpoints["client_secret"],
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == endpoints["instance_url"]
    assert body["id"].endswith(f"/id/{sandbox.org.org_id}/{sandbox.client.run_as_user_id}")
    assert {"access_token", "issued_at", "signature"} <= set(body)
    sf = client(sandbox, ca_path, body["access_token"])
    assert sf.query("SELECT Id FROM Organization")["records"][0]["Id"] == sandbox.org.org_id


def test_client_credentials_with_bad_secret_get_salesforce_oauth_error(
    sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    reply = _token(
        http,
        sandbox,
        grant_type="client_credentials",
        client_id=sandbox.client.client_id,
        client_secret="wrong",
    )
    assert reply.status_code == 400
    assert reply.json() == {"error": "invalid_client", "error_description": "invalid client credentials"}
    assert sandbox.client.client_secret not in reply.text


def test_unknown_client_and_unknown_grant_are_refused(
    sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    reply = _token(http, sandbox, grant_type="client_credentials", client_id="nobody", client_secret="x")
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_client_id")
    reply = _token(http, sandbox, grant_type="password", username="a", password="b")
    assert reply.json() == {
        "error": "unsupported_grant_type",
        "error_description": "grant type not supported",
    }


def test_jwt_bearer_signed_by_registered_certificate_gets_a_session_for_the_subject(
    sandbox: SalesforceSandbox, http: requests.Session, ca_path: Path, signing_key: bytes
) -> None:
    assertion = _assertion(signing_key, iss=sandbox.client.client_id, sub=INTEGRATION_USERNAME)
    reply = _token(
        http, sandbox, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=assertion
    )
    assert reply.status_code == 200, reply.text
    sf = client(sandbox, ca_path, reply.json()["access_token"])
    user = sf.User.get(sandbox.client.run_as_user_id)
    assert user["Username"] == INTEGRATION_USERNAME


def test_jwt_bearer_with_a_foreign_key_is_an_invalid_grant(
    sandbox: SalesforceSandbox, http: requests.Session, signing_key: bytes
) -> None:
    other_key, _ = _key_and_certificate()
    assertion = _assertion(other_key, iss=sandbox.client.client_id, sub=INTEGRATION_USERNAME)
    reply = _token(
        http, sandbox, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=assertion
    )
    assert reply.status_code == 400
    assert reply.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        ({"exp": int(time.time()) - 600}, "expired authorization code"),
        ({"aud": "https://evil.example"}, "audience is invalid"),
        ({"sub": "nobody@calbridge.test"}, "user hasn't approved this consumer"),
    ],
)
def test_jwt_bearer_claims_are_checked(
    sandbox: SalesforceSandbox,
    http: requests.Session,
    signing_key: bytes,
    claims: dict[str, object],
    description: str,
) -> None:
    base: dict[str, object] = {"iss": sandbox.client.client_id, "sub": INTEGRATION_USERNAME}
    assertion = _assertion(signing_key, **{**base, **claims})
    reply = _token(
        http, sandbox, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=assertion
    )
    assert reply.status_code == 400
    assert reply.json() == {"error": "invalid_grant", "error_description": description}


def test_bad_token_is_401_invalid_session_and_the_sandbox_keeps_serving(
    sandbox: SalesforceSandbox, ca_path: Path, sf: Salesforce
) -> None:
    bad = client(sandbox, ca_path, "00D000000000000!not-a-session")
    with pytest.raises(SalesforceExpiredSession) as caught:
        bad.query("SELECT Id FROM User")
    assert caught.value.status == 401
    assert caught.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] >= 1


def test_expired_session_is_refused(sandbox: SalesforceSandbox, ca_path: Path) -> None:
    token = sandbox.org.issue_token(sandbox.client.run_as_user_id, sandbox.client.client_id, lifetime_s=0.01)
    time.sleep(0.05)
    with pytest.raises(SalesforceExpiredSession):
        client(sandbox, ca_path, token).query("SELECT Id FROM User")


def test_missing_authorization_header_is_401(sandbox: SalesforceSandbox, http: requests.Session) -> None:
    reply = http.get(sandbox.endpoints()["instance_url"] + "/services/data/v62.0/limits")
    assert reply.status_code == 401
    assert reply.json()[0]["errorCode"] == "INVALID_SESSION_ID"
