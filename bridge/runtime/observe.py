"""Observe mode (issue 9, safe roll-out): the bridge reads and plans for a user, and writes nothing.

An admin enrols a pilot group with `observe = true` (for the org in `[policy]`, or per user), looks at
what the bridge would do (`calbridge observe-report`), then turns writes on. For an observed user:

- every pass reads and plans as usual (the same observations, the mass-delete guard included), and
  `observe_pass` keeps, per pair or unpaired copy, what its plan would write: the commands by kind, each
  write in words, the issues it would raise (`bridge.store.journal.ObservedPlan`; the latest plan of a key
  replaces the earlier one, a plan that would write nothing removes it);
- nothing is written to Salesforce or Exchange, and the bridge's own state does not pretend otherwise: no
  pair state, raw copy, intent, issue or "last synced" mark is stored. Only the stream positions move on
  (a stream is shared by every user), with the mark `observe:<user>` = "on";
- recurring series are planned and reported the same way, one plan per series (`SeriesRoad.observing`);
  nothing of them is written or stored, so the first pass with writes on plans them again.

Turning writes on: the user's first pass without observe finds the mark on (`ObserveMark`), runs a
window reconcile instead of its work, which plans everything that was only observed (no pair state was
stored, so nothing is taken as done), and turns the mark off in the same commit.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bridge.core import guard_deletions, plan
from bridge.core.commands import (
    AddAttendeeRelation,
    Changed,
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
from bridge.core.issues import Issue
from bridge.ports import Commit, Store, StreamPosition
from bridge.runtime import records
from bridge.runtime.executor import UserContext
from bridge.runtime.passes import Job, PassServices
from bridge.runtime.series import SeriesRoad
from bridge.store.journal import ObservedPlan, journal_of

log = logging.getLogger(__name__)

MARK = "observe:"
ON, OFF = "on", "off"


def mark_stream(user_id: str) -> str:
    return f"{MARK}{user_id}"


class ObserveMark:
    """Whether a user's writes were just turned on after observe mode (the mark in the store), for one
    user's `UserSync`: read once, then kept in step by the passes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._on: bool | None = None

    async def writes_resumed(self, ctx: UserContext) -> bool:
        """True when `ctx` writes and the user was observed until now: plan the whole window."""
        if ctx.observe:
            return False
        if self._on is None:
            self._on = await self.store.position(mark_stream(ctx.user_id)) == ON
        return self._on

    def positions(self, ctx: UserContext) -> list[StreamPosition]:
        """What a pass commits for the mark: on while observing, off in the first reconcile with writes."""
        if ctx.observe:
            return [StreamPosition(mark_stream(ctx.user_id), ON)]
        return [StreamPosition(mark_stream(ctx.user_id), OFF)] if self._on else []

    def committed(self, ctx: UserContext) -> None:
        self._on = ctx.observe


def mark_of(services: PassServices, ctx: UserContext) -> ObserveMark:
    found = services.marks.get(ctx.user_id)
    if not isinstance(found, ObserveMark):
        found = services.marks[ctx.user_id] = ObserveMark(services.executor.store)
    return found


class UnplannedSeries(SeriesRoad):
    """The series road of an observed user: series are read and planned, their plans reported with the
    pairs' (`SeriesRoad.observing`), and nothing is written or stored of them; the first pass with writes
    on plans them again and writes."""

    observing = True


async def observe_pass(
    services: PassServices,
    ctx: UserContext,
    jobs: Sequence[Job],
    *,
    mark: ObserveMark,
    pair_count: int,
    confirmed: bool = False,
    positions: Sequence[StreamPosition] = (),
    extra_issues: Sequence[Issue] = (),
) -> None:
    """`run_pass` for an observed user: plan and guard `jobs` as it does, keep what would be written,
    write nothing, and commit the stream positions only."""
    now = services.now()
    plans = [plan(job.stored.state if job.stored else None, job.observation, ctx.policy, now) for job in jobs]
    guarded = guard_deletions(plans, pair_count, ctx.policy, confirmed)
    held = {id(p) for p in guarded.held}
    kept: list[ObservedPlan] = []
    clear: list[str] = []
    for job, planned in zip(jobs, plans, strict=True):
        key = _key(job, planned)
        seen = _observed(ctx, key, planned, now, held=id(planned) in held)
        if seen is None:
            clear.append(key)
        else:
            kept.append(seen)
    issues = list(extra_issues) + ([guarded.issue.issue] if guarded.issue is not None else [])
    for issue in issues:
        kept.append(
            ObservedPlan(
                ctx.user_id,
                f"issue:{issue.code.value}:{issue.sf_id or ''}:{issue.ex_id or ''}",
                now,
                issues=(f"{issue.code.value}: {issue.message}",),
            )
        )
    journal = journal_of(services.executor.store)
    await journal.observe(ctx.user_id, kept, clear)
    commit = Commit(user_id=ctx.user_id, positions=[*positions, *mark.positions(ctx)])
    await services.executor.store.commit(commit)
    mark.committed(ctx)
    services.metrics.plans(len(plans))
    kinds = Counter(kind for p in kept for kind in p.writes)
    if kinds:
        log.info("observe_planned", extra={"user": ctx.user_id, "would_write": dict(sorted(kinds.items()))})


