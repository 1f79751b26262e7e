"""Both sides edited at random, plans run to quiescence, and the pair rules checked after every step.

The two sides are dict stores holding records in each service's own field terms (Salesforce Event fields,
exchangelib-style item fields), read through bridge.core.fields exactly as the runtime will. A tiny
runtime routes each notification to its pair, asks `plan` for a plan, executes it, and queues the echo
notifications of its own writes. Checked after every step (SPEC rules in brackets):

- the two copies of every active pair agree as the policy says (R-MERGE-1, R-PRIV, R-DESC, R-ATT);
- no record is in two pairs and no pairing field names two partners (R-PAIR-1/3);
- a tombstoned pair is never re-created without the `Salesforce` category (R-DEL-9);
- the bridge's own writes coming back plan no write (R-MERGE-3);
- replaying every notification changes nothing (R-MERGE-4).

Example counts come from the Hypothesis profile: `ci` (default) or `bench` (HYPOTHESIS_PROFILE=bench).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bridge.core import (
    AddAttendeeRelation,
    Changed,
    Created,
    CreateEvent,
    CreateItem,
    Deleted,
    DeleteEvent,
    DeleteItem,
    Direction,
    Directory,
    PairState,
    PairStatus,
    Plan,
    Policy,
    PrivatePolicy,
    Relation,
    RelationKind,
    RemoveAttendeeRelation,
    Side,
    UpdateAttendeeStatus,
    UpdateEvent,
    UpdateItem,
    UserSwitchedOff,
    match_unpaired,
    plan,
)
from bridge.core.fields import (
    SF_STATUS,
    ExchangeAttendee,
    ExchangeItem,
    SalesforceRelation,
    event_from_salesforce,
    item_from_exchange,
    version_stamp,
)
from bridge.core.model import Copy
from bridge.core.scope import opted_in

# The Hypothesis profile (ci or bench) is chosen suite-wide in tests/conftest.py.
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
# The long run is bounded by its example count, not by the suite's per-test timeout.
pytestmark = pytest.mark.timeout(0 if PROFILE == "bench" else 120)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
USER_ID = "005USER"
USER_EMAIL = "me@corp.example"
# Addresses Salesforce knows, and one it does not (R-ATT-8).
PEOPLE = {
    "ann@client.example": Relation("003ANN", RelationKind.CONTACT),
    "bob@prospect.example": Relation("00QBOB", RelationKind.LEAD),
    "cat@corp.example": Relation("005CAT", RelationKind.USER),
}
STRANGER = "zed@nowhere.example"
EMAILS = [*sorted(PEOPLE), STRANGER]
EMAIL_OF = {relation.relation_id: email for email, relation in PEOPLE.items()}
DIRECTORY = Directory(tuple((email, (relation,)) for email, relation in PEOPLE.items()))
SUBJECTS = st.sampled_from(["Review", "Lunch", "Call", "x" * 300])
OFFSETS = st.integers(min_value=-2, max_value=20)  # days from now: mostly in the window
LONG_AGO = -100


class Sides:
    """Both services' stores, in their own field terms, with versions and modification times."""

    def __init__(self) -> None:
        self.events: dict[str, dict[str, object]] = {}
        self.relations: dict[str, list[SalesforceRelation]] = {}
        self.items: dict[str, ExchangeItem] = {}
        self._ids = itertools.count(1)
        self.clock = NOW

    def tick(self) -> datetime:
        self.clock += timedelta(seconds=1)
        return self.clock

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    def stamp_event(self, event_id: str) -> str:
        version = self.new_id("sfv")
        self.events[event_id].update(SystemModstamp=version, LastModifiedDate=self.tick().isoformat())
        return version

    def stamp_item(self, item_id: str, **changes: object) -> str:
        version = self.new_id("ck")
        fields = {"change_key": version, "last_modified_time": self.tick(), **changes}
        self.items[item_id] = replace(self.items[item_id], **fields)  # type: ignore[arg-type]
        return version

    def event_copy(self, event_id: str) -> Copy | None:
        if event_id not in self.events:
            return None
        return event_from_salesforce(self.events[event_id], self.relations[event_id])

    def item_copy(self, item_id: str, policy: Policy) -> Copy | None:
        found = self.items.get(item_id)
        return item_from_exchange(found, policy) if found is not None else None


