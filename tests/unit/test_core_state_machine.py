"""Several enrolled users edit both sides at random; the real runtime syncs them; the rules are checked after
every step.

The sides are the in-memory ports (`bridge.runtime.memory`), the store a `MemoryStore`; the runtime is the
real one, driven step by step instead of by its actors: the memory ports' notices go through the `Router`
to each user's `UserSync`, which reads, plans (`bridge.core.plan`), runs the plans through the `Executor`
and commits, until no notice is left. Several users receive the same outside meetings, so R-MULTI plays
out too (one event per meeting, the others join; R-MULTI-4 when the owner lets go). Checked after every
step (SPEC rules in brackets):

- a recorded version means the base equals that copy (the core's invariant);
- the two copies of every owned active pair agree as the policy says (R-MERGE-1, R-PRIV, R-DESC, R-ATT);
- no record is in two live pairs, no two events name one item, one event per meeting (R-PAIR-1/3,
  R-MULTI-1);
- a tombstoned pair comes back only through the `Salesforce` category (R-DEL-9);
- a reconcile of every user after the step writes nothing: replays and the bridge's own writes coming back
  change nothing (R-MERGE-3, R-MERGE-4);
- in a one-way setting the source gets no creates, deletions or relations (R-SCOPE-2);
- recurring series (SPEC §15), made on either side, their occurrences edited or deleted, ended early or
  deleted whole: one series on each side per stored series, never two Lightning series for one Outlook
  series (R-REC-1), and both sides hold the same occurrences (R-REC-2/4: nothing lost, nothing revived).

Example counts come from the Hypothesis profile: `ci` (default) or `bench` (HYPOTHESIS_PROFILE=bench).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bridge.core import Direction, Directory, PairStatus, Policy, PrivatePolicy, Relation, RelationKind, Side
from bridge.core.commands import UserSwitchedOff
from bridge.core.fields import ExchangeAttendee, ExchangeItem, item_from_exchange, parse_datetime
from bridge.core.model import Copy
from bridge.core.patterns import Frequency, Pattern, Weekday
from bridge.core.scope import opted_in
from bridge.ports import EventRecord, StoredPair
from bridge.runtime import records
from bridge.runtime.executor import Executor
from bridge.runtime.memory import Clock
from bridge.runtime.memory_series import MemoryMailboxSeries, MemorySalesforceSeries
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.passes import Job, PassServices, run_pass
from bridge.runtime.reconcile import Reader
from bridge.runtime.router import Router
from bridge.runtime.sync import UserBinding, UserSync, Work
from bridge.runtime.watermark import Watermarks
from bridge.store.memory import MemoryStore

# The Hypothesis profile (ci or bench) is chosen suite-wide in tests/conftest.py.
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
# The long run is bounded by its example count, not by the suite's per-test timeout.
pytestmark = pytest.mark.timeout(0 if PROFILE == "bench" else 180)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
USERS = [f"005USER{n}" for n in range(3)]
MAILBOX = {user: f"user{n}@corp.example" for n, user in enumerate(USERS)}
# Addresses Salesforce knows, and one it does not (R-ATT-8).
PEOPLE = {
    "ann@client.example": Relation("003ANN", RelationKind.CONTACT),
    "bob@prospect.example": Relation("00QBOB", RelationKind.LEAD),
}
STRANGER = "zed@nowhere.example"
EMAILS = [*sorted(PEOPLE), STRANGER]
OUTSIDER = "host@partner.example"
DIRECTORY = Directory(tuple((email, (relation,)) for email, relation in PEOPLE.items()))
SUBJECTS = st.sampled_from(["Review", "Lunch", "Call", "x" * 300])
OFFSETS = st.integers(min_value=-2, max_value=20)  # days from now: mostly in the window
LONG_AGO = -100
WRITES_SF = (
    "create_event",
    "update_event",
    "delete_event",
    "add_relation",
    "update_relation",
    "remove_relation",
    "create_series",
    "delete_onwards",
)
WRITES_EX = ("create_item", "update_item", "delete_item", "end_series", "rebuild_series")
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SETTLE_ROUNDS = 12


def span(offset_days: int, all_day: bool, hours: int) -> tuple[datetime | date, datetime | date]:
    if all_day:
        first = (NOW + timedelta(days=offset_days)).date()
        return first, first + timedelta(days=1 + hours % 2)
    start = NOW + timedelta(days=offset_days, hours=hours)
    return start, start + timedelta(minutes=30 * (1 + hours % 4))


class _Written(logging.Handler):
    """What the runtime logged it wrote (its `pass_written` and `series_written` lines), to name a write."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() in ("pass_written", "series_written"):
            self.lines.append(f"{record.getMessage()} {getattr(record, 'commands', '')}")


