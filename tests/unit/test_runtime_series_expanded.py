"""R-REC-6 and R-REC-7 through the runtime over the memory ports: an Outlook series Salesforce cannot hold
as one series (its occurrences fall at other times in the owner's zone, `Unmappable("ZONE")`) syncs as one
single event per occurrence, with the master's invitees and category, through its later life."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bridge.core import Direction, Policy, PrivatePolicy, Side
from bridge.core.fields import ExchangeAttendee, parse_datetime
from bridge.core.model import Relation, RelationKind
from bridge.core.patterns import Frequency, Pattern, Unmappable, Weekday
from bridge.core.patterns_graph import pattern_from_graph
from bridge.core.series import Series
from bridge.runtime.memory_series import MemoryMailboxSeries
from bridge.store.memory import MemoryStore

from .test_core_state_machine import MAILBOX, NOW, USERS, BridgeMachine, Work


class ZoneBound(MemoryMailboxSeries):
    """Mailboxes whose masters named in `bound` read as a pattern Salesforce cannot hold."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bound: set[str] = set()

    async def read_series(
        self, mailbox: str, master_id: str, start: datetime, end: datetime, policy: Policy
    ) -> Series | None:
        found = await super().read_series(mailbox, master_id, start, end, policy)
        if found is not None and found.id in self.bound:
            return replace(found, rule=Unmappable("ZONE"))
        return found


def _machine() -> tuple[BridgeMachine, ZoneBound]:
    machine = BridgeMachine()
    mailboxes = ZoneBound(machine.clock)
    machine.ex = mailboxes
    machine.enrol(private=PrivatePolicy.FULL, safe=True, tie=Side.EXCHANGE, direction=Direction.BOTH)
    return machine, mailboxes


def _singles(machine: BridgeMachine, user: str) -> dict[str, dict[str, Any]]:
    return {
        i: r
        for i, r in machine.sf.events.items()
        if r["OwnerId"] == user and not r.get("IsRecurrence2") and not r.get("IsChild")
    }


def _reconcile_writes(machine: BridgeMachine) -> bool:
    before = machine.writes()
    for user in USERS:
        machine.inbox.submit(user, Work(reconcile=True))
    machine.settle()
    return machine.writes() != before


def test_r_rec_6_7_an_outlook_series_salesforce_cannot_hold_syncs_as_single_events_with_its_invitees() -> (
    None
):
    machine, mailboxes = _machine()
    user, mailbox = USERS[0], MAILBOX[USERS[0]]
    start = NOW + timedelta(days=3, hours=2)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
    ann = ExchangeAttendee("ann@client.example")
    master = mailboxes.put_series(
        mailbox, "Review", start, start + timedelta(hours=1), weekly, required_attendees=(ann,)
    )
    mailboxes.bound.add(master)
    machine.settle()

    singles = _singles(machine, user)
    starts = [start + timedelta(weeks=n) for n in range(3)]
    assert sorted(parse_datetime(r["StartDateTime"]) for r in singles.values()) == starts
    # R-REC-7: the master's invitee on every single event; R-CAT-1: the master carries the category.
    assert all({r.relation_id for r in machine.sf.relations[i]} == {"003ANN"} for i in singles)
    assert "Salesforce" in mailboxes.items[mailbox][master].categories
    assert not _reconcile_writes(machine)

    # One occurrence moved to another room changes its own event; another deleted deletes its own.
    through = start + timedelta(weeks=3)
    (first, _), (second, _), (third, _) = mailboxes.occurrences(mailbox, master, through)
    mailboxes.edit_occurrence(mailbox, f"{master}#{second:%Y%m%dT%H%M%S}", location="Room 3")
    machine.settle()
    mailboxes.remove_occurrence(mailbox, f"{master}#{third:%Y%m%dT%H%M%S}")
    machine.settle()
    singles = _singles(machine, user)
    assert sorted(
        (parse_datetime(r["StartDateTime"]), r.get("Location") or "") for r in singles.values()
    ) == [
        (first, ""),
        (second, "Room 3"),
    ]
    # A second invitee on the master reaches the events of its plain occurrences (R-ATT-3); the exception
    # keeps its own attendees in Exchange, and so its event.
    bob = ExchangeAttendee("bob@prospect.example")
    mailboxes.edit_item(mailbox, master, required_attendees=(ann, bob))
    machine.settle()
    invitees = {parse_datetime(r["StartDateTime"]): {x.relation_id for x in machine.sf.relations[i]}
                for i, r in singles.items()}  # fmt: skip
    assert invitees == {first: {"003ANN", "00QBOB"}, second: {"003ANN"}}
    assert not _reconcile_writes(machine)

    # The series deleted in Outlook: a meeting the user organises (kind C), R-DEL-2 deletes each event.
    mailboxes.remove_item(mailbox, master)
    machine.settle()
    assert _singles(machine, user) == {}
    assert not _reconcile_writes(machine)


