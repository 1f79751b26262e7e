"""One story through either protocol: the Graph and EWS sandboxes share the mailboxes (R-GRAPH-1), and the
combined sandbox lists Graph in endpoints.json and keeps its state across a restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from exchangelib import (
    BASIC,
    IMPERSONATION,
    Account,
    Build,
    CalendarItem,
    Configuration,
    Credentials,
    EWSDateTime,
    ExtendedProperty,
    Version,
)
from exchangelib.protocol import close_connections
from exchangelib.recurrence import DailyPattern, Recurrence

from bridge.sandbox.background import in_background
from bridge.sandbox.exchange import ExchangeSandbox
from bridge.sandbox.exchange.client_tls import trust_ca
from bridge.sandbox.graph import GraphSandbox
from bridge.sandbox.runner import running_sandbox
from bridge.sandbox.tls import SandboxTLS

from .conftest import SF_PROP, TIMINGS, GraphClient, iso, msal_app

BOXES = ["eve@shared.example", "finn@shared.example"]


class SalesforceId(ExtendedProperty):  # type: ignore[misc]
    property_set_id = "6a1f0c2e-3b7d-4a59-9c1e-5f0b8d2a7e11"
    property_name = "SalesforceEventId"
    property_type = "String"


@pytest.fixture(scope="module")
def pair(tls: SandboxTLS) -> Iterator[tuple[ExchangeSandbox, GraphSandbox]]:
    ews = ExchangeSandbox(tls, BOXES)
    graph = GraphSandbox(tls, store=ews.store, timings=TIMINGS)

    async def start() -> None:
        await ews.start()
        await graph.start()

    async def stop() -> None:
        await graph.stop()
        await ews.stop()

    # The Exchange sandbox tests register the same property for the whole session when they run first.
    registered_here = "sf_id" not in {f.name for f in CalendarItem.FIELDS}
    if registered_here:
        CalendarItem.register("sf_id", SalesforceId)
    try:
        with in_background(start, stop, "ews+graph"):
            yield ews, graph
    finally:
        if registered_here:
            CalendarItem.deregister("sf_id")


def _account(ews: ExchangeSandbox, address: str) -> Account:
    trust_ca(ews.tls.ca_pem)
    config = Configuration(
        service_endpoint=ews.ews_url,
        credentials=Credentials(ews.username, ews.password),
        auth_type=BASIC,
        version=Version(build=Build(15, 1, 2507, 6)),
    )
    return Account(address, config=config, autodiscover=False, access_type=IMPERSONATION)


def test_written_through_graph_read_through_ews_and_back(
    pair: tuple[ExchangeSandbox, GraphSandbox], ca_path: str
) -> None:
    ews, graph = pair
    token = msal_app(graph.endpoints(), ca_path).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"]
    )["access_token"]
    client = GraphClient(graph.graph_url, token, ca_path)
    start = datetime(2032, 5, 3, 9, tzinfo=UTC)
    people = [{"type": "required", "emailAddress": {"address": BOXES[1]}}]
    event = client.create(
        BOXES[0],
        "Both ways",
        start,
        singleValueExtendedProperties=[{"id": SF_PROP, "value": "00U9"}],
        attendees=people,
    )
    account = _account(ews, BOXES[0])
    try:
        items = list(account.calendar.view(start=start - timedelta(hours=1), end=start + timedelta(hours=2)))
        assert [i.subject for i in items] == ["Both ways"]
        item = account.calendar.get(id=items[0].id)
        assert item.sf_id == "00U9" and item.changekey == event["changeKey"]
        assert (
            item.id.replace("/", "-").replace("+", "_") == event["id"]
        )  # the REST id is the EWS id, URL-safe
        item.subject = "Changed in EWS"
        item.save(update_fields=["subject"])
        got = client.get(f"users/{BOXES[0]}/events/{event['id']}").json()
        assert got["subject"] == "Changed in EWS" and got["changeKey"] == item.changekey
        # The attendee's copy, delivered by Graph's invitation, is an EWS item too.
        finn = _account(ews, BOXES[1])
        copies = list(finn.calendar.view(start=start - timedelta(hours=1), end=start + timedelta(hours=2)))
        assert [c.uid for c in copies] == [event["iCalUId"]]
        made = CalendarItem(
            account=account, folder=account.calendar, subject="From EWS",
            start=EWSDateTime.from_datetime(start + timedelta(days=1)),
            end=EWSDateTime.from_datetime(start + timedelta(days=1, hours=1)),
        )  # fmt: skip
        made.sf_id = "00U10"
        made.save()
        prop = f"singleValueExtendedProperties/Any(ep: ep/id eq '{SF_PROP}' and ep/value eq '00U10')"
        found = client.get(f"users/{BOXES[0]}/events", params={"$filter": prop}).json()["value"]
        assert [e["subject"] for e in found] == ["From EWS"]
    finally:
        close_connections()


def test_combined_sandbox_lists_graph_and_keeps_its_state(tmp_path: Path) -> None:
    with running_sandbox(tmp_path, users=2) as sandbox:
        ends = json.loads((tmp_path / "endpoints.json").read_text())
        section = ends["graph"]
        assert section["graph_url"].endswith("/v1.0") and section["authority"].startswith("https://")
        assert section["mailboxes"] == ends["exchange"]["mailboxes"]
        assert ends["admin"]["graph"]["admin_url"].startswith("https://")
        app = msal_app(section, ends["ca_bundle"])
        token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
        client = GraphClient(section["graph_url"], token, ends["ca_bundle"])
        user = section["mailboxes"][0]
        now = datetime.now(UTC)
        window = {"startDateTime": iso(now - timedelta(days=1)), "endDateTime": iso(now + timedelta(days=8))}
        seeded = client.get(
            f"users/{user}/calendarView/delta", params=window, headers={"Prefer": "odata.maxpagesize=50"}
        )
        assert (
            seeded.status_code == 200 and len(seeded.json()["value"]) >= 4
        )  # the EWS seed, seen through Graph
        delta_link = seeded.json()["@odata.deltaLink"]
        tenant = section["tenant_id"]
        assert sandbox.graph.identity.tenant_id == tenant
    with running_sandbox(tmp_path, users=2):
        again = json.loads((tmp_path / "endpoints.json").read_text())["graph"]
        assert again["tenant_id"] == tenant
        app = msal_app(again, ends["ca_bundle"])
        token = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])["access_token"]
        client = GraphClient(again["graph_url"], token, ends["ca_bundle"])
        path = delta_link.split("/v1.0/", 1)[1]
        resumed = client.get(path)
        assert resumed.status_code == 200 and resumed.json()["value"] == []  # the delta token survived


def test_a_series_written_through_ews_reads_as_graph_shows_series(
    pair: tuple[ExchangeSandbox, GraphSandbox], ca_path: str
) -> None:
    ews, graph = pair
    token = msal_app(graph.endpoints(), ca_path).acquire_token_for_client(
        scopes=["https://graph.microsoft.com/.default"]
    )["access_token"]
    client = GraphClient(graph.graph_url, token, ca_path)
    start = datetime(2032, 6, 7, 9, tzinfo=UTC)
    account = _account(ews, BOXES[0])
    try:
        master = CalendarItem(
            account=account, folder=account.calendar, subject="Weekly sync",
            start=EWSDateTime.from_datetime(start), end=EWSDateTime.from_datetime(start + timedelta(hours=1)),
            recurrence=Recurrence(pattern=DailyPattern(interval=7), start=start.date(), number=3),
        )  # fmt: skip
        master.save()
    finally:
        close_connections()
    window = {"startDateTime": iso(start - timedelta(days=1)), "endDateTime": iso(start + timedelta(days=30))}
    shown = client.get(f"users/{BOXES[0]}/calendarView", params=window).json()["value"]
    occurrences = [e for e in shown if e["subject"] == "Weekly sync"]
    assert [e["type"] for e in occurrences] == ["occurrence"] * 3
    masters = client.get(f"users/{BOXES[0]}/events", params={"$filter": "subject eq 'Weekly sync'"}).json()[
        "value"
    ]
    assert [m["type"] for m in masters] == ["seriesMaster"]
    assert {e["seriesMasterId"] for e in occurrences} == {masters[0]["id"]}
    one = client.get(f"users/{BOXES[0]}/events/{occurrences[1]['id']}").json()
    assert one["start"]["dateTime"].startswith(iso(start + timedelta(days=7))[:-1])
    delta = client.get(f"users/{BOXES[0]}/calendarView/delta", params=window).json()
    assert sum(e["subject"] == "Weekly sync" for e in delta["value"]) == 3
    assert masters[0]["recurrence"]["pattern"]["type"] == "daily"
    assert masters[0]["recurrence"]["pattern"]["interval"] == 7
    assert masters[0]["recurrence"]["range"]["type"] == "numbered"
    assert masters[0]["recurrence"]["range"]["numberOfOccurrences"] == 3
    assert masters[0]["recurrence"]["range"]["startDate"] == start.date().isoformat()
    edited = client.patch(f"users/{BOXES[0]}/events/{occurrences[0]['id']}", json={"subject": "x"})
    assert edited.status_code == 200 and edited.json()["type"] == "exception"
    account = _account(ews, BOXES[0])
    try:
        (again,) = account.fetch(ids=[(masters[0]["id"].replace("-", "/").replace("_", "+"), None)])
        assert [o.start for o in again.modified_occurrences or ()] == [start]  # EWS sees the exception
    finally:
        close_connections()
