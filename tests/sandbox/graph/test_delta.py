"""calendarView/delta: pages, deltaLink rounds, removed items, a fixed window, and the two resync signals
(R-GRAPH-2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bridge.sandbox.graph import GraphSandbox

from .conftest import MAILBOXES, GraphClient, iso

DAN = MAILBOXES[3]


def _round(client: GraphClient, link: str, page: int = 2) -> tuple[list[dict[str, Any]], str, int]:
    """Follow nextLinks to the deltaLink: (entries, deltaLink, pages)."""
    entries: list[dict[str, Any]] = []
    pages = 0
    while True:
        answer = client.get(link, headers={"Prefer": f"odata.maxpagesize={page}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages += 1
        entries += body["value"]
        if "@odata.deltaLink" in body:
            return entries, body["@odata.deltaLink"], pages
        link = body["@odata.nextLink"]


def _start(day: datetime) -> str:
    return (
        f"users/{DAN}/calendarView/delta?startDateTime={iso(day)}&endDateTime={iso(day + timedelta(days=1))}"
    )


def test_rounds_report_changes_and_removals(client: GraphClient, day: datetime) -> None:
    events = [client.create(DAN, f"delta {i}", day + timedelta(hours=i)) for i in range(5)]
    client.create(DAN, "outside the window", day + timedelta(days=2))
    entries, link, pages = _round(client, _start(day))
    assert pages == 3 and sorted(e["subject"] for e in entries) == [f"delta {i}" for i in range(5)]
    assert "$deltatoken=" in link

    nothing, link, _ = _round(client, link)
    assert nothing == []

    client.patch(f"users/{DAN}/events/{events[0]['id']}", json={"subject": "delta 0 changed"})
    client.delete(f"users/{DAN}/events/{events[1]['id']}")
    later = day + timedelta(days=5)
    out = {"start": {"dateTime": iso(later)[:-1], "timeZone": "UTC"},
           "end": {"dateTime": iso(later + timedelta(hours=1))[:-1], "timeZone": "UTC"}}  # fmt: skip
    client.patch(f"users/{DAN}/events/{events[2]['id']}", json=out)  # leaves the window
    added = client.create(DAN, "delta new", day + timedelta(hours=20))
    entries, link, _ = _round(client, link, page=10)
    changed = {e["id"]: e for e in entries if "@removed" not in e}
    removed = {e["id"] for e in entries if "@removed" in e}
    assert set(changed) == {events[0]["id"], added["id"]}
    assert changed[events[0]["id"]]["subject"] == "delta 0 changed"
    assert removed == {events[1]["id"], events[2]["id"]}
    assert all(e["@removed"] == {"reason": "deleted"} for e in entries if "@removed" in e)


def test_a_page_can_be_fetched_again(client: GraphClient, day: datetime) -> None:
    for i in range(3):
        client.create(DAN, f"again {i}", day + timedelta(hours=i))
    first = client.get(_start(day), headers={"Prefer": "odata.maxpagesize=1"}).json()
    link = first["@odata.nextLink"]
    one = client.get(link, headers={"Prefer": "odata.maxpagesize=1"}).json()
    two = client.get(link, headers={"Prefer": "odata.maxpagesize=1"}).json()
    assert one["value"] == two["value"]


def test_expired_state_is_410_sync_state_not_found(
    graph: GraphSandbox, client: GraphClient, day: datetime
) -> None:
    client.create(DAN, "expiring", day)
    _, link, _ = _round(client, _start(day))
    graph.faults.expire_delta_tokens(DAN)
    refused = graph.snapshot_state()["delta_refused"].get(DAN.lower(), 0)
    gone = client.get(link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"
    assert graph.snapshot_state()["delta_refused"][DAN.lower()] == refused + 1  # counted for the admin state
    entries, _, _ = _round(client, _start(day))  # a fresh initial round works
    assert [e["subject"] for e in entries] == ["expiring"]


def test_resync_required_carries_a_location(graph: GraphSandbox, client: GraphClient, day: datetime) -> None:
    client.create(DAN, "moved tenant", day)
    _, link, _ = _round(client, _start(day))
    graph.faults.resync_delta(DAN)
    refused = graph.snapshot_state()["delta_refused"].get(DAN.lower(), 0)
    gone = client.get(link)
    assert gone.status_code == 410 and gone.json()["error"]["code"] == "resyncRequired"
    assert graph.snapshot_state()["delta_refused"][DAN.lower()] == refused + 1
    entries, _, _ = _round(client, gone.headers["Location"])
    assert [e["subject"] for e in entries] == ["moved tenant"]


@pytest.mark.parametrize("option", ["$select=subject", "$filter=subject eq 'x'"])
def test_delta_refuses_query_options(client: GraphClient, day: datetime, option: str) -> None:
    assert client.get(f"{_start(day)}&{option}").status_code == 400


def test_immutable_ids_in_delta(client: GraphClient, day: datetime) -> None:
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    event = client.create(DAN, "imm delta", day, headers=immutable)
    body = client.get(_start(day), headers=immutable).json()
    assert [e["id"] for e in body["value"]] == [event["id"]]
    client.delete(f"users/{DAN}/events/{event['id']}")
    after = client.get(body["@odata.deltaLink"], headers=immutable).json()
    assert after["value"] == [
        {"@odata.type": "#microsoft.graph.event", "id": event["id"], "@removed": {"reason": "deleted"}}
    ]