class Inbox:
    """Stands in for the actors: the router's work, merged per user until the machine runs it."""

    def __init__(self) -> None:
        self.work: dict[str, Work] = {}

    def submit(self, user: str, work: Work, tickets: object = None) -> None:
        if user in self.work:
            self.work[user].merge(work)
        else:
            self.work[user] = work

    def take(self) -> dict[str, Work]:
        taken, self.work = self.work, {}
        return taken


class BridgeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = Clock(NOW)
        self.sf = MemorySalesforceSeries(self.clock)
        self.ex = MemoryMailboxSeries(self.clock)
        self.sf.people.update(PEOPLE)
        self.store = MemoryStore(now=self.clock)
        self.policy = Policy(internal_domains=frozenset({"corp.example"}))
        self.meetings = 0

    def teardown(self) -> None:
        self.loop.close()

    @initialize(
        private=st.sampled_from([PrivatePolicy.MASK, PrivatePolicy.FULL]),
        safe=st.booleans(),
        tie=st.sampled_from(list(Side)),
        direction=st.sampled_from(
            [Direction.BOTH, Direction.BOTH, Direction.TO_EXCHANGE, Direction.TO_SALESFORCE]
        ),
    )
    def enrol(self, private: PrivatePolicy, safe: bool, tie: Side, direction: Direction) -> None:
        """Every user enrolled with one policy, and their (empty) first sync run."""
        self.policy = replace(
            self.policy, private=private, safe_description=safe, tie_winner=tie, direction=direction
        )
        bindings = [UserBinding(u, MAILBOX[u], replace(self.policy, user_email=MAILBOX[u])) for u in USERS]
        enrolled = {MAILBOX[u]: u for u in USERS}
        executor = Executor(self.sf, self.ex, self.store, clock=self.clock)
        services = PassServices(executor, RuntimeMetrics(), self.clock)
        self.reader = Reader(self.sf, self.ex, self.store, enrolled)
        self.syncs = {b.user_id: UserSync(b, services, self.reader) for b in bindings}
        self.inbox = Inbox()
        users = {b.user_id: b for b in bindings}
        self.router = Router(self.inbox, self.store, self.sf, users, Watermarks())  # type: ignore[arg-type]
        for user in USERS:
            self.inbox.submit(user, Work(reconcile=True))
        self.settle()

    # ------------------------------------------------------------------------------------ the runtime

    def run(self, coroutine: object) -> object:
        return self.loop.run_until_complete(coroutine)  # type: ignore[arg-type]

    def settle(self) -> None:
        """Route every notice to its user and run their work, until no notice is left."""
        for _ in range(SETTLE_ROUNDS):
            for notice in self.sf.pending():
                self.run(self.router.salesforce_notice(notice))
            for mailbox_notice in self.ex.pending():
                self.router.mailbox_notice(mailbox_notice)
            work = self.inbox.take()
            if not work:
                return
            for user, todo in sorted(work.items()):
                if self.run(self.syncs[user].run(todo)):
                    self.inbox.submit(user, Work(reconcile=True))  # an interrupted create is paired
        raise AssertionError("the runtime did not settle")

    def pairs(self) -> list[StoredPair]:
        found: list[StoredPair] = []
        for user in USERS:
            found += self.run(self.store.pairs_of(user))  # type: ignore[operator]
        return found

    def event_copy(self, event_id: str) -> Copy | None:
        if event_id not in self.sf.events:
            return None
        return records.event_copy(
            EventRecord(dict(self.sf.events[event_id]), tuple(self.sf.relations[event_id]))
        )

    def item_copy(self, user: str, item_id: str) -> Copy | None:
        found = self.ex.items[MAILBOX[user]].get(item_id)
        policy = replace(self.policy, user_id=user, user_email=MAILBOX[user])
        return item_from_exchange(found, policy) if found is not None else None

    def writes(self) -> tuple[int, ...]:
        return tuple(self.sf.calls[w] for w in WRITES_SF) + tuple(self.ex.calls[w] for w in WRITES_EX)

    def step(self) -> None:
        """After a person's change: remember the tombstones, sync, check what only a step can show."""
        ended = {(p.user_id, p.state.key) for p in self.pairs() if p.state.status is PairStatus.ENDED}
        self.settle()
        for pair in self.pairs():
            if (pair.user_id, pair.state.key) in ended and pair.state.status is PairStatus.ACTIVE:
                item = self.item_copy(pair.user_id, pair.state.ex_id or "")
                assert item is not None and opted_in(item, self.policy), (
                    "a tombstoned pair came back on its own"
                )
        for pair in self.pairs():
            event(f"pair {pair.state.status} kind {pair.state.kind} owns {pair.state.owns_event}")
        for user in USERS:
            for stored in self.run(self.store.series_of(user)):  # type: ignore[attr-defined]
                splits = any(p.split for p in stored.state.occurrences)
                event(f"series from {stored.state.origin} ended {stored.state.ended} split {splits}")

    # -------------------------------------------------------------------------------- the users' edits

    @rule(
        user=st.sampled_from(USERS),
        subject=SUBJECTS,
        offset=OFFSETS,
        all_day=st.booleans(),
        hours=st.integers(0, 10),
        invitees=st.sets(st.sampled_from(sorted(PEOPLE))),
        private=st.booleans(),
    )
    def create_event(
        self,
        user: str,
        subject: str,
        offset: int,
        all_day: bool,
        hours: int,
        invitees: set[str],
        private: bool,
    ) -> None:
        first, last = span(offset, all_day, hours)
        fields: dict[str, object] = {"IsPrivate": private, "Description": "notes", "ShowAs": "Busy"}
        if isinstance(first, datetime) and isinstance(last, datetime):
            start, end = first, last
        else:
            days = (last - first).days
            fields.update(IsAllDayEvent=True, ActivityDate=first.isoformat(), DurationInMinutes=1440 * days)
            start = end = datetime(first.year, first.month, first.day, tzinfo=UTC)
        invited = [records.relation_row(PEOPLE[email], email, "New") for email in sorted(invitees)]
        self.sf.put_event(user, subject[:255], start, end, invited, **fields)
        self.step()

    @rule(
        user=st.sampled_from(USERS),
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
        user: str,
        subject: str,
        offset: int,
        all_day: bool,
        hours: int,
        invitees: set[str],
        categories: set[str],
        private: bool,
    ) -> None:
        start, end = span(offset, all_day, hours)
        self.ex.put_item(
            MAILBOX[user],
            subject,
            start,  # type: ignore[arg-type]
            end,  # type: ignore[arg-type]
            is_all_day=all_day,
            body="<p>agenda</p>",
            body_type="HTML",
            categories=tuple(sorted(categories)),
            sensitivity="Private" if private else "Normal",
            required_attendees=tuple(ExchangeAttendee(e) for e in sorted(invitees)),
        )
        self.step()

    @rule(
        users=st.lists(st.sampled_from(USERS), min_size=1, max_size=3, unique=True),
        subject=SUBJECTS,
        offset=OFFSETS,
        guests=st.sets(st.sampled_from(EMAILS), max_size=2),
        answer=st.sampled_from(["Accept", "Accept", "Tentative", "Decline"]),
    )
    def receive_invitation(
        self, users: list[str], subject: str, offset: int, guests: set[str], answer: str
    ) -> None:
        """A meeting organized outside the org lands in several enrolled mailboxes (kind D, R-MULTI-1)."""
        start, end = span(offset, False, 3)
        self.meetings += 1
        attendees = tuple(ExchangeAttendee(e) for e in sorted(guests | {MAILBOX[u] for u in users}))
        for user in users:
            self.ex.put_item(
                MAILBOX[user],
                subject,
                start,  # type: ignore[arg-type]
                end,  # type: ignore[arg-type]
                uid=f"meeting-{self.meetings}",
                organizer=OUTSIDER,
                is_meeting=True,
                my_response_type=answer,
                required_attendees=attendees,
            )
        self.step()

    def singles(self) -> list[str]:
        """The events that are no row of a Lightning series (those have rules of their own)."""
        return sorted(i for i, r in self.sf.events.items() if not r.get("IsRecurrence2"))

    @precondition(lambda self: bool(self.singles()))
    @rule(
        data=st.data(),
        change=st.sampled_from(
            ["subject", "move", "out", "location", "notes", "busy", "private", "invite", "uninvite"]
        ),
    )
    def edit_event(self, data: st.DataObject, change: str) -> None:
        event_id = data.draw(st.sampled_from(self.singles()))
        self.edit_event_record(event_id, change, data)
        self.step()

    def edit_event_record(self, event_id: str, change: str, data: st.DataObject) -> None:
        if change == "invite":
            self.sf.invite(event_id, PEOPLE[data.draw(st.sampled_from(sorted(PEOPLE)))].relation_id)
            return
        if change == "uninvite":
            rows = self.sf.relations[event_id]
            if rows:
                self.sf.uninvite(event_id, rows[data.draw(st.integers(0, len(rows) - 1))].relation_id)
            return
        record = self.sf.events[event_id]
        changes: dict[str, object] = {}
        if change == "subject":
            changes["Subject"] = data.draw(SUBJECTS)[:255]
        elif change in ("move", "out"):
            offset = LONG_AGO if change == "out" else data.draw(OFFSETS)
            start, end = span(offset, False, data.draw(st.integers(0, 10)))
            assert isinstance(start, datetime) and isinstance(end, datetime)
            changes.update(IsAllDayEvent=False, StartDateTime=start.isoformat(), EndDateTime=end.isoformat())
            record.pop("ActivityDate", None), record.pop("DurationInMinutes", None)
        elif change == "location":
            changes["Location"] = data.draw(st.sampled_from(["Room 1", "Room 2", ""]))
        elif change == "notes":
            changes["Description"] = data.draw(st.sampled_from(["secret", "plan", ""]))
        elif change == "busy":
            changes["ShowAs"] = data.draw(st.sampled_from(["Busy", "Free", "OutOfOffice"]))
        else:
            changes["IsPrivate"] = not record.get("IsPrivate")
        self.sf.edit_event(event_id, **changes)

    def items(self) -> list[tuple[str, str]]:
        """The items that are no recurring master (those have rules of their own)."""
        mailboxes = {user: self.ex.items[MAILBOX[user]] for user in USERS}
        return sorted(
            (u, i) for u, found in mailboxes.items() for i, item in found.items() if not item.is_recurring
        )

    @precondition(lambda self: bool(self.items()))
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
        user, item_id = data.draw(st.sampled_from(self.items()))
        current = self.ex.items[MAILBOX[user]][item_id]
        self.ex.edit_item(MAILBOX[user], item_id, **self.item_changes(current, change, data))
        self.step()

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

    @precondition(lambda self: bool(self.singles()))
    @rule(data=st.data())
    def delete_event(self, data: st.DataObject) -> None:
        self.sf.remove_event(data.draw(st.sampled_from(self.singles())))
        self.step()

    @precondition(lambda self: bool(self.items()))
    @rule(data=st.data())
    def delete_item(self, data: st.DataObject) -> None:
        user, item_id = data.draw(st.sampled_from(self.items()))
        self.ex.remove_item(MAILBOX[user], item_id)
        self.step()

    @rule(
        data=st.data(),
        sf_change=st.sampled_from(["subject", "location", "move", "notes"]),
        ex_change=st.sampled_from(["subject", "location", "move", "notes", "invite"]),
    )
    def edit_both_sides(self, data: st.DataObject, sf_change: str, ex_change: str) -> None:
        """A conflict: both copies edited before the bridge hears of either (R-MERGE-2)."""
        pairs = [
            p
            for p in self.pairs()
            if p.state.status is PairStatus.ACTIVE
            and p.state.owns_event
            and p.state.sf_id in self.sf.events
            and p.state.ex_id in self.ex.items[MAILBOX[p.user_id]]
        ]
        if not pairs:
            return
        pair = data.draw(st.sampled_from(pairs))
        assert pair.state.sf_id is not None and pair.state.ex_id is not None
        self.edit_event_record(pair.state.sf_id, sf_change, data)
        mailbox = MAILBOX[pair.user_id]
        current = self.ex.items[mailbox][pair.state.ex_id]
        self.ex.edit_item(mailbox, pair.state.ex_id, **self.item_changes(current, ex_change, data))
        self.step()

    @rule(user=st.sampled_from(USERS))
    def switch_user_off_and_on(self, user: str) -> None:
        """R-DEL-6, then enrolled again with no store rows: the stored ids recover every pair (R-PAIR-1)."""
        sync = self.syncs[user]
        ctx = self.run(sync.context())
        pairs = self.run(self.store.pairs_of(user))
        jobs = [Job(p, UserSwitchedOff(), p.event, p.item) for p in pairs]  # type: ignore[attr-defined]
        self.run(
            run_pass(sync.services, ctx, jobs, directory=DIRECTORY, pair_count=len(jobs), confirmed=True)
        )  # type: ignore[arg-type]
        assert not self.run(self.store.pairs_of(user))
        self.settle()  # the echoes of the switch-off reach nobody's pair
        self.inbox.submit(user, Work(reconcile=True))
        self.step()

    # ------------------------------------------------------------------------------ recurring series

    def series_start(self, offset: int, hours: int) -> datetime:
        return NOW + timedelta(days=offset, hours=hours)

    @rule(
        user=st.sampled_from(USERS),
        subject=SUBJECTS,
        offset=OFFSETS,
        hours=st.integers(0, 10),
        weekly=st.booleans(),
        count=st.integers(2, 5),
    )
    def create_lightning_series(
        self, user: str, subject: str, offset: int, hours: int, weekly: bool, count: int
    ) -> None:
        start = self.series_start(offset, hours)
        day = RRULE_DAYS[start.weekday()]
        rule = f"FREQ=WEEKLY;BYDAY={day};COUNT={count}" if weekly else f"FREQ=DAILY;INTERVAL=2;COUNT={count}"
        self.sf.put_series(user, subject[:255], start, start + timedelta(minutes=30), rule, ShowAs="Busy")
        self.step()

    @rule(
        user=st.sampled_from(USERS),
        subject=SUBJECTS,
        offset=OFFSETS,
        hours=st.integers(0, 10),
        weekly=st.booleans(),
        count=st.integers(2, 5),
    )
    def create_outlook_series(
        self, user: str, subject: str, offset: int, hours: int, weekly: bool, count: int
    ) -> None:
        start = self.series_start(offset, hours)
        pattern = (
            Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=count)
            if weekly
            else Pattern(Frequency.DAILY, interval=2, count=count)
        )
        self.ex.put_series(MAILBOX[user], subject, start, start + timedelta(hours=1), pattern)
        self.step()

    def rows(self) -> list[str]:
        return sorted(i for i, r in self.sf.events.items() if r.get("IsRecurrence2"))

    def masters(self) -> list[tuple[str, str]]:
        return sorted((user, m) for user in USERS for m in self.ex.masters[MAILBOX[user]])

    def occurrence_ids(self) -> list[tuple[str, str]]:
        through = self.clock.now + self.policy.future
        return [
            (user, item.item_id)
            for user, master in self.masters()
            for _, item in self.ex.occurrences(MAILBOX[user], master, through)
        ]

    @precondition(lambda self: bool(self.rows()))
    @rule(data=st.data(), change=st.sampled_from(["subject", "location", "delete", "onwards"]))
    def change_lightning_row(self, data: st.DataObject, change: str) -> None:
        """A row edited (API 58.0: a past one is an exception, a future one changes the series), deleted,
        or the series deleted from it onwards ("this and following"; from the first row, all of it)."""
        row = data.draw(st.sampled_from(self.rows()))
        if change in ("delete", "onwards") and self.empties_a_split_series(row, change):
            event("skipped: a series emptied with a split occurrence left (known defect, see below)")
            return
        if change == "subject":
            self.sf.edit_event(row, Subject=data.draw(SUBJECTS)[:255])
        elif change == "location":
            self.sf.edit_event(row, Location=data.draw(st.sampled_from(["Room 1", "Room 2", ""])))
        elif change == "delete":
            self.sf.remove_event(row)
        else:
            self.sf.remove_onwards(row)
        self.step()

    def empties_a_split_series(self, row: str, change: str) -> bool:
        """Whether deleting `row` (or from it onwards) leaves its Lightning series without a row while an
        occurrence split out of it is left: the case of
        `test_r_rec_7_a_lightning_series_deleted_with_a_split_occurrence_stays_deleted`."""
        series_id = str(self.sf.events[row]["ActivityRecurrence2Id"])
        rows = self.sf.series_rows(series_id)
        left = [r for r in rows if r != row] if change == "delete" else rows[: rows.index(row)]
        if left:
            return False
        stored = [s.state for u in USERS for s in self.run(self.store.series_of(u))]  # type: ignore[attr-defined]
        return any(s.sf_series == series_id and any(p.split for p in s.occurrences) for s in stored)

    @precondition(lambda self: bool(self.occurrence_ids()))
    @rule(data=st.data(), change=st.sampled_from(["subject", "location", "delete"]))
    def change_outlook_occurrence(self, data: st.DataObject, change: str) -> None:
        user, occurrence = data.draw(st.sampled_from(self.occurrence_ids()))
        if change == "delete":
            self.ex.remove_occurrence(MAILBOX[user], occurrence)
        elif change == "subject":
            self.ex.edit_occurrence(MAILBOX[user], occurrence, subject=data.draw(SUBJECTS))
        else:
            self.ex.edit_occurrence(MAILBOX[user], occurrence, location="Room 3")
        self.step()

    @precondition(lambda self: bool(self.masters()))
    @rule(data=st.data(), change=st.sampled_from(["end", "subject", "delete"]))
    def change_outlook_series(self, data: st.DataObject, change: str) -> None:
        """The series ended after its first occurrence (a new end date), renamed, or deleted whole."""
        user, master = data.draw(st.sampled_from(self.masters()))
        mailbox = MAILBOX[user]
        if change == "end":
            self.ex.end_series_on(mailbox, master, self.ex.masters[mailbox][master].anchor.first)
        elif change == "subject":
            self.ex.edit_item(mailbox, master, subject=data.draw(SUBJECTS))
        else:
            self.ex.remove_item(mailbox, master)
        self.step()

    # -------------------------------------------------------------------------------------- invariants

    @invariant()
    def a_recorded_version_means_the_base_is_that_copy(self) -> None:
        """The core's invariant (package docstring): a side read at the version the state recorded is
        exactly that side's base, so replays, echoes and stand-ins for unread sides are right."""
        for pair in self.pairs():
            state = pair.state
            for side in Side:
                version, record_id = state.version_of(side), state.id_of(side)
                if version is None or record_id is None:
                    continue
                copy = (
                    self.event_copy(record_id)
                    if side is Side.SALESFORCE
                    else self.item_copy(pair.user_id, record_id)
                )
                if copy is not None and copy.version == version:
                    assert copy.content == state.base_of(side), (
                        f"pair {state.key}: the {side} copy at the recorded version {version} is not the base"
                    )

    @invariant()
    def no_duplicates(self) -> None:
        live = [p for p in self.pairs() if p.state.status is not PairStatus.ENDED]
        for user in USERS:
            for side in Side:
                ids = [p.state.id_of(side) for p in live if p.user_id == user and p.state.id_of(side)]
                assert len(ids) == len(set(ids)), f"a {side} record is in two pairs of {user}"
        owned = [p.state.sf_id for p in live if p.state.owns_event and p.state.sf_id]
        assert len(owned) == len(set(owned)), "two pairs own one event"
        meetings = [
            p.state.uid
            for p in live
            if p.state.status is PairStatus.ACTIVE
            and p.state.owns_event
            and p.state.sf_id
            and (p.state.uid or "").startswith("meeting-")
        ]
        assert len(meetings) == len(set(meetings)), "one meeting has two events (R-MULTI-1)"
        partners = [
            r.get("Exchange_Item_Id__c")
            for r in self.sf.events.values()
            if r.get("Exchange_Item_Id__c") and not r.get("IsRecurrence2")
        ]
        assert len(partners) == len(set(partners)), "two events name the same item"
        # R-REC-1: the rows of one Lightning series name one Outlook series, and no other series names it.
        named: dict[str, set[object]] = {}
        for r in self.sf.events.values():
            if r.get("IsRecurrence2") and r.get("Exchange_Item_Id__c"):
                named.setdefault(str(r["ActivityRecurrence2Id"]), set()).add(r["Exchange_Item_Id__c"])
        masters = [m for found in named.values() for m in found]
        assert all(len(found) == 1 for found in named.values()), "a Lightning series names two masters"
        assert len(masters) == len(set(masters)), "two Lightning series for one Outlook series"
        for user in USERS:
            live = [s.state for s in self.run(self.store.series_of(user)) if not s.state.ended]  # type: ignore[attr-defined]
            for side in Side:
                ids = [s.series_of(side) for s in live if s.series_of(side)]
                assert len(ids) == len(set(ids)), f"a {side} series is stored twice for {user}"

    @invariant()
    def a_reconcile_after_the_step_writes_nothing(self) -> None:
        """R-MERGE-3/4: reading every window again finds nothing to do."""
        before = self.writes()
        seen, runtime = _Written(), logging.getLogger("bridge.runtime")
        level = runtime.level
        runtime.setLevel(logging.INFO)
        runtime.addHandler(seen)
        try:
            for user in USERS:
                self.inbox.submit(user, Work(reconcile=True))
            self.settle()
        finally:
            runtime.removeHandler(seen)
            runtime.setLevel(level)
        assert self.writes() == before, f"a reconcile of settled copies wrote: {seen.lines}"

    @invariant()
    def the_source_of_a_one_way_setting_is_untouched(self) -> None:
        """R-SCOPE-2: the source side gets nothing but its pairing fields."""
        if self.policy.direction is Direction.TO_EXCHANGE:
            for call in (
                "create_event",
                "delete_event",
                "add_relation",
                "remove_relation",
                "update_relation",
            ):
                assert not self.sf.calls[call], f"the Salesforce source was written: {call}"
        elif self.policy.direction is Direction.TO_SALESFORCE:
            assert not self.ex.calls["create_item"] and not self.ex.calls["delete_item"]

    @invariant()
    def a_series_holds_the_same_occurrences_on_both_sides(self) -> None:
        """R-REC-2/4: a paired series' occurrences in the window are the same original starts on both
        sides (a split occurrence's single event stands for its row): nothing lost, nothing revived."""
        if self.policy.direction is not Direction.BOTH:
            return
        start, end = self.clock.now - self.policy.past, self.clock.now + self.policy.future
        for user in USERS:
            for stored in self.run(self.store.series_of(user)):  # type: ignore[attr-defined]
                state = stored.state
                if state.ended or state.expanded or not state.sf_series or not state.ex_series:
                    continue
                mailbox = MAILBOX[user]
                ex: set[datetime] = set()
                if state.ex_series in self.ex.masters[mailbox]:
                    ex = {first for first, _ in self.ex.occurrences(mailbox, state.ex_series, end)}
                known = {p.sf_id: p.original_start for p in state.occurrences if p.sf_id}
                sf = {
                    known.get(row) or parse_datetime(self.sf.events[row]["StartDateTime"])
                    for row in self.sf.series_rows(state.sf_series)
                }
                sf |= {p.original_start for p in state.occurrences if p.split and p.sf_id in self.sf.events}
                in_window = {s for s in ex if start <= s < end}, {s for s in sf if s and start <= s < end}
                assert in_window[0] == in_window[1], (
                    f"series {state.key}: Outlook {in_window[0]}, Salesforce {in_window[1]}"
                )

    @invariant()
    def sides_agree_as_the_policy_says(self) -> None:
        if self.policy.direction is not Direction.BOTH:
            return  # a mirror may keep edits of its own; what it may receive is checked by call
        for pair in self.pairs():
            state = pair.state
            if (
                state.status is not PairStatus.ACTIVE
                or not state.owns_event
                or not state.sf_id
                or not state.ex_id
            ):
                continue
            sf, ex = self.event_copy(state.sf_id), self.item_copy(pair.user_id, state.ex_id)
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
# Each step runs the whole runtime for three users and a reconcile of all of them: fewer, shorter runs than
# the core-only machines, so the suite stays fast (`bench` explores far more).
if PROFILE != "bench":
    TestBridgeStateMachine.settings = settings(max_examples=25, stateful_step_count=12)


