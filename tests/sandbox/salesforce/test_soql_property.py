"""Random WHERE trees over random rows: the engine selects exactly the rows a direct Python evaluation of
the same tree selects (SOQL semantics: case-insensitive text, `!=`/NOT IN match nulls, relative dates are
day ranges in UTC). Values go through the query text with escaping, so this also checks the lexer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simple_salesforce import format_soql

from bridge.sandbox.salesforce.soql import SoqlError, run
from tests.sandbox.salesforce.soql_catalog import NOW, MemoryCatalog

TEXT_ALPHABET = "aAbB'\\%_ \n"
TODAY = NOW.date()
MOMENTS = [datetime(2026, 11, day, hour, tzinfo=UTC) for day in (18, 20, 21, 22, 25) for hour in (0, 9, 23)]
RELATIVE = {
    "TODAY": (TODAY, TODAY + timedelta(days=1)),
    "YESTERDAY": (TODAY - timedelta(days=1), TODAY),
    "TOMORROW": (TODAY + timedelta(days=1), TODAY + timedelta(days=2)),
}

texts = st.text(alphabet=TEXT_ALPHABET, max_size=4)
rows = st.fixed_dictionaries(
    {
        "Subject": st.none() | texts,
        "Location": st.none() | texts,
        "DurationInMinutes": st.none() | st.integers(0, 4),
        "IsPrivate": st.booleans(),
        "StartDateTime": st.none() | st.sampled_from(MOMENTS),
    }
)
ORDERING = ["=", "!=", "<", "<=", ">", ">="]


def _text_leaf() -> st.SearchStrategy[tuple[Any, ...]]:
    field = st.sampled_from(["Subject", "Location"])
    compare = st.tuples(st.just("cmp"), field, st.sampled_from(ORDERING), texts)
    null_test = st.tuples(st.just("cmp"), field, st.sampled_from(["=", "!="]), st.none())
    piece = st.sampled_from(["%", "_"]) | st.text(alphabet=TEXT_ALPHABET, min_size=1, max_size=2).map(
        lambda s: ("lit", s)
    )
    like = st.tuples(st.just("like"), field, st.lists(piece, max_size=3))
    members = st.tuples(
        st.just("in"), field, st.lists(st.none() | texts, min_size=1, max_size=3), st.booleans()
    )
    return compare | null_test | like | members


def _leaf() -> st.SearchStrategy[tuple[Any, ...]]:
    number = st.tuples(
        st.just("cmp"), st.just("DurationInMinutes"), st.sampled_from(ORDERING), st.integers(0, 4)
    )
    flag = st.tuples(st.just("cmp"), st.just("IsPrivate"), st.sampled_from(["=", "!="]), st.booleans())
    moment = st.tuples(
        st.just("cmp"), st.just("StartDateTime"), st.sampled_from(ORDERING), st.sampled_from(MOMENTS)
    )
    relative = st.tuples(
        st.just("cmp"), st.just("StartDateTime"), st.sampled_from(ORDERING), st.sampled_from(sorted(RELATIVE))
    )
    last_n = st.tuples(st.just("cmp"), st.just("StartDateTime"), st.sampled_from(ORDERING), st.integers(0, 4))
    return (
        _text_leaf()
        | number
        | flag
        | moment
        | relative
        | last_n.map(lambda t: (*t[:3], ("LAST_N_DAYS", t[3])))
    )


conditions = st.recursive(
    _leaf(),
    lambda inner: (
        st.tuples(st.sampled_from(["and", "or"]), st.lists(inner, min_size=2, max_size=3))
        | st.tuples(st.just("not"), inner)
    ),
    max_leaves=6,
)


# -- rendering -----------------------------------------------------------------------------------------------


def _quote(text: str, in_like: bool = False) -> str:
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
    if in_like:
        escaped = escaped.replace("%", "\\%").replace("_", "\\_")
    return escaped


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        # The same instant written in another zone, to exercise offsets.
        shifted = value.astimezone(timezone(timedelta(hours=-5)))
        return shifted.strftime("%Y-%m-%dT%H:%M:%S.000-05:00")
    if isinstance(value, tuple):
        return f"{value[0]}:{value[1]}"
    if value in RELATIVE:
        return str(value)
    return f"'{_quote(value)}'"


def render(node: tuple[Any, ...]) -> str:
    kind = node[0]
    if kind in ("and", "or"):
        return "(" + f" {kind.upper()} ".join(render(child) for child in node[1]) + ")"
    if kind == "not":
        return f"NOT ({render(node[1])})"
    if kind == "like":
        pattern = "".join(part if isinstance(part, str) else _quote(part[1], True) for part in node[2])
        return f"{node[1]} LIKE '{pattern}'"
    if kind == "in":
        values = ", ".join(_literal(v) for v in node[2])
        return f"{node[1]} {'NOT IN' if node[3] else 'IN'} ({values})"
    _, field, operator, value = node
    if isinstance(value, str) and value in RELATIVE:
        return f"{field} {operator} {value}"
    return f"{field} {operator} {_literal(value)}"


# -- the reference evaluation --------------------------------------------------------------------------------


def _like(value: str, parts: list[Any]) -> bool:
    tokens: list[Any] = []
    for part in parts:
        tokens.extend([part] if isinstance(part, str) else [("lit", char) for char in part[1].casefold()])

    def match(i: int, j: int) -> bool:
        if i == len(tokens):
            return j == len(value)
        if tokens[i] == "%":
            return any(match(i + 1, k) for k in range(j, len(value) + 1))
        if j == len(value):
            return False
        return (tokens[i] == "_" or tokens[i] == ("lit", value[j])) and match(i + 1, j + 1)

    return match(0, 0)


def _compare(operator: str, left: Any, right: Any) -> bool:
    outcomes: dict[str, bool] = {
        "=": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }
    return outcomes[operator]


def _in_range(operator: str, value: datetime, low: date, high: date) -> bool:
    day = value.date()
    inside = low <= day < high
    return {
        "=": inside,
        "!=": not inside,
        "<": day < low,
        "<=": day < high,
        ">": day >= high,
        ">=": day >= low,
    }[operator]


def evaluate(node: tuple[Any, ...], row: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "and":
        return all(evaluate(child, row) for child in node[1])
    if kind == "or":
        return any(evaluate(child, row) for child in node[1])
    if kind == "not":
        return not evaluate(node[1], row)
    actual = row[node[1]]
    if kind == "like":
        return actual is not None and _like(actual.casefold(), node[2])
    if kind == "in":
        wanted = {v.casefold() if isinstance(v, str) else v for v in node[2]}
        member = (actual.casefold() if isinstance(actual, str) else actual) in wanted
        return bool(member != node[3])
    _, _, operator, value = node
    if isinstance(value, tuple) or (isinstance(value, str) and value in RELATIVE):
        low, high = (
            (TODAY - timedelta(days=value[1]), TODAY + timedelta(days=1))
            if isinstance(value, tuple)
            else RELATIVE[value]
        )
        if actual is None:
            return bool(operator == "!=")
        return _in_range(operator, actual, low, high)
    if value is None or actual is None:
        if operator in ("=", "!="):
            return bool((actual is None and value is None) == (operator == "="))
        return False
    if isinstance(value, str):
        return _compare(operator, actual.casefold(), value.casefold())
    return _compare(operator, actual, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(rows, min_size=1, max_size=12), conditions)
def test_random_where_trees_agree_with_direct_evaluation(
    generated: list[dict[str, Any]], condition: tuple[Any, ...]
) -> None:
    org = MemoryCatalog()
    added = [org.add("Event", **row) for row in generated]
    text = f"SELECT Id FROM Event WHERE {render(condition)}"
    found = [record["Id"] for record in run(text, org, now=NOW).records]
    expected = [row["Id"] for row in added if evaluate(condition, row)]
    assert found == expected, text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12), st.sampled_from(MOMENTS))
def test_r_sec_4_values_escaped_by_simple_salesforce_match_only_themselves(
    subject: str, moment: datetime
) -> None:
    """What the bridge escapes with simple-salesforce's format_soql reaches the engine as the same value."""
    org = MemoryCatalog()
    wanted = org.add("Event", Subject=subject, StartDateTime=moment)["Id"]
    org.add("Event", Subject=subject + "'x", StartDateTime=moment)
    org.add("Event", Subject="decoy", StartDateTime=moment + timedelta(hours=1))
    equal = format_soql(
        "SELECT Id, Subject FROM Event WHERE Subject = {} AND StartDateTime = {}", subject, moment
    )
    found = run(equal, org, now=NOW).records
    assert wanted in [record["Id"] for record in found]
    assert all(record["Subject"].casefold() == subject.casefold() for record in found)
    prefix = format_soql(
        "SELECT Id FROM Event WHERE Subject LIKE '{:like}%' AND Subject IN {}", subject, [subject]
    )
    assert wanted in [record["Id"] for record in run(prefix, org, now=NOW).records]


