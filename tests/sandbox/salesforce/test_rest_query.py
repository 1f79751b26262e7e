"""`query` and `queryAll` through simple-salesforce: SOQL results, paging with nextRecordsUrl, errors."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from bridge.sandbox.salesforce.server import SalesforceSandbox
from tests.sandbox.salesforce.conftest import unique


def _accounts(sf: Salesforce, prefix: str, count: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 200):
        batch = [
            {"attributes": {"type": "Account"}, "Name": f"{prefix} {n:05d}"}
            for n in range(start, min(count, start + 200))
        ]
        results = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": batch})
        ids += [r["id"] for r in results]
    return ids


def test_query_returns_records_with_attributes_and_serialized_values(sf: Salesforce) -> None:
    subject = unique("Standup")
    event_id = sf.Event.create(
        {"Subject": subject, "StartDateTime": "2026-11-21T10:00:00Z", "DurationInMinutes": 15}
    )["id"]
    result = sf.query(
        f"SELECT Id, Subject, StartDateTime, ActivityDate, DurationInMinutes, IsPrivate "
        f"FROM Event WHERE Subject = '{subject}'"
    )
    assert (result["totalSize"], result["done"]) == (1, True)
    record = result["records"][0]
    assert record["attributes"] == {"type": "Event", "url": f"/services/data/v62.0/sobjects/Event/{event_id}"}
    assert record["StartDateTime"] == "2026-11-21T10:00:00.000+0000"
    assert record["ActivityDate"] == "2026-11-21"
    assert (record["DurationInMinutes"], record["IsPrivate"]) == (15, False)


def test_relationship_fields(sf: Salesforce) -> None:
    subject = unique("Review")
    contact = sf.Contact.create({"FirstName": "Ines", "LastName": "Moreau"})["id"]
    sf.Event.create(
        {
            "Subject": subject,
            "StartDateTime": "2026-11-21T10:00:00Z",
            "DurationInMinutes": 15,
            "WhoId": contact,
        }
    )
    record = sf.query(f"SELECT Id, Who.Name, Owner.Name FROM Event WHERE Subject = '{subject}'")["records"][0]
    assert record["Who"]["Name"] == "Ines Moreau"
    assert record["Who"]["attributes"] == {
        "type": "Contact",
        "url": f"/services/data/v62.0/sobjects/Contact/{contact}",
    }
    assert record["Owner"]["Name"] == "Calbridge Integration"


def test_paging_across_next_records_url(sf: Salesforce) -> None:
    prefix = unique("Paged")
    created = _accounts(sf, prefix, 2300)
    first = sf.query(f"SELECT Id, Name FROM Account WHERE Name LIKE '{prefix}%' ORDER BY Name")
    assert (first["totalSize"], first["done"], len(first["records"])) == (2300, False, 2000)
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert (second["done"], len(second["records"])) == (True, 300)
    everything = sf.query_all(f"SELECT Id FROM Account WHERE Name LIKE '{prefix}%'")
    assert sorted(r["Id"] for r in everything["records"]) == sorted(created)


def test_batch_size_header(sf: Salesforce, sandbox: SalesforceSandbox, http: requests.Session) -> None:
    prefix = unique("Batched")
    _accounts(sf, prefix, 450)
    url = sandbox.endpoints()["instance_url"] + "/services/data/v62.0/query/"
    headers = {
        "Authorization": f"Bearer {sandbox.endpoints()['access_token']}",
        "Sforce-Query-Options": "batchSize=200",
    }
    page = http.get(
        url, params={"q": f"SELECT Id FROM Account WHERE Name LIKE '{prefix}%'"}, headers=headers
    ).json()
    sizes = [len(page["records"])]
    while not page["done"]:
        page = http.get(sandbox.endpoints()["instance_url"] + page["nextRecordsUrl"], headers=headers).json()
        sizes.append(len(page["records"]))
    assert sizes == [200, 200, 50]


def test_query_all_includes_deleted_rows(sf: Salesforce) -> None:
    prefix = unique("Gone")
    ids = _accounts(sf, prefix, 3)
    sf.Account.delete(ids[0])
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Name LIKE '{prefix}%'"
    assert sf.query(soql)["totalSize"] == 2
    everything = sf.query_all(soql, include_deleted=True)["records"]
    assert {r["Id"]: r["IsDeleted"] for r in everything}[ids[0]] is True


def test_count_query(sf: Salesforce) -> None:
    prefix = unique("Counted")
    _accounts(sf, prefix, 7)
    result = sf.query(f"SELECT COUNT() FROM Account WHERE Name LIKE '{prefix}%'")
    assert (result["totalSize"], result["records"]) == (7, [])


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FRM Event", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Event", "INVALID_FIELD"),
        ("SELECT Id FROM Opportunity", "INVALID_TYPE"),
    ],
)
def test_bad_soql_gets_salesforce_errors(sf: Salesforce, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert caught.value.content[0]["errorCode"] == code
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] >= 1


def test_unknown_cursor_is_invalid_query_locator(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("01g5gDEADBEEF00-2000")
    assert caught.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


def test_where_operators_order_limit_and_offset_through_rest(sf: Salesforce) -> None:
    tag = unique("Ops").replace(" ", "")
    rows = [
        ("Alpha", "2026-12-01T09:00:00Z", 30, "Busy", "Room 1"),
        ("Bravo", "2026-12-02T09:00:00Z", 60, "Free", None),
        ("Charlie", "2026-12-03T15:30:00Z", 90, "OutOfOffice", "Room 2"),
        ("Delta", "2026-12-04T09:00:00Z", 30, "Busy", None),
    ]
    for name, start, minutes, show_as, location in rows:
        sf.Event.create(
            {
                "Subject": f"{tag} {name}",
                "StartDateTime": start,
                "DurationInMinutes": minutes,
                "ShowAs": show_as,
                "Location": location,
            }
        )

    def subjects(where: str, tail: str = "ORDER BY Subject") -> list[str]:
        soql = f"SELECT Subject FROM Event WHERE Subject LIKE '{tag}%' AND ({where}) {tail}"
        return [r["Subject"].split()[-1] for r in sf.query(soql)["records"]]

    assert subjects("DurationInMinutes >= 60 OR ShowAs = 'Busy'") == ["Alpha", "Bravo", "Charlie", "Delta"]
    assert subjects("NOT (ShowAs IN ('Busy', 'Free'))") == ["Charlie"]
    assert subjects("ShowAs NOT IN ('Busy') AND Location != null") == ["Charlie"]
    assert subjects("Location = null AND DurationInMinutes < 60") == ["Delta"]
    assert subjects("ActivityDate > 2026-12-01 AND ActivityDate <= 2026-12-03") == ["Bravo", "Charlie"]
    assert subjects("StartDateTime >= 2026-12-03T15:30:00Z") == ["Charlie", "Delta"]
    assert subjects("(ShowAs = 'Busy' OR ShowAs = 'Free') AND DurationInMinutes > 30") == ["Bravo"]
    assert subjects("Id != null", "ORDER BY DurationInMinutes DESC, Subject LIMIT 2 OFFSET 1") == [
        "Bravo",
        "Alpha",
    ]


def test_records_carry_their_url_even_when_id_is_not_selected(sf: Salesforce) -> None:
    contact = sf.Contact.create({"LastName": unique("Linked").replace(" ", "")})["id"]
    event = sf.Event.create(
        {"Subject": unique("Unselected"), "WhoId": contact, "StartDateTime": "2026-12-01T09:00:00Z",
         "DurationInMinutes": 30}
    )["id"]  # fmt: skip
    [record] = sf.query(f"SELECT Subject, Who.Name FROM Event WHERE Id = '{event}'")["records"]
    assert record["attributes"]["url"] == f"/services/data/v62.0/sobjects/Event/{event}"
    assert record["Who"]["attributes"]["url"] == f"/services/data/v62.0/sobjects/Contact/{contact}"
    [relation] = sf.query(f"SELECT RelationId FROM EventRelation WHERE EventId = '{event}'")["records"]
    assert relation["attributes"]["url"].startswith("/services/data/v62.0/sobjects/EventRelation/0RE")


def test_query_all_pages_keep_deleted_rows_and_the_locator_works_under_both_resources(
    sf: Salesforce, sandbox: SalesforceSandbox, http: requests.Session
) -> None:
    prefix = unique("Archive")
    ids = _accounts(sf, prefix, 260)
    sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids[-5:])})
    base = sandbox.endpoints()["instance_url"]
    headers = {
        "Authorization": f"Bearer {sandbox.endpoints()['access_token']}",
        "Sforce-Query-Options": "batchSize=200",
    }
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Name LIKE '{prefix}%' ORDER BY Name"
    first = http.get(base + "/services/data/v62.0/queryAll/", params={"q": soql}, headers=headers).json()
    assert (first["totalSize"], len(first["records"])) == (260, 200)
    # Salesforce hands out a `query` locator for queryAll too; both resources accept it.
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    via_query = http.get(base + first["nextRecordsUrl"], headers=headers).json()
    via_query_all = http.get(
        base + first["nextRecordsUrl"].replace("/query/", "/queryAll/"), headers=headers
    ).json()
    assert via_query == via_query_all and via_query["done"] is True
    assert [r["IsDeleted"] for r in via_query["records"]][-5:] == [True] * 5