# ------------------------------------------------------------------------ defects the machine found


def _machine() -> BridgeMachine:
    machine = BridgeMachine()
    machine.enrol(private=PrivatePolicy.FULL, safe=False, tie=Side.EXCHANGE, direction=Direction.BOTH)
    return machine


def _reconcile_writes(machine: BridgeMachine) -> bool:
    before = machine.writes()
    for user in USERS:
        machine.inbox.submit(user, Work(reconcile=True))
    machine.settle()
    return machine.writes() != before


def test_r_rec_3_a_split_occurrence_edited_again_in_outlook_changes_its_single_event() -> None:
    """Found by the machine: the second edit was planned (an UpdateEvent of the single event) but the series
    road skipped it as not built, and every later change of the series waited behind it."""
    machine = _machine()
    user, mailbox = USERS[1], MAILBOX[USERS[1]]
    start = NOW + timedelta(days=2, hours=4)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
    master = machine.ex.put_series(mailbox, "Review", start, start + timedelta(hours=1), weekly)
    machine.settle()
    (first, _), _, (last, _) = machine.ex.occurrences(mailbox, master, start + timedelta(weeks=3))
    machine.ex.edit_occurrence(mailbox, f"{master}#{last:%Y%m%dT%H%M%S}", location="Room 3")  # split out
    machine.settle()
    machine.ex.edit_occurrence(mailbox, f"{master}#{last:%Y%m%dT%H%M%S}", subject="Review (moved)")
    machine.settle()
    machine.ex.remove_occurrence(mailbox, f"{master}#{first:%Y%m%dT%H%M%S}")
    machine.settle()
    singles = [r for r in machine.sf.events.values() if not r.get("IsRecurrence2") and r["OwnerId"] == user]
    assert [(r["Subject"], r["Location"]) for r in singles] == [("Review (moved)", "Room 3")]
    ((series_id),) = machine.sf.series()
    assert len(machine.sf.series_rows(series_id)) == 1  # the first occurrence's row went with it (R-REC-4)
    assert not _reconcile_writes(machine)