def test_r_pair_1_an_expanded_series_recovered_without_the_store_creates_nothing_twice() -> None:
    machine, mailboxes = _machine()
    user, mailbox = USERS[1], MAILBOX[USERS[1]]
    start = NOW + timedelta(days=4, hours=1)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
    master = mailboxes.put_series(mailbox, "Planning", start, start + timedelta(hours=1), weekly)
    mailboxes.bound.add(master)
    machine.settle()
    made = set(_singles(machine, user))
    assert len(made) == 3

    # The store is lost: the bridge starts from nothing and reconciles every user.
    machine.store = MemoryStore(now=machine.clock)
    machine.enrol(private=PrivatePolicy.FULL, safe=True, tie=Side.EXCHANGE, direction=Direction.BOTH)
    assert set(_singles(machine, user)) == made
    assert not _reconcile_writes(machine)
    # Still paired: an occurrence moved in Outlook moves its own event.
    (_, _), (second, _), _ = mailboxes.occurrences(mailbox, master, start + timedelta(weeks=3))
    mailboxes.edit_occurrence(mailbox, f"{master}#{second:%Y%m%dT%H%M%S}", location="Room 5")
    machine.settle()
    rooms = {parse_datetime(r["StartDateTime"]): r.get("Location") for r in _singles(machine, user).values()}
    assert rooms[second] == "Room 5" and set(_singles(machine, user)) == made


def test_r_del_3_unsync_on_an_expanded_outlook_series_deletes_its_events_and_keeps_the_series() -> None:
    """R-REC-7 with R-DEL-3 (kind A, no invitees): `Salesforce Unsync` on the master deletes every single
    event made for it, the master loses the bridge's category and keeps the user's request, and nothing
    is synced again (R-DEL-9)."""
    machine, mailboxes = _machine()
    user, mailbox = USERS[0], MAILBOX[USERS[0]]
    start = NOW + timedelta(days=5, hours=3)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
    master = mailboxes.put_series(mailbox, "Stand-up", start, start + timedelta(minutes=15), weekly)
    mailboxes.bound.add(master)
    machine.settle()
    assert len(_singles(machine, user)) == 3

    categories = (*mailboxes.items[mailbox][master].categories, "Salesforce Unsync")
    mailboxes.edit_item(mailbox, master, categories=categories)
    machine.settle()
    assert _singles(machine, user) == {}
    assert mailboxes.items[mailbox][master].categories == ("Salesforce Unsync",)
    assert not _reconcile_writes(machine)
    # The occurrences are the user's own again: an edit reaches no event.
    (_, _), (second, _), _ = mailboxes.occurrences(mailbox, master, start + timedelta(weeks=3))
    mailboxes.edit_occurrence(mailbox, f"{master}#{second:%Y%m%dT%H%M%S}", location="Room 9")
    machine.settle()
    assert _singles(machine, user) == {} and not _reconcile_writes(machine)


def test_r_att_8_an_unresolved_attendee_of_an_expanded_outlook_series_is_tried_again_at_the_reconcile() -> (
    None
):
    """R-REC-7 with R-ATT-8: an address nobody in Salesforce has is skipped; once a Contact has it, the next
    window reconcile invites it to each occurrence's event, though the series' attendees did not change."""
    machine, mailboxes = _machine()
    user, mailbox = USERS[1], MAILBOX[USERS[1]]
    start = NOW + timedelta(days=6, hours=1)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=2)
    cy = ExchangeAttendee("cy@newco.example")
    master = mailboxes.put_series(
        mailbox, "Intro", start, start + timedelta(hours=1), weekly, required_attendees=(cy,)
    )
    mailboxes.bound.add(master)
    machine.settle()
    singles = _singles(machine, user)
    assert len(singles) == 2 and all(not machine.sf.relations[i] for i in singles)

    machine.sf.people["cy@newco.example"] = Relation("003CY", RelationKind.CONTACT)
    assert _reconcile_writes(machine)
    assert all({r.relation_id for r in machine.sf.relations[i]} == {"003CY"} for i in singles)
    assert not _reconcile_writes(machine)


