"""`composite` through simple-salesforce's `restful`: several subrequests in one call that counts as one API
call, answers in order, references between subrequests, allOrNone halting, and the documented limits."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote_plus

import pytest
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from bridge.sandbox.salesforce.server import SalesforceSandbox
from tests.sandbox.salesforce.conftest import unique

BASE = "/services/data/v62.0"


def _query(reference: str, soql: str) -> dict[str, Any]:
    return {"method": "GET", "url": f"{BASE}/query/?q={quote_plus(soql)}", "referenceId": reference}


def test_three_queries_in_one_call_cost_one_api_call(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    email = f"{unique('pat')}@composite.test".lower()
    contact = sf.Contact.create({"LastName": "Pat", "Email": email})["id"]
    lead = sf.Lead.create({"LastName": "Pat", "Company": "Composite Ltd", "Email": email})["id"]
    before = sandbox.org.api_usage
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "allOrNone": False,
            "compositeRequest": [
                _query(kind, f"SELECT Id, Email FROM {kind} WHERE Email IN ('{email}')")
                for kind in ("User", "Contact", "Lead")
            ],
        },
    )
    assert sandbox.org.api_usage == before + 1
    results = answer["compositeResponse"]
    assert [r["referenceId"] for r in results] == ["User", "Contact", "Lead"]
    assert [r["httpStatusCode"] for r in results] == [200, 200, 200]
    assert [[row["Id"] for row in r["body"]["records"]] for r in results] == [[], [contact], [lead]]


def test_a_later_subrequest_uses_an_earlier_answer(sf: Salesforce) -> None:
    name = unique("Composite Account")
    answer = sf.restful(
        "composite",
        method="POST",
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/Account",
                    "referenceId": "acct",
                    "body": {"Name": name},
                },
                {
                    "method": "POST",
                    "url": f"{BASE}/sobjects/Contact",
                    "referenceId": "person",
                    "body": {"LastName": "Linked", "AccountId": "@{acct.id}"},
                },
                _query("found", "SELECT Id, AccountId FROM Contact WHERE AccountId = '@{acct.id}'"),
            ]
        },
    )
    made, person, found = answer["compositeResponse"]
    assert (made["httpStatusCode"], person["httpStatusCode"], found["httpStatusCode"]) == (201, 201, 200)
    assert found["body"]["records"][0]["Id"] == person["body"]["id"]
    assert found["body"]["records"][0]["AccountId"] == made["body"]["id"]


def test_a_failed_subrequest_fails_alone_or_halts_the_rest_under_all_or_none(sf: Salesforce) -> None:
    requests = [
        _query("bad", "SELECT NoSuchField FROM Contact"),
        _query("good", "SELECT Id FROM Contact LIMIT 1"),
    ]
    alone = sf.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": requests})
    bad, good = alone["compositeResponse"]
    assert bad["httpStatusCode"] == 400 and bad["body"][0]["errorCode"] == "INVALID_FIELD"
    assert good["httpStatusCode"] == 200
    halted = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": requests})
    assert [r["body"][0]["errorCode"] for r in halted["compositeResponse"]] == [
        "INVALID_FIELD",
        "PROCESSING_HALTED",
    ]


def test_more_than_five_queries_or_twenty_five_subrequests_are_refused(sf: Salesforce) -> None:
    six = [_query(f"q{n}", "SELECT Id FROM User LIMIT 1") for n in range(6)]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.restful("composite", method="POST", json={"compositeRequest": six})
    assert refused.value.content[0]["errorCode"] == "LIMIT_EXCEEDED"
    reads = [{"method": "GET", "url": f"{BASE}/limits", "referenceId": f"r{n}"} for n in range(26)]
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": reads})