def _key(job: Job, planned: Plan) -> str:
    if job.stored is not None:
        return records.pair_key(job.stored.state)
    if planned.state is not None:
        return records.pair_key(planned.state)
    seen = job.observation
    copy = (seen.sf or seen.ex) if isinstance(seen, Changed) else None
    return records.waiting_key(copy) if copy is not None else "unknown"


def _observed(ctx: UserContext, key: str, planned: Plan, now: datetime, *, held: bool) -> ObservedPlan | None:
    writes = planned.writes
    issues = tuple(
        f"{c.issue.code.value}: {c.issue.message}" for c in planned.commands if isinstance(c, RaiseIssue)
    )
    if not writes and not issues:
        return None
    suffix = " (held by the mass-delete guard, R-DEL-10)" if held and _deletes(planned) else ""
    return ObservedPlan(
        ctx.user_id,
        key,
        now,
        writes=tuple(type(c).__name__ for c in writes),
        lines=tuple(describe(c) + suffix for c in writes),
        issues=issues,
    )


def _deletes(planned: Plan) -> bool:
    return any(isinstance(c, DeleteEvent | DeleteItem) for c in planned.commands)


# ------------------------------------------------------------------------------------------- in words


def describe(command: Command) -> str:
    """One planned write as an admin reads it."""
    if isinstance(command, CreateEvent):
        return f"create a Salesforce event {_what(command.fields)}"
    if isinstance(command, CreateItem):
        return f"create an Exchange item {_what(command.fields)}" + _categories(command.categories, ())
    if isinstance(command, UpdateEvent):
        return f"update Salesforce event {_id(command.event_id)}: {_names(command.fields)}"
    if isinstance(command, UpdateItem):
        changes = _names(command.fields) if command.fields else ""
        categories = _categories(command.add_categories, command.remove_categories)
        return f"update Exchange item {_id(command.item_id)}: {changes}{categories}".replace(": ,", ":")
    if isinstance(command, DeleteEvent):
        return f"delete Salesforce event {_id(command.event_id)}"
    if isinstance(command, DeleteItem):
        return f"delete Exchange item {_id(command.item_id)}"
    if isinstance(command, AddAttendeeRelation):
        return f"add invitee {command.relation_id} to Salesforce event {_id(command.event_id)}"
    if isinstance(command, UpdateAttendeeStatus):
        return (
            f"set invitee {command.relation_id}'s answer to {command.status.value} on Salesforce event "
            f"{_id(command.event_id)}"
        )
    if isinstance(command, RemoveAttendeeRelation):
        return f"remove invitee {command.relation_id} from Salesforce event {_id(command.event_id)}"
    return type(command).__name__


def _id(record_id: object) -> str:
    return record_id if isinstance(record_id, str) else "(created in the same plan)"


def _what(values: Mapping[str, object]) -> str:
    subject = values.get("Subject", values.get("subject", ""))
    start = values.get("StartDateTime", values.get("ActivityDate", values.get("start")))
    when = start.isoformat(" ", "minutes") if isinstance(start, datetime) else start
    when = when.isoformat() if isinstance(when, date) else when
    return f"{str(subject)!r}" + (f" at {when}" if when else "")


_LABELS = {
    "Subject": "subject",
    "StartDateTime": "start",
    "EndDateTime": "end",
    "ActivityDate": "date",
    "DurationInMinutes": "duration",
    "IsAllDayEvent": "all day",
    "Description": "description",
    "Location": "location",
    "ShowAs": "show as",
    "IsPrivate": "private",
    "Exchange_Item_Id__c": "pairing fields",
    "Exchange_UID__c": "pairing fields",
    "Calbridge_Sync_Hash__c": "pairing fields",
    "OwnerId": "owner",
    "is_all_day": "all day",
    "body": "description",
    "body_type": "description",
    "legacy_free_busy_status": "show as",
    "sensitivity": "private",
    "required_attendees": "attendees",
    "optional_attendees": "attendees",
    "salesforce_event_id": "pairing fields",
    "time_zone": "time zone",
}


def _names(fields: Mapping[str, object]) -> str:
    labels = dict.fromkeys(_LABELS.get(name, name) for name in fields)
    return ", ".join(labels)


def _categories(add: Sequence[str], remove: Sequence[str]) -> str:
    parts = [f"+{c}" for c in add] + [f"-{c}" for c in remove]
    return f" (categories {' '.join(parts)})" if parts else ""


# ----------------------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class UserReport:
    user_id: str
    writes: dict[str, int]
    sample: tuple[str, ...]
    issues: dict[str, int]
    issue_sample: tuple[str, ...]
    plans: int


def summarize(plans: Sequence[ObservedPlan], user_id: str, sample: int = 10) -> UserReport:
    """One user's observe report: counts per command kind, a sample of planned writes, issues by code."""
    mine = [p for p in plans if p.user_id == user_id]
    writes = Counter(kind for p in mine for kind in p.writes)
    issues = Counter(text.split(":", 1)[0] for p in mine for text in p.issues)
    lines = [line for p in sorted(mine, key=lambda p: p.seen_at, reverse=True) for line in p.lines]
    texts = [text for p in mine for text in p.issues]
    return UserReport(
        user_id,
        dict(sorted(writes.items())),
        tuple(lines[:sample]),
        dict(sorted(issues.items())),
        tuple(texts[:sample]),
        sum(1 for p in mine if p.writes),
    )


__all__ = ["ObserveMark", "UnplannedSeries", "UserReport", "describe", "mark_of", "observe_pass", "summarize"]
