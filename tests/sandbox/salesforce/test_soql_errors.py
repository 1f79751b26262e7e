"""Queries Salesforce refuses get its error code and message, with the query echoed and a caret under the
offending token where Salesforce does that."""

from __future__ import annotations

import pytest

from bridge.sandbox.salesforce.soql import SoqlError, run
from tests.sandbox.salesforce.soql_catalog import NOW, sample_org

ORG = sample_org()
FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
OBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the entity name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the custom "
    "relationship name. Please reference your WSDL or the describe call for the appropriate names."
)


def error_of(text: str) -> SoqlError:
    with pytest.raises(SoqlError) as caught:
        run(text, ORG, now=NOW)
    return caught.value


def caret(text: str, column: int, message: str) -> str:
    return f"\n{text}\n{' ' * (column - 1)}^\nERROR at Row:1:Column:{column}\n{message}"


@pytest.mark.parametrize(
    ("text", "code", "column", "message"),
    [
        ("SELECT Id FORM Event", "MALFORMED_QUERY", 11, "unexpected token: 'FORM'"),
        ("SELECT Id FROM Foo", "INVALID_TYPE", 16, f"sObject type 'Foo' is not supported. {OBJECT_HINT}"),
        (
            "SELECT Id FROM Calbridge_Command__e",
            "INVALID_TYPE",
            16,
            f"sObject type 'Calbridge_Command__e' is not supported. {OBJECT_HINT}",
        ),
        (
            "SELECT Id, Foo FROM Event",
            "INVALID_FIELD",
            12,
            f"No such column 'Foo' on entity 'Event'. {FIELD_HINT}",
        ),
        (
            "SELECT Id FROM Event WHERE Foo = 1",
            "INVALID_FIELD",
            28,
            f"No such column 'Foo' on entity 'Event'. {FIELD_HINT}",
        ),
        (
            "SELECT Id FROM Event ORDER BY Foo",
            "INVALID_FIELD",
            31,
            f"No such column 'Foo' on entity 'Event'. {FIELD_HINT}",
        ),
        (
            "SELECT Exchange_Item_Id FROM Event",
            "INVALID_FIELD",
            8,
            f"No such column 'Exchange_Item_Id' on entity 'Event'. {FIELD_HINT}",
        ),
        (
            "SELECT Foo.Name FROM Event",
            "INVALID_FIELD",
            8,
            f"Didn't understand relationship 'Foo' in field path. {RELATIONSHIP_HINT}",
        ),
        (
            "SELECT WhoId.Name FROM Event",
            "INVALID_FIELD",
            8,
            f"Didn't understand relationship 'WhoId' in field path. {RELATIONSHIP_HINT}",
        ),
        (
            "SELECT User__c.Email FROM Calbridge_Issue__c",
            "INVALID_FIELD",
            8,
            f"Didn't understand relationship 'User__c' in field path. {RELATIONSHIP_HINT}",
        ),
        (
            "SELECT Who.Foo FROM Event",
            "INVALID_FIELD",
            8,
            f"No such column 'Foo' on entity 'Name'. {FIELD_HINT}",
        ),
        (
            "SELECT Owner.Foo FROM Contact",
            "INVALID_FIELD",
            8,
            f"No such column 'Foo' on entity 'User'. {FIELD_HINT}",
        ),
        (
            "SELECT Id FROM Event WHERE StartDateTime > 2026-11-21",
            "INVALID_FIELD",
            44,
            "value of filter criterion for field 'StartDateTime' must be of type dateTime and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Event WHERE StartDateTime > '2026-11-21T00:00:00Z'",
            "INVALID_FIELD",
            44,
            "value of filter criterion for field 'StartDateTime' must be of type dateTime and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Event WHERE ActivityDate = 2026-11-20T00:00:00Z",
            "INVALID_FIELD",
            43,
            "value of filter criterion for field 'ActivityDate' must be of type date and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Event WHERE DurationInMinutes = '60'",
            "INVALID_FIELD",
            48,
            "value of filter criterion for field 'DurationInMinutes' must be of type int and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Event WHERE Subject = 5",
            "INVALID_FIELD",
            38,
            "value of filter criterion for field 'Subject' must be of type string and should be enclosed in "
            "quotes",
        ),
        (
            "SELECT Id FROM Event WHERE Location IN ('a', 1)",
            "INVALID_FIELD",
            46,
            "value of filter criterion for field 'Location' must be of type string and should be enclosed in "
            "quotes",
        ),
        (
            "SELECT Id FROM Event WHERE IsPrivate = 'true'",
            "INVALID_FIELD",
            40,
            "value of filter criterion for field 'IsPrivate' must be of type boolean and should not be "
            "enclosed in quotes",
        ),
        (
            "SELECT Id FROM Event WHERE Description = 'x'",
            "INVALID_FIELD",
            28,
            "field 'Description' can not be filtered in query call",
        ),
        (
            "SELECT Id FROM Event ORDER BY Description",
            "INVALID_FIELD",
            31,
            "field 'Description' can not be sorted in a query call",
        ),
        (
            "SELECT Id FROM Event WHERE IsPrivate LIKE 'x'",
            "INVALID_FIELD",
            38,
            "invalid operator on boolean field",
        ),
        (
            "SELECT Id FROM Event WHERE Id = 'abc'",
            "INVALID_QUERY_FILTER_OPERATOR",
            33,
            "invalid ID field: abc",
        ),
        (
            "SELECT Id FROM Event WHERE WhoId IN ('003', null)",
            "INVALID_QUERY_FILTER_OPERATOR",
            38,
            "invalid ID field: 003",
        ),
        (
            "SELECT Id FROM Event WHERE Subject = 'a' AND Location = 'b' OR IsPrivate = true",
            "MALFORMED_QUERY",
            61,
            "unexpected token: 'OR'",
        ),
        (
            "SELECT Id FROM Event WHERE Subject = 'a' OR Location = 'b' AND IsPrivate = true",
            "MALFORMED_QUERY",
            60,
            "unexpected token: 'AND'",
        ),
        ("SELECT Id FROM Event WHERE", "MALFORMED_QUERY", 27, "unexpected token: '<EOF>'"),
        ("SELECT FROM Event", "MALFORMED_QUERY", 8, "unexpected token: 'FROM'"),
        (
            "SELECT Id FROM Event LIMIT 10 ORDER BY Subject",
            "MALFORMED_QUERY",
            31,
            "unexpected token: 'ORDER'",
        ),
        (
            "SELECT Id FROM Event WHERE StartDateTime = LAST_N_DAYS",
            "MALFORMED_QUERY",
            55,
            "unexpected token: '<EOF>'",
        ),
        (
            "SELECT Id FROM Event WHERE StartDateTime = LAST_N_WEEKS:2",
            "MALFORMED_QUERY",
            44,
            "unexpected token: 'LAST_N_WEEKS'",
        ),
        ("SELECT COUNT(), Id FROM Event", "MALFORMED_QUERY", 15, "unexpected token: ','"),
        ("SELECT Id FROM Event WHERE Subject IN ()", "MALFORMED_QUERY", 40, "unexpected token: ')'"),
        ("SELECT Id FROM Event WHERE Subject = :subject", "MALFORMED_QUERY", 38, "unexpected token: ':'"),
        ("SELECT Id FROM Event LIMIT -1", "MALFORMED_QUERY", 28, "unexpected token: '-1'"),
        ("SELECT Id FROM Event e", "MALFORMED_QUERY", 22, "unexpected token: 'e'"),
        (
            'SELECT Id FROM Event WHERE Subject = "x"',
            "MALFORMED_QUERY",
            38,
            "line 1:37 no viable alternative at character '\"'",
        ),
        (
            "SELECT Id FROM Event WHERE StartDateTime > 2026-11-21T10:00:00",
            "MALFORMED_QUERY",
            63,
            "line 1:62 no viable alternative at character '<EOF>'",
        ),
        (
            "SELECT Id FROM Event WHERE Subject = 'x",
            "MALFORMED_QUERY",
            40,
            "line 1:39 mismatched character '<EOF>' expecting '''",
        ),
        (
            "SELECT Id FROM Event WHERE Subject = 'a\\qb'",
            "MALFORMED_QUERY",
            38,
            "Invalid string literal 'a\\qb'. Illegal character sequence '\\q' in string literal.",
        ),
        (
            "SELECT Id FROM Event WHERE ActivityDate = 2026-13-01",
            "MALFORMED_QUERY",
            43,
            "Invalid date: 2026-13-01",
        ),
        (
            "SELECT Id FROM Event WHERE StartDateTime = 2026-11-21T25:00:00Z",
            "MALFORMED_QUERY",
            44,
            "Invalid datetime: 2026-11-21T25:00:00Z",
        ),
    ],
)
def test_refused_queries_echo_the_query_with_a_caret(text: str, code: str, column: int, message: str) -> None:
    error = error_of(text)
    assert error.error_code == code
    assert error.message == caret(text, column, message)


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        (
            "SELECT Id FROM Event OFFSET 2001",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "Maximum SOQL offset allowed is 2000",
        ),
        ("SELECT Id, Subject, id FROM Event", "INVALID_FIELD", "duplicate field selected: Id"),
        ("SELECT Who.Name, who.name FROM Event", "INVALID_FIELD", "duplicate field selected: Who.Name"),
        (
            "SELECT Id FROM Event LIMIT 2147483648",
            "MALFORMED_QUERY",
            "numeric value out of range: 2147483648",
        ),
    ],
)
def test_refused_queries_without_a_caret(text: str, code: str, message: str) -> None:
    error = error_of(text)
    assert (error.error_code, error.message) == (code, message)


def test_caret_points_into_the_right_line_of_a_multi_line_query() -> None:
    text = "SELECT Id\nFROM Event\nWHERE Nope = 1"
    error = error_of(text)
    assert error.message == (
        "\nWHERE Nope = 1\n      ^\nERROR at Row:3:Column:7\n"
        f"No such column 'Nope' on entity 'Event'. {FIELD_HINT}"
    )


def test_error_str_names_code_and_message() -> None:
    error = error_of("SELECT Id FROM Event OFFSET 2001")
    assert str(error) == "NUMBER_OUTSIDE_VALID_RANGE: Maximum SOQL offset allowed is 2000"


def test_a_bad_query_leaves_the_engine_answering_the_next_one() -> None:
    error_of("SELECT Id FORM Event")
    assert run("SELECT COUNT() FROM Event", ORG, now=NOW).total_size == 6
