"""Meetings between sandbox mailboxes through Graph: invitations always sent (R-GRAPH-3), responses flow
back to the organizer, updates and cancellations reach the attendees' copies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .conftest import MAILBOXES, GraphClient, iso

ANA, BEN, CLEO = MAILBOXES[0], MAILBOXES[1], MAILBOXES[2]


def _copy(client: GraphClient, user: str, uid: str) -> dict[str, Any] | None:
    found = client.get(f"users/{user}/events", params={"$filter": f"iCalUId eq '{uid}'"}).json()["value"]
    return found[0] if found else None


def _attendee(event: dict[str, Any], address: str) -> dict[str, Any]:
    return next(a for a in event["attendees"] if a["emailAddress"]["address"] == address)


def _meeting(client: GraphClient, day: datetime, *attendees: str) -> dict[str, Any]:
    people = [{"type": "required", "emailAddress": {"address": a}} for a in attendees]
    return client.create(ANA, "Planning", day + timedelta(hours=10), attendees=people)


def test_creating_a_meeting_always_invites(client: GraphClient, day: datetime) -> None:
    meeting = _meeting(client, day, BEN, "someone@outside.example")
    assert _attendee(meeting, BEN)["status"]["response"] == "none"
    copy = _copy(client, BEN, meeting["iCalUId"])
    assert copy is not None and copy["id"] != meeting["id"]
    assert copy["isOrganizer"] is False and copy["responseStatus"]["response"] == "notResponded"
    assert copy["organizer"]["emailAddress"]["address"] == ANA and copy["showAs"] == "tentative"


def test_responses_flow_back_to_the_organizer(client: GraphClient, day: datetime) -> None:
    meeting = _meeting(client, day, BEN, CLEO)
    ben = _copy(client, BEN, meeting["iCalUId"])
    cleo = _copy(client, CLEO, meeting["iCalUId"])
    assert ben and cleo
    answer = client.post(
        f"users/{BEN}/events/{ben['id']}/accept", json={"comment": "ok", "sendResponse": True}
    )
    assert answer.status_code == 202 and answer.content == b""
    assert client.post(f"users/{CLEO}/events/{cleo['id']}/decline", json={}).status_code == 202
    organizer = client.get(f"users/{ANA}/events/{meeting['id']}").json()
    assert _attendee(organizer, BEN)["status"]["response"] == "accepted"
    assert _attendee(organizer, CLEO)["status"]["response"] == "declined"
    assert client.get(f"users/{BEN}/events/{ben['id']}").json()["responseStatus"]["response"] == "accepted"
    assert _copy(client, CLEO, meeting["iCalUId"]) is None  # a declined meeting leaves the calendar
    own = client.post(f"users/{ANA}/events/{meeting['id']}/accept", json={})
    assert own.status_code == 400


def test_a_silent_answer_does_not_reach_the_organizer(client: GraphClient, day: datetime) -> None:
    meeting = _meeting(client, day, BEN)
    ben = _copy(client, BEN, meeting["iCalUId"])
    assert ben
    client.post(f"users/{BEN}/events/{ben['id']}/tentativelyAccept", json={"sendResponse": False})
    assert (
        client.get(f"users/{BEN}/events/{ben['id']}").json()["responseStatus"]["response"]
        == "tentativelyAccepted"
    )
    organizer = client.get(f"users/{ANA}/events/{meeting['id']}").json()
    assert _attendee(organizer, BEN)["status"]["response"] == "none"


def test_organizer_updates_reach_copies_and_reset_answers(client: GraphClient, day: datetime) -> None:
    meeting = _meeting(client, day, BEN)
    ben = _copy(client, BEN, meeting["iCalUId"])
    assert ben
    client.post(f"users/{BEN}/events/{ben['id']}/accept", json={})
    later = day + timedelta(hours=14)
    patch = {"start": {"dateTime": iso(later)[:-1], "timeZone": "UTC"},
             "end": {"dateTime": iso(later + timedelta(hours=1))[:-1], "timeZone": "UTC"}}  # fmt: skip
    assert client.patch(f"users/{ANA}/events/{meeting['id']}", json=patch).status_code == 200
    moved = _copy(client, BEN, meeting["iCalUId"])
    assert moved and moved["start"]["dateTime"].startswith(iso(later)[:-1])
    assert moved["responseStatus"]["response"] == "notResponded"
    organizer = client.get(f"users/{ANA}/events/{meeting['id']}").json()
    assert _attendee(organizer, BEN)["status"]["response"] == "notResponded"
    # Adding an attendee invites them; removing one cancels their copy.
    people = [{"type": "optional", "emailAddress": {"address": CLEO}}]
    client.patch(f"users/{ANA}/events/{meeting['id']}", json={"attendees": people})
    assert _copy(client, CLEO, meeting["iCalUId"]) is not None
    removed = _copy(client, BEN, meeting["iCalUId"])
    assert removed and removed["isCancelled"] is True


def test_cancel_and_delete_by_the_organizer(client: GraphClient, day: datetime) -> None:
    meeting = _meeting(client, day, BEN)
    ben = _copy(client, BEN, meeting["iCalUId"])
    assert ben
    refused = client.post(f"users/{BEN}/events/{ben['id']}/cancel", json={"comment": "no"})
    assert refused.status_code == 400
    assert (
        client.post(f"users/{ANA}/events/{meeting['id']}/cancel", json={"comment": "off"}).status_code == 202
    )
    assert client.get(f"users/{ANA}/events/{meeting['id']}").status_code == 404
    cancelled = _copy(client, BEN, meeting["iCalUId"])
    assert cancelled and cancelled["isCancelled"] is True and cancelled["subject"].startswith("Canceled: ")

    second = _meeting(client, day + timedelta(hours=3), CLEO)
    assert client.delete(f"users/{ANA}/events/{second['id']}").status_code == 204
    gone = _copy(client, CLEO, second["iCalUId"])
    assert gone and gone["isCancelled"] is True