def relation_row(relation_id: str, status: str = "New") -> SalesforceRelation:
    email = EMAIL_OF[relation_id]
    return SalesforceRelation(relation_id, PEOPLE[email].kind, email, status)


def span(offset_days: int, all_day: bool, hours: int) -> tuple[datetime | date, datetime | date]:
    if all_day:
        first = (NOW + timedelta(days=offset_days)).date()
        return first, first + timedelta(days=1 + hours % 2)
    start = NOW + timedelta(days=offset_days, hours=hours)
    return start, start + timedelta(minutes=30 * (1 + hours % 4))


class BridgeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.sides = Sides()
        self.states: dict[str, PairState] = {}  # the store, by PairState.key
        self.policy = Policy(
            user_id=USER_ID, user_email=USER_EMAIL, internal_domains=frozenset({"corp.example"})
        )

    @initialize(
        private=st.sampled_from([PrivatePolicy.MASK, PrivatePolicy.FULL]),
        safe=st.booleans(),
        tie=st.sampled_from(list(Side)),
        direction=st.sampled_from(
            [Direction.BOTH, Direction.BOTH, Direction.TO_EXCHANGE, Direction.TO_SALESFORCE]
        ),
    )
    def choose_policy(self, private: PrivatePolicy, safe: bool, tie: Side, direction: Direction) -> None:
        self.policy = replace(
            self.policy, private=private, safe_description=safe, tie_winner=tie, direction=direction
        )

    # ------------------------------------------------------------------------------------ the runtime

    def key_of(self, side: Side, record_id: str) -> str | None:
        for key, state in self.states.items():
            if state.id_of(side) == record_id:
                return key
        return None

    def notify(self, side: Side, record_id: str) -> None:
        """A change notice for one record, followed through to quiescence."""
        self.settle(self.plans_for(side, record_id))

    def settle(self, plans: list[tuple[Plan, str | None, PairState | None]]) -> None:
        """Execute `plans`, then follow the echoes of their writes until nothing more happens; an echo
        may plan no write at all (R-MERGE-3)."""
        queue: list[tuple[Side, str]] = []
        for plan_result, key, before in plans:
            self.count(plan_result)
            queue += self.execute(plan_result, key, before)
        for _ in range(40):
            if not queue:
                return
            side, record_id = queue.pop(0)
            for plan_result, key, before in self.plans_for(side, record_id):
                self.count(plan_result)
                assert not plan_result.writes, f"echo planned writes: {plan_result.commands}"
                queue += self.execute(plan_result, key, before)
        raise AssertionError("plans did not settle")

    def count(self, result: Plan) -> None:
        for command in result.commands:
            event(f"command {type(command).__name__}")
            self.assert_source_untouched(command)

    def assert_source_untouched(self, command: object) -> None:
        """R-SCOPE-2: in a one-way setting the source side gets nothing but its pairing fields."""
        if self.policy.direction is Direction.TO_EXCHANGE:
            forbidden: tuple[type, ...] = (
                CreateEvent,
                DeleteEvent,
                AddAttendeeRelation,
                RemoveAttendeeRelation,
                UpdateAttendeeStatus,
            )
            assert not isinstance(command, forbidden), f"the Salesforce source was written: {command}"
            if isinstance(command, UpdateEvent):
                assert set(command.fields) <= {"Exchange_Item_Id__c", "Exchange_UID__c"}, command
        elif self.policy.direction is Direction.TO_SALESFORCE:
            assert not isinstance(command, CreateItem | DeleteItem), (
                f"the Exchange source was written: {command}"
            )
            if isinstance(command, UpdateItem):
                assert set(command.fields) <= {"salesforce_event_id"}, command

    def plans_for(self, side: Side, record_id: str) -> list[tuple[Plan, str | None, PairState | None]]:
        key = self.key_of(side, record_id)
        if key is None or self.states[key].status is PairStatus.WAITING:
            return self.reconcile_unpaired()
        state = self.states[key]
        sf = self.sides.event_copy(state.sf_id) if state.sf_id else None
        ex = self.sides.item_copy(state.ex_id, self.policy) if state.ex_id else None
        gone = (side is Side.SALESFORCE and sf is None) or (side is Side.EXCHANGE and ex is None)
        if gone:
            observation: Changed | Deleted = Deleted(side)
        else:
            observation = Changed(sf=sf, ex=ex, directory=DIRECTORY)
        result = plan(state, observation, self.policy, NOW)
        creating = any(isinstance(c, CreateEvent | CreateItem) for c in result.commands)
        if state.status is PairStatus.ENDED and creating:
            assert ex is not None and opted_in(ex, self.policy), "a tombstoned pair came back on its own"
        return [(result, key, state)]

    def reconcile_unpaired(self) -> list[tuple[Plan, str | None, PairState | None]]:
        """Every unpaired copy at once, as the runtime's reconcile does (R-PAIR-2/3). Copies waiting
        with an issue are unpaired too, planned with their waiting state."""
        waiting = {
            (s, state.id_of(s)): key
            for key, state in self.states.items()
            if state.status is PairStatus.WAITING
            for s in Side
        }
        known = {(s, state.id_of(s)) for state in self.states.values() for s in Side} - waiting.keys()
        events = [
            c
            for i in sorted(self.sides.events)
            if (Side.SALESFORCE, i) not in known
            for c in [self.sides.event_copy(i)]
            if c
        ]
        items = [
            c
            for i in sorted(self.sides.items)
            if (Side.EXCHANGE, i) not in known
            for c in [self.sides.item_copy(i, self.policy)]
            if c
        ]
        matching = match_unpaired(events, items)
        results: list[tuple[Plan, str | None, PairState | None]] = []

        def planned(observed: Changed, *copies: Copy) -> None:
            keys = [waiting[(c.side, c.id)] for c in copies if (c.side, c.id) in waiting]
            for extra in keys[1:]:  # an adopted pair replaces both copies' waiting rows
                results.append((Plan((), None), extra, self.states[extra]))
            key = keys[0] if keys else None
            state = self.states[key] if key is not None else None
            results.append((plan(state, observed, self.policy, NOW), key, state))

        for sf, ex in matching.pairs:
            planned(Changed(sf=sf, ex=ex, directory=DIRECTORY), sf, ex)
        for copy in matching.duplicates + matching.singles:
            duplicate = copy in matching.duplicates
            if copy.side is Side.SALESFORCE:
                planned(Changed(sf=copy, directory=DIRECTORY, duplicate=duplicate), copy)
            else:
                planned(Changed(ex=copy, directory=DIRECTORY, duplicate=duplicate), copy)
        return results

    def execute(self, result: Plan, key: str | None, before: PairState | None) -> list[tuple[Side, str]]:
        """Run the commands as the runtime would and store the state; return the echo notices."""
        state = result.state
        created: dict[Side, str] = {}
        echoes: list[tuple[Side, str]] = []
        for command in result.commands:
            if isinstance(command, CreateEvent):
                event_id = self.sides.new_id("00U")
                self.sides.events[event_id] = {"Id": event_id, "OwnerId": USER_ID, **command.fields}
                self.sides.relations[event_id] = []
                version = self.event_version(event_id)
                created[Side.SALESFORCE] = event_id
                state = state.after_write(Side.SALESFORCE, event_id, version) if state else None
                echoes.append((Side.SALESFORCE, event_id))
            elif isinstance(command, CreateItem):
                item_id = self.sides.new_id("AAMk")
                fields = dict(command.fields)
                self.sides.items[item_id] = ExchangeItem(
                    item_id=item_id,
                    change_key="",
                    last_modified_time=NOW,
                    uid="uid-" + item_id,
                    categories=command.categories,
                    **fields,  # type: ignore[arg-type]
                )
                version = self.sides.stamp_item(item_id)
                created[Side.EXCHANGE] = item_id
                state = state.after_write(Side.EXCHANGE, item_id, version) if state else None
                echoes.append((Side.EXCHANGE, item_id))
            elif isinstance(command, UpdateEvent):
                event_id = self.real_id(command.event_id, created)
                assert (
                    command.if_version is None
                    or version_stamp(command.if_version) == (self.sides.events[event_id]["SystemModstamp"])
                ), "stale write"
                self.sides.events[event_id].update(self.fill(command.fields, created))
                version = self.event_version(event_id)
                state = state.after_write(Side.SALESFORCE, event_id, version) if state else None
                echoes.append((Side.SALESFORCE, event_id))
            elif isinstance(command, UpdateItem):
                item_id = self.real_id(command.item_id, created)
                current = self.sides.items[item_id]
                assert command.if_version in (None, current.change_key), "stale write"
                categories = [c for c in current.categories if c not in command.remove_categories]
                categories += [c for c in command.add_categories if c not in categories]
                changes = self.fill(command.fields, created)
                version = self.sides.stamp_item(item_id, categories=tuple(categories), **changes)
                state = state.after_write(Side.EXCHANGE, item_id, version) if state else None
                echoes.append((Side.EXCHANGE, item_id))
            elif isinstance(command, AddAttendeeRelation):
                event_id = self.real_id(command.event_id, created)
                status = SF_STATUS[command.status]
                rows = self.sides.relations[event_id]
                if command.relation_id in EMAIL_OF and all(
                    r.relation_id != command.relation_id for r in rows
                ):
                    rows.append(relation_row(command.relation_id, status))
                state = self.after_relations(state, event_id)
            elif isinstance(command, RemoveAttendeeRelation):
                event_id = self.real_id(command.event_id, created)
                rows = self.sides.relations.get(event_id, [])
                rows[:] = [r for r in rows if r.relation_id != command.relation_id]
                state = self.after_relations(state, event_id)
            elif isinstance(command, UpdateAttendeeStatus):
                event_id = self.real_id(command.event_id, created)
                rows = self.sides.relations[event_id]
                rows[:] = [
                    replace(r, status=SF_STATUS[command.status])
                    if r.relation_id == command.relation_id
                    else r
                    for r in rows
                ]
                state = self.after_relations(state, event_id)
            elif isinstance(command, DeleteEvent):
                event_id = self.real_id(command.event_id, created)
                self.sides.events.pop(event_id, None)
                self.sides.relations.pop(event_id, None)
                echoes.append((Side.SALESFORCE, event_id))
            elif isinstance(command, DeleteItem):
                item_id = self.real_id(command.item_id, created)
                self.sides.items.pop(item_id, None)
                echoes.append((Side.EXCHANGE, item_id))
        if key is None and state is None:
            return echoes
        if key is not None and state is not None:
            assert state.key == key, f"a pair's key changed from {key} to {state.key}"
        stored = key if key is not None else state.key if state is not None else ""
        if state is None:
            self.states.pop(stored, None)
        else:
            assert stored == key or stored not in self.states, f"two pairs share the key {stored}"
            self.states[stored] = state
        return echoes

    def event_version(self, event_id: str) -> str:
        """Stamp the event and give its version as the core reads it (stamp and digest)."""
        self.sides.stamp_event(event_id)
        copy = self.sides.event_copy(event_id)
        assert copy is not None
        return copy.version

    def after_relations(self, state: PairState | None, event_id: str) -> PairState | None:
        """As the executor does: an invitee written leaves the stamp alone, so its version is known now."""
        if state is None or state.sf_version is None or event_id not in self.sides.events:
            return state
        copy = self.sides.event_copy(event_id)
        assert copy is not None
        return state.after_write(Side.SALESFORCE, event_id, copy.version)

    def fill(self, fields: object, created: dict[Side, str]) -> dict[str, object]:
        """Field values with this plan's `Created` placeholders replaced by what the creates returned."""
        assert isinstance(fields, dict) or hasattr(fields, "items")
        return {name: self.filled(value, created) for name, value in fields.items()}  # type: ignore[attr-defined]

    def filled(self, value: object, created: dict[Side, str]) -> object:
        if value is Created.EVENT_ID:
            return created[Side.SALESFORCE]
        if value is Created.ITEM_ID:
            return created[Side.EXCHANGE]
        if value is Created.ITEM_UID:
            return self.sides.items[created[Side.EXCHANGE]].uid
        assert not isinstance(value, Created)
        return value

    def real_id(self, record_id: str | Created, created: dict[Side, str]) -> str:
        value = self.filled(record_id, created)
        assert isinstance(value, str), f"a command names no record: {record_id!r}"
        return value

    # -------------------------------------------------------------------------------- the user's edits

    @rule(
        subject=SUBJECTS,
        offset=OFFSETS,
        all_day=st.booleans(),
        hours=st.integers(0, 10),
        invitees=st.sets(st.sampled_from(sorted(EMAIL_OF))),
        private=st.booleans(),
    )
    def create_event(
        self, subject: str, offset: int, all_day: bool, hours: int, invitees: set[str], private: bool
    ) -> None:
        start, end = span(offset, all_day, hours)
        event_id = self.sides.new_id("00U")
        record: dict[str, object] = {
            "Id": event_id,
            "OwnerId": USER_ID,
            "Subject": subject[:255],
            "IsPrivate": private,
            "Description": "notes",
            "ShowAs": "Busy",
        }
        if all_day:
            assert isinstance(start, date) and isinstance(end, date)
            record.update(
                IsAllDayEvent=True,
                ActivityDate=start.isoformat(),
                DurationInMinutes=1440 * (end - start).days,
            )
        else:
            record.update(IsAllDayEvent=False, StartDateTime=start.isoformat(), EndDateTime=end.isoformat())
        self.sides.events[event_id] = record
        self.sides.relations[event_id] = [relation_row(r) for r in sorted(invitees)]
        self.sides.stamp_event(event_id)
        self.notify(Side.SALESFORCE, event_id)

    @rule(
        subject=SUBJECTS,
        offset=OFFSETS,
        all_day=st.booleans(),
        hours=st.integers(0, 10),
        invitees=st.sets(st.sampled_from(EMAILS)),
        categories=st.sets(st.sampled_from(["Salesforce", "Personal"])),
        private=st.booleans(),
    )
    def create_item(
        self,
        subject: str,
        offset: int,
        all_day: bool,
        hours: int,
        invitees: set[str],
        categories: set[str],
        private: bool,
    ) -> None:
        start, end = span(offset, all_day, hours)
        item_id = self.sides.new_id("AAMk")
        self.sides.items[item_id] = ExchangeItem(
            item_id=item_id,
            change_key="",
            subject=subject,
            start=start,
            end=end,
            is_all_day=all_day,
            last_modified_time=NOW,
            body="<p>agenda</p>",
            body_type="HTML",
            uid="uid-" + item_id,
            categories=tuple(sorted(categories)),
            sensitivity="Private" if private else "Normal",
            required_attendees=tuple(ExchangeAttendee(e) for e in sorted(invitees)),
        )
        self.sides.stamp_item(item_id)
        self.notify(Side.EXCHANGE, item_id)

    @rule(
        subject=SUBJECTS,
        offset=OFFSETS,
        invitees=st.sets(st.sampled_from(EMAILS), min_size=1),
        answer=st.sampled_from(["Accept", "Tentative", "Decline", "NoResponseReceived"]),
    )
    def receive_invitation(self, subject: str, offset: int, invitees: set[str], answer: str) -> None:
        """A meeting organized outside the org lands in the mailbox (kind D, R-SCOPE-6)."""
        start, end = span(offset, False, 3)
        item_id = self.sides.new_id("AAMk")
        self.sides.items[item_id] = ExchangeItem(
            item_id=item_id,
            change_key="",
            subject=subject,
            start=start,
            end=end,
            last_modified_time=NOW,
            uid="uid-" + item_id,
            organizer="host@partner.example",
            is_meeting=True,
            my_response_type=answer,
            required_attendees=tuple(ExchangeAttendee(e) for e in sorted(invitees)),
        )
        self.sides.stamp_item(item_id)
        self.notify(Side.EXCHANGE, item_id)

    @precondition(lambda self: bool(self.sides.events))
    @rule(
        data=st.data(),
        change=st.sampled_from(
            ["subject", "move", "out", "location", "notes", "busy", "private", "invite", "uninvite"]
        ),
    )
    def edit_event(self, data: st.DataObject, change: str) -> None:
        event_id = data.draw(st.sampled_from(sorted(self.sides.events)))
        self.edit_event_record(event_id, change, data)
        self.sides.stamp_event(event_id)
        self.notify(Side.SALESFORCE, event_id)

    def edit_event_record(self, event_id: str, change: str, data: st.DataObject) -> None:
        record = self.sides.events[event_id]
        if change == "subject":
            record["Subject"] = data.draw(SUBJECTS)[:255]
        elif change in ("move", "out"):
            offset = LONG_AGO if change == "out" else data.draw(OFFSETS)
            start, end = span(offset, False, data.draw(st.integers(0, 10)))
            record.update(IsAllDayEvent=False, StartDateTime=str(start), EndDateTime=str(end))
        elif change == "location":
            record["Location"] = data.draw(st.sampled_from(["Room 1", "Room 2", ""]))
        elif change == "notes":
            record["Description"] = data.draw(st.sampled_from(["secret", "plan", ""]))
        elif change == "busy":
            record["ShowAs"] = data.draw(st.sampled_from(["Busy", "Free", "OutOfOffice"]))
        elif change == "private":
            record["IsPrivate"] = not record.get("IsPrivate")
        elif change == "invite":
            rows = self.sides.relations[event_id]
            relation_id = data.draw(st.sampled_from(sorted(EMAIL_OF)))
            if all(r.relation_id != relation_id for r in rows):
                rows.append(relation_row(relation_id))
        elif self.sides.relations[event_id]:
            rows = self.sides.relations[event_id]
            rows.pop(data.draw(st.integers(0, len(rows) - 1)))

    @precondition(lambda self: bool(self.sides.items))
    @rule(
        data=st.data(),
        change=st.sampled_from(
            [
                "subject",
                "move",
                "out",
                "location",
                "notes",
                "busy",
                "private",
                "invite",
                "uninvite",
                "respond",
                "uncategorise",
                "unsync",
                "categorise",
            ]
        ),
    )
    def edit_item(self, data: st.DataObject, change: str) -> None:
        item_id = data.draw(st.sampled_from(sorted(self.sides.items)))
        self.sides.stamp_item(item_id, **self.item_changes(self.sides.items[item_id], change, data))
        self.notify(Side.EXCHANGE, item_id)

    def item_changes(self, current: ExchangeItem, change: str, data: st.DataObject) -> dict[str, object]:
        attendees = list(current.required_attendees)
        if change == "subject":
            return {"subject": data.draw(SUBJECTS)}
        if change in ("move", "out"):
            offset = LONG_AGO if change == "out" else data.draw(OFFSETS)
            all_day = data.draw(st.booleans())
            start, end = span(offset, all_day, data.draw(st.integers(0, 10)))
            return {"start": start, "end": end, "is_all_day": all_day}
        if change == "location":
            return {"location": data.draw(st.sampled_from(["Room 1", "Room 3", ""]))}
        if change == "notes":
            return {"body": data.draw(st.sampled_from(["<b>draft</b>", "final", ""])), "body_type": "HTML"}
        if change == "busy":
            return {
                "legacy_free_busy_status": data.draw(st.sampled_from(["Busy", "Free", "OOF", "Tentative"]))
            }
        if change == "private":
            return {"sensitivity": "Normal" if current.sensitivity == "Private" else "Private"}
        if change == "invite":
            email = data.draw(st.sampled_from(EMAILS))
            if all(a.email != email for a in attendees):
                attendees.append(ExchangeAttendee(email))
            return {"required_attendees": tuple(attendees)}
        if change == "uninvite" and attendees:
            attendees.pop(data.draw(st.integers(0, len(attendees) - 1)))
            return {"required_attendees": tuple(attendees)}
        if change == "respond" and attendees:
            index = data.draw(st.integers(0, len(attendees) - 1))
            answer = data.draw(st.sampled_from(["Accept", "Decline", "Tentative", "NoResponseReceived"]))
            attendees[index] = replace(attendees[index], response_type=answer)
            return {"required_attendees": tuple(attendees)}
        others = tuple(c for c in current.categories if c not in ("Salesforce", "Salesforce Unsync"))
        if change == "uncategorise":
            return {"categories": others}
        if change == "unsync":
            return {"categories": (*others, "Salesforce Unsync")}
        if change == "categorise":
            return {"categories": (*others, "Salesforce")}
        return {}

    @precondition(lambda self: bool(self.sides.events))
    @rule(data=st.data())
    def delete_event(self, data: st.DataObject) -> None:
        event_id = data.draw(st.sampled_from(sorted(self.sides.events)))
        del self.sides.events[event_id], self.sides.relations[event_id]
        self.notify(Side.SALESFORCE, event_id)

    @precondition(lambda self: bool(self.sides.items))
    @rule(data=st.data())
    def delete_item(self, data: st.DataObject) -> None:
        item_id = data.draw(st.sampled_from(sorted(self.sides.items)))
        del self.sides.items[item_id]
        self.notify(Side.EXCHANGE, item_id)

    @precondition(lambda self: bool(self.states))
    @rule(
        data=st.data(),
        sf_change=st.sampled_from(["subject", "location", "move", "notes"]),
        ex_change=st.sampled_from(["subject", "location", "move", "notes", "invite"]),
    )
    def edit_both_sides(self, data: st.DataObject, sf_change: str, ex_change: str) -> None:
        """A conflict: both copies edited before the bridge hears of either (R-MERGE-2)."""
        active = [s for s in self.states.values() if s.status is PairStatus.ACTIVE and s.owns_event]
        pairs = [s for s in active if s.sf_id in self.sides.events and s.ex_id in self.sides.items]
        if not pairs:
            return
        state = data.draw(st.sampled_from(pairs))
        assert state.sf_id is not None and state.ex_id is not None
        self.edit_event_record(state.sf_id, sf_change, data)
        self.sides.stamp_event(state.sf_id)
        self.sides.stamp_item(
            state.ex_id, **self.item_changes(self.sides.items[state.ex_id], ex_change, data)
        )
        self.notify(Side.SALESFORCE, state.sf_id)
        self.notify(Side.EXCHANGE, state.ex_id)

    @precondition(lambda self: bool(self.states))
    @rule()
    def switch_user_off_and_on(self) -> None:
        """R-DEL-6, then enrolled again with no store: the stored ids recover every pair (R-PAIR-1)."""
        for key in sorted(self.states):
            state = self.states[key]
            self.execute(
                plan(state, UserSwitchedOff(), self.policy, NOW), key, state
            )  # switched off: no echo
        assert not self.states
        self.settle(self.reconcile_unpaired())

    @precondition(lambda self: bool(self.sides.events) or bool(self.sides.items))
    @rule(data=st.data())
    def replay_notification_twice(self, data: st.DataObject) -> None:
        records = [(Side.SALESFORCE, i) for i in sorted(self.sides.events)]
        records += [(Side.EXCHANGE, i) for i in sorted(self.sides.items)]
        side, record_id = data.draw(st.sampled_from(records))
        self.assert_replay_changes_nothing(side, record_id)
        self.assert_replay_changes_nothing(side, record_id)

    # -------------------------------------------------------------------------------------- invariants

    def assert_replay_changes_nothing(self, side: Side, record_id: str) -> None:
        for result, key, before in self.plans_for(side, record_id):
            if key is None:
                assert not result.writes, f"a settled unpaired copy planned writes: {result.commands}"
                continue
            assert not result.commands, f"a replay planned {result.commands}"
            assert result.state == before, "a replay changed the pair state"

    @invariant()
    def replays_change_nothing(self) -> None:
        for side, record_id in [(Side.SALESFORCE, i) for i in sorted(self.sides.events)] + [
            (Side.EXCHANGE, i) for i in sorted(self.sides.items)
        ]:
            self.assert_replay_changes_nothing(side, record_id)

    @invariant()
    def a_recorded_version_means_the_base_is_that_copy(self) -> None:
        """The core's invariant (package docstring): a side read at the version the state recorded is
        exactly that side's base, so replays, echoes and stand-ins for unread sides are right."""
        for state in self.states.values():
            for side in Side:
                version, record_id = state.version_of(side), state.id_of(side)
                if version is None or record_id is None:
                    continue
                copy = (
                    self.sides.event_copy(record_id)
                    if side is Side.SALESFORCE
                    else self.sides.item_copy(record_id, self.policy)
                )
                if copy is not None and copy.version == version:
                    assert copy.content == state.base_of(side), (
                        f"pair {state.key}: the {side} copy at the recorded version {version} is not the base"
                    )

    @invariant()
    def no_duplicates(self) -> None:
        live = [s for s in self.states.values() if s.status is not PairStatus.ENDED]
        for side in Side:
            ids = [s.id_of(side) for s in live if s.id_of(side) is not None]
            assert len(ids) == len(set(ids)), f"a {side} record is in two pairs"
        partners = [
            r.get("Exchange_Item_Id__c") for r in self.sides.events.values() if r.get("Exchange_Item_Id__c")
        ]
        assert len(partners) == len(set(partners)), "two events name the same item"

    @invariant()
    def sides_agree_as_the_policy_says(self) -> None:
        if self.policy.direction is not Direction.BOTH:
            return  # a mirror may keep edits of its own; what it may receive is checked per command
        for state in self.states.values():
            if (
                state.status is not PairStatus.ACTIVE
                or not state.owns_event
                or not state.sf_id
                or not state.ex_id
            ):
                continue
            sf, ex = self.sides.event_copy(state.sf_id), self.sides.item_copy(state.ex_id, self.policy)
            if sf is None or ex is None:
                continue
            s, e = sf.content, ex.content
            assert s.when == e.when, (s.when, e.when)
            if state.masked is not None:
                continue
            assert s.subject == e.subject[:255]
            assert (s.location, s.show_as, s.private) == (e.location, e.show_as, e.private)
            if not self.policy.safe_description:
                assert s.description == e.description
            # R-ATT-1/2/4: Salesforce's attendees always reach Exchange; removals in Salesforce stay there.
            sf_people, ex_people = {a.email for a in s.attendees}, {a.email for a in e.attendees}
            assert sf_people <= ex_people, "an attendee added in Salesforce is missing in Exchange"


TestBridgeStateMachine = BridgeMachine.TestCase
