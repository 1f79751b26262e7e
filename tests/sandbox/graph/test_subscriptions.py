"""Change notifications: the validation handshake, clientState, deliveries and retries, renewal, expiry and
the lifecycle notifications (R-GRAPH-2)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.sandbox.background import in_background
from bridge.sandbox.graph import GraphSandbox
from bridge.sandbox.tls import SandboxTLS

from .conftest import MAILBOXES, GraphClient, Receiver

BEN = MAILBOXES[1]


def _expiry(minutes: float = 60) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _subscribe(client: GraphClient, hook: Receiver, lifecycle: bool = True, **extra: Any) -> dict[str, Any]:
    headers = extra.pop("headers", None)
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": hook.url,
        "resource": f"/users/{BEN}/events",
        "expirationDateTime": _expiry(),
        "clientState": "s3cret",
        **({"lifecycleNotificationUrl": hook.url + "?kind=lifecycle"} if lifecycle else {}),
        **extra,
    }
    answer = client.post("subscriptions", json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


@pytest.fixture
def subscription(client: GraphClient, receiver: Receiver) -> Iterator[dict[str, Any]]:
    sub = _subscribe(client, receiver)
    yield sub
    client.delete(f"subscriptions/{sub['id']}")


def test_handshake_then_notifications(client: GraphClient, receiver: Receiver, day: datetime) -> None:
    sub = _subscribe(client, receiver)
    # Both URLs were validated with the token Graph sends (spaces and colons, URL-decoded by the receiver).
    assert len(receiver.validations) == 2 and receiver.validations[0].startswith("Validation: Testing client")
    assert sub["clientState"] == "s3cret" and sub["resource"] == f"/users/{BEN}/events"
    event = client.create(BEN, "notify me", day)
    client.patch(f"users/{BEN}/events/{event['id']}", json={"subject": "changed"})
    client.delete(f"users/{BEN}/events/{event['id']}")
    found = receiver.wait_for(lambda ns: {n["changeType"] for n in ns} >= {"created", "updated", "deleted"})
    first = found[0]
    assert first["subscriptionId"] == sub["id"] and first["clientState"] == "s3cret"
    assert first["resource"] == f"Users/{client.get(f'users/{BEN}').json()['id']}/Events/{event['id']}"
    assert (
        first["resourceData"]["id"] == event["id"]
        and first["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    )
    assert first["tenantId"] and "subscriptionExpirationDateTime" in first
    client.delete(f"subscriptions/{sub['id']}")


def test_failed_handshakes_refuse_the_subscription(client: GraphClient, receiver: Receiver) -> None:
    body = {"changeType": "updated", "notificationUrl": receiver.url, "resource": f"/users/{BEN}/events",
            "expirationDateTime": _expiry(), "clientState": "x"}  # fmt: skip
    for mode, code in (
        ("wrong", "ValidationError"),
        ("error", "ValidationError"),
        ("slow", "InvalidRequest"),
    ):
        receiver.mode = mode
        answer = client.post("subscriptions", json=body)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == code, mode
    receiver.mode = "echo"
    plain = client.post("subscriptions", json={**body, "notificationUrl": "http://example.com/hook"})
    assert plain.status_code == 400  # Graph wants https; plain http only on this machine
    too_long = client.post("subscriptions", json={**body, "expirationDateTime": _expiry(10_081)})
    assert too_long.status_code == 400 and "10080 minutes" in too_long.json()["error"]["message"]


def test_notifications_carry_immutable_ids_when_asked(
    client: GraphClient, receiver: Receiver, day: datetime
) -> None:
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    sub = _subscribe(client, receiver, lifecycle=False, headers=immutable)
    event = client.create(BEN, "imm notify", day, headers=immutable)
    found = receiver.wait_for(lambda ns: any(n["changeType"] == "created" for n in ns))
    assert found[0]["resourceData"]["id"] == event["id"]
    client.delete(f"subscriptions/{sub['id']}")


def test_renew_list_and_delete(client: GraphClient, subscription: dict[str, Any]) -> None:
    path = f"subscriptions/{subscription['id']}"
    renewed = client.patch(path, json={"expirationDateTime": _expiry(120)})
    assert (
        renewed.status_code == 200
        and renewed.json()["expirationDateTime"] > subscription["expirationDateTime"]
    )
    assert subscription["id"] in [s["id"] for s in client.get("subscriptions").json()["value"]]
    assert client.post(f"{path}/reauthorize").status_code == 204
    assert client.delete(path).status_code == 204
    missing = client.get(path)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ResourceNotFound"


def test_delivery_is_retried_until_acknowledged(
    graph: GraphSandbox, client: GraphClient, receiver: Receiver, subscription: dict[str, Any], day: datetime
) -> None:
    receiver.status = 500
    client.create(BEN, "retry me", day)
    deadline = time.monotonic() + 3
    while graph.snapshot_state()["notifications"]["failed_attempts"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    receiver.status = 202
    receiver.posts.clear()
    receiver.wait_for(lambda ns: any(n["changeType"] == "created" for n in ns))


def _lifecycle(receiver: Receiver, event: str) -> list[dict[str, Any]]:
    return receiver.wait_for(lambda ns: any(n.get("lifecycleEvent") == event for n in ns))


def test_reauthorization_pauses_notifications_until_handled(
    graph: GraphSandbox, client: GraphClient, receiver: Receiver, subscription: dict[str, Any], day: datetime
) -> None:
    assert graph.faults.lifecycle("reauthorizationRequired", subscription["id"]) == 1
    note = next(n for n in _lifecycle(receiver, "reauthorizationRequired"))
    assert note["subscriptionId"] == subscription["id"] and note["clientState"] == "s3cret"
    time.sleep(0.4)  # past the grace period: notifications pause, and the changes in between are lost
    receiver.posts.clear()
    client.create(BEN, "during the pause", day)
    time.sleep(0.3)
    assert not [n for n in receiver.notifications() if "changeType" in n]
    client.post(f"subscriptions/{subscription['id']}/reauthorize")
    client.create(BEN, "after reauthorizing", day)
    receiver.wait_for(lambda ns: any(n.get("changeType") == "created" for n in ns))


def test_subscription_removed_and_missed(
    graph: GraphSandbox, client: GraphClient, receiver: Receiver, subscription: dict[str, Any], day: datetime
) -> None:
    graph.faults.drop_notifications(count=1)
    client.create(BEN, "lost", day)
    _lifecycle(receiver, "missed")
    assert graph.faults.lifecycle("subscriptionRemoved") >= 1
    _lifecycle(receiver, "subscriptionRemoved")
    assert client.get(f"subscriptions/{subscription['id']}").status_code == 404


def test_expiry_and_the_reauthorization_before_it(
    client: GraphClient, receiver: Receiver, day: datetime
) -> None:
    sub = _subscribe(client, receiver, expirationDateTime=_expiry(0.04))  # 2.4 s; the sandbox asks 2 s before
    _lifecycle(receiver, "reauthorizationRequired")
    deadline = time.monotonic() + 5
    while client.get(f"subscriptions/{sub['id']}").status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get(f"subscriptions/{sub['id']}").status_code == 404


def test_https_subscriber_trusted_through_the_sandbox_ca(
    tls: SandboxTLS, client: GraphClient, day: datetime
) -> None:
    hook = Receiver()
    with in_background(lambda: hook.start(tls), hook.stop, "graph-https-hook"):
        sub = _subscribe(client, hook, lifecycle=False)
        client.create(BEN, "over https", day)
        hook.wait_for(lambda ns: any(n["changeType"] == "created" for n in ns))
        client.delete(f"subscriptions/{sub['id']}")