TOKEN_SOUP = [
    "SELECT",
    "Id",
    "Subject",
    "Who.Name",
    "COUNT()",
    "FROM",
    "Event",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "(",
    ")",
    ",",
    "=",
    "!=",
    "<",
    ">=",
    "IN",
    "LIKE",
    "null",
    "true",
    "'x'",
    "'a\\'b'",
    "'\\q'",
    "'",
    "5",
    "-1",
    "1.5",
    "2026-11-21",
    "2026-11-21T10:00:00Z",
    "2026-11-21T10:00:00",
    "TODAY",
    "LAST_N_DAYS:2",
    ":",
    "ORDER",
    "BY",
    "DESC",
    "NULLS",
    "LAST",
    "LIMIT",
    "OFFSET",
    '"',
    "#",
    "٣",
    "²",
    "Ü",
]


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40) | st.lists(st.sampled_from(TOKEN_SOUP), max_size=14).map(" ".join))
def test_any_text_either_runs_or_fails_with_a_salesforce_error(text: str) -> None:
    org = MemoryCatalog()
    org.add("Event", Subject="x")
    try:
        result = run(text, org, now=NOW)
    except SoqlError as error:
        assert error.error_code in {
            "MALFORMED_QUERY",
            "INVALID_FIELD",
            "INVALID_TYPE",
            "NUMBER_OUTSIDE_VALID_RANGE",
            "INVALID_QUERY_FILTER_OPERATOR",
        }
        assert error.message
    else:
        assert result.total_size == len(result.records) or result.records == []
