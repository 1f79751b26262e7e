"""The identity platform: MSAL itself obtains tokens against the sandbox; Graph checks them (R-GRAPH)."""

from __future__ import annotations

import requests

from bridge.sandbox.graph import GraphSandbox, running_graph_sandbox
from bridge.sandbox.tls import SandboxTLS

from .conftest import GraphClient, msal_app

SCOPE = ["https://graph.microsoft.com/.default"]


def test_msal_acquires_a_token_and_caches_it(graph: GraphSandbox, ca_path: str) -> None:
    app = msal_app(graph.endpoints(), ca_path)
    first = app.acquire_token_for_client(scopes=SCOPE)
    assert first["token_type"] == "Bearer" and first["expires_in"] > 3000
    issued = graph.snapshot_state()["tokens_issued"]
    again = app.acquire_token_for_client(scopes=SCOPE)
    assert again["access_token"] == first["access_token"]  # MSAL's cache, not a second request
    assert graph.snapshot_state()["tokens_issued"] == issued


def test_openid_metadata_as_msal_reads_it(graph: GraphSandbox, ca_path: str) -> None:
    ends = graph.endpoints()
    http = requests.Session()
    http.verify, http.trust_env = ca_path, False
    meta = http.get(f"{ends['authority']}/v2.0/.well-known/openid-configuration", timeout=10)
    assert meta.status_code == 200
    body = meta.json()
    assert body["token_endpoint"] == f"{ends['authority']}/oauth2/v2.0/token"
    assert body["issuer"].endswith(f"/{ends['tenant_id']}/v2.0")
    unknown = http.get(f"{graph.base_url}/not-a-tenant/v2.0/.well-known/openid-configuration", timeout=10)
    assert unknown.status_code == 400


def test_token_errors_as_entra_answers_them(graph: GraphSandbox, ca_path: str) -> None:
    ends = graph.endpoints()
    wrong_secret = msal_app(ends, ca_path, secret="nope").acquire_token_for_client(scopes=SCOPE)
    assert wrong_secret["error"] == "invalid_client"
    assert wrong_secret["error_description"].startswith("AADSTS7000215")
    wrong_scope = msal_app(ends, ca_path).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/Calendars.Read"]
    )
    assert wrong_scope["error"] == "invalid_scope"
    form = {
        "grant_type": "client_credentials",
        "client_id": "unknown",
        "client_secret": "x",
        "scope": SCOPE[0],
    }
    http = requests.Session()
    http.verify, http.trust_env = ca_path, False
    unknown = http.post(f"{ends['authority']}/oauth2/v2.0/token", data=form, timeout=10)
    assert unknown.status_code == 400 and unknown.json()["error"] == "unauthorized_client"


def test_graph_refuses_missing_bad_and_expired_tokens(tls: SandboxTLS, ca_path: str) -> None:
    with running_graph_sandbox(
        tls, ["solo@graph.example"]
    ) as graph:  # its own: the fault revokes every token
        _refuses_tokens(graph, ca_path)


def _refuses_tokens(graph: GraphSandbox, ca_path: str) -> None:
    user = graph.endpoints()["mailboxes"][0]
    none = GraphClient(graph.graph_url, "", ca_path)
    del none.session.headers["Authorization"]
    answer = none.get(f"users/{user}/events")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "Bearer" in answer.headers["WWW-Authenticate"]
    assert GraphClient(graph.graph_url, "garbage", ca_path).get(f"users/{user}/events").status_code == 401

    app = msal_app(graph.endpoints(), ca_path)
    fresh = app.acquire_token_for_client(scopes=SCOPE)["access_token"]
    graph.faults.expire_tokens()
    expired = GraphClient(graph.graph_url, fresh, ca_path).get(f"users/{user}/events")
    assert expired.status_code == 401
    assert expired.json()["error"]["message"] == "Lifetime validation failed, the token is expired."
    # The client drops its cached token and asks again.
    for account_token in list(app.token_cache.search(app.token_cache.CredentialType.ACCESS_TOKEN)):
        app.token_cache.remove_at(account_token)
    renewed = app.acquire_token_for_client(scopes=SCOPE)["access_token"]
    assert GraphClient(graph.graph_url, renewed, ca_path).get(f"users/{user}/events").status_code == 200


def test_users_by_address_or_object_id(graph: GraphSandbox, client: GraphClient) -> None:
    ends = graph.endpoints()
    address = ends["mailboxes"][1]
    by_address = client.get(f"users/{address}").json()
    assert by_address["id"] == ends["user_ids"][address]
    assert client.get(f"users/{by_address['id']}").json()["mail"] == address
    missing = client.get("users/nobody@graph.example/events")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorInvalidUser"
    me = client.get("me/events")
    assert me.status_code == 400
    assert "delegated" in me.json()["error"]["message"]
    cal = client.get(f"users/{address}/calendars").json()["value"]
    assert cal[0]["isDefaultCalendar"] is True
    assert client.get(f"users/{address}/calendars/{cal[0]['id']}/events").status_code == 200
