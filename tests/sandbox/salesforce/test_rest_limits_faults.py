"""API limits (Sforce-Limit-Info, limits resource, REQUEST_LIMIT_EXCEEDED) and the fault hooks, from Python
and from the admin endpoint."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceGeneralError, SalesforceRefusedRequest

from bridge.sandbox.salesforce.server import SalesforceSandbox, running_salesforce_sandbox
from bridge.sandbox.tls import SandboxTLS
from tests.sandbox.salesforce.conftest import client

LIMIT_EXCEEDED = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


@pytest.fixture
def small(sf_tls: SandboxTLS) -> Iterator[SalesforceSandbox]:
    with running_salesforce_sandbox(sf_tls, api_limit=5) as running:
        yield running


def test_r_api_1_every_response_reports_usage(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    event = sf.Event
    event.describe()
    used, total = event.api_usage["api-usage"]
    assert total == 100_000
    event.describe()
    assert event.api_usage["api-usage"].used == used + 1


def test_r_api_1_error_responses_report_usage_too(sandbox: SalesforceSandbox, http: requests.Session) -> None:
    endpoints = sandbox.endpoints()
    base = endpoints["instance_url"] + "/services/data/v62.0"
    good = {"Authorization": f"Bearer {endpoints['access_token']}"}
    sandbox.faults.fail_next(1, "500")
    replies = [
        http.get(base + "/limits", headers=good),  # the injected 500
        http.get(base + "/query", params={"q": "SELECT Id FRM Event"}, headers=good),
        http.get(base + "/sobjects/Event/00U000000000000AAA", headers=good),
        http.get(base + "/limits", headers={"Authorization": "Bearer expired"}),
    ]
    assert [r.status_code for r in replies] == [500, 400, 404, 401]
    for reply in replies:
        assert re.fullmatch(r"api-usage=\d+/100000", reply.headers["Sforce-Limit-Info"])


def test_limits_resource(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - sandbox.org.api_usage


def test_past_the_limit_calls_are_refused_with_403(small: SalesforceSandbox, ca_path: Path) -> None:
    sf = client(small, ca_path)
    for _ in range(5):
        sf.query("SELECT COUNT() FROM User")
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT COUNT() FROM User")
    assert caught.value.status == 403
    assert caught.value.content == LIMIT_EXCEEDED
    small.faults.set_api_usage(0)
    assert sf.query("SELECT COUNT() FROM User")["done"] is True


@pytest.mark.parametrize(
    ("kind", "status", "code", "error"),
    [
        ("500", 500, "UNKNOWN_EXCEPTION", SalesforceGeneralError),
        ("503", 503, "SERVER_UNAVAILABLE", SalesforceGeneralError),
        ("REQUEST_LIMIT_EXCEEDED", 403, "REQUEST_LIMIT_EXCEEDED", SalesforceRefusedRequest),
    ],
)
def test_fail_next_from_python(
    sf: Salesforce, sandbox: SalesforceSandbox, kind: str, status: int, code: str, error: type[Exception]
) -> None:
    sandbox.faults.fail_next(2, kind)
    for _ in range(2):
        with pytest.raises(error) as caught:
            sf.Contact.create({"LastName": "Flaky"})
        assert caught.value.status == status  # type: ignore[attr-defined]
        assert caught.value.content[0]["errorCode"] == code  # type: ignore[attr-defined]
    assert sf.Contact.create({"LastName": "Recovered"})["success"] is True


def _admin(
    sandbox: SalesforceSandbox, http: requests.Session, payload: dict[str, Any], token: str | None = None
) -> requests.Response:
    admin = sandbox.admin()
    return http.post(
        admin["admin_url"] + "/faults",
        json=payload,
        headers={"Authorization": f"Bearer {token or admin['admin_token']}"},
    )


def test_admin_endpoint_drives_rest_faults(
    sf: Salesforce, sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    assert (
        _admin(sandbox, http, {"fault": "fail_next", "count": 1, "kind": "503"}, token="wrong").status_code
        == 401
    )
    reply = _admin(sandbox, http, {"fault": "fail_next", "count": 1, "kind": "503"})
    assert reply.status_code == 200 and reply.json()["pending_failures"] == 1
    with pytest.raises(SalesforceGeneralError):
        sf.query("SELECT COUNT() FROM User")
    _admin(sandbox, http, {"fault": "latency", "seconds": 0.2})
    started = time.monotonic()
    sf.query("SELECT COUNT() FROM User")
    assert time.monotonic() - started >= 0.2
    _admin(sandbox, http, {"fault": "clear"})
    used = _admin(sandbox, http, {"fault": "api_usage", "used": 99_999}).json()
    assert used["api_usage"] == 99_999
    sf.query("SELECT COUNT() FROM User")
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT COUNT() FROM User")
    _admin(sandbox, http, {"fault": "api_usage", "used": 10})
    assert _admin(sandbox, http, {"fault": "explode"}).status_code == 400


def test_admin_endpoint_forwards_pubsub_faults(sandbox: SalesforceSandbox, http: requests.Session) -> None:
    before = sandbox.bus.latest_replay
    reply = _admin(
        sandbox,
        http,
        {"target": "pubsub", "fault": "gap", "entity": "Event", "record_id": "00U5g0000000001EAA"},
    )
    assert reply.status_code == 200, reply.text
    assert int(reply.json()["replay_id"], 16) > before
    reply = _admin(sandbox, http, {"target": "pubsub", "fault": "gap", "entity": "Nothing", "record_id": "x"})
    assert reply.status_code == 400


def test_admin_state_counts_records(
    sf: Salesforce, sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    sf.Account.create({"Name": "Counted Ltd"})
    admin = sandbox.admin()
    state = http.get(
        admin["admin_url"] + "/state", headers={"Authorization": f"Bearer {admin['admin_token']}"}
    ).json()
    assert state["org_id"] == sandbox.org.org_id
    assert state["records"]["Account"] >= 1
    assert http.get(admin["admin_url"] + "/state").status_code == 401


def test_admin_endpoint_refuses_missing_or_wrong_tokens_without_echoing_secrets(
    sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    admin = sandbox.admin()
    attempts = [
        http.post(admin["admin_url"] + "/faults", json={"fault": "fail_next", "count": 3}),
        http.post(
            admin["admin_url"] + "/faults",
            json={"fault": "fail_next", "count": 3},
            headers={"Authorization": "Bearer guessed-admin-token"},
        ),
        http.post(  # a REST session is not an admin token
            admin["admin_url"] + "/faults",
            json={"fault": "fail_next", "count": 3},
            headers={"Authorization": f"Bearer {sandbox.endpoints()['access_token']}"},
        ),
        http.get(admin["admin_url"] + "/state", headers={"Authorization": "Bearer guessed-admin-token"}),
    ]
    for reply in attempts:
        assert reply.status_code == 401
        for secret in (admin["admin_token"], "guessed-admin-token", sandbox.endpoints()["access_token"]):
            assert secret not in reply.text
    assert sandbox.faults.pending_failures() == 0
    state = http.get(
        admin["admin_url"] + "/state", headers={"Authorization": f"Bearer {admin['admin_token']}"}
    )
    assert admin["admin_token"] not in state.text and sandbox.client.client_secret not in state.text


@pytest.mark.parametrize(
    "payload",
    [
        {"fault": "fail_next", "count": -1},
        {"fault": "fail_next", "count": "many"},
        {"fault": "fail_next", "kind": "418"},
        {"fault": "api_usage"},
        {"fault": "latency", "seconds": "slow"},
    ],
)
def test_admin_endpoint_rejects_bad_parameters_with_400(
    sandbox: SalesforceSandbox, http: requests.Session, payload: dict[str, Any]
) -> None:
    reply = _admin(sandbox, http, payload)
    assert reply.status_code == 400 and reply.json()["error"]
    assert sandbox.faults.pending_failures() == 0
