"""Lightning event series and Classic recurring events, driven through simple-salesforce."""

from __future__ import annotations

import time
from typing import Any

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from bridge.sandbox.salesforce import series
from bridge.sandbox.salesforce.server import SalesforceSandbox
from tests.sandbox.salesforce.conftest import ListSink, unique

FUTURE = {"StartDateTime": "2031-03-03T17:00:00Z", "DurationInMinutes": 30}
PAST = {"StartDateTime": "2020-03-02T17:00:00Z", "DurationInMinutes": 30}
FIELDS = (
    "Id, Subject, StartDateTime, GroupEventType, IsRecurrence2, IsRecurrence2Exception, "
    "Recurrence2PatternText, Recurrence2PatternVersion, ActivityRecurrence2Id, Recurrence2PatternTimeZone"
)


def _rows(sf: Salesforce, series_id: str) -> list[dict[str, Any]]:
    query = (
        f"SELECT {FIELDS} FROM Event WHERE ActivityRecurrence2Id = '{series_id}' ORDER BY StartDateTime, Id"
    )
    return list(sf.query_all(query)["records"])


def _create(sf: Salesforce, rule: str, times: dict[str, Any] = FUTURE, **fields: Any) -> tuple[str, str]:
    first = sf.Event.create({"Subject": unique("Series"), "Recurrence2PatternText": rule, **times, **fields})[
        "id"
    ]
    return first, str(sf.Event.get(first)["ActivityRecurrence2Id"])


def test_a_series_is_a_pattern_row_and_one_row_per_occurrence_with_normalised_text(
    sf: Salesforce, sink: ListSink
) -> None:
    sink.transactions.clear()
    first, series_id = _create(sf, "FREQ=WEEKLY;COUNT=4;BYDAY=MO")
    rows = _rows(sf, series_id)
    pattern = [r for r in rows if r["GroupEventType"] == "3"]
    occurrences = [r for r in rows if r["GroupEventType"] == "0"]
    assert len(pattern) == 1 and len(occurrences) == 4
    assert occurrences[0]["Id"] == first and series_id.startswith("828")
    assert {r["Recurrence2PatternText"] for r in rows} == {
        "RRULE:FREQ=WEEKLY;BYDAY=MO;WKST=SU;INTERVAL=1;COUNT=4"
    }
    assert {r["Recurrence2PatternVersion"] for r in rows} == {"1"} and all(r["IsRecurrence2"] for r in rows)
    assert [r["StartDateTime"][:10] for r in occurrences] == [
        "2031-03-03",
        "2031-03-10",
        "2031-03-17",
        "2031-03-24",
    ]
    (transaction,) = sink.transactions
    assert [c.record_id for c in transaction] == [pattern[0]["Id"], *(r["Id"] for r in occurrences)]
    assert [c.sequence for c in transaction] == [1, 2, 3, 4, 5]
    assert {c.values["ActivityRecurrence2Id"] for c in transaction} == {series_id}
    assert [c.values["GroupEventType"] for c in transaction] == ["3", "0", "0", "0", "0"]


