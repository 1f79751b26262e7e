"""Plan -> port calls: the only code that writes to Salesforce or Exchange.

`Executor.execute` runs one plan's commands in order through the ports, replaces the `Created`
placeholders with the ids the creates returned, records every version a write returned on the plan's state
(`PairState.after_write`, so the bridge's own writes are recognised when they come back, R-MERGE-3), keeps
the raw copies the store holds in step with what was written, and records an `Intent` before every create
and deletion (R-MERGE-4). It does not commit: the caller puts the `Executed` of one or more plans into one
`Commit` with the stream position that fed them.

It knows nothing of routing or actors, so the core's state machine (or any test) can drive it over the
in-memory ports of `bridge.runtime.memory`.

A failure stops the plan and raises `PlanFailed` with what had been done so far: the caller decides by the
error's class (bridge.errors) and by whether anything was already written or created.

Every write made is journaled (`bridge.runtime.journal`, issue 9): the record before and after in the
bridge's field terms and the pair row before the plan, one entry per write, stored when the plan ends
(done or failed), so `calbridge undo` can put both sides back. A user in observe mode never reaches here
with a write (`bridge.runtime.observe` reports plans instead); a plan that tries is a bug and refused.

While the org is past its API budget the Salesforce adapter holds writes back (R-API-2); a write that will
be held opens W-API-BUDGET for its pair at once (the plan's commit would come only after the wait) and
closes it when the write is through.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from bridge.core.commands import (
    AddAttendeeRelation,
    CloseIssue,
    Command,
    CreateEvent,
    CreateItem,
    DeleteEvent,
    DeleteItem,
    Plan,
    RaiseIssue,
    RemoveAttendeeRelation,
    UpdateAttendeeStatus,
    UpdateEvent,
    UpdateItem,
)
from bridge.core.fields import SF_STATUS, ExchangeItem
from bridge.core.issues import Issue, IssueCode, make_issue
from bridge.core.model import Directory, PairState, Policy, Relation, Side
from bridge.errors import CalbridgeError
from bridge.ports import (
    Commit,
    EventRecord,
    Intent,
    MailboxPort,
    SalesforcePort,
    Store,
    StoredIssue,
    Written,
)
from bridge.runtime import journal, records
from bridge.runtime.recent import RecentOwners
from bridge.store.journal import Journal, JournalEntry, journal_of

log = logging.getLogger(__name__)

_ITEM_FIELDS = frozenset(f.name for f in fields(ExchangeItem))
_SALESFORCE_WRITES = (
    CreateEvent,
    UpdateEvent,
    DeleteEvent,
    AddAttendeeRelation,
    UpdateAttendeeStatus,
    RemoveAttendeeRelation,
)


@dataclass(frozen=True, slots=True)
class UserContext:
    """Who a plan runs for: the Salesforce user, their mailbox and their policy (mailbox zone set);
    `observe`: the user is in observe mode (plans are reported, nothing is written)."""

    user_id: str
    mailbox: str
    policy: Policy
    observe: bool = False


@dataclass(slots=True)
class Executed:
    """What running one plan did: the state to store (with the versions written), the raw copies, the
    issues it raised and closed, the intents to clear, and the writes made (for metrics)."""

    key: str | None
    state: PairState | None
    event: EventRecord | None
    item: ExchangeItem | None
    opened: list[Issue] = field(default_factory=list)
    closed: list[tuple[IssueCode, str | None, str | None]] = field(default_factory=list)
    intents: list[str] = field(default_factory=list)
    writes: list[tuple[Side, str]] = field(default_factory=list)
    created: bool = False
    journal: list[JournalEntry] = field(default_factory=list)


class PlanFailed(Exception):
    """A command of the plan failed; `done` holds what ran before it."""

    def __init__(self, cause: CalbridgeError, done: Executed, command: Command) -> None:
        super().__init__(f"{type(command).__name__} failed: {cause}")
        self.cause = cause
        self.done = done
        self.command = command

    @property
    def wrote(self) -> bool:
        return bool(self.done.writes)


@dataclass(slots=True)
class _Made:
    """The records this plan created, for the `Created` placeholders."""

    event_id: str | None = None
    item_id: str | None = None
    item_uid: str | None = None
    intents: list[str] = field(default_factory=list)  # recorded by `Executor.prepare`, in command order

    def fill(self, value: Any, field_name: str = "") -> Any:
        """`value` with a `Created` member replaced (the core's current and former placeholder names)."""
        if not isinstance(value, Enum) or type(value).__name__ != "Created":
            return value
        name = value.name
        if name == "ID":  # the former placeholder: which record depends on the field it fills
            name = "ITEM_ID" if field_name.startswith("Exchange") else "EVENT_ID"
        found = {"EVENT_ID": self.event_id, "ITEM_ID": self.item_id, "ITEM_UID": self.item_uid, "UID": None}
        result = found.get(name) if name != "UID" else self.item_uid
        if result is None:
            raise AssertionError(f"the plan names {value} before creating it")
        return result

    def event(self, event_id: Any) -> str:
        return str(self.fill(event_id) if event_id is not None else self._need(self.event_id))

    def item(self, item_id: Any) -> str:
        return str(self.fill(item_id) if item_id is not None else self._need(self.item_id))

    def values(self, values: Mapping[str, object]) -> dict[str, object]:
        return {name: self.fill(value, name) for name, value in values.items()}

    @staticmethod
    def _need(value: str | None) -> str:
        if value is None:
            raise AssertionError("a command names the created record before it exists")
        return value


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a plan needs from the store before its first write (`Executor.prepare`): the pair row before
    it, for the journal, and the intents of its creates and deletes, already recorded."""

    pair_before: Any = None
    intents: tuple[str, ...] = ()


_INTENDED = (CreateEvent, CreateItem, DeleteEvent, DeleteItem)


class Executor:
    """Runs plans through the ports. One instance serves every user."""

    def __init__(
        self,
        salesforce: SalesforcePort,
        exchange: MailboxPort,
        store: Store,
        *,
        clock: Any = None,
        journal_store: Journal | None = None,
    ) -> None:
        self.salesforce = salesforce
        self.exchange = exchange
        self.store = store
        self.journal = journal_store if journal_store is not None else journal_of(store)
        self._now = clock or (lambda: datetime.now(UTC))
        # Events this bridge created, by user, for the router while their pairs are not committed yet.
        self.created_events = RecentOwners()

    async def execute(
        self,
        ctx: UserContext,
        plan: Plan,
        *,
        key: str | None,
        event: EventRecord | None = None,
        item: ExchangeItem | None = None,
        directory: Directory | None = None,
        prepared: Prepared | None = None,
    ) -> Executed:
        """Run `plan` for `ctx`'s user. `key` names the pair the plan started from (None: a new one);
        `event`/`item` are the raw copies the plan was made from; `prepared`: what `prepare` read and
        recorded for this plan (without it, `execute` does the same on the way)."""
        if ctx.observe and plan.writes:
            raise AssertionError(f"user {ctx.user_id} is in observe mode: the bridge writes nothing for them")
        state = plan.state
        done = Executed(key=key, state=state, event=event, item=item)
        made = _Made(intents=list(prepared.intents) if prepared is not None else [])
        emails = _emails_by_relation(directory)
        commands = list(plan.commands)
        if prepared is not None:
            pair_before = prepared.pair_before
        else:
            pair_before = await self._pair_before(ctx, key, state) if plan.writes else None
        try:
            while commands:
                together = _relation_run(commands)
                if len(together) > 1 and not getattr(self.salesforce, "budget_exceeded", False):
                    del commands[: len(together)]
                    state = await self._relations_together(ctx, together, state, made, done, emails)
                    continue
                command = commands.pop(0)
                try:
                    state = await self._run(ctx, command, state, made, done, emails)
                except CalbridgeError as error:
                    done.state = state
                    raise PlanFailed(error, done, command) from error
                done.state = state
            if done.key is None and state is not None:
                done.key = records.pair_key(state)
        finally:
            await self._journal(done, pair_before)
        return done

    async def prepare(self, ctx: UserContext, plan: Plan, key: str | None) -> Prepared:
        """The store work of `plan` that comes before its writes, done ahead so that the plans of a pass,
        executed together, reach the adapters in the same moment and are batched there (issue 10): the pair
        row for the journal and an intent for each create and deletion (R-MERGE-4)."""
        if not plan.writes:
            return Prepared()
        pair_before = await self._pair_before(ctx, key, plan.state)
        intents = []
        for command in plan.commands:
            if isinstance(command, _INTENDED):
                intents.append(await self._record_intent(ctx, command, key or _key_of(plan.state)))
        return Prepared(pair_before, tuple(intents))

    async def _pair_before(self, ctx: UserContext, key: str | None, state: PairState | None) -> Any:
        """The user's stored pair row of `key` before the plan, JSON-safe, for the journal (undo puts it
        back); None for a new pair."""
        if key is None or state is None:
            return None
        for side in Side:
            record_id = state.id_of(side)
            if record_id is None:
                continue
            found = await self.store.pair_by_record(side, record_id)
            if found is not None and found.user_id == ctx.user_id and records.pair_key(found.state) == key:
                return journal.stored_pair_json(found)
        mine = [p for p in await self.store.pairs_of(ctx.user_id) if records.pair_key(p.state) == key]
        return journal.stored_pair_json(mine[0]) if mine else None

    async def _journal(self, done: Executed, pair_before: Any) -> None:
        """Store the plan's journal entries, named by the pair's key. A journal that cannot be written
        does not undo the writes made: they are logged, and the plan's outcome stands."""
        if not done.journal:
            return
        key = done.key or (records.pair_key(done.state) if done.state is not None else "")
        entries = [replace(e, pair_key=e.pair_key or key, pair_before=pair_before) for e in done.journal]
        try:
            await self.journal.record(entries)
        except Exception:
            log.exception(
                "journal_failed",
                extra={"user": entries[0].user_id, "pair": key, "writes": len(entries)},
            )

    def _note(
        self,
        ctx: UserContext,
        done: Executed,
        side: Side,
        action: str,
        record_id: str,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        done.journal.append(
            JournalEntry(ctx.user_id, "", side, action, record_id, self._now(), before=before, after=after)
        )

    async def _run(
        self,
        ctx: UserContext,
        command: Command,
        state: PairState | None,
        made: _Made,
        done: Executed,
        emails: Mapping[str, tuple[str, Relation]],
    ) -> PairState | None:
        # The adapter's own flag (not part of SalesforcePort: the in-memory port has no budget).
        if not isinstance(command, _SALESFORCE_WRITES) or not getattr(
            self.salesforce, "budget_exceeded", False
        ):
            return await self._command(ctx, command, state, made, done, emails)
        sf_id = state.sf_id if state is not None else None
        ex_id = state.ex_id if state is not None else (done.item.item_id if done.item is not None else None)
        issue = make_issue(IssueCode.API_BUDGET, ctx.user_id, sf_id, ex_id)
        now = self._now()
        opened = StoredIssue(ctx.user_id, issue.code.value, sf_id, ex_id, issue.message, now, now)
        await self.store.commit(Commit(user_id=ctx.user_id, issues_opened=[opened]))
        try:
            return await self._command(ctx, command, state, made, done, emails)
        finally:
            closed = (issue.code.value, sf_id, ex_id)
            await self.store.commit(Commit(user_id=ctx.user_id, issues_closed=[closed]))

    async def _command(
        self,
        ctx: UserContext,
        command: Command,
        state: PairState | None,
        made: _Made,
        done: Executed,
        emails: Mapping[str, tuple[str, Relation]],
    ) -> PairState | None:
        if isinstance(command, RaiseIssue):
            # Issues run after the plan's creates: a record it made names the issue, so that the pair's
            # later plans, which know both ids, find and close it (R-LIM-1).
            issue = command.issue
            done.opened.append(
                replace(issue, sf_id=issue.sf_id or made.event_id, ex_id=issue.ex_id or made.item_id)
            )
            return state
        if isinstance(command, CloseIssue):
            done.closed.append((command.code, _plain(made, command.sf_id), _plain(made, command.ex_id)))
            return state
        if isinstance(command, CreateEvent | CreateItem | DeleteEvent | DeleteItem):
            await self._intend(ctx, command, state, done, made)
        if isinstance(command, CreateEvent):
            values = made.values(command.fields)
            values.setdefault("OwnerId", ctx.user_id)
            written = await self.salesforce.create_event(values, command.who_ids)
            self.created_events.note(written.id, ctx.user_id)
            after = {"fields": journal.encode_fields(values), "who_ids": list(command.who_ids)}
            self._note(ctx, done, Side.SALESFORCE, "create", written.id, None, after)
            made.event_id = written.id
            done.created = True
            done.writes.append((Side.SALESFORCE, written.id))
            done.event = records.with_fields(None, written.id, {**values, **_version_fields(written)})
            return _after(state, Side.SALESFORCE, _event_written(written, done.event))
        if isinstance(command, CreateItem):
            values = made.values(command.fields)
            written = await self.exchange.create_item(
                ctx.mailbox, values, command.categories, command.send_invitations
            )
            after = {"fields": journal.encode_fields(values), "categories": list(command.categories)}
            self._note(ctx, done, Side.EXCHANGE, "create", written.id, None, after)
            made.item_id, made.item_uid = written.id, written.uid
            done.created = True
            done.writes.append((Side.EXCHANGE, written.id))
            done.item = _new_item(written, values, command.categories, self._now())
            new = _after(state, Side.EXCHANGE, written)
            return replace(new, uid=written.uid) if new is not None and written.uid else new
        if isinstance(command, UpdateEvent):
            event_id = made.event(command.event_id)
            values = made.values(command.fields)
            before = journal.event_before(done.event, values)
            written = await self.salesforce.update_event(event_id, command.if_version, values)
            after = {"fields": journal.encode_fields(values)}
            self._note(ctx, done, Side.SALESFORCE, "update", event_id, before, after)
            done.writes.append((Side.SALESFORCE, event_id))
            done.event = records.with_fields(done.event, event_id, {**values, **_version_fields(written)})
            return _after(
                state, Side.SALESFORCE, _event_written(Written(event_id, written.version), done.event)
            )
        if isinstance(command, UpdateItem):
            item_id = made.item(command.item_id)
            values = made.values(command.fields)
            before = journal.item_before(done.item, values)
            written = await self.exchange.update_item(
                ctx.mailbox,
                item_id,
                command.if_version,
                values,
                command.add_categories,
                command.remove_categories,
                command.send_invitations,
            )
            after = {
                "fields": journal.encode_fields(values),
                "add_categories": list(command.add_categories),
                "remove_categories": list(command.remove_categories),
            }
            self._note(ctx, done, Side.EXCHANGE, "update", item_id, before, after)
            done.writes.append((Side.EXCHANGE, item_id))
            done.item = _updated_item(done.item, written, values, command)
            return _after(state, Side.EXCHANGE, Written(item_id, written.version, written.uid))
        if isinstance(command, DeleteEvent):
            event_id = made.event(command.event_id)
            await self.salesforce.delete_event(event_id, command.if_version)
            self._note(ctx, done, Side.SALESFORCE, "delete", event_id, journal.whole_event(done.event), None)
            done.writes.append((Side.SALESFORCE, event_id))
            done.event = None
            return state
        if isinstance(command, DeleteItem):
            item_id = made.item(command.item_id)
            await self.exchange.delete_item(
                ctx.mailbox, item_id, command.if_version, command.send_cancellations
            )
            self._note(ctx, done, Side.EXCHANGE, "delete", item_id, journal.whole_item(done.item), None)
            done.writes.append((Side.EXCHANGE, item_id))
            done.item = None
            return state
        if isinstance(command, _RELATIONS):
            event_id = made.event(command.event_id)
            status = _relation_status(done.event, command.relation_id)
            await self._relation_call(command, event_id)
            self._note_relation(ctx, done, command, event_id, status)
            return _relation_effect(command, event_id, state, done, ctx, emails)
        raise AssertionError(f"no handler for {command!r}")

    async def _relations_together(
        self,
        ctx: UserContext,
        together: list[_Relation],
        state: PairState | None,
        made: _Made,
        done: Executed,
        emails: Mapping[str, tuple[str, Relation]],
    ) -> PairState | None:
        """Invitee writes of one plan go out at once, so the adapter batches them (sObject Collections,
        R-API-3): a meeting with 1,000 attendees costs a few calls, not a thousand in a row. Their effects
        on the stored record and the state are then applied in plan order; the first failure fails the
        plan after the others are recorded."""
        event_ids = [made.event(command.event_id) for command in together]
        befores = [_relation_status(done.event, command.relation_id) for command in together]
        results = await asyncio.gather(
            *(self._relation_call(c, e) for c, e in zip(together, event_ids, strict=True)),
            return_exceptions=True,
        )
        failed: tuple[CalbridgeError, Command] | None = None
        for command, event_id, before, result in zip(together, event_ids, befores, results, strict=True):
            if isinstance(result, CalbridgeError):
                failed = failed or (result, command)
            elif isinstance(result, BaseException):
                raise result
            else:
                self._note_relation(ctx, done, command, event_id, before)
                state = _relation_effect(command, event_id, state, done, ctx, emails)
        done.state = state
        if failed is not None:
            raise PlanFailed(failed[0], done, failed[1]) from failed[0]
        return state

    def _note_relation(
        self, ctx: UserContext, done: Executed, command: _Relation, event_id: str, before: str | None
    ) -> None:
        action = {
            AddAttendeeRelation: "add_relation",
            UpdateAttendeeStatus: "update_relation",
            RemoveAttendeeRelation: "remove_relation",
        }[type(command)]
        after = None if isinstance(command, RemoveAttendeeRelation) else SF_STATUS[command.status]
        self._note(
            ctx,
            done,
            Side.SALESFORCE,
            action,
            event_id,
            {"relation_id": command.relation_id, "status": before},
            {"relation_id": command.relation_id, "status": after},
        )

    async def _relation_call(self, command: _Relation, event_id: str) -> None:
        if isinstance(command, AddAttendeeRelation):
            await self.salesforce.add_relation(event_id, command.relation_id, command.status)
        elif isinstance(command, UpdateAttendeeStatus):
            await self.salesforce.update_relation(event_id, command.relation_id, command.status)
        else:
            await self.salesforce.remove_relation(event_id, command.relation_id)

    async def _intend(
        self, ctx: UserContext, command: Command, state: PairState | None, done: Executed, made: _Made
    ) -> None:
        """R-MERGE-4: note the write before making it; a restart that finds the note reconciles the user's
        window, where the pairing fields (R-PAIR-1) find a record that was created after all."""
        if made.intents:
            done.intents.append(made.intents.pop(0))  # recorded by `prepare`
            return
        done.intents.append(await self._record_intent(ctx, command, done.key or _key_of(state)))

    async def _record_intent(self, ctx: UserContext, command: Command, key: str) -> str:
        side = Side.SALESFORCE if isinstance(command, CreateEvent | DeleteEvent) else Side.EXCHANGE
        token = uuid.uuid4().hex
        await self.store.record_intent(Intent(ctx.user_id, key, side, type(command).__name__, token))
        return token


def _key_of(state: PairState | None) -> str:
    return records.pair_key(state) if state is not None else ""


def _plain(made: _Made, value: Any) -> str | None:
    if value is None:
        return None
    try:
        return str(made.fill(value))
    except AssertionError:
        return None


def _after(state: PairState | None, side: Side, written: Written) -> PairState | None:
    if state is None:
        return None
    return records.with_ids(state, side, written.id, written.version)


def _after_relations(state: PairState | None, event_id: str, event: EventRecord | None) -> PairState | None:
    """An invitee written leaves the Event's stamp alone, so the version a read will give is known here:
    recorded, so the write is not taken for a change when it is read back (R-MERGE-3). When an Event write
    of the same plan still waits for its echo (no version recorded), the echo brings it."""
    version = records.event_version(event) if event is not None else None
    if state is None or version is None or state.sf_version is None:
        return state
    return state.after_write(Side.SALESFORCE, event_id, version)


def _event_written(written: Written, record: EventRecord) -> Written:
    """A Salesforce write's version as the core reads it: the stamp the service gave, with the digest of the
    record as written (`bridge.core.fields.salesforce_version`)."""
    return replace(written, version=records.event_version(record)) if written.version else written


def _version_fields(written: Written) -> dict[str, object]:
    # The stored record's version must be the written one, not the one before the write.
    return {"SystemModstamp": written.version} if written.version else {}


def _emails_by_relation(directory: Directory | None) -> dict[str, tuple[str, Relation]]:
    if directory is None:
        return {}
    return {
        relation.relation_id: (email, relation) for email, found in directory.entries for relation in found
    }


_Relation = AddAttendeeRelation | UpdateAttendeeStatus | RemoveAttendeeRelation
_RELATIONS = (AddAttendeeRelation, UpdateAttendeeStatus, RemoveAttendeeRelation)


def _relation_status(event: EventRecord | None, relation_id: str) -> str | None:
    """The invitee's status on the record as last known (None: not an invitee, or not known)."""
    if event is None:
        return None
    return next((r.status for r in event.relations if r.relation_id == relation_id), None)


def _relation_run(commands: list[Command]) -> list[_Relation]:
    """The invitee writes at the head of `commands`, up to the first command of another kind."""
    run: list[_Relation] = []
    for command in commands:
        if not isinstance(command, _RELATIONS):
            break
        run.append(command)
    return run


def _relation_effect(
    command: _Relation,
    event_id: str,
    state: PairState | None,
    done: Executed,
    ctx: UserContext,
    emails: Mapping[str, tuple[str, Relation]],
) -> PairState | None:
    """What an invitee write changes in the stored record and the state, once Salesforce took it."""
    done.writes.append((Side.SALESFORCE, event_id))
    if isinstance(command, AddAttendeeRelation):
        done.event = _relation_added(done.event, command, ctx, emails)
    elif done.event is not None:
        if isinstance(command, UpdateAttendeeStatus):
            rows = tuple(
                replace(r, status=SF_STATUS[command.status]) if r.relation_id == command.relation_id else r
                for r in done.event.relations
            )
        else:
            rows = tuple(r for r in done.event.relations if r.relation_id != command.relation_id)
        done.event = records.with_relations(done.event, rows)
    return _after_relations(state, event_id, done.event)


def _relation_added(
    event: EventRecord | None,
    command: AddAttendeeRelation,
    ctx: UserContext,
    people: Mapping[str, tuple[str, Relation]],
) -> EventRecord | None:
    """The stored record with the relation the bridge added, so the next change event applies onto it."""
    if event is None:
        return None
    if command.relation_id == ctx.user_id:
        row = records.user_relation(ctx.user_id, ctx.policy.user_email, SF_STATUS[command.status])
    elif command.relation_id in people:
        email, relation = people[command.relation_id]
        row = records.relation_row(relation, email, SF_STATUS[command.status])
    else:
        return None  # unknown person: the next change re-reads the event
    rows = (*(r for r in event.relations if r.relation_id != command.relation_id), row)
    return records.with_relations(event, rows)


def _new_item(
    written: Written, values: Mapping[str, object], categories: tuple[str, ...], now: datetime
) -> ExchangeItem | None:
    known: dict[str, Any] = {k: v for k, v in values.items() if k in _ITEM_FIELDS}
    try:
        return ExchangeItem(
            **{
                "item_id": written.id,
                "change_key": written.version or "",
                "last_modified_time": now,
                "uid": written.uid,
                "categories": tuple(categories),
                **known,
            }
        )
    except TypeError:
        return None


def _updated_item(
    item: ExchangeItem | None, written: Written, values: Mapping[str, object], command: UpdateItem
) -> ExchangeItem | None:
    if item is None:
        return None
    categories = [c for c in item.categories if c not in command.remove_categories]
    categories += [c for c in command.add_categories if c not in categories]
    known: dict[str, Any] = {k: v for k, v in values.items() if k in _ITEM_FIELDS}
    return replace(item, change_key=written.version or item.change_key, categories=tuple(categories), **known)
