"""sObject Collections (`composite/sobjects`): create, update, delete, read, allOrNone rollback."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from tests.sandbox.salesforce.conftest import unique


def _collection(sf: Salesforce, method: str, **kwargs: Any) -> list[dict[str, Any]]:
    result = sf.restful("composite/sobjects", method=method, **kwargs)
    assert isinstance(result, list)
    return result


def _contacts(*names: str | None) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Contact"}, **({"LastName": n} if n else {})} for n in names]


def test_r_api_3_create_mixed_types_in_request_order(sf: Salesforce) -> None:
    name = unique("Mixed")
    records = [
        *_contacts(name),
        {"attributes": {"type": "Account"}, "Name": name},
        {
            "attributes": {"type": "Event"},
            "Subject": name,
            "StartDateTime": "2026-11-21T10:00:00Z",
            "DurationInMinutes": 30,
        },
    ]
    results = _collection(sf, "POST", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, True, True]
    assert [r["id"][:3] for r in results] == ["003", "001", "00U"]


def test_partial_success_without_all_or_none(sf: Salesforce) -> None:
    name = unique("Partial")
    results = _collection(sf, "POST", json={"allOrNone": False, "records": _contacts(name, None, name + "b")})
    assert [r["success"] for r in results] == [True, False, True]
    assert results[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [LastName]",
            "fields": ["LastName"],
        }
    ]
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE LastName LIKE '{name}%'")["totalSize"] == 2


def test_all_or_none_rolls_back_everything(sf: Salesforce) -> None:
    name = unique("Atomic")
    results = _collection(sf, "POST", json={"allOrNone": True, "records": _contacts(name, None, name)})
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE LastName = '{name}'")["totalSize"] == 0


def test_update_and_delete_by_id(sf: Salesforce) -> None:
    name = unique("Bulk")
    ids = [r["id"] for r in _collection(sf, "POST", json={"records": _contacts(name, name, name)})]
    updates = [{"attributes": {"type": "Contact"}, "id": i, "Phone": "555-0100"} for i in ids]
    updates.append({"attributes": {"type": "Contact"}, "id": "bad-id", "Phone": "1"})
    results = _collection(sf, "PATCH", json={"allOrNone": False, "records": updates})
    assert [r["success"] for r in results] == [True, True, True, False]
    assert results[3]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert {
        r["Phone"] for r in sf.query(f"SELECT Phone FROM Contact WHERE LastName = '{name}'")["records"]
    } == {"555-0100"}
    results = _collection(
        sf, "DELETE", params={"ids": ",".join([*ids, "0035g0000zzzzzzAAA"]), "allOrNone": "false"}
    )
    assert [r["success"] for r in results] == [True, True, True, False]
    assert results[3]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE LastName = '{name}'")["totalSize"] == 0


def test_all_or_none_delete_keeps_every_record(sf: Salesforce) -> None:
    name = unique("Keep")
    ids = [r["id"] for r in _collection(sf, "POST", json={"records": _contacts(name, name)})]
    results = _collection(sf, "DELETE", params={"ids": ",".join([*ids, "junk"]), "allOrNone": "true"})
    assert [r["success"] for r in results] == [False, False, False]
    assert results[2]["errors"][0]["statusCode"] == "MALFORMED_ID"
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE LastName = '{name}'")["totalSize"] == 2


def test_read_by_ids_with_fields(sf: Salesforce) -> None:
    name = unique("Read")
    ids = [r["id"] for r in _collection(sf, "POST", json={"records": _contacts(name, name)})]
    sf.Contact.delete(ids[1])
    rows = sf.restful("composite/sobjects/Contact", params={"ids": ",".join(ids), "fields": "Id,LastName"})
    assert rows[0] == {
        "attributes": {"type": "Contact", "url": f"/services/data/v62.0/sobjects/Contact/{ids[0]}"},
        "Id": ids[0],
        "LastName": name,
    }
    assert rows[1] is None


def test_a_value_that_does_not_parse_fails_the_whole_call(sf: Salesforce) -> None:
    name = unique("Unparsed")
    records = [
        *_contacts(name),
        {"attributes": {"type": "Event"}, "StartDateTime": "soon", "DurationInMinutes": 5},
    ]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        _collection(sf, "POST", json={"records": records})
    assert caught.value.content[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE LastName = '{name}'")["totalSize"] == 0


def test_more_than_200_records_is_refused(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        _collection(sf, "POST", json={"records": _contacts(*["x"] * 201)})
    assert caught.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_record_without_type_fails_alone(sf: Salesforce) -> None:
    results = _collection(
        sf, "POST", json={"records": [{"LastName": "untyped"}, *_contacts(unique("Typed"))]}
    )
    assert [r["success"] for r in results] == [False, True]
    assert results[0]["errors"][0]["statusCode"] == "INVALID_TYPE"
