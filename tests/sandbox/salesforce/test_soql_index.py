"""The org's indexed SOQL reads answer exactly what a full read of every row answers (same rows, same
order, deleted rows only for queryAll), through random writes between the queries: creates, updates,
deletes, undeletes, whole transactions rolled back, savepoints rolled back, and a state reload."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.sandbox.salesforce import persistence
from bridge.sandbox.salesforce.errors import SalesforceError
from bridge.sandbox.salesforce.org import Org
from bridge.sandbox.salesforce.schema import load_objects
from bridge.sandbox.salesforce.soql import SoqlError, run
from bridge.sandbox.salesforce.soql.catalog import FullScan, IndexedCatalog

OBJECTS = load_objects()
START = datetime(2026, 11, 23, 9, tzinfo=UTC)
# Case variants on purpose: text equality is case-insensitive in SOQL, ids are not.
EMAILS = ["ana@example.com", "ANA@example.com", "bo@example.com", None]
NAMES = ["Ng", "ng", "NG", "Ode"]
SUBJECTS = ["Demo", "demo", "Review"]
USER = {
    "Username": "u@example.com",
    "Email": "u@example.com",
    "LastName": "U",
    "Alias": "u",
    "TimeZoneSidKey": "Europe/Madrid",
}


class World:
    """An org with one user, two accounts, six contacts and six events (three with a contact invited); the
    test's writes and queries pick records by position."""

    def __init__(self) -> None:
        self.org = Org(objects=OBJECTS)
        with self.org.transaction("") as writer:
            self.user = writer.create("User", USER)
        with self.org.transaction(self.user) as writer:
            self.accounts = [writer.create("Account", {"Name": name}) for name in ("Acme", "Globex")]
            for n in range(6):
                contact = {
                    "LastName": NAMES[n % 4],
                    "Email": EMAILS[n % 4],
                    "AccountId": self.accounts[n % 2],
                }
                who = writer.create("Contact", contact)
                start = {"StartDateTime": START, "DurationInMinutes": 30}
                writer.create("Event", {"Subject": SUBJECTS[n % 3], "WhoId": who if n % 2 else None, **start})

    def ids(self, sobject: str) -> list[str]:
        return [row["Id"] for row in self.org.rows(sobject, True)]

    def pick(self, sobject: str, position: int) -> str | None:
        known = self.ids(sobject)
        return known[position % len(known)] if known else None


# -- writes ----------------------------------------------------------------------------------------------

contact_fields = st.fixed_dictionaries(
    {},
    optional={
        "LastName": st.sampled_from(NAMES),
        "Email": st.sampled_from(EMAILS),
        "AccountId": st.integers(0, 2),  # 2: no account
    },
)
writes = st.one_of(
    st.tuples(st.just("create_contact"), contact_fields),
    st.tuples(st.just("update_contact"), st.integers(0, 20), contact_fields),
    st.tuples(st.just("create_event"), st.sampled_from(SUBJECTS), st.integers(0, 20), st.booleans()),
    st.tuples(st.just("update_event"), st.integers(0, 20), st.sampled_from(SUBJECTS), st.integers(0, 20)),
    st.tuples(st.just("rename_account"), st.integers(0, 1), st.sampled_from(["Acme", "acme", "Initech"])),
    st.tuples(
        st.sampled_from(["delete", "undelete"]), st.sampled_from(["Contact", "Event"]), st.integers(0, 20)
    ),
)


