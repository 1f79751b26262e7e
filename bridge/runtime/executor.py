"""Plan -> port calls: the only code that writes to Salesforce or Exchange.

`Executor.execute` runs one plan's commands in order through the ports, replaces the `Created`
placeholders with the ids the creates returned, records every version a write returned on the plan's state
(`PairState.after_write`, so the bridge's own writes are recognised when they come back, R-MERGE-3), keeps
the raw copies the store holds in step with what was written, and records an `Intent` before every create
and deletion (R-MERGE-4). It does not commit: the caller puts the `Executed` of one or more plans into one
`Commit` with the stream position that fed them.

What a write leaves in the state and the stored copies is `bridge.runtime.written`; what an invitee write
does, `bridge.runtime.invitees`. It knows nothing of routing or actors, so the core's state machine (or any
test) can drive it over the in-memory ports of `bridge.runtime.memory`.

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
from collections.abc import Mapping, Sequence
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
from bridge.errors import CalbridgeError, NotFoundError
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
from bridge.runtime.invitees import (
    INVITEE_WRITES,
    InviteeWrite,
    emails_by_relation,
    relation_effect,
    relation_run,
    relation_status,
)
from bridge.runtime.recent import RecentOwners
from bridge.runtime.written import (
    after_write,
    event_written,
    new_item,
    uid_of_created,
    updated_item,
    version_fields,
)
from bridge.store.journal import Journal, JournalEntry, journal_of

log = logging.getLogger(__name__)

ITEM_FIELDS = frozenset(f.name for f in fields(ExchangeItem))
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
    uid_unknown: bool = False  # the item exists, and Exchange gave no UID for it (written.uid_of_created)
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
        if result is None and name in ("ITEM_UID", "UID") and self.uid_unknown:
            return None  # the pairing fields go without it; the item id pairs (R-PAIR-1)
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
        # Events this bridge created or is pairing, by user, for the router while their pairs are not
        # committed yet.
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
        journal_into: list[JournalEntry] | None = None,
    ) -> Executed:
        """Run `plan` for `ctx`'s user. `key` names the pair the plan started from (None: a new one);
        `event`/`item` are the raw copies the plan was made from; `prepared`: what `prepare` read and
        recorded for this plan (without it, `execute` does the same on the way); `journal_into`: where the
        plan's journal entries go for the caller to store (`record_journal`), instead of being stored now."""
        if ctx.observe and plan.writes:
            raise AssertionError(f"user {ctx.user_id} is in observe mode: the bridge writes nothing for them")
        state = plan.state
        done = Executed(key=key, state=state, event=event, item=item)
        made = _Made(intents=list(prepared.intents) if prepared is not None else [])
        if key is None and state is not None and state.sf_id and plan.writes:
            # A new pair of an existing event: until it is committed only this pass knows whose it is, and
            # a DELETE overtaking the commit names no owner (bridge.runtime.recent).
            self.created_events.note(state.sf_id, ctx.user_id)
        emails = emails_by_relation(directory)
        commands = list(plan.commands)
        if prepared is not None:
            pair_before = prepared.pair_before
        else:
            pair_before = await self._pair_before(ctx, key, state) if plan.writes else None
        try:
            while commands:
                together = relation_run(commands)
                if len(together) > 1 and not getattr(self.salesforce, "budget_exceeded", False):
                    del commands[: len(together)]
                    state = await self._relations_together(ctx, together, state, made, done, emails)
                    continue
                command = commands.pop(0)
                try:
                    state = await self._run(ctx, command, state, made, done, emails)
                    done.state = state
                    if isinstance(command, CreateItem) and made.item_uid is None:
                        state = done.state = await self._uid_of_created(ctx, state, made, done)
                except CalbridgeError as error:
                    done.state = state
                    raise PlanFailed(error, done, command) from error
            if done.key is None and state is not None:
                done.key = records.pair_key(state)
        finally:
            await self._journal(done, pair_before, journal_into)
        return done

    async def _uid_of_created(
        self, ctx: UserContext, state: PairState | None, made: _Made, done: Executed
    ) -> PairState | None:
        """The UID of the item just created, when the create's answer did not carry it (EWS answers
        CreateItem with the id only, and the adapter's read-back finds nothing in an item deleted
        already): read once more. A gone item fails the plan with NotFoundError after its create, so the
        pass goes on from the pair just made as from any copy found gone (R-DEL-2 in the same pass)."""
        assert made.item_id is not None
        found = await self.exchange.read_items(ctx.mailbox, [made.item_id])
        item = found.get(made.item_id)
        if item is None:
            raise NotFoundError(Side.EXCHANGE, made.item_id)
        made.item_uid = uid = uid_of_created(item)
        made.uid_unknown = uid is None
        if uid is None:
            return state
        if done.item is not None and done.item.item_id == made.item_id:
            done.item = replace(done.item, uid=uid)
        return replace(state, uid=uid) if state is not None else None

    async def prepare(self, ctx: UserContext, plans: Sequence[tuple[Plan, str | None]]) -> list[Prepared]:
        """The store work of each plan (with the key of the pair it starts from) that comes before its
        writes, done ahead for all of them so that the plans of a pass, executed together, reach the adapters
        in the same moment and are batched there (issue 10): the pair rows for the journal, read together,
        and an intent for each create and deletion (R-MERGE-4), recorded in one transaction."""
        befores = await asyncio.gather(
            *(self._pair_before(ctx, key, p.state) for p, key in plans if p.writes)
        )
        rows = iter(befores)
        out: list[Prepared] = []
        intents: list[Intent] = []
        for planned, key in plans:
            if not planned.writes:
                out.append(Prepared())
                continue
            mine = [
                _intent(ctx, command, key or _key_of(planned.state))
                for command in planned.commands
                if isinstance(command, _INTENDED)
            ]
            intents += mine
            out.append(Prepared(next(rows), tuple(i.token for i in mine)))
        await self.store.record_intents(intents)
        return out

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

    async def _journal(self, done: Executed, pair_before: Any, into: list[JournalEntry] | None) -> None:
        """Store the plan's journal entries, named by the pair's key, or add them to `into` for the caller
        to store with the other plans' (`record_journal`)."""
        if not done.journal:
            return
        key = done.key or (records.pair_key(done.state) if done.state is not None else "")
        entries = [replace(e, pair_key=e.pair_key or key, pair_before=pair_before) for e in done.journal]
        if into is not None:
            into += entries
            return
        await self.record_journal(entries)

    async def record_journal(self, entries: Sequence[JournalEntry]) -> None:
        """Store journal entries in one go. A journal that cannot be written does not undo the writes made:
        they are logged, and the plans' outcomes stand."""
        if not entries:
            return
        try:
            await self.journal.record(entries)
        except Exception:
            log.exception(
                "journal_failed",
                extra={
                    "user": entries[0].user_id,
                    "pair": entries[0].pair_key if len({e.pair_key for e in entries}) == 1 else None,
                    "writes": len(entries),
                },
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
            done.event = records.with_fields(None, written.id, {**values, **version_fields(written)})
            return after_write(state, Side.SALESFORCE, event_written(written, done.event))
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
            done.item = new_item(written, values, command.categories, self._now())
            new = after_write(state, Side.EXCHANGE, written)
            return replace(new, uid=written.uid) if new is not None and written.uid else new
        if isinstance(command, UpdateEvent):
            event_id = made.event(command.event_id)
            values = made.values(command.fields)
            before = journal.event_before(done.event, values)
            written = await self.salesforce.update_event(event_id, command.if_version, values)
            after = {"fields": journal.encode_fields(values)}
            self._note(ctx, done, Side.SALESFORCE, "update", event_id, before, after)
            done.writes.append((Side.SALESFORCE, event_id))
            done.event = records.with_fields(done.event, event_id, {**values, **version_fields(written)})
            return after_write(
                state, Side.SALESFORCE, event_written(Written(event_id, written.version), done.event)
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
            done.item = updated_item(done.item, written, values, command)
            return after_write(state, Side.EXCHANGE, Written(item_id, written.version, written.uid))
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
        if isinstance(command, INVITEE_WRITES):
            event_id = made.event(command.event_id)
            status = relation_status(done.event, command.relation_id)
            await self._relation_call(command, event_id)
            self._note_relation(ctx, done, command, event_id, status)
            return relation_effect(command, event_id, state, done, ctx, emails)
        raise AssertionError(f"no handler for {command!r}")

    async def _relations_together(
        self,
        ctx: UserContext,
        together: list[InviteeWrite],
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
        befores = [relation_status(done.event, command.relation_id) for command in together]
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
                state = relation_effect(command, event_id, state, done, ctx, emails)
        done.state = state
        if failed is not None:
            raise PlanFailed(failed[0], done, failed[1]) from failed[0]
        return state

    def _note_relation(
        self, ctx: UserContext, done: Executed, command: InviteeWrite, event_id: str, before: str | None
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

    async def _relation_call(self, command: InviteeWrite, event_id: str) -> None:
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
        intent = _intent(ctx, command, done.key or _key_of(state))
        await self.store.record_intent(intent)
        done.intents.append(intent.token)


def _intent(ctx: UserContext, command: Command, key: str) -> Intent:
    side = Side.SALESFORCE if isinstance(command, CreateEvent | DeleteEvent) else Side.EXCHANGE
    return Intent(ctx.user_id, key, side, type(command).__name__, uuid.uuid4().hex)


def _key_of(state: PairState | None) -> str:
    return records.pair_key(state) if state is not None else ""


def _plain(made: _Made, value: Any) -> str | None:
    if value is None:
        return None
    try:
        return str(made.fill(value))
    except AssertionError:
        return None