@pytest.mark.parametrize(
    ("rule", "normalised"),
    [
        ("rrule:freq=daily;interval=2;count=3", "RRULE:FREQ=DAILY;INTERVAL=2;COUNT=3"),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=2",
            "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;INTERVAL=1;COUNT=2",
        ),
        (
            "FREQ=MONTHLY;BYMONTH=5,9;BYMONTHDAY=7,15;COUNT=4",
            "RRULE:FREQ=MONTHLY;BYMONTH=5,9;BYMONTHDAY=7,15;INTERVAL=1;COUNT=4",
        ),
        (
            "FREQ=YEARLY;BYMONTH=3;BYDAY=1FR;UNTIL=20330401T000000Z",
            "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=1FR;INTERVAL=1;UNTIL=20330401T000000Z",
        ),
    ],
)
def test_accepted_rules_are_saved_normalised(sf: Salesforce, rule: str, normalised: str) -> None:
    _, series_id = _create(sf, rule)
    assert {r["Recurrence2PatternText"] for r in _rows(sf, series_id)} == {normalised}


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=HOURLY;COUNT=3",
        "FREQ=DAILY;COUNT=3;UNTIL=20310401T000000Z",
        "FREQ=DAILY;COUNT=1000",
        "FREQ=WEEKLY;INTERVAL=100;BYDAY=MO",
        "FREQ=WEEKLY;BYDAY=1MO",
        "FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYMONTHDAY=1",
        "FREQ=MONTHLY;BYDAY=1SU,-1SU",
        "FREQ=MONTHLY;BYDAY=1MO;BYSETPOS=2",
        "FREQ=MONTHLY;BYDAY=TU,TH;BYSETPOS=2",
        "FREQ=DAILY;BYDAY=MO",
        "DTSTART:20310303T170000Z;FREQ=DAILY",
        "FREQ=DAILY;EXDATE=20310304T170000Z",
    ],
)
def test_rules_salesforce_refuses_are_refused(sf: Salesforce, rule: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Event.create({"Subject": unique("Bad"), "Recurrence2PatternText": rule, **FUTURE})
    assert refused.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert refused.value.content[0]["fields"] == ["Recurrence2PatternText"]


def test_the_pattern_and_the_flags_are_read_only(sf: Salesforce) -> None:
    first, _ = _create(sf, "FREQ=DAILY;COUNT=2")
    for change in ({"Recurrence2PatternText": "RRULE:FREQ=DAILY;COUNT=3"}, {"IsRecurrence2Exception": True}):
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.Event.update(first, change)
        assert refused.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Event.create({"Subject": "x", "IsRecurrence2": True, **FUTURE})


def test_editing_a_future_occurrence_changes_the_whole_series(sf: Salesforce) -> None:
    _, series_id = _create(sf, "FREQ=DAILY;COUNT=3")
    third = _rows(sf, series_id)[-1]
    sf.Event.update(third["Id"], {"Subject": "Everyone's new subject"})
    rows = _rows(sf, series_id)
    assert {r["Subject"] for r in rows} == {"Everyone's new subject"}
    assert not any(r["IsRecurrence2Exception"] for r in rows)


def test_editing_a_past_occurrence_makes_it_an_exception(sf: Salesforce) -> None:
    _, series_id = _create(sf, "FREQ=DAILY;COUNT=3", PAST)
    second = _rows(sf, series_id)[2]
    sf.Event.update(second["Id"], {"Subject": "Only this one"})
    rows = {r["Id"]: r for r in _rows(sf, series_id)}
    assert rows[second["Id"]]["Subject"] == "Only this one" and rows[second["Id"]]["IsRecurrence2Exception"]
    assert sum(r["Subject"] == "Only this one" for r in rows.values()) == 1


def test_before_api_58_a_future_edit_is_an_exception_too(sandbox: SalesforceSandbox, sf: Salesforce) -> None:
    _, series_id = _create(sf, "FREQ=DAILY;COUNT=3")
    second = _rows(sf, series_id)[2]
    old = Salesforce(
        instance_url=sf.base_url.split("/services")[0],
        session_id=sf.session_id,
        session=sf.session,
        version="57.0",
    )
    old.Event.update(second["Id"], {"Subject": "Old API"})
    assert sum(r["Subject"] == "Old API" for r in _rows(sf, series_id)) == 1


def test_a_time_change_of_the_series_deletes_and_recreates_every_row(sf: Salesforce, sink: ListSink) -> None:
    first, series_id = _create(sf, "FREQ=DAILY;COUNT=3")
    old_ids = {r["Id"] for r in _rows(sf, series_id)}
    sink.transactions.clear()
    sf.Event.update(first, {"StartDateTime": "2031-03-03T18:00:00Z", "DurationInMinutes": 30})
    (transaction,) = sink.transactions
    kinds = [c.change_type for c in transaction]
    assert kinds == ["DELETE"] * 4 + ["CREATE"] * 4
    new_series = transaction[-1].values["ActivityRecurrence2Id"]
    assert new_series != series_id and _rows(sf, series_id) == []
    fresh = _rows(sf, new_series)
    assert not old_ids & {r["Id"] for r in fresh}
    assert [r["StartDateTime"][11:16] for r in fresh if r["GroupEventType"] == "0"] == ["18:00"] * 3


def test_a_pattern_change_from_the_ui_recreates_the_series(
    sandbox: SalesforceSandbox, sf: Salesforce
) -> None:
    _, series_id = _create(sf, "FREQ=DAILY;COUNT=3")
    user = sandbox.client.run_as_user_id
    new_first = series.change_pattern(sandbox.org, user, series_id, "FREQ=DAILY;COUNT=5")
    new_series = sf.Event.get(new_first)["ActivityRecurrence2Id"]
    assert len([r for r in _rows(sf, new_series) if r["GroupEventType"] == "0"]) == 5


def test_delete_from_this_event_onwards_is_asynchronous(sf: Salesforce, sink: ListSink) -> None:
    first, series_id = _create(sf, "FREQ=DAILY;COUNT=5")
    third = _rows(sf, series_id)[3]
    sink.transactions.clear()
    answer = sf.restful(f"sobjects/Event/{third['Id']}/fromThisEventOnwards", method="DELETE")
    assert answer == {"success": series.DELETING_MESSAGE}
    assert len(_rows(sf, series_id)) == 6  # not yet
    deadline = time.monotonic() + 5
    while len(_rows(sf, series_id)) != 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r["GroupEventType"] for r in _rows(sf, series_id)] == ["3", "0", "0"]
    (transaction,) = sink.transactions
    assert [c.change_type for c in transaction] == ["DELETE"] * 3
    sf.restful(f"sobjects/Event/{first}/fromThisEventOnwards", method="DELETE")
    while _rows(sf, series_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _rows(sf, series_id) == []


def test_delete_from_onwards_needs_a_series_event(sf: Salesforce) -> None:
    single = sf.Event.create({"Subject": unique("Single"), **FUTURE})["id"]
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful(f"sobjects/Event/{single}/fromThisEventOnwards", method="DELETE")


def test_one_occurrence_is_deleted_like_any_event(sf: Salesforce) -> None:
    _, series_id = _create(sf, "FREQ=DAILY;COUNT=3")
    sf.Event.delete(_rows(sf, series_id)[2]["Id"])
    assert len(_rows(sf, series_id)) == 3


def test_classic_recurring_events_are_a_main_row_and_occurrences_within_their_cap(sf: Salesforce) -> None:
    main = sf.Event.create(
        {
            "Subject": unique("Classic"),
            **FUTURE,
            "IsRecurrence": True,
            "RecurrenceStartDateTime": FUTURE["StartDateTime"],
            "RecurrenceEndDateOnly": "2031-03-31",
            "RecurrenceType": "RecursWeekly",
            "RecurrenceInterval": 1,
            "RecurrenceDayOfWeekMask": 2 + 8,
            "RecurrenceTimeZoneSidKey": "America/Los_Angeles",
        }
    )["id"]
    rows = sf.query_all(
        "SELECT Id, IsRecurrence, StartDateTime FROM Event "
        f"WHERE RecurrenceActivityId = '{main}' ORDER BY StartDateTime"
    )["records"]
    occurrences = [r for r in rows if not r["IsRecurrence"]]
    assert [r["Id"] for r in rows if r["IsRecurrence"]] == [main]
    assert [r["StartDateTime"][:10] for r in occurrences] == [
        "2031-03-03", "2031-03-05", "2031-03-10", "2031-03-12", "2031-03-17", "2031-03-19", "2031-03-24",
        "2031-03-26", "2031-03-31",
    ]  # fmt: skip
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Event.create(
            {
                "Subject": unique("Too long"),
                **FUTURE,
                "IsRecurrence": True,
                "RecurrenceStartDateTime": FUTURE["StartDateTime"],
                "RecurrenceEndDateOnly": "2033-03-31",
                "RecurrenceType": "RecursDaily",
                "RecurrenceInterval": 1,
            }
        )
    assert "at most 100" in refused.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest):
        sf.Event.create({"Subject": "x", **FUTURE, "IsRecurrence": True, "RecurrenceType": "RecursDaily"})


def test_a_series_follows_its_owners_time_zone_not_the_writers(sf: Salesforce) -> None:
    # Written by a user in Los Angeles (the client's) for one in Madrid: Mondays at 07:00 in Madrid are
    # Sunday evenings in Los Angeles, and the rows fall on the owner's Mondays.
    name = unique("madrid").replace(" ", "")
    owner = sf.User.create(
        {
            "Username": f"{name}@calbridge.test",
            "Email": f"{name}@calbridge.test",
            "LastName": name,
            "TimeZoneSidKey": "Europe/Madrid",
        }
    )["id"]
    monday_7am_madrid = {"StartDateTime": "2031-03-03T06:00:00Z", "DurationInMinutes": 30}
    _, series_id = _create(sf, "FREQ=WEEKLY;BYDAY=MO;COUNT=3", monday_7am_madrid, OwnerId=owner)
    rows = [r for r in _rows(sf, series_id) if r["GroupEventType"] == "0"]
    assert [r["StartDateTime"][:16] for r in rows] == [
        "2031-03-03T06:00",
        "2031-03-10T06:00",
        "2031-03-17T06:00",
    ]
    assert {r["Recurrence2PatternTimeZone"] for r in rows} == {"Europe/Madrid"}