def _contact_values(world: World, fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "AccountId" in values:
        values["AccountId"] = world.accounts[values["AccountId"]] if values["AccountId"] < 2 else None
    return values


def _write(world: World, writer: Any, write: tuple[Any, ...]) -> None:
    kind = write[0]
    if kind == "create_contact":
        writer.create("Contact", {"LastName": "Ng", **_contact_values(world, write[1])})
    elif kind == "update_contact" and (target := world.pick("Contact", write[1])):
        writer.update("Contact", target, _contact_values(world, write[2]))
    elif kind == "create_event":
        who = world.pick("Contact", write[2]) if write[3] else None
        writer.create(
            "Event",
            {"Subject": write[1], "StartDateTime": START, "DurationInMinutes": 30, "WhoId": who},
        )
    elif kind == "update_event" and (target := world.pick("Event", write[1])):
        writer.update("Event", target, {"Subject": write[2], "WhoId": world.pick("Contact", write[3])})
    elif kind == "rename_account":
        writer.update("Account", world.accounts[write[1]], {"Name": write[2]})
    elif kind == "delete" and (target := world.pick(write[1], write[2])):
        writer.delete(write[1], target)
    elif kind == "undelete" and (target := world.pick(write[1], write[2])):
        writer.undelete(target)


def _transaction(world: World, steps: list[tuple[Any, ...]], outcome: str) -> None:
    """Apply the writes in one transaction that commits, fails (all rolled back), or rolls the second
    half back to a savepoint. A write Salesforce would refuse rolls its transaction back too."""
    try:
        with world.org.transaction(world.user) as writer:
            half = len(steps) // 2
            for step in steps[:half]:
                _write(world, writer, step)
            savepoint = writer.savepoint()
            for step in steps[half:]:
                _write(world, writer, step)
            if outcome == "savepoint":
                writer.rollback(savepoint)
            if outcome == "fail":
                raise _Abandon
    except (_Abandon, SalesforceError):  # SalesforceError: a refused write (target deleted, ...)
        pass


class _Abandon(Exception):
    pass


# -- queries ---------------------------------------------------------------------------------------------


def _quoted(values: Iterable[str | None]) -> str:
    return ", ".join("null" if v is None else f"'{v}'" for v in values)


id_forms = st.sampled_from(["18", "15", "lower"])
id_picks = st.lists(st.tuples(st.integers(0, 20), id_forms), min_size=1, max_size=3)


def _id_text(record_id: str | None, form: str) -> str:
    if record_id is None:
        return "003000000000000"
    return {"18": record_id, "15": record_id[:15], "lower": record_id.lower()}[form]


# A leaf is rendered against the world at query time, so ids name records that exist by then.
contact_leaf = st.one_of(
    st.tuples(st.just("Email ="), st.sampled_from(EMAILS[:3])),
    st.tuples(st.just("Email IN"), st.lists(st.sampled_from(EMAILS), min_size=1, max_size=3)),
    st.tuples(st.just("LastName IN"), st.lists(st.sampled_from(NAMES), min_size=1, max_size=3)),
    st.tuples(st.just("Id IN"), id_picks),
    st.tuples(st.just("AccountId ="), st.integers(0, 1), id_forms),
    st.tuples(st.just("Account.Name IN"), st.lists(st.sampled_from(["Acme", "ACME", "Initech"]), min_size=1)),
    st.tuples(st.just("Email != null")),
    st.tuples(st.just("LastName LIKE 'n%'")),
)
relation_leaf = st.one_of(
    st.tuples(st.just("EventId IN"), id_picks),
    st.tuples(st.just("RelationId ="), st.integers(0, 20), id_forms),
    st.tuples(st.just("Event.Subject ="), st.sampled_from(SUBJECTS)),
    st.tuples(st.just("IsInvitee = false")),
)
event_leaf = st.one_of(
    st.tuples(st.just("WhoId IN"), id_picks),
    st.tuples(st.just("Subject ="), st.sampled_from(SUBJECTS)),
    st.tuples(st.just("OwnerId ="), st.just(0), id_forms),
    st.tuples(st.just("DurationInMinutes > 10")),
)


def _render_leaf(world: World, leaf: tuple[Any, ...]) -> str:
    head = leaf[0]
    if len(leaf) == 1:
        return str(head)
    if head in ("Id IN", "EventId IN", "WhoId IN"):
        sobject = {"Id IN": "Contact", "EventId IN": "Event", "WhoId IN": "Contact"}[head]
        ids = [_id_text(world.pick(sobject, n), form) for n, form in leaf[1]]
        return f"{head} ({_quoted(ids)})"
    if head == "AccountId =":
        return f"AccountId = '{_id_text(world.accounts[leaf[1]], leaf[2])}'"
    if head == "RelationId =":
        return f"RelationId = '{_id_text(world.pick('Contact', leaf[1]), leaf[2])}'"
    if head == "OwnerId =":
        return f"OwnerId = '{_id_text(world.user, leaf[2])}'"
    if head.endswith(" IN"):
        return f"{head} ({_quoted(leaf[1])})"
    return f"{head} '{leaf[1]}'"


def _where(leaf: st.SearchStrategy[tuple[Any, ...]]) -> st.SearchStrategy[tuple[Any, ...]]:
    """A conjunction of leaves, where one conjunct may be an OR of two; or an OR at the top."""
    either = st.tuples(st.just("or"), st.lists(leaf, min_size=2, max_size=2))
    conjunct = leaf | either
    return st.tuples(st.just("and"), st.lists(conjunct, min_size=1, max_size=3)) | either


def _render(world: World, node: tuple[Any, ...]) -> str:
    if node[0] in ("and", "or"):
        return "(" + f" {node[0].upper()} ".join(_render(world, child) for child in node[1]) + ")"
    return _render_leaf(world, node)


queries = st.one_of(
    st.tuples(st.just("SELECT Id, LastName, Email, Account.Name FROM Contact"), _where(contact_leaf)),
    st.tuples(
        st.just("SELECT Id, EventId, RelationId, Event.Subject FROM EventRelation"), _where(relation_leaf)
    ),
    st.tuples(st.just("SELECT Id, Subject, WhoId FROM Event"), _where(event_leaf)),
)
steps = st.one_of(
    st.tuples(
        st.just("write"),
        st.lists(writes, min_size=1, max_size=4),
        st.sampled_from(["commit", "fail", "savepoint"]),
    ),
    st.tuples(st.just("query"), queries, st.booleans()),
    st.tuples(st.just("reload")),
)


def _same_answer(world: World, select: str, where: tuple[Any, ...], include_deleted: bool) -> None:
    text = f"{select} WHERE {_render(world, where)}"
    try:
        full = run(text, FullScan(world.org), include_deleted=include_deleted, now=START)
    except SoqlError as error:
        with pytest.raises(SoqlError) as indexed_error:
            run(text, world.org, include_deleted=include_deleted, now=START)
        assert indexed_error.value.message == error.message
        return
    indexed = run(text, world.org, include_deleted=include_deleted, now=START)
    assert (indexed.ids, indexed.records, indexed.total_size) == (full.ids, full.records, full.total_size), (
        text
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(steps, min_size=1, max_size=12))
def test_indexed_reads_equal_full_reads_through_writes_and_rollbacks(plan: list[tuple[Any, ...]]) -> None:
    world = World()
    assert isinstance(world.org, IndexedCatalog) and not isinstance(FullScan(world.org), IndexedCatalog)
    for step in plan:
        if step[0] == "write":
            _transaction(world, step[1], step[2])
        elif step[0] == "reload":
            persistence.restore(world.org, persistence.snapshot(world.org))
        else:
            (select, where), include_deleted = step[1], step[2]
            _same_answer(world, select, where, include_deleted)


def test_an_indexed_query_reads_only_the_rows_it_names() -> None:
    world = World()
    with world.org.transaction(world.user) as writer:
        contacts = [
            writer.create("Contact", {"LastName": f"N{n}", "Email": f"p{n}@example.com"}) for n in range(50)
        ]
    read_all = world.org.rows

    def refuse(sobject: str, include_deleted: bool) -> Iterable[Mapping[str, Any]]:
        raise AssertionError(f"full read of {sobject}")

    world.org.rows = refuse  # type: ignore[method-assign]
    found = run("SELECT Id FROM Contact WHERE Email IN ('P7@EXAMPLE.COM', 'p3@example.com')", world.org)
    assert found.ids == [contacts[3], contacts[7]]
    world.org.rows = read_all  # type: ignore[method-assign]
    assert run("SELECT Id FROM Contact WHERE Email LIKE 'p%'", world.org).total_size == 50


def test_indexes_are_built_when_a_query_first_asks() -> None:
    world = World()
    assert world.org.store.indexes == {}
    run(f"SELECT Id FROM Account WHERE Id = '{world.accounts[0]}'", world.org)
    assert list(world.org.store.indexes) == ["account"]
