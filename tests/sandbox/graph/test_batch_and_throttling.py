"""$batch (≤ 20, dependsOn, per-member statuses) and Outlook's throttling: 4 concurrent per mailbox,
the rate budget, injected 429s and 5xx (R-GRAPH-4)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import requests

from bridge.sandbox.graph import GraphSandbox

from .conftest import MAILBOXES, GraphClient, iso

ANA, BEN, CLEO = MAILBOXES[0], MAILBOXES[1], MAILBOXES[2]
JSON = {"Content-Type": "application/json"}


def _event(subject: str, start: datetime) -> dict[str, Any]:
    return {
        "subject": subject,
        "start": {"dateTime": iso(start)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": iso(start + timedelta(minutes=30))[:-1], "timeZone": "UTC"},
    }


def test_batch_runs_members_and_answers_each(client: GraphClient, day: datetime) -> None:
    requests_ = [
        {
            "id": str(i),
            "method": "POST",
            "url": f"/users/{ANA}/events",
            "headers": JSON,
            "body": _event(f"b{i}", day),
        }
        for i in range(3)
    ]
    requests_.append({"id": "3", "method": "GET", "url": f"users/{ANA}/events/bad-id"})
    answer = client.post("$batch", json={"requests": requests_})
    assert answer.status_code == 200
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert [by_id[str(i)]["status"] for i in range(4)] == [201, 201, 201, 400]
    assert by_id["0"]["body"]["subject"] == "b0"
    assert by_id["3"]["body"]["error"]["code"] == "ErrorInvalidIdMalformed"


def test_batch_limits_and_bad_members(client: GraphClient, day: datetime) -> None:
    many = [{"id": str(i), "method": "GET", "url": f"/users/{ANA}"} for i in range(21)]
    assert client.post("$batch", json={"requests": many}).status_code == 400
    twice = [{"id": "1", "method": "GET", "url": f"/users/{ANA}"}] * 2
    assert client.post("$batch", json={"requests": twice}).status_code == 400
    no_type = [{"id": "1", "method": "POST", "url": f"/users/{ANA}/events", "body": _event("x", day)}]
    member = client.post("$batch", json={"requests": no_type}).json()["responses"][0]
    assert member["status"] == 400


def test_depends_on_orders_and_fails_dependents(client: GraphClient, day: datetime) -> None:
    created = client.create(ANA, "dep", day)
    path = f"/users/{ANA}/events/{created['id']}"
    stale = {**JSON, "If-Match": 'W/"stale"'}
    batch = [
        {
            "id": "b",
            "method": "PATCH",
            "url": path,
            "headers": stale,
            "body": {"subject": "x"},
            "dependsOn": ["a"],
        },
        {"id": "a", "method": "PATCH", "url": path, "headers": JSON, "body": {"subject": "dep 2"}},
        {"id": "c", "method": "GET", "url": path, "dependsOn": ["b"]},
    ]
    by_id = {r["id"]: r for r in client.post("$batch", json={"requests": batch}).json()["responses"]}
    assert by_id["a"]["status"] == 200
    assert by_id["b"]["status"] == 412 and by_id["b"]["body"]["error"]["code"] == "ErrorIrresolvableConflict"
    assert by_id["c"]["status"] == 424


def test_a_batch_member_carries_its_own_429(graph: GraphSandbox, client: GraphClient) -> None:
    graph.faults.throttle(count=1, retry_after=7, mailbox=BEN)
    batch = [
        {"id": "1", "method": "GET", "url": f"/users/{ANA}"},
        {"id": "2", "method": "GET", "url": f"/users/{BEN}"},
    ]
    answer = client.post("$batch", json={"requests": batch})
    by_id = {r["id"]: r for r in answer.json()["responses"]}
    assert answer.status_code == 200 and by_id["1"]["status"] == 200
    assert by_id["2"]["status"] == 429 and by_id["2"]["headers"]["Retry-After"] == "7"


def test_four_requests_in_flight_per_mailbox(
    graph: GraphSandbox, client: GraphClient, token: str, ca_path: str
) -> None:
    graph.faults.latency(0.6)

    def call(user: str) -> requests.Response:
        return GraphClient(graph.graph_url, token, ca_path).get(f"users/{user}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(call, [CLEO] * 6 + [BEN] * 2))
    cleo = [a.status_code for a in answers[:6]]
    assert sorted(cleo) == [200, 200, 200, 200, 429, 429]
    refused = next(a for a in answers[:6] if a.status_code == 429)
    error = refused.json()["error"]
    assert (error["code"], error["message"]) == (
        "ApplicationThrottled",
        "Application is over its MailboxConcurrency limit.",
    )
    assert int(refused.headers["Retry-After"]) >= 1
    assert [a.status_code for a in answers[6:]] == [200, 200]  # another mailbox's budget is its own


def test_rate_budget_per_mailbox(graph: GraphSandbox, client: GraphClient) -> None:
    graph.faults.rate_limit(3, window_seconds=30)
    try:
        statuses = [client.get(f"users/{CLEO}/calendar").status_code for _ in range(5)]
        assert statuses[-1] == 429
        last = client.get(f"users/{CLEO}/calendar")
        assert (
            last.json()["error"]["code"] == "TooManyRequests" and 0 < int(last.headers["Retry-After"]) <= 30
        )
        assert client.get(f"users/{ANA}/calendar").status_code in (200, 429)
    finally:
        graph.faults.rate_limit(10_000, window_seconds=600)


def test_injected_faults_through_the_admin_endpoint(
    graph: GraphSandbox, client: GraphClient, ca_path: str
) -> None:
    admin = requests.Session()
    admin.verify, admin.trust_env = ca_path, False
    url = graph.admin()["admin_url"]
    auth = {"Authorization": f"Bearer {graph.admin()['admin_token']}"}
    assert admin.post(f"{url}/faults", json={"fault": "clear"}).status_code == 403
    assert admin.post(f"{url}/faults", json={"fault": "nope"}, headers=auth).status_code == 400
    set_fault = admin.post(
        f"{url}/faults", json={"fault": "unavailable", "count": 1, "retry_after": 2}, headers=auth
    )
    assert set_fault.status_code == 200
    busy = client.get(f"users/{ANA}")
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "2"
    assert client.get(f"users/{ANA}").status_code == 200
    admin.post(f"{url}/faults", json={"fault": "throttle", "count": 1, "retry_after": 3}, headers=auth)
    throttled = client.get(f"users/{ANA}/events")
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "TooManyRequests"
    state = admin.get(f"{url}/state", headers=auth).json()
    assert state["mailboxes"][ANA]["events"] >= 0 and state["throttled"] >= 1 and state["requests"] > 0
    assert admin.get(f"{url}/state").status_code == 403
