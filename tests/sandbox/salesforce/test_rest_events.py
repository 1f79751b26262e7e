"""Event and EventRelation rules as Salesforce applies them, through simple-salesforce."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from bridge.sandbox.salesforce.server import SalesforceSandbox, running_salesforce_sandbox
from bridge.sandbox.tls import SandboxTLS
from tests.sandbox.salesforce.conftest import client, unique

START = "2026-11-23T09:00:00.000+0000"


def _event(sf: Salesforce, **fields: Any) -> dict[str, Any]:
    data = {"Subject": unique("Event"), **fields}
    return dict(sf.Event.get(sf.Event.create(data)["id"]))


def _refused(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        call()
    return dict(caught.value.content[0])


# -- times --------------------------------------------------------------------------------------------


def test_r_fld_start_and_duration_give_end_and_activity_fields(sf: Salesforce) -> None:
    event = _event(sf, StartDateTime=START, DurationInMinutes=90)
    assert event["EndDateTime"] == "2026-11-23T10:30:00.000+0000"
    assert event["ActivityDateTime"] == START
    assert event["ActivityDate"] == "2026-11-23"
    assert event["EndDate"] == "2026-11-23"
    assert event["IsAllDayEvent"] is False


def test_start_and_end_give_duration(sf: Salesforce) -> None:
    event = _event(sf, StartDateTime="2026-11-23T23:00:00Z", EndDateTime="2026-11-24T01:00:00+01:00")
    assert event["DurationInMinutes"] == 60
    assert event["EndDateTime"] == "2026-11-24T00:00:00.000+0000"
    assert event["EndDate"] == "2026-11-24"


def test_activity_date_time_alone_sets_the_start(sf: Salesforce) -> None:
    event = _event(sf, ActivityDateTime=START, DurationInMinutes=30)
    assert event["StartDateTime"] == START


def test_end_and_duration_must_agree(sf: Salesforce) -> None:
    assert _event(sf, StartDateTime=START, EndDateTime="2026-11-23T10:00:00Z", DurationInMinutes=60)
    error = _refused(
        lambda: sf.Event.create(
            {"StartDateTime": START, "EndDateTime": "2026-11-23T10:00:00Z", "DurationInMinutes": 45}
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error["fields"] == ["EndDateTime", "DurationInMinutes"]


def test_missing_times_are_required(sf: Salesforce) -> None:
    assert _refused(lambda: sf.Event.create({"Subject": "x"}))["errorCode"] == "REQUIRED_FIELD_MISSING"
    error = _refused(lambda: sf.Event.create({"Subject": "x", "StartDateTime": START}))
    assert error == {
        "errorCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [DurationInMinutes]",
        "fields": ["DurationInMinutes"],
    }


def test_end_before_start_is_refused(sf: Salesforce) -> None:
    error = _refused(lambda: sf.Event.create({"StartDateTime": START, "EndDateTime": "2026-11-23T08:00:00Z"}))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_moving_the_start_keeps_the_duration_and_moving_the_end_changes_it(sf: Salesforce) -> None:
    event = _event(sf, StartDateTime=START, DurationInMinutes=60)
    sf.Event.update(event["Id"], {"StartDateTime": "2026-11-24T15:00:00Z"})
    moved = sf.Event.get(event["Id"])
    assert (moved["EndDateTime"], moved["DurationInMinutes"]) == ("2026-11-24T16:00:00.000+0000", 60)
    assert moved["ActivityDate"] == "2026-11-24"
    sf.Event.update(event["Id"], {"EndDateTime": "2026-11-24T17:30:00Z"})
    assert sf.Event.get(event["Id"])["DurationInMinutes"] == 150
    sf.Event.update(event["Id"], {"DurationInMinutes": 15})
    assert sf.Event.get(event["Id"])["EndDateTime"] == "2026-11-24T15:15:00.000+0000"


def test_a_new_activity_date_moves_a_timed_event_to_that_day(sf: Salesforce) -> None:
    event = _event(sf, StartDateTime=START, DurationInMinutes=45)
    sf.Event.update(event["Id"], {"ActivityDate": "2026-11-27"})
    moved = sf.Event.get(event["Id"])
    assert (moved["StartDateTime"], moved["EndDateTime"]) == (
        "2026-11-27T09:00:00.000+0000",
        "2026-11-27T09:45:00.000+0000",
    )


def test_r_fld_all_day_event_is_midnight_with_whole_days(sf: Salesforce) -> None:
    one_day = _event(sf, IsAllDayEvent=True, ActivityDate="2026-11-25")
    assert one_day["StartDateTime"] == "2026-11-25T00:00:00.000+0000"
    assert one_day["DurationInMinutes"] == 1440
    assert one_day["EndDate"] == "2026-11-25"
    three_days = _event(sf, IsAllDayEvent=True, ActivityDate="2026-11-25", EndDateTime="2026-11-27T00:00:00Z")
    assert (three_days["DurationInMinutes"], three_days["EndDate"]) == (3 * 1440, "2026-11-27")
    by_duration = _event(sf, IsAllDayEvent=True, StartDateTime="2026-11-25T00:00:00Z", DurationInMinutes=2880)
    assert by_duration["EndDateTime"] == "2026-11-26T00:00:00.000+0000"


def test_timed_event_turned_all_day(sf: Salesforce) -> None:
    event = _event(sf, StartDateTime="2026-11-23T09:00:00Z", DurationInMinutes=60)
    sf.Event.update(event["Id"], {"IsAllDayEvent": True})
    updated = sf.Event.get(event["Id"])
    assert (updated["ActivityDate"], updated["DurationInMinutes"]) == ("2026-11-23", 1440)


def test_r_lim_events_last_at_most_14_days(sf: Salesforce) -> None:
    assert _event(sf, StartDateTime=START, DurationInMinutes=14 * 1440)
    error = _refused(lambda: sf.Event.create({"StartDateTime": START, "DurationInMinutes": 14 * 1440 + 1}))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    error = _refused(
        lambda: sf.Event.create(
            {"IsAllDayEvent": True, "ActivityDate": "2026-11-01", "EndDateTime": "2026-11-15T00:00:00Z"}
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


@pytest.mark.parametrize(("name", "limit"), [("Subject", 255), ("Location", 255), ("Description", 32000)])
def test_text_limits(sf: Salesforce, name: str, limit: int) -> None:
    assert _event(sf, StartDateTime=START, DurationInMinutes=30, **{name: "x" * limit})[name] == "x" * limit
    error = _refused(
        lambda: sf.Event.create({"StartDateTime": START, "DurationInMinutes": 30, name: "x" * (limit + 1)})
    )
    assert (error["errorCode"], error["fields"]) == ("STRING_TOO_LONG", [name])


def test_show_as_is_a_restricted_picklist(sf: Salesforce) -> None:
    assert (
        _event(sf, StartDateTime=START, DurationInMinutes=30, ShowAs="OutOfOffice")["ShowAs"] == "OutOfOffice"
    )
    assert _event(sf, StartDateTime=START, DurationInMinutes=30)["ShowAs"] == "Busy"
    error = _refused(
        lambda: sf.Event.create({"StartDateTime": START, "DurationInMinutes": 30, "ShowAs": "Maybe"})
    )
    assert error == {
        "errorCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "message": "ShowAs: bad value for restricted picklist field: Maybe",
        "fields": ["ShowAs"],
    }


def test_last_modified_fields_follow_each_write(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    event = _event(sf, StartDateTime=START, DurationInMinutes=30)
    assert event["LastModifiedById"] == sandbox.client.run_as_user_id
    assert event["SystemModstamp"] == event["LastModifiedDate"] == event["CreatedDate"]
    sandbox.org.store.records[event["Id"]]["LastModifiedDate"] = sandbox.org.store.records[event["Id"]][
        "CreatedDate"
    ].replace(year=2020)
    sf.Event.update(event["Id"], {"Location": "Room 4"})
    assert sf.Event.get(event["Id"])["LastModifiedDate"] > "2021"


def test_deleted_event_is_seen_by_query_all_only(sf: Salesforce) -> None:
    event = _event(sf, StartDateTime=START, DurationInMinutes=30)
    sf.Event.delete(event["Id"])
    soql = f"SELECT Id, IsDeleted FROM Event WHERE Id = '{event['Id']}'"
    assert sf.query(soql)["totalSize"] == 0
    assert sf.query_all(soql, include_deleted=True)["records"][0]["IsDeleted"] is True


# -- invitees -----------------------------------------------------------------------------------------


def test_user_invitee_gets_a_child_event_that_follows_the_parent(
    sf: Salesforce, make_user: Callable[[], str]
) -> None:
    invitee = make_user()
    event = _event(sf, StartDateTime=START, DurationInMinutes=60, Location="HQ")
    relation = sf.EventRelation.create({"EventId": event["Id"], "RelationId": invitee})["id"]
    assert sf.EventRelation.get(relation)["Status"] == "New"
    children = sf.query(
        f"SELECT Id, Subject, StartDateTime, IsChild, Location FROM Event WHERE OwnerId = '{invitee}'"
    )["records"]
    assert len(children) == 1
    child = children[0]
    assert child["IsChild"] is True
    assert (child["Subject"], child["StartDateTime"], child["Location"]) == (event["Subject"], START, "HQ")
    sf.Event.update(event["Id"], {"Subject": "Moved", "StartDateTime": "2026-11-23T11:00:00Z"})
    moved = sf.Event.get(child["Id"])
    assert (moved["Subject"], moved["EndDateTime"]) == ("Moved", "2026-11-23T12:00:00.000+0000")
    error = _refused(lambda: sf.Event.update(child["Id"], {"Subject": "Mine"}))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert sf.Event.update(child["Id"], {"IsReminderSet": True}) == 204
    error = _refused(lambda: sf.EventRelation.create({"EventId": child["Id"], "RelationId": invitee}))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert sf.Event.get(event["Id"])["IsGroupEvent"] is True
    sf.EventRelation.delete(relation)
    assert sf.query(f"SELECT Id FROM Event WHERE OwnerId = '{invitee}'")["totalSize"] == 0
    assert sf.Event.get(event["Id"])["IsGroupEvent"] is False


def test_deleting_a_parent_removes_its_relations_and_children(
    sf: Salesforce, make_user: Callable[[], str]
) -> None:
    invitee = make_user()
    event = _event(sf, StartDateTime=START, DurationInMinutes=60)
    relation = sf.EventRelation.create({"EventId": event["Id"], "RelationId": invitee})["id"]
    sf.Event.delete(event["Id"])
    assert sf.query(f"SELECT Id FROM EventRelation WHERE Id = '{relation}'")["totalSize"] == 0
    assert sf.query(f"SELECT Id FROM Event WHERE OwnerId = '{invitee}'")["totalSize"] == 0


def test_relation_status_values(sf: Salesforce, make_contact: Callable[..., str]) -> None:
    event = _event(sf, StartDateTime=START, DurationInMinutes=60)
    relation = sf.EventRelation.create({"EventId": event["Id"], "RelationId": make_contact()})["id"]
    sf.EventRelation.update(relation, {"Status": "Accepted"})
    accepted = sf.EventRelation.get(relation)
    assert accepted["Status"] == "Accepted" and accepted["RespondedDate"] is not None
    error = _refused(lambda: sf.EventRelation.update(relation, {"Status": "Maybe"}))
    assert error["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    error = _refused(lambda: sf.EventRelation.update(relation, {"EventId": event["Id"]}))
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


# -- Who relations, Shared Activities on ---------------------------------------------------------------


def _who_rows(sf: Salesforce, event_id: str) -> list[str]:
    rows = sf.query(
        f"SELECT RelationId FROM EventRelation WHERE EventId = '{event_id}' "
        "AND IsParent = true AND IsWhat = false"
    )["records"]
    return [r["RelationId"] for r in rows]


def test_r_att_10_who_id_is_a_parent_relation_with_shared_activities(
    sf: Salesforce, make_contact: Callable[..., str]
) -> None:
    first, second = make_contact(), make_contact()
    event = _event(sf, StartDateTime=START, DurationInMinutes=30, WhoId=first)
    assert _who_rows(sf, event["Id"]) == [first]
    sf.EventRelation.create({"EventId": event["Id"], "RelationId": second, "IsParent": True})
    assert sorted(_who_rows(sf, event["Id"])) == sorted([first, second])
    assert sf.Event.get(event["Id"])["WhoId"] == first
    primary = sf.query(
        f"SELECT Id FROM EventRelation WHERE EventId = '{event['Id']}' AND RelationId = '{first}'"
    )
    sf.EventRelation.delete(primary["records"][0]["Id"])
    assert sf.Event.get(event["Id"])["WhoId"] == second
    third = make_contact()
    sf.Event.update(event["Id"], {"WhoId": third})
    assert _who_rows(sf, event["Id"]) == [third]


def test_r_att_10_up_to_50_contacts(sf: Salesforce, make_contact: Callable[..., str]) -> None:
    contacts = [make_contact() for _ in range(51)]
    event = _event(sf, StartDateTime=START, DurationInMinutes=30, WhoId=contacts[0])
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "records": [
                {
                    "attributes": {"type": "EventRelation"},
                    "EventId": event["Id"],
                    "RelationId": c,
                    "IsParent": True,
                }
                for c in contacts[1:]
            ]
        },
    )
    assert [r["success"] for r in results] == [True] * 49 + [False]
    assert results[-1]["errors"][0]["statusCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert len(_who_rows(sf, event["Id"])) == 50


def test_r_att_10_one_lead_never_with_contacts(
    sf: Salesforce, make_contact: Callable[..., str], make_lead: Callable[[], str]
) -> None:
    lead = make_lead()
    event = _event(sf, StartDateTime=START, DurationInMinutes=30, WhoId=lead)
    error = _refused(
        lambda: sf.EventRelation.create(
            {"EventId": event["Id"], "RelationId": make_contact(), "IsParent": True}
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    with_contact = _event(sf, StartDateTime=START, DurationInMinutes=30, WhoId=make_contact())
    error = _refused(
        lambda: sf.EventRelation.create(
            {"EventId": with_contact["Id"], "RelationId": make_lead(), "IsParent": True}
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


def test_who_must_be_a_contact_or_lead(sf: Salesforce, make_user: Callable[[], str]) -> None:
    error = _refused(
        lambda: sf.Event.create({"StartDateTime": START, "DurationInMinutes": 30, "WhoId": make_user()})
    )
    assert (error["errorCode"], error["fields"]) == ("FIELD_INTEGRITY_EXCEPTION", ["WhoId"])


def test_private_event_has_no_who(sf: Salesforce, make_contact: Callable[..., str]) -> None:
    contact = make_contact()
    error = _refused(
        lambda: sf.Event.create(
            {"StartDateTime": START, "DurationInMinutes": 30, "IsPrivate": True, "WhoId": contact}
        )
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    private = _event(sf, StartDateTime=START, DurationInMinutes=30, IsPrivate=True)
    error = _refused(
        lambda: sf.EventRelation.create({"EventId": private["Id"], "RelationId": contact, "IsParent": True})
    )
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    with_who = _event(sf, StartDateTime=START, DurationInMinutes=30, WhoId=contact)
    error = _refused(lambda: sf.Event.update(with_who["Id"], {"IsPrivate": True}))
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"


# -- Shared Activities off ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classic(sf_tls: SandboxTLS) -> Iterator[SalesforceSandbox]:
    with running_salesforce_sandbox(sf_tls, shared_activities=False) as running:
        yield running


def test_r_att_10_without_shared_activities_who_is_only_who_id(
    classic: SalesforceSandbox, ca_path: Path
) -> None:
    sf = client(classic, ca_path)
    contact = sf.Contact.create({"LastName": "Walsh"})["id"]
    event = _event(sf, StartDateTime=START, DurationInMinutes=30, WhoId=contact)
    assert event["WhoId"] == contact
    assert sf.query(f"SELECT COUNT() FROM EventRelation WHERE EventId = '{event['Id']}'")["totalSize"] == 0
    error = _refused(
        lambda: sf.EventRelation.create({"EventId": event["Id"], "RelationId": contact, "IsParent": True})
    )
    assert error["errorCode"] == "INVALID_FIELD"
    assert "IsParent" not in {f["name"] for f in sf.EventRelation.describe()["fields"]}
    assert "EventWhoIds" not in {f["name"] for f in sf.Event.describe()["fields"]}
    error = _refused(lambda: sf.Event.update(event["Id"], {"EventWhoIds": [contact]}))
    assert error["errorCode"] == "INVALID_FIELD"
    invitee = sf.EventRelation.create({"EventId": event["Id"], "RelationId": contact})["id"]
    assert sf.EventRelation.get(invitee)["IsInvitee"] is True
