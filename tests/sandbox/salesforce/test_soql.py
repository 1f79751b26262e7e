"""The sandbox SOQL engine answers queries the way Salesforce does: selection shape, WHERE, ORDER BY,
LIMIT/OFFSET, COUNT(), relationship fields, date literals and queryAll."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from bridge.sandbox.salesforce.soql import QueryResult, run
from tests.sandbox.salesforce.soql_catalog import NOW, MemoryCatalog, sample_org

ORG = sample_org()
NAMED = {"Kickoff", "Design review", "Holiday", "1:1 with Grace", "Sprint planning"}
ALL_LIVE = NAMED | {None}


def query(text: str, org: MemoryCatalog = ORG, **kwargs: Any) -> QueryResult:
    kwargs.setdefault("now", NOW)
    return run(text, org, **kwargs)


def subjects(text: str, org: MemoryCatalog = ORG, **kwargs: Any) -> list[str | None]:
    return [record["Subject"] for record in query(text, org, **kwargs).records]


def event(subject: str) -> dict[str, Any]:
    return next(row for row in ORG.tables["event"] if row["Subject"] == subject)


# -- WHERE ---------------------------------------------------------------------------------------------------

WHERE_CASES = [
    ("Subject = 'Kickoff'", {"Kickoff"}),
    ("subject = 'KICKOFF'", {"Kickoff"}),
    ("Subject != 'Kickoff'", ALL_LIVE - {"Kickoff"}),
    ("Subject <> 'Kickoff'", ALL_LIVE - {"Kickoff"}),
    ("Subject = null", {None}),
    ("Subject != NULL", NAMED),
    ("DurationInMinutes > 60", {"Design review", "Holiday"}),
    ("DurationInMinutes >= 60", ALL_LIVE - {"1:1 with Grace"}),
    ("DurationInMinutes < 60", {"1:1 with Grace"}),
    ("DurationInMinutes <= 30", {"1:1 with Grace"}),
    ("DurationInMinutes = 60.0", {"Kickoff", "Sprint planning", None}),
    ("Location IN ('Room 1', 'room 2')", {"Kickoff", "Sprint planning", "Design review"}),
    ("Location NOT IN ('Room 1')", {"Design review", "Holiday", "1:1 with Grace", None}),
    ("Location IN ('Room 1', null)", {"Kickoff", "Sprint planning", "Holiday", "1:1 with Grace", None}),
    ("Subject LIKE 'k%'", {"Kickoff"}),
    ("Subject LIKE '%REVIEW'", {"Design review"}),
    ("Subject LIKE '1_1%'", {"1:1 with Grace"}),
    ("Subject LIKE '%'", NAMED),
    ("Subject LIKE 'Kick'", set()),
    ("Exchange_Item_Id__c LIKE 'AAMkAD-%'", {"Kickoff", "1:1 with Grace"}),
    ("exchange_item_id__c = 'AAMkAD-kickoff'", {"Kickoff"}),
    ("IsPrivate = true", {"1:1 with Grace"}),
    ("IsPrivate = FALSE AND IsAllDayEvent = false", ALL_LIVE - {"1:1 with Grace", "Holiday"}),
    ("IsAllDayEvent = false AND ShowAs = 'Busy'", {"Kickoff", "1:1 with Grace", "Sprint planning", None}),
    ("ShowAs = 'Free' OR ShowAs = 'OutOfOffice'", {"Design review", "Holiday"}),
    ("NOT Subject = 'Kickoff'", ALL_LIVE - {"Kickoff"}),
    ("NOT (Location = 'Room 1' OR Location = 'Room 2')", {"Holiday", "1:1 with Grace", None}),
    ("(Location = 'Room 1' OR IsPrivate = true) AND DurationInMinutes < 60", {"1:1 with Grace"}),
    (
        "Location = 'Room 1' AND (Subject LIKE 'S%' OR Subject LIKE 'K%') AND Owner.Email != null",
        {"Kickoff", "Sprint planning"},
    ),
    ("NOT (NOT (IsPrivate = true))", {"1:1 with Grace"}),
    ("StartDateTime = 2026-11-21T09:00:00Z", {"Kickoff"}),
    ("StartDateTime = 2026-11-21T10:00:00+01:00", {"Kickoff"}),
    ("StartDateTime = 2026-11-21T04:00:00-05:00", {"Kickoff"}),
    ("StartDateTime = 2026-11-21T09:00:00.000Z", {"Kickoff"}),
    ("StartDateTime >= 2026-11-22T00:00:00Z", {"Design review", "Sprint planning", None}),
    ("StartDateTime IN (2026-11-21T09:00:00Z, 2026-11-25T08:00:00Z)", {"Kickoff", "Sprint planning"}),
    ("ActivityDate = 2026-11-20", {"Holiday"}),
    ("ActivityDate < 2026-11-21", {"Holiday"}),
    ("StartDateTime = TODAY", {"Kickoff"}),
    ("StartDateTime = YESTERDAY", {"Holiday"}),
    ("StartDateTime = TOMORROW", {"Design review"}),
    ("StartDateTime > TODAY", {"Design review", "Sprint planning", None}),
    ("StartDateTime >= TODAY", {"Kickoff", "Design review", "Sprint planning", None}),
    ("StartDateTime < today", {"1:1 with Grace", "Holiday"}),
    ("StartDateTime <= TODAY", {"1:1 with Grace", "Holiday", "Kickoff"}),
    ("StartDateTime != TODAY", ALL_LIVE - {"Kickoff"}),
    ("StartDateTime = LAST_N_DAYS:3", {"1:1 with Grace", "Holiday", "Kickoff"}),
    ("StartDateTime = last_n_days:0", {"Kickoff"}),
    ("StartDateTime = NEXT_N_DAYS:2", {"Design review", None}),
    ("StartDateTime > NEXT_N_DAYS:2", {"Sprint planning"}),
    ("ActivityDate = YESTERDAY", {"Holiday"}),
    ("ActivityDate = LAST_N_DAYS:7", {"Holiday"}),
    ("Who.Name = 'alan turing'", {"Kickoff"}),
    ("Who.Type = 'Lead'", {"Design review"}),
    ("Who.Type IN ('Contact')", {"Kickoff", "Sprint planning"}),
    ("Owner.Email = 'grace@example.com'", {"Design review", "Sprint planning", None}),
    ("What.Name LIKE 'Acme%'", {"Kickoff"}),
    ("WhoId = null", {"Holiday", "1:1 with Grace", None}),
    ("IsDeleted = true", set()),
]


@pytest.mark.parametrize(("condition", "expected"), WHERE_CASES)
def test_where_selects_the_rows_salesforce_would(condition: str, expected: set[str | None]) -> None:
    found = subjects(f"SELECT Subject FROM Event WHERE {condition}")
    assert set(found) == expected
    assert len(found) == len(expected)


def test_keywords_and_field_names_are_case_insensitive() -> None:
    text = (
        "select SUBJECT from EVENT where SHOWAS = 'free' and isprivate = FALSE order by SUBJECT desc limit 5"
    )
    assert subjects(text) == ["Design review"]


def test_ids_match_in_their_15_and_18_character_forms() -> None:
    kickoff = event("Kickoff")
    assert subjects(f"SELECT Subject FROM Event WHERE Id = '{kickoff['Id']}'") == ["Kickoff"]
    assert subjects(f"SELECT Subject FROM Event WHERE Id = '{kickoff['Id'][:15]}'") == ["Kickoff"]
    other = event("Holiday")["Id"]
    found = subjects(f"SELECT Subject FROM Event WHERE Id IN ('{kickoff['Id']}', '{other}') ORDER BY Subject")
    assert found == ["Holiday", "Kickoff"]
    who = kickoff["WhoId"]
    assert subjects(f"SELECT Subject FROM Event WHERE WhoId = '{who}'") == ["Kickoff"]


ESCAPED_SUBJECTS = [
    "O'Brien sync",
    "C:\\temp",
    "100% done",
    "1000 things",
    "snake_case",
    "snakeXcase",
    "line\nbreak",
    'say "hi"',
    "tab\there",
]


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("= 'O\\'Brien sync'", ["O'Brien sync"]),
        ("= 'C:\\\\temp'", ["C:\\temp"]),
        ("LIKE '100\\%%'", ["100% done"]),
        ("LIKE '100%'", ["100% done", "1000 things"]),
        ("LIKE 'snake\\_case'", ["snake_case"]),
        ("LIKE 'snake_case'", ["snake_case", "snakeXcase"]),
        ("= 'line\\nbreak'", ["line\nbreak"]),
        ("= 'say \\\"hi\\\"'", ['say "hi"']),
        ("= 'tab\\there'", ["tab\there"]),
        ("= 'x\\' OR Subject != \\''", []),  # a quote inside a value never ends the value
    ],
)
def test_string_literals_decode_salesforce_escapes(literal: str, expected: list[str]) -> None:
    org = MemoryCatalog()
    for subject in ESCAPED_SUBJECTS:
        org.add("Event", Subject=subject)
    assert subjects(f"SELECT Subject FROM Event WHERE Subject {literal}", org) == expected


# -- ORDER BY, LIMIT, OFFSET ---------------------------------------------------------------------------------

ORDER_CASES = [
    ("ORDER BY Subject", [None, "1:1 with Grace", "Design review", "Holiday", "Kickoff", "Sprint planning"]),
    (
        "ORDER BY Subject ASC",
        [None, "1:1 with Grace", "Design review", "Holiday", "Kickoff", "Sprint planning"],
    ),
    (
        "ORDER BY Subject DESC",
        ["Sprint planning", "Kickoff", "Holiday", "Design review", "1:1 with Grace", None],
    ),
    (
        "ORDER BY Subject ASC NULLS LAST",
        ["1:1 with Grace", "Design review", "Holiday", "Kickoff", "Sprint planning", None],
    ),
    (
        "ORDER BY Subject DESC NULLS FIRST",
        [None, "Sprint planning", "Kickoff", "Holiday", "Design review", "1:1 with Grace"],
    ),
    (
        "ORDER BY Location, Subject",
        [None, "1:1 with Grace", "Holiday", "Kickoff", "Sprint planning", "Design review"],
    ),
    (
        "ORDER BY DurationInMinutes DESC, Subject",
        ["Holiday", "Design review", None, "Kickoff", "Sprint planning", "1:1 with Grace"],
    ),
    (
        "ORDER BY Owner.Email, StartDateTime",
        ["1:1 with Grace", "Holiday", "Kickoff", "Design review", None, "Sprint planning"],
    ),
    ("ORDER BY StartDateTime LIMIT 2", ["1:1 with Grace", "Holiday"]),
    ("ORDER BY StartDateTime LIMIT 2 OFFSET 1", ["Holiday", "Kickoff"]),
    ("ORDER BY StartDateTime OFFSET 5", ["Sprint planning"]),
    ("ORDER BY StartDateTime OFFSET 2000", []),
    ("ORDER BY StartDateTime LIMIT 0", []),
    ("LIMIT 3", ["Kickoff", "Design review", "Holiday"]),  # unsorted: creation order
]


@pytest.mark.parametrize(("clauses", "expected"), ORDER_CASES)
def test_order_limit_offset(clauses: str, expected: list[str | None]) -> None:
    assert subjects(f"SELECT Subject FROM Event {clauses}") == expected


def test_text_sorts_case_insensitively() -> None:
    org = MemoryCatalog()
    for subject in ("banana", "Apple", "cherry", "apricot"):
        org.add("Event", Subject=subject)
    assert subjects("SELECT Subject FROM Event ORDER BY Subject", org) == [
        "Apple",
        "apricot",
        "banana",
        "cherry",
    ]


# -- COUNT() and queryAll ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "include_deleted", "expected"),
    [
        ("SELECT COUNT() FROM Event", False, 6),
        ("select count() from event where ShowAs = 'Busy'", False, 4),
        ("SELECT COUNT() FROM Event", True, 7),
        ("SELECT COUNT() FROM Event LIMIT 2", False, 2),
        ("SELECT COUNT() FROM EventRelation WHERE EventId IN ('00U5g00000000zzAAA')", False, 0),
        (f"SELECT COUNT() FROM EventRelation WHERE EventId = '{event('Kickoff')['Id']}'", False, 2),
    ],
)
def test_count_reports_the_total_without_records(text: str, include_deleted: bool, expected: int) -> None:
    result = query(text, include_deleted=include_deleted)
    assert (result.total_size, result.records) == (expected, [])


def test_deleted_rows_appear_only_with_query_all() -> None:
    assert "Old standup" not in subjects("SELECT Subject FROM Event")
    assert subjects("SELECT Subject FROM Event WHERE IsDeleted = true") == []
    assert subjects("SELECT Subject FROM Event WHERE IsDeleted = true", include_deleted=True) == [
        "Old standup"
    ]
    assert len(subjects("SELECT Subject FROM Event", include_deleted=True)) == 7


def test_deleted_rows_stay_hidden_even_if_the_catalog_hands_them_over() -> None:
    class Careless(MemoryCatalog):
        def rows(self, sobject: str, include_deleted: bool) -> list[dict[str, Any]]:
            return self.tables[sobject.lower()]

    org = Careless()
    org.add("Event", Subject="gone", IsDeleted=True)
    org.add("Event", Subject="here")
    assert subjects("SELECT Subject FROM Event", org) == ["here"]


# -- selection shape -----------------------------------------------------------------------------------------


def test_records_carry_type_and_selected_fields_in_select_order_with_schema_spelling() -> None:
    result = query(
        "SELECT exchange_item_id__c, SUBJECT, id, StartDateTime FROM event WHERE Subject = 'Kickoff'"
    )
    kickoff = event("Kickoff")
    assert result.sobject.name == "Event"
    assert result.total_size == 1
    assert result.records == [
        {
            "attributes": {"type": "Event"},
            "Exchange_Item_Id__c": "AAMkAD-kickoff",
            "Subject": "Kickoff",
            "Id": kickoff["Id"],
            "StartDateTime": datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
        }
    ]
    assert list(result.records[0]) == ["attributes", "Exchange_Item_Id__c", "Subject", "Id", "StartDateTime"]


RELATIONSHIP_CASES = [
    (
        "SELECT Who.Name, Subject, Who.Email FROM Event WHERE Subject = 'Kickoff'",
        {
            "Who": {"attributes": {"type": "Contact"}, "Name": "Alan Turing", "Email": "alan@acme.example"},
            "Subject": "Kickoff",
        },
    ),
    (
        "SELECT Who.Name, Who.Type FROM Event WHERE Subject = 'Design review'",
        {"Who": {"attributes": {"type": "Lead"}, "Name": "Barbara Liskov", "Type": "Lead"}},
    ),
    ("SELECT Who.Name FROM Event WHERE Subject = 'Holiday'", {"Who": None}),
    (
        "SELECT What.Name, what.id FROM Event WHERE Subject = 'Kickoff'",
        {
            "What": {
                "attributes": {"type": "Account"},
                "Name": "Acme Corp",
                "Id": ORG.tables["account"][0]["Id"],
            }
        },
    ),
    (
        "SELECT Owner.Email, Owner.Name FROM Event WHERE Subject = 'Holiday'",
        {"Owner": {"attributes": {"type": "User"}, "Email": "ada@example.com", "Name": "Ada Lovelace"}},
    ),
    (
        "SELECT CreatedBy.Name, LastModifiedBy.Alias FROM Event WHERE Subject = 'Kickoff'",
        {
            "CreatedBy": {"attributes": {"type": "User"}, "Name": "Ada Lovelace"},
            "LastModifiedBy": {"attributes": {"type": "User"}, "Alias": "alove"},
        },
    ),
    (
        "SELECT Owner.TimeZoneSidKey FROM Contact WHERE LastName = 'Turing'",
        {"Owner": {"attributes": {"type": "User"}, "TimeZoneSidKey": "Europe/London"}},
    ),
    ("SELECT Account.Name FROM Contact WHERE LastName = 'Dijkstra'", {"Account": None}),
]


@pytest.mark.parametrize(("text", "expected"), RELATIONSHIP_CASES)
def test_relationship_fields_nest_the_parent(text: str, expected: dict[str, Any]) -> None:
    record = query(text).records[0]
    assert record == {"attributes": record["attributes"], **expected}
    assert list(record)[1:] == list(expected)


def test_polymorphic_relation_reads_each_target_with_its_own_type() -> None:
    result = query(
        "SELECT Status, Relation.Name, Relation.Username, Relation.Type, Event.Subject FROM EventRelation "
        "ORDER BY Relation.Name"
    )
    assert [r["Relation"] for r in result.records] == [
        {
            "attributes": {"type": "User"},
            "Name": "Ada Lovelace",
            "Username": "ada@example.com",
            "Type": "User",
        },
        {"attributes": {"type": "Contact"}, "Name": "Alan Turing", "Username": None, "Type": "Contact"},
        {"attributes": {"type": "Lead"}, "Name": "Barbara Liskov", "Username": None, "Type": "Lead"},
        {
            "attributes": {"type": "User"},
            "Name": "Grace Hopper",
            "Username": "grace@example.com",
            "Type": "User",
        },
    ]
    assert result.records[0]["Event"] == {
        "attributes": {"type": "Event"},
        "Subject": "Design review",
    }


def test_invitee_recipe_from_the_object_reference() -> None:
    kickoff = event("Kickoff")["Id"]
    text = (
        "SELECT Id, RelationId, Relation.Email, Status FROM EventRelation "
        f"WHERE EventId = '{kickoff}' AND IsInvitee = true ORDER BY Relation.Email"
    )
    rows = query(text).records
    assert [(r["Relation"]["Email"], r["Status"]) for r in rows] == [
        ("alan@acme.example", "New"),
        ("grace@example.com", "Accepted"),
    ]


def test_custom_lookup_is_followed_through_its_r_relationship() -> None:
    result = query("SELECT Name, User__r.Email, User__r.Name FROM Calbridge_Issue__c ORDER BY Name")
    assert [r["User__r"] for r in result.records] == [
        {"attributes": {"type": "User"}, "Email": "ada@example.com", "Name": "Ada Lovelace"},
        None,
    ]


def test_a_reference_to_a_missing_record_reads_as_none() -> None:
    org = MemoryCatalog()
    org.add("Event", Subject="orphan", WhoId="0035g0000000zzzAAA")
    assert query("SELECT Who.Name FROM Event", org).records[0]["Who"] is None


def test_each_parent_is_looked_up_once_per_query() -> None:
    org = sample_org()
    query("SELECT Who.Name, Who.Email, Owner.Name FROM Event WHERE Who.Name != null ORDER BY Who.Name", org)
    distinct_parents = {row["WhoId"] for row in org.tables["event"] if row["WhoId"]} | {
        row["OwnerId"] for row in org.tables["event"]
    }
    assert org.lookups <= len(distinct_parents)


def test_values_keep_their_python_types() -> None:
    record = query(
        "SELECT ActivityDate, IsAllDayEvent, DurationInMinutes, StartDateTime FROM Event "
        "WHERE Subject = 'Holiday'"
    ).records[0]
    assert record["ActivityDate"] == date(2026, 11, 20)
    assert record["IsAllDayEvent"] is True
    assert record["DurationInMinutes"] == 1440
    assert record["StartDateTime"] == datetime(2026, 11, 20, tzinfo=UTC)


def test_today_follows_the_clock_in_utc() -> None:
    late_evening_elsewhere = datetime(2026, 11, 21, 23, 59, tzinfo=UTC)
    assert subjects("SELECT Subject FROM Event WHERE StartDateTime = TODAY", now=late_evening_elsewhere) == [
        "Kickoff"
    ]
    next_day = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
    assert subjects("SELECT Subject FROM Event WHERE StartDateTime = TODAY", now=next_day) == [
        "Design review"
    ]


# -- speed ---------------------------------------------------------------------------------------------------


def test_where_over_ten_thousand_rows_takes_milliseconds() -> None:
    org = MemoryCatalog()
    owner = org.add("User", LastName="Owner", Email="owner@example.com")["Id"]
    for n in range(10_000):
        org.add(
            "Event",
            Subject=f"Meeting {n}",
            DurationInMinutes=n % 120,
            IsPrivate=n % 7 == 0,
            StartDateTime=datetime(2026, 1 + n % 12, 1 + n % 28, n % 24, tzinfo=UTC),
            OwnerId=owner,
            Exchange_Item_Id__c=f"AAMk-{n}",
        )
    text = (
        "SELECT Id, Subject, Owner.Email FROM Event WHERE (DurationInMinutes > 30 AND IsPrivate = false) "
        "OR Subject LIKE '%99' OR Exchange_Item_Id__c IN ('AAMk-1', 'AAMk-2') ORDER BY StartDateTime DESC"
    )
    result = query(text, org)
    # Speed is measured by `make bench` (bench/soql.py), never asserted here.
    assert result.total_size > 5_000
