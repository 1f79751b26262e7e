"""sObject resources through simple-salesforce: describe, create/read/update/delete on every object, and
bad input answered with Salesforce's errors while the sandbox keeps serving."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from simple_salesforce import (
    Salesforce,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from bridge.sandbox.salesforce.server import SalesforceSandbox
from tests.sandbox.salesforce.conftest import unique

START_TIME = "2026-11-21T10:00:00.000+0000"


def test_versions_list_and_resources(
    sf: Salesforce, sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    versions = http.get(sandbox.endpoints()["instance_url"] + "/services/data/").json()
    assert {"label": "Winter '19", "url": "/services/data/v44.0", "version": "44.0"} in versions
    assert versions[-1]["version"] == "62.0"
    resources = sf.restful("")
    assert resources["sobjects"] == "/services/data/v62.0/sobjects"
    assert "query" in resources and "composite" in resources


def test_any_version_from_44_works_and_older_is_not_found(
    sandbox: SalesforceSandbox, ca_path: object
) -> None:
    from tests.sandbox.salesforce.conftest import https_session

    endpoints = sandbox.endpoints()
    for version, expected in (("44.0", 200), ("57.0", 200), ("43.0", 404)):
        sf = Salesforce(
            instance_url=endpoints["instance_url"],
            session_id=endpoints["access_token"],
            session=https_session(ca_path),
            version=version,
        )  # type: ignore[arg-type]
        if expected == 200:
            assert sf.query("SELECT COUNT() FROM User")["done"] is True
        else:
            with pytest.raises(SalesforceResourceNotFound) as caught:
                sf.query("SELECT COUNT() FROM User")
            assert caught.value.content[0]["errorCode"] == "NOT_FOUND"


def test_describe_global_lists_standard_and_package_objects(sf: Salesforce) -> None:
    names = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert {"Event", "EventRelation", "Contact", "Lead", "User", "Account", "Calbridge_Issue__c"} <= set(
        names
    )
    assert names["Event"]["keyPrefix"] == "00U"
    assert names["Calbridge_Issue__c"]["custom"] is True


def test_event_describe_has_package_fields_and_restricted_show_as(sf: Salesforce) -> None:
    describe = sf.Event.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    assert fields["Exchange_Item_Id__c"]["custom"] is True
    assert fields["Exchange_Item_Id__c"]["length"] == 255
    assert fields["Subject"]["length"] == 255
    assert fields["Description"]["length"] == 32000
    show_as = fields["ShowAs"]
    assert [v["value"] for v in show_as["picklistValues"]] == ["Busy", "OutOfOffice", "Free"]
    assert show_as["restrictedPicklist"] is True
    assert fields["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert sf.Event.metadata()["objectDescribe"]["name"] == "Event"


@pytest.mark.parametrize(
    ("sobject", "fields", "update"),
    [
        (
            "Contact",
            {"FirstName": "Lena", "LastName": "Fischer", "Email": "lena@northwind.example"},
            {"Phone": "+49 30 1234"},
        ),
        ("Lead", {"LastName": "Rivera", "Company": "Quarry Labs"}, {"Status": "Working - Contacted"}),
        ("Account", {"Name": "Northwind Traders"}, {"Name": "Northwind Traders GmbH"}),
        (
            "Calbridge_Issue__c",
            {"Code__c": "E-TOO-LONG", "Message__c": "Event lasts 20 days"},
            {"Is_Open__c": False},
        ),
    ],
)
def test_crud_round_trip(
    sf: Salesforce, sobject: str, fields: dict[str, object], update: dict[str, object]
) -> None:
    api = getattr(sf, sobject)
    created = api.create(fields)
    assert created["success"] is True and created["errors"] == []
    record_id = created["id"]
    assert len(record_id) == 18
    record = api.get(record_id)
    assert record["attributes"] == {
        "type": sobject,
        "url": f"/services/data/v62.0/sobjects/{sobject}/{record_id}",
    }
    for name, value in fields.items():
        assert record[name] == value
    assert api.update(record_id, update) == 204
    updated = api.get(record_id)
    for name, value in update.items():
        assert updated[name] == value
    assert updated["LastModifiedDate"] >= record["LastModifiedDate"]
    assert api.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as caught:
        api.get(record_id)
    assert caught.value.content == [
        {"errorCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": []}
    ]


def test_names_are_derived_and_autonumbers_assigned(sf: Salesforce) -> None:
    contact = sf.Contact.get(sf.Contact.create({"FirstName": "Omar", "LastName": "Aziz"})["id"])
    assert contact["Name"] == "Omar Aziz"
    issue = sf.Calbridge_Issue__c.get(sf.Calbridge_Issue__c.create({"Code__c": "W-TRUNCATED"})["id"])
    assert issue["Name"].startswith("CBI-") and len(issue["Name"]) == 10


def test_user_crud_and_duplicate_username(sf: Salesforce) -> None:
    name = unique("u").replace(" ", "")
    data = {"Username": f"{name}@calbridge.test", "Email": f"{name}@calbridge.test", "LastName": "Kim"}
    user_id = sf.User.create(data)["id"]
    assert user_id.startswith("005")
    assert sf.User.get(user_id)["IsActive"] is True
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.User.create(data)
    assert caught.value.content[0]["errorCode"] == "DUPLICATE_USERNAME"
    sf.User.update(user_id, {"IsActive": False})
    assert sf.User.get(user_id)["IsActive"] is False


def test_get_with_fields_returns_only_those(sf: Salesforce, make_contact: Callable[..., str]) -> None:
    contact_id = make_contact()
    record = sf.Contact.get(contact_id, params={"fields": "LastName,Email"})
    assert set(record) == {"attributes", "LastName", "Email"}


def _error(caught: pytest.ExceptionInfo[SalesforceMalformedRequest]) -> dict[str, object]:
    content = caught.value.content
    assert isinstance(content, list) and len(content) == 1
    return dict(content[0])


def test_unknown_field_is_invalid_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"LastName": "X", "Shoe_Size__c": 44})
    assert _error(caught)["errorCode"] == "INVALID_FIELD"
    assert _error(caught)["message"] == "No such column 'Shoe_Size__c' on sobject of type Contact"


def test_read_only_field_is_invalid_field_for_insert_update(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Contact.create({"LastName": "X", "CreatedDate": "2020-01-01T00:00:00.000+0000"})
    error = _error(caught)
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["fields"] == ["CreatedDate"]
    assert str(error["message"]).startswith("Unable to create/update fields: CreatedDate.")


def test_wrong_json_type_is_json_parser_error_with_position(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful(
            "sobjects/Event",
            method="POST",
            data='{"Subject": "x", "DurationInMinutes": 30, "StartDateTime": "tomorrow"}',
        )
    assert _error(caught) == {
        "errorCode": "JSON_PARSER_ERROR",
        "message": "Cannot deserialize instance of datetime from VALUE_STRING value tomorrow "
        "or request may be missing a required field at [line:1, column:60]",
    }
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.create({"StartDateTime": "2026-11-21 10:00:00", "DurationInMinutes": 30})
    assert _error(caught)["errorCode"] == "JSON_PARSER_ERROR"  # Salesforce wants the T separator
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.create({"StartDateTime": START_TIME, "DurationInMinutes": 30, "IsPrivate": "false"})
    assert str(_error(caught)["message"]).startswith(
        "Cannot deserialize instance of boolean from VALUE_STRING"
    )
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.create({"StartDateTime": START_TIME, "DurationInMinutes": [30]})
    assert str(_error(caught)["message"]).startswith(
        "Cannot deserialize instance of int from START_ARRAY value"
    )


def test_null_checkbox_is_invalid_type_on_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Event.create({"StartDateTime": START_TIME, "DurationInMinutes": 30, "IsPrivate": None})
    assert _error(caught) == {
        "errorCode": "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "message": "IsPrivate: value not of required type: ",
        "fields": ["IsPrivate"],
    }


def test_oversized_text_is_string_too_long(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.create({"Name": "N" * 256})
    error = _error(caught)
    assert error["errorCode"] == "STRING_TOO_LONG"
    assert str(error["message"]).endswith("(max length=255)")
    assert error["fields"] == ["Name"]


def test_missing_required_field(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.create({"LastName": "Mensah"})
    assert _error(caught) == {
        "errorCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [Company]",
        "fields": ["Company"],
    }


def test_bad_ids(sf: Salesforce, make_contact: Callable[..., str]) -> None:
    with pytest.raises(SalesforceResourceNotFound) as caught:
        sf.Contact.get("not-an-id")
    assert caught.value.content == [
        {"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}
    ]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Contact.get("0035g0000zzzzzzAAA")
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.Contact.create({"LastName": "X", "AccountId": "001-bad"})
    assert _error(malformed)["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceMalformedRequest) as cross:
        sf.Contact.create({"LastName": "X", "AccountId": "0015g0000zzzzzzAAA"})
    assert _error(cross)["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"
    contact_id = make_contact()
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(contact_id)  # an id of another object under this object's URL


def test_15_character_ids_are_accepted(sf: Salesforce, make_contact: Callable[..., str]) -> None:
    contact_id = make_contact()
    assert sf.Contact.get(contact_id[:15])["Id"] == contact_id


def test_malformed_json_body_is_json_parser_error(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("sobjects/Contact", method="POST", data="{LastName: 'x'")
    assert _error(caught)["errorCode"] == "JSON_PARSER_ERROR"
    with pytest.raises(SalesforceMalformedRequest) as empty:
        sf.restful("sobjects/Contact", method="POST", data="")
    assert _error(empty)["message"] == "No content to map due to end-of-input at [line:1, column:0]"
    assert sf.Contact.create({"LastName": "Still serving"})["success"] is True


def test_unknown_object_and_resource_are_not_found(sf: Salesforce) -> None:
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.create({"Name": "x"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("no/such/resource")


def test_unsupported_method_is_405(sf: Salesforce, make_contact: Callable[..., str]) -> None:
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.restful(f"sobjects/Contact/{make_contact()}", method="PUT", json={})
    assert caught.value.status == 405
    assert caught.value.content[0]["errorCode"] == "METHOD_NOT_ALLOWED"


def test_custom_fields_on_event_are_writable_and_queryable(sf: Salesforce) -> None:
    event_id = sf.Event.create(
        {
            "Subject": unique("Pairing"),
            "StartDateTime": "2026-12-01T09:00:00Z",
            "DurationInMinutes": 30,
            "Exchange_Item_Id__c": "AAMkAD==",
        }
    )["id"]
    rows = sf.query("SELECT Id FROM Event WHERE Exchange_Item_Id__c = 'AAMkAD=='")["records"]
    assert event_id in {r["Id"] for r in rows}


def test_updated_and_deleted_resources(sf: Salesforce) -> None:
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(minutes=1)
    kept = sf.Account.create({"Name": unique("Kept")})["id"]
    gone = sf.Account.create({"Name": unique("Gone")})["id"]
    sf.Account.delete(gone)
    end = datetime.now(UTC) + timedelta(minutes=1)
    updated = sf.Account.updated(start, end)
    assert kept in updated["ids"] and gone not in updated["ids"]
    deleted = sf.Account.deleted(start, end)
    assert gone in {r["id"] for r in deleted["deletedRecords"]}
    with pytest.raises(SalesforceMalformedRequest):
        sf.Account.updated(end, start)


def test_r_merge_5_conditional_update_with_if_unmodified_since(sf: Salesforce) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    event_id = sf.Event.create(
        {"Subject": unique("Guarded"), "StartDateTime": START_TIME, "DurationInMinutes": 30}
    )["id"]
    before = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    after = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    with pytest.raises(SalesforceGeneralError) as caught:
        sf.Event.update(event_id, {"Subject": "Lost race"}, headers={"If-Unmodified-Since": before})
    assert caught.value.status == 412
    assert caught.value.content[0]["errorCode"] == "PRECONDITION_FAILED"
    assert sf.Event.update(event_id, {"Subject": "Won race"}, headers={"If-Unmodified-Since": after}) == 204
    assert sf.Event.get(event_id)["Subject"] == "Won race"
    with pytest.raises(SalesforceMalformedRequest):
        sf.Event.update(event_id, {"Subject": "x"}, headers={"If-Unmodified-Since": "yesterday"})
    with pytest.raises(SalesforceGeneralError) as unchanged:
        sf.Event.get(event_id, headers={"If-Modified-Since": after})
    assert unchanged.value.status == 304
