"""`calbridge undo` and observe mode's report over an expanded series' single copies (issue 9, R-REC-6),
through the runtime over the memory ports: the copies' writes are journaled as the pair road's are, so
undo deletes the copies the bridge made, puts back the fields it changed, re-creates the ones it
deleted, and gives the series its stored state back as before those writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bridge.core.commands import DeleteEvent, DeleteItem, UpdateEvent, frozen_fields
from bridge.core.model import Side
from bridge.core.patterns import Frequency, Pattern, Weekday
from bridge.core.series import SeriesState
from bridge.core.series_commands import CreateSingle
from bridge.runtime.series_journal import describe, observed
from bridge.runtime.undo import undo
from bridge.store.journal import journal_of

from .test_core_state_machine import MAILBOX, NOW, USERS, BridgeMachine
from .test_runtime_series_expanded import _machine, _singles


def _series(machine: BridgeMachine, user: str) -> list[SeriesState]:
    return [s.state for s in machine.run(machine.store.series_of(user))]  # type: ignore[attr-defined]


def _undo(machine: BridgeMachine, user: str, since: datetime) -> list[str]:
    report = machine.run(
        undo(
            machine.sf,
            machine.ex,
            machine.store,
            user_id=user,
            mailbox=MAILBOX[user],
            since=since,
            now=datetime.now(UTC),
        )
    )
    assert not report.kept, report.kept  # type: ignore[attr-defined]
    return report.undone  # type: ignore[attr-defined,no-any-return]


def _expanded(machine: BridgeMachine, subject: str, days: int) -> tuple[str, str, datetime]:
    mailboxes = machine.ex
    user, mailbox = USERS[0], MAILBOX[USERS[0]]
    start = NOW + timedelta(days=days, hours=2)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
    master = mailboxes.put_series(mailbox, subject, start, start + timedelta(hours=1), weekly)
    mailboxes.bound.add(master)  # type: ignore[attr-defined]
    machine.settle()
    return user, master, start


def test_undo_deletes_the_single_events_an_expanded_series_made_and_forgets_the_series() -> None:
    machine, _ = _machine()
    since = datetime.now(UTC)
    user, _, _ = _expanded(machine, "Forecast", 3)
    made = _singles(machine, user)
    assert len(made) == 3 and len(_series(machine, user)) == 1

    entries = machine.run(journal_of(machine.store).writes(user, since, "sync"))
    assert [(e.action, e.side.value) for e in entries].count(("create", "salesforce")) == 3  # type: ignore[attr-defined]
    done = _undo(machine, user, since)
    assert sum("which the bridge created" in line for line in done) == 3
    assert _singles(machine, user) == {}
    assert _series(machine, user) == []  # as before the bridge wrote: no series known


def test_undo_puts_back_an_edited_single_event_and_re_creates_a_deleted_one_in_the_series_state() -> None:
    machine, mailboxes = _machine()
    user, master, start = _expanded(machine, "Planning", 4)
    mailbox = MAILBOX[user]
    before = {e["StartDateTime"]: e for e in _singles(machine, user).values()}

    # Under a wrong policy the bridge follows two Outlook edits: one occurrence moved to another room,
    # one deleted; each writes the occurrence's single event.
    since = datetime.now(UTC)
    (_, _), (second, _), (third, _) = mailboxes.occurrences(mailbox, master, start + timedelta(weeks=3))
    mailboxes.edit_occurrence(mailbox, f"{master}#{second:%Y%m%dT%H%M%S}", location="Room 7")
    mailboxes.remove_occurrence(mailbox, f"{master}#{third:%Y%m%dT%H%M%S}")
    machine.settle()
    assert len(_singles(machine, user)) == 2

    done = _undo(machine, user, since)
    assert any(line.startswith("restored Salesforce event") for line in done)
    assert any(line.startswith("re-created Salesforce event") for line in done)
    now = {e["StartDateTime"]: e for e in _singles(machine, user).values()}
    assert sorted(now) == sorted(before)
    assert all(not (e.get("Location") or "") for e in now.values())
    # The stored series names the re-created event: it is the occurrence's copy, not a new event.
    (state,) = _series(machine, user)
    held = {p.sf_id for p in state.occurrences if p.sf_id}
    assert held == {e["Id"] for e in now.values()}
    second_run = _undo(machine, user, since)
    assert second_run == []  # the same undo again changes nothing


def test_observe_reports_each_single_copy_an_expanded_series_would_write() -> None:
    """Observe mode's report counts and words an expanded series' single copies like any series write."""
    at = NOW + timedelta(days=6)
    commands = [
        CreateSingle(Side.EXCHANGE, at, frozen_fields({"subject": "Retro"}), ("Salesforce",)),
        UpdateEvent("00U1", None, frozen_fields({"Location": "Room 2"})),
        DeleteItem("AAMk1", None),
        DeleteEvent("00U2", None),
    ]
    seen = observed(USERS[0], "series:sf:0Rx1", commands, datetime.now(UTC))
    assert seen is not None
    assert seen.writes == ("CreateSingle", "UpdateEvent", "DeleteItem", "DeleteEvent")
    assert seen.lines[0].startswith("create a single exchange item 'Retro' for the occurrence of")
    assert seen.lines[1] == "update salesforce event 00U1 (an occurrence's single event): Location"
    assert seen.lines[2] == "delete exchange item AAMk1 (an occurrence's single item)"
    assert describe(commands[3]) == "delete salesforce event 00U2 (an occurrence's single event)"


def test_undoing_the_undo_puts_the_series_state_back_as_before_the_undo() -> None:
    """`--undo-undo`: the single events re-created, and the series' stored state as it was before the first
    undo, its pairs bound to the events made anew (not left to be found again by their pairing fields)."""
    machine, _ = _machine()
    since = datetime.now(UTC)
    user, _, _ = _expanded(machine, "Pipeline", 4)
    (before,) = _series(machine, user)
    undo_at = datetime.now(UTC)
    _undo(machine, user, since)
    assert _series(machine, user) == []
    report = machine.run(
        undo(
            machine.sf,
            machine.ex,
            machine.store,
            user_id=user,
            mailbox=MAILBOX[user],
            since=undo_at,
            now=datetime.now(UTC),
            undo_undo=True,
        )
    )
    assert not report.kept, report.kept  # type: ignore[attr-defined]
    (after,) = _series(machine, user)
    made = _singles(machine, user)
    assert len(made) == 3
    assert {p.sf_id for p in after.occurrences} == set(made)
    assert {p.sf_id for p in after.occurrences}.isdisjoint({p.sf_id for p in before.occurrences})
    unbound = tuple(replace(p, sf_id=None) for p in after.occurrences)
    assert replace(after, occurrences=unbound) == replace(
        before, occurrences=tuple(replace(p, sf_id=None) for p in before.occurrences)
    )