def test_r_rec_4_a_lightning_series_the_bridge_emptied_is_no_series_deleted_in_salesforce() -> None:
    """Found by the machine: the bridge deleted the last row (its echo dropped), and the next reconcile
    read the series with no row as deleted in Salesforce: the Outlook series lost its category and the
    split occurrence left stopped syncing."""
    machine = _machine()
    mailbox = MAILBOX[USERS[0]]
    start = NOW + timedelta(days=8, hours=9)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=2)
    master = machine.ex.put_series(mailbox, "Review", start, start + timedelta(hours=1), weekly)
    machine.settle()
    (first, _), (second, _) = machine.ex.occurrences(mailbox, master, start + timedelta(weeks=2))
    machine.ex.edit_occurrence(mailbox, f"{master}#{second:%Y%m%dT%H%M%S}", location="Room 3")  # split out
    machine.settle()
    machine.ex.remove_occurrence(mailbox, f"{master}#{first:%Y%m%dT%H%M%S}")  # the last row goes
    machine.settle()
    assert not _reconcile_writes(machine)
    assert "Salesforce" in machine.ex.items[mailbox][master].categories


def test_r_rec_3_the_one_past_row_renamed_from_outlook_leaves_the_series_name() -> None:
    """Found by the machine: with every row left an exception, the Salesforce series read its fields from
    one, and the next reconcile renamed the whole Outlook series after the occurrence."""
    machine = _machine()
    user, mailbox = USERS[2], MAILBOX[USERS[2]]
    start = NOW - timedelta(days=1) + timedelta(hours=1)
    machine.sf.put_series(user, "Call", start, start + timedelta(minutes=30), "FREQ=DAILY;INTERVAL=2;COUNT=2")
    machine.settle()
    machine.sf.remove_onwards(machine.sf.series_rows(machine.sf.series()[0])[1])  # this and following
    machine.settle()
    ((_, master),) = machine.masters()
    ((_, past),) = machine.ex.occurrences(mailbox, master, NOW + timedelta(days=60))
    machine.ex.edit_occurrence(mailbox, past.item_id, subject="Renamed")
    machine.settle()
    assert not _reconcile_writes(machine)
    assert machine.ex.items[mailbox][master].subject == "Call"
    ((_, occurrence),) = machine.ex.occurrences(mailbox, master, NOW + timedelta(days=60))
    assert occurrence.subject == "Renamed"


