"""Aggregate SOQL in the sandbox (GROUP BY with COUNT, MAX, MIN) answers as Salesforce does: one
AggregateResult row per group, aggregates named by alias or `exprN`, nulls skipped, every selected field
grouped or aggregated. The bridge's periodic reconcile asks one such question per 200 owners (R-TIME-4)."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.sandbox.salesforce.soql import SoqlError, run
from tests.sandbox.salesforce.soql_catalog import NOW, sample_org

ORG = sample_org()


def rows(text: str) -> list[dict[str, Any]]:
    return run(text, ORG, now=NOW).records


def owner(subject: str) -> str:
    return str(next(r for r in ORG.tables["event"] if r["Subject"] == subject)["OwnerId"])


def event(subject: str) -> dict[str, Any]:
    return next(r for r in ORG.tables["event"] if r["Subject"] == subject)


def test_r_time_4_group_by_owner_answers_a_count_and_the_newest_and_oldest_value_per_owner() -> None:
    ada, grace = owner("Kickoff"), owner("Design review")
    found = rows(
        "SELECT OwnerId, COUNT(Id), MAX(StartDateTime) newest, MIN(EndDateTime) FROM Event "
        "GROUP BY OwnerId ORDER BY OwnerId"
    )
    by_owner = {r["OwnerId"]: r for r in found}
    assert set(by_owner) == {ada, grace}
    assert all(r["attributes"] == {"type": "AggregateResult"} for r in found)
    assert by_owner[ada]["expr0"] == 3  # Kickoff, Holiday, 1:1 (the deleted standup is Grace's, left out)
    assert by_owner[ada]["newest"] == event("Kickoff")["StartDateTime"]
    assert by_owner[ada]["expr1"] == event("1:1 with Grace")["EndDateTime"]
    assert by_owner[grace]["expr0"] == 3
    assert by_owner[grace]["newest"] == event("Sprint planning")["StartDateTime"]


def test_count_of_a_field_skips_nulls_and_no_group_by_is_one_row_even_of_nothing() -> None:
    assert rows("SELECT COUNT(Subject), COUNT(Id) FROM Event")[0] | {"attributes": None} == {
        "attributes": None,
        "expr0": 5,
        "expr1": 6,
    }
    empty = rows("SELECT COUNT(Id) n, MAX(SystemModstamp) m FROM Event WHERE Subject = 'Nothing like it'")
    assert [(r["n"], r["m"]) for r in empty] == [(0, None)]


def test_a_parent_field_groups_under_its_field_name() -> None:
    found = rows("SELECT Event.OwnerId, COUNT(Id) FROM EventRelation GROUP BY Event.OwnerId")
    counts = {r["OwnerId"]: r["expr0"] for r in found}
    assert counts == {owner("Kickoff"): 2, owner("Design review"): 2}


@pytest.mark.parametrize(
    "text",
    [
        "SELECT OwnerId, Subject, COUNT(Id) FROM Event GROUP BY OwnerId",
        "SELECT OwnerId, COUNT(Id) FROM Event GROUP BY OwnerId ORDER BY Subject",
    ],
)
def test_a_field_neither_grouped_nor_aggregated_is_refused(text: str) -> None:
    with pytest.raises(SoqlError) as refused:
        run(text, ORG, now=NOW)
    assert refused.value.error_code == "MALFORMED_QUERY"
    assert "must be grouped or aggregated" in refused.value.message
