"""Events through Graph: fields, paging, calendarView, If-Match, immutable ids, transactionId, extended
properties, Prefer headers, validation (R-GRAPH-4)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.sandbox.graph import GraphSandbox

from .conftest import MAILBOXES, SF_PROP, GraphClient, iso

ANA, BEN = MAILBOXES[0], MAILBOXES[1]


def test_create_returns_the_event_with_graph_fields(client: GraphClient, day: datetime) -> None:
    event = client.create(
        ANA,
        "Demo with ACME",
        day + timedelta(hours=9),
        body={"contentType": "text", "content": "Agenda"},
        location={"displayName": "Room 4"},
        showAs="busy",
        sensitivity="private",
        categories=["Blue"],
    )
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    assert event["subject"] == "Demo with ACME" and event["type"] == "singleInstance"
    assert event["start"] == {"dateTime": iso(day + timedelta(hours=9))[:-1] + ".0000000", "timeZone": "UTC"}
    assert event["location"]["displayName"] == "Room 4" and event["locations"][0]["displayName"] == "Room 4"
    assert (event["showAs"], event["sensitivity"], event["categories"]) == ("busy", "private", ["Blue"])
    assert event["isOrganizer"] is True and event["responseStatus"]["response"] == "organizer"
    assert event["organizer"]["emailAddress"]["address"] == ANA
    assert event["bodyPreview"] == "Agenda"
    assert (
        event["body"]["contentType"] == "html" and "Agenda" in event["body"]["content"]
    )  # Outlook stores HTML
    assert "transactionId" not in event and event["iCalUId"]
    got = client.get(
        f"users/{ANA}/events/{event['id']}", headers={"Prefer": 'outlook.body-content-type="text"'}
    )
    assert got.status_code == 200 and got.json()["body"] == {"contentType": "text", "content": "Agenda"}


def test_list_pages_with_next_links_and_select(client: GraphClient, day: datetime) -> None:
    for hour in range(5):
        client.create(BEN, f"page {hour}", day + timedelta(hours=hour))
    first = client.get(
        f"users/{BEN}/calendarView",
        params={"startDateTime": iso(day), "endDateTime": iso(day + timedelta(days=1)), "$top": "2",
                "$select": "subject,start"},
    ).json()  # fmt: skip
    assert [e["subject"] for e in first["value"]] == ["page 0", "page 1"]
    assert set(first["value"][0]) == {"@odata.etag", "id", "subject", "start"}
    subjects = [e["subject"] for e in first["value"]]
    link = first.get("@odata.nextLink")
    while link:
        page = client.get(link).json()
        subjects += [e["subject"] for e in page["value"]]
        link = page.get("@odata.nextLink")
    assert subjects == [f"page {h}" for h in range(5)]
    missing = client.get(f"users/{BEN}/calendarView")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "ErrorInvalidParameter"
    sized = client.get(
        f"users/{BEN}/calendarView",
        params={"startDateTime": iso(day), "endDateTime": iso(day + timedelta(days=1))},
        headers={"Prefer": "odata.maxpagesize=3"},
    )
    assert len(sized.json()["value"]) == 3 and "odata.maxpagesize=3" in sized.headers["Preference-Applied"]


def test_if_match_and_412(client: GraphClient, day: datetime) -> None:
    event = client.create(ANA, "etag", day)
    path = f"users/{ANA}/events/{event['id']}"
    ok = client.patch(path, json={"subject": "etag 2"}, headers={"If-Match": event["@odata.etag"]})
    assert ok.status_code == 200 and ok.json()["changeKey"] != event["changeKey"]
    stale = client.patch(path, json={"subject": "etag 3"}, headers={"If-Match": event["@odata.etag"]})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "ErrorIrresolvableConflict"
    assert client.delete(path, headers={"If-Match": event["@odata.etag"]}).status_code == 412
    assert client.delete(path, headers={"If-Match": ok.json()["@odata.etag"]}).status_code == 204
    gone = client.get(path)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ErrorItemNotFound"


def test_immutable_ids_survive_a_move(client: GraphClient, day: datetime) -> None:
    immutable = {"Prefer": 'IdType="ImmutableId"'}
    event = client.create(ANA, "immutable", day, headers=immutable)
    rest = client.get(f"users/{ANA}/events/{event['id']}").json()["id"]
    assert rest != event["id"]
    assert client.get(f"users/{ANA}/events/{rest}", headers=immutable).json()["id"] == event["id"]
    assert client.delete(f"users/{ANA}/events/{event['id']}").status_code == 204  # moves to Deleted Items
    assert client.get(f"users/{ANA}/events/{rest}").status_code == 404  # the REST id changed with the move
    moved = client.get(f"users/{ANA}/events/{event['id']}", headers=immutable)
    assert moved.status_code == 200 and moved.json()["id"] == event["id"]
    assert client.get(f"users/{ANA}/events/not-an-id").json()["error"]["code"] == "ErrorInvalidIdMalformed"


def test_transaction_id_makes_a_retried_create_idempotent(client: GraphClient, day: datetime) -> None:
    first = client.create(ANA, "once", day, transactionId="sf-00U1-v1")
    again = client.create(ANA, "once", day, transactionId="sf-00U1-v1")
    assert again["id"] == first["id"] and again["transactionId"] == "sf-00U1-v1"
    window = {"startDateTime": iso(day), "endDateTime": iso(day + timedelta(hours=1))}
    assert [e["subject"] for e in client.get(f"users/{ANA}/calendarView", params=window).json()["value"]] == [
        "once"
    ]
    body = {
        "subject": "other",
        "transactionId": "sf-00U1-v1",
        "start": {"dateTime": iso(day)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": iso(day + timedelta(hours=1))[:-1], "timeZone": "UTC"},
    }
    clash = client.post(f"users/{ANA}/events", json=body)
    assert clash.status_code == 400 and clash.json()["error"]["code"] == "ErrorDuplicateTransactionId"


def test_extended_property_write_expand_and_filter(client: GraphClient, day: datetime) -> None:
    prop = [{"id": SF_PROP, "value": "00U5g00000XyZ"}]
    event = client.create(ANA, "linked", day, singleValueExtendedProperties=prop)
    assert "singleValueExtendedProperties" not in event
    expand = f"singleValueExtendedProperties($filter=id eq '{SF_PROP}')"
    got = client.get(f"users/{ANA}/events/{event['id']}", params={"$expand": expand}).json()
    assert got["singleValueExtendedProperties"] == [{"id": SF_PROP, "value": "00U5g00000XyZ"}]
    found = client.get(
        f"users/{ANA}/events",
        params={
            "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{SF_PROP}' and "
            "ep/value eq '00U5g00000XyZ')"
        },
    ).json()["value"]
    assert [e["id"] for e in found] == [event["id"]]
    bad = client.post(
        f"users/{ANA}/events", json={**_times(day), "singleValueExtendedProperties": [{"id": "nope"}]}
    )
    assert bad.status_code == 400


def _times(day: datetime, zone: str = "UTC") -> dict[str, dict[str, str]]:
    return {
        "start": {"dateTime": day.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone},
        "end": {"dateTime": (day + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": zone},
    }


def test_time_zones_in_and_out(client: GraphClient, day: datetime) -> None:
    event = client.post(
        f"users/{ANA}/events", json={"subject": "zoned", **_times(day + timedelta(hours=9), "Europe/Berlin")}
    ).json()
    assert event["originalStartTimeZone"] == "W. Europe Standard Time"
    assert event["start"]["timeZone"] == "UTC" and event["start"]["dateTime"].startswith(
        (day + timedelta(hours=8)).strftime("%Y-%m-%dT%H")
    )
    shown = client.get(
        f"users/{ANA}/events/{event['id']}", headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}
    ).json()
    assert shown["start"]["timeZone"] == "Pacific Standard Time"
    bad = client.post(f"users/{ANA}/events", json={"subject": "x", **_times(day, "Mars/Olympus")})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "TimeZoneNotSupportedException"


def test_validation_errors(client: GraphClient, day: datetime) -> None:
    unknown = client.post(f"users/{ANA}/events", json={"subject": "x", "colour": "red", **_times(day)})
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "RequestBodyRead"
    show = client.post(f"users/{ANA}/events", json={"subject": "x", "showAs": "maybe", **_times(day)})
    assert show.status_code == 400
    backwards = {"start": _times(day)["end"], "end": _times(day)["start"]}
    assert client.post(f"users/{ANA}/events", json={"subject": "x", **backwards}).status_code == 400
    all_day = client.post(f"users/{ANA}/events", json={"subject": "x", "isAllDay": True, **_times(day)})
    assert all_day.status_code == 400
    whole_day = {
        "start": {"dateTime": day.strftime("%Y-%m-%dT00:00:00"), "timeZone": "UTC"},
        "end": {"dateTime": (day + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00"), "timeZone": "UTC"},
    }
    assert (
        client.post(f"users/{ANA}/events", json={"subject": "x", "isAllDay": True, **whole_day}).status_code
        == 201
    )
    assert client.post(f"users/{ANA}/events", json={"subject": "no times"}).status_code == 400


def test_app_without_rights_on_a_mailbox_is_refused(graph: GraphSandbox, client: GraphClient) -> None:
    graph.add_mailbox("outside@graph.example")
    graph.faults.run_in_loop(
        lambda: setattr(graph.store.mailbox("outside@graph.example"), "impersonation", False)
    )
    refused = client.get("users/outside@graph.example/events")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "ErrorAccessDenied"