def test_r_rec_7_a_lightning_series_deleted_with_a_split_occurrence_stays_deleted() -> None:
    """Found by the machine: the Outlook series went (R-DEL-5, kind B) and its state was forgotten, but the
    single event of the occurrence split out of the Lightning series stayed in Salesforce, no series' any
    more, and the next reconcile's pair road created it in Outlook as a new item. The split event goes with
    its series now (R-REC-7: the series is one unit)."""
    machine = _machine()
    user, mailbox = USERS[2], MAILBOX[USERS[2]]
    start = NOW + timedelta(days=5, hours=9)
    rule = f"FREQ=WEEKLY;BYDAY={RRULE_DAYS[start.weekday()]};COUNT=3"
    machine.sf.put_series(user, "Lunch", start, start + timedelta(minutes=30), rule)
    machine.settle()
    ((_, master),) = machine.masters()
    (_, second) = machine.ex.occurrences(mailbox, master, start + timedelta(weeks=3))[1]
    machine.ex.edit_occurrence(mailbox, second.item_id, subject="Call")  # split out in Salesforce
    machine.settle()
    (series_id,) = machine.sf.series()
    machine.sf.remove_onwards(machine.sf.series_rows(series_id)[0])  # the whole series deleted
    machine.settle()
    assert not machine.ex.items[mailbox]
    assert not _reconcile_writes(machine)
    assert not machine.ex.items[mailbox], "a deleted series came back in Outlook"
    assert not [r for r in machine.sf.events.values() if r.get("OwnerId") == user], "the split event stayed"