# Two patterns an Outlook series can have under Exchange Online (Graph) that Salesforce cannot hold as one
# Lightning series (reference/recurrence.md §5): several days in a relative monthly pattern, and a yearly
# interval over 1. The sandbox's mailbox store (EWS's model) cannot hold them, so they are played here.
GRAPH_ONLY = {
    "second Tuesday and Thursday": {
        "pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday", "thursday"],
                    "index": "second", "firstDayOfWeek": "sunday"},
        "range": {"type": "numbered", "startDate": "2026-12-08", "numberOfOccurrences": 4},
    },
    "every two years": {
        "pattern": {"type": "absoluteYearly", "interval": 2, "month": 12, "dayOfMonth": 8, "index": "first",
                    "firstDayOfWeek": "sunday"},
        "range": {"type": "noEnd", "startDate": "2026-12-08"},
    },
}  # fmt: skip


class GraphShaped(ZoneBound):
    """Mailboxes whose masters named in `bound` read with a pattern only Graph can hold."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shapes: dict[str, str] = {}

    async def read_series(
        self, mailbox: str, master_id: str, start: datetime, end: datetime, policy: Policy
    ) -> Series | None:
        found = await MemoryMailboxSeries.read_series(self, mailbox, master_id, start, end, policy)
        if found is not None and found.id in self.shapes:
            return replace(found, rule=pattern_from_graph(GRAPH_ONLY[self.shapes[found.id]]))
        return found


def test_r_rec_6_an_outlook_series_with_a_pattern_salesforce_cannot_hold_is_expanded_into_single_events() -> (
    None
):
    """R-REC-6 for each Graph-only pattern: one single Salesforce event per occurrence in the window,
    I-RECURRING-EXPANDED on the series, no Lightning series; reconciles then write nothing."""
    for shape in GRAPH_ONLY:
        machine = BridgeMachine()
        mailboxes = GraphShaped(machine.clock)
        machine.ex = mailboxes
        machine.enrol(private=PrivatePolicy.FULL, safe=True, tie=Side.EXCHANGE, direction=Direction.BOTH)
        user, mailbox = USERS[0], MAILBOX[USERS[0]]
        start = NOW + timedelta(days=2, hours=3)
        weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
        master = mailboxes.put_series(mailbox, f"Board ({shape})", start, start + timedelta(hours=1), weekly)
        mailboxes.shapes[master] = shape
        machine.settle()

        singles = _singles(machine, user)
        assert sorted(parse_datetime(r["StartDateTime"]) for r in singles.values()) == [
            start + timedelta(weeks=n) for n in range(3)
        ], shape
        assert not any(r.get("IsRecurrence2") for r in machine.sf.events.values()), shape
        issues = machine.run(machine.store.issues(user))
        assert any(i.code == "I-RECURRING-EXPANDED" for i in issues), shape
        assert not _reconcile_writes(machine), shape


def test_r_rec_5_6_an_outlook_series_changed_to_a_pattern_salesforce_cannot_hold_is_expanded() -> None:
    """R-REC-5 with R-REC-6: the Lightning series made for an Outlook series goes, and a single event per
    occurrence takes its place, once Outlook gives the series a pattern Salesforce cannot hold."""
    machine = BridgeMachine()
    mailboxes = GraphShaped(machine.clock)
    machine.ex = mailboxes
    machine.enrol(private=PrivatePolicy.FULL, safe=True, tie=Side.EXCHANGE, direction=Direction.BOTH)
    user, mailbox = USERS[1], MAILBOX[USERS[1]]
    start = NOW + timedelta(days=3, hours=4)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
    master = mailboxes.put_series(mailbox, "Steering", start, start + timedelta(hours=1), weekly)
    machine.settle()
    rows = [r for r in machine.sf.events.values() if r.get("IsRecurrence2") and r["OwnerId"] == user]
    assert len(rows) == 3

    mailboxes.shapes[master] = "second Tuesday and Thursday"
    mailboxes.edit_item(mailbox, master, location="Board room")  # the master changes: its sync reports it
    machine.settle()
    assert not any(r.get("IsRecurrence2") and r["OwnerId"] == user for r in machine.sf.events.values())
    singles = _singles(machine, user)
    assert len(singles) == 3 and {r.get("Location") for r in singles.values()} == {"Board room"}
    assert not _reconcile_writes(machine)
