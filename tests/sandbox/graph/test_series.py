"""Recurring series through Graph (recurrence.md §4): a master's patternedRecurrence, its instances in a
window, an occurrence edited (an exception) or deleted, the pattern changed or ended early, the master
deleted. Plain HTTP, as any Graph client sends it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .conftest import MAILBOXES, GraphClient, iso

CLEO = MAILBOXES[2]
BERLIN = "W. Europe Standard Time"


def _series(client: GraphClient, day: datetime, recurrence: dict[str, Any], subject: str) -> dict[str, Any]:
    start = day.replace(hour=9).strftime("%Y-%m-%dT%H:%M:%S")
    end = day.replace(hour=10).strftime("%Y-%m-%dT%H:%M:%S")
    answer = client.post(
        f"users/{CLEO}/events",
        json={
            "subject": subject,
            "start": {"dateTime": start, "timeZone": BERLIN},
            "end": {"dateTime": end, "timeZone": BERLIN},
            "recurrence": recurrence,
        },
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _daily(day: datetime, count: int) -> dict[str, Any]:
    return {
        "pattern": {"type": "daily", "interval": 1},
        "range": {"type": "numbered", "startDate": day.date().isoformat(), "numberOfOccurrences": count},
    }


def _instances(client: GraphClient, master: dict[str, Any], day: datetime) -> list[dict[str, Any]]:
    window = {"startDateTime": iso(day - timedelta(days=1)), "endDateTime": iso(day + timedelta(days=60))}
    answer = client.get(f"users/{CLEO}/events/{master['id']}/instances", params=window)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["value"])


def test_a_series_posted_with_a_recurrence_reads_back_as_graph_shows_it(
    client: GraphClient, day: datetime
) -> None:
    recurrence = {
        "pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"],
                    "firstDayOfWeek": "monday"},
        "range": {"type": "endDate", "startDate": day.date().isoformat(),
                  "endDate": (day + timedelta(days=40)).date().isoformat(), "recurrenceTimeZone": BERLIN},
    }  # fmt: skip
    master = _series(client, day, recurrence, "Fortnightly review")
    assert master["type"] == "seriesMaster" and master["seriesMasterId"] is None
    got = client.get(f"users/{CLEO}/events/{master['id']}").json()["recurrence"]
    assert got["pattern"]["type"] == "weekly" and got["pattern"]["interval"] == 2
    assert got["pattern"]["daysOfWeek"] == ["monday", "thursday"]
    assert got["pattern"]["firstDayOfWeek"] == "monday"
    assert got["range"]["type"] == "endDate" and got["range"]["recurrenceTimeZone"] == BERLIN
    assert got["range"]["endDate"] == recurrence["range"]["endDate"]
    instances = _instances(client, master, day)
    assert instances and {i["type"] for i in instances} == {"occurrence"}
    assert {i["seriesMasterId"] for i in instances} == {master["id"]}
    weekdays = {datetime.fromisoformat(i["originalStart"].removesuffix("Z")).weekday() for i in instances}
    assert weekdays == {0, 3}
    # The master moved onto its first occurrence, as Exchange shows a series.
    assert master["start"]["dateTime"][:10] == instances[0]["start"]["dateTime"][:10]


def test_instances_need_a_window_and_a_series_master(client: GraphClient, day: datetime) -> None:
    master = _series(client, day, _daily(day, 3), "Needs a window")
    refused = client.get(f"users/{CLEO}/events/{master['id']}/instances")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorInvalidParameter"
    single = client.create(CLEO, "Alone", day + timedelta(hours=13))
    window = {"startDateTime": iso(day), "endDateTime": iso(day + timedelta(days=1))}
    assert client.get(f"users/{CLEO}/events/{single['id']}/instances", params=window).status_code == 400


def test_an_occurrence_edited_is_an_exception_and_one_deleted_is_gone(
    client: GraphClient, day: datetime
) -> None:
    master = _series(client, day, _daily(day, 4), "Stand-up")
    first, second, third, _fourth = _instances(client, master, day)
    edited = client.patch(f"users/{CLEO}/events/{second['id']}", json={"subject": "Stand-up (moved room)"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["type"] == "exception" and edited.json()["id"] == second["id"]
    # The master is what changed: a new changeKey (Graph notifies it as the master's update).
    after = client.get(f"users/{CLEO}/events/{master['id']}").json()
    assert after["changeKey"] != master["changeKey"]
    assert client.delete(f"users/{CLEO}/events/{third['id']}").status_code == 204
    assert client.get(f"users/{CLEO}/events/{third['id']}").status_code == 404
    seen = _instances(client, master, day)
    assert [i["type"] for i in seen] == ["occurrence", "exception", "occurrence"]
    assert [i["originalStart"] for i in seen] == [first["originalStart"], second["originalStart"],
                                                  _fourth["originalStart"]]  # fmt: skip
    assert seen[1]["subject"] == "Stand-up (moved room)"


def test_an_occurrence_cannot_cross_its_neighbour(client: GraphClient, day: datetime) -> None:
    master = _series(client, day, _daily(day, 3), "No crossing")
    first, _second, _third = _instances(client, master, day)
    moved = (day + timedelta(days=1, hours=11)).strftime("%Y-%m-%dT%H:%M:%S")
    refused = client.patch(
        f"users/{CLEO}/events/{first['id']}",
        json={"start": {"dateTime": moved, "timeZone": "UTC"}, "end": {"dateTime": moved, "timeZone": "UTC"}},
    )
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "ErrorOccurrenceCrossingBoundary"


def test_a_series_ended_early_or_given_a_new_pattern_drops_its_exceptions(
    client: GraphClient, day: datetime
) -> None:
    master = _series(client, day, _daily(day, 6), "Ends early")
    first, *_rest = _instances(client, master, day)
    client.patch(f"users/{CLEO}/events/{first['id']}", json={"subject": "Changed once"})
    ended = _daily(day, 6)
    ended["range"] = {"type": "endDate", "startDate": day.date().isoformat(),
                      "endDate": (day + timedelta(days=2)).date().isoformat()}  # fmt: skip
    answer = client.patch(f"users/{CLEO}/events/{master['id']}", json={"recurrence": ended})
    assert answer.status_code == 200, answer.text
    assert answer.json()["recurrence"]["range"]["type"] == "endDate"
    seen = _instances(client, master, day)
    assert len(seen) == 3 and {i["type"] for i in seen} == {"occurrence"}  # Outlook warns exceptions go
    weekly = {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [day.strftime("%A").lower()]},
        "range": {"type": "noEnd", "startDate": day.date().isoformat()},
    }
    answer = client.patch(f"users/{CLEO}/events/{master['id']}", json={"recurrence": weekly})
    assert answer.status_code == 200 and answer.json()["recurrence"]["range"]["type"] == "noEnd"
    assert len(_instances(client, master, day)) == 9  # one a week over the 61-day window


def test_deleting_the_master_deletes_the_series(client: GraphClient, day: datetime) -> None:
    master = _series(client, day, _daily(day, 2), "Whole series")
    assert len(_instances(client, master, day)) == 2
    assert client.delete(f"users/{CLEO}/events/{master['id']}").status_code == 204
    window = {"startDateTime": iso(day - timedelta(days=1)), "endDateTime": iso(day + timedelta(days=5))}
    shown = client.get(f"users/{CLEO}/calendarView", params=window).json()["value"]
    assert "Whole series" not in {e["subject"] for e in shown}  # the master went to Deleted Items


def test_bad_recurrences_are_refused_naming_what_is_wrong(client: GraphClient, day: datetime) -> None:
    start = {"dateTime": day.strftime("%Y-%m-%dT09:00:00"), "timeZone": "UTC"}
    end = {"dateTime": day.strftime("%Y-%m-%dT10:00:00"), "timeZone": "UTC"}
    no_end = {"type": "noEnd", "startDate": "2031-01-01"}
    cases = [
        ({"pattern": {"type": "hourly", "interval": 1}, "range": no_end}, "hourly"),
        ({"pattern": {"type": "weekly", "interval": 1}, "range": no_end}, "daysOfWeek"),
        ({"pattern": {"type": "daily", "interval": 1},
          "range": {"type": "numbered", "startDate": "2031-01-01", "numberOfOccurrences": 0}},
         "numberOfOccurrences"),
        ({"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday", "friday"]},
          "range": {"type": "noEnd", "startDate": "2031-01-01"}}, "relative pattern"),
    ]  # fmt: skip
    for recurrence, named in cases:
        body = {"subject": "Bad", "start": start, "end": end, "recurrence": recurrence}
        answer = client.post(f"users/{CLEO}/events", json=body)
        assert answer.status_code == 400 and named in answer.json()["error"]["message"], answer.text