def test_r_rec_7_an_outlook_series_deleted_with_a_split_occurrence_deletes_its_single_event_too() -> None:
    """R-REC-7 with R-DEL-2 (kind A): a deleted Outlook master deletes the Lightning series, and the single
    event an occurrence was split into (R-REC-3) with it; nothing comes back at the next reconcile."""
    machine = _machine()
    user, mailbox = USERS[0], MAILBOX[USERS[0]]
    start = NOW + timedelta(days=3, hours=10)
    weekly = Pattern(Frequency.WEEKLY, days=frozenset({Weekday(start.weekday())}), count=3)
    master = machine.ex.put_series(mailbox, "Review", start, start + timedelta(hours=1), weekly)
    machine.settle()
    (_, second) = machine.ex.occurrences(mailbox, master, start + timedelta(weeks=3))[1]
    machine.ex.edit_occurrence(mailbox, second.item_id, subject="Review (moved)")  # split out in Salesforce
    machine.settle()
    assert any(r.get("Subject") == "Review (moved)" for r in machine.sf.events.values())
    machine.ex.remove_item(mailbox, master)
    machine.settle()
    assert not _reconcile_writes(machine)
    assert not [r for r in machine.sf.events.values() if r.get("OwnerId") == user], "an event stayed"
    assert not machine.ex.items[mailbox], "the deleted series came back in Outlook"


def test_r_rec_7_a_series_with_only_past_rows_left_renamed_in_outlook_keeps_its_new_name() -> None:
    """Found by the machine: nothing was written to the past row, yet the new name was recorded as its
    base, and the next reconcile wrote the row's old name back over the Outlook series."""
    machine = _machine()
    user, mailbox = USERS[1], MAILBOX[USERS[1]]
    start = NOW - timedelta(days=2) + timedelta(hours=3)
    machine.sf.put_series(user, "Call", start, start + timedelta(minutes=30), "FREQ=DAILY;INTERVAL=2;COUNT=3")
    machine.settle()
    ((_, master),) = machine.masters()
    machine.ex.end_series_on(mailbox, master, machine.ex.masters[mailbox][master].anchor.first)  # one left
    machine.settle()
    machine.ex.edit_item(mailbox, master, subject="Review")
    machine.settle()
    assert not _reconcile_writes(machine)
    # Salesforce's one row is past: it would only become an exception, so it keeps its name (R-REC-7).
    assert machine.ex.items[mailbox][master].subject == "Review"
    assert [machine.sf.events[r]["Subject"] for r in machine.sf.series_rows(machine.sf.series()[0])] == [
        "Call"
    ]
