"""One pass of one user: observations in, plans made, guarded, executed and committed in one transaction.

Every road into the core ends here (a change event, a mailbox sync, a window reconcile): the caller
gathers `Job`s (an observation and the stored pair it is about), and `run_pass` plans them all, runs
them through `guard_deletions` (R-DEL-10), executes them through the `Executor` all at once (so their writes
reach the adapters together and go out batched per side and kind: one sObject Collections call for up to
200 events, one CreateItem for a mailbox's new items; issue 10), and commits every state, issue and cleared
intent together with the stream positions that fed the pass. Two observations of one pair in a pass run one
after the other, the second planned again from what the first stored.

Failures, by class (bridge.errors), one plan at a time; nothing one plan does stops the others:
- ConflictError: the pair is read again and planned again (R-MERGE-5), at most `MAX_REPLANS` times;
- NotFoundError: the record is gone: planned as `Deleted(side)`;
- RefusedError: planned as `WriteFailed(side, message)`, whose issue is committed (R-LIM-1);
- TransientError: what the other plans did is committed (without the positions) and the error goes up:
  the actor retries the pass later; the notices stay uncommitted.
A pair still failing after `MAX_REPLANS` asks for a window reconcile only when it lost races; a permanent
failure (a refusal, a gone copy its plan still writes) is reported as its issue instead, never looped on.
A plan that loses a race or finds a copy gone after it created a record is planned again from that record
(its id and what was written are known), as any other plan would be; one that fails otherwise after a
create stores nothing and asks for a window reconcile: the record carries its pairing fields (R-PAIR-1), so
the reconcile pairs it instead of creating it again.
A side's base only moves when its writes all succeeded: the state kept after a partial failure advances
the written side, so a re-plan never mistakes the bridge's own write for a user's edit, but for the edits
the failed write was to carry to the other side, which stay changes; and the failed side's base becomes
the copy the plan read of it (carried to the written side), so a re-plan sees what the user did on it
since, even an edit that undoes that copy's (R-ATT-4: an attendee added, then removed as the bridge wrote).

Logs (docs/ops.md): one info line `pass_written` per plan that wrote (user, pair key, commands by kind,
direction, latency from the source's commit time), a warning per lost race, refusal or issue raised with
its reason. The commit also stores, per direction written, the time as position `synced:<direction>:<user>`
(what `calbridge status` shows as the last sync each way).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bridge.core import guard_deletions, plan
from bridge.core.commands import (
    WRITES_SALESFORCE,
    Changed,
    Deleted,
    Observation,
    Plan,
    UserSwitchedOff,
    WriteFailed,
)
from bridge.core.fields import ExchangeItem, item_from_exchange
from bridge.core.issues import Issue, IssueCode, make_issue
from bridge.core.model import SCALAR_FIELDS, Attendee, Content, Copy, Directory, PairState, PairStatus, Side
from bridge.errors import ConflictError, MappingError, NotFoundError, RefusedError, TransientError
from bridge.ports import Commit, EventRecord, StoredIssue, StoredPair, StreamPosition
from bridge.runtime import records
from bridge.runtime.executor import Executed, Executor, PlanFailed, Prepared, UserContext
from bridge.runtime.invitees import resolve_attendees
from bridge.runtime.metrics import RuntimeMetrics
from bridge.store.journal import JournalEntry

log = logging.getLogger(__name__)

MAX_REPLANS = 3


@dataclass(slots=True)
class Job:
    """One observation about one pair (or unpaired copy), with what it was made from."""

    stored: StoredPair | None
    observation: Observation
    event: EventRecord | None = None
    item: ExchangeItem | None = None
    forget: tuple[str, ...] = ()  # other rows this pair replaces (waiting copies adopted together)
    source: Side | None = None  # where the change came from, for the latency metric
    committed_at: datetime | None = None


@dataclass(slots=True)
class PassResult:
    executed: list[Executed] = field(default_factory=list)
    held: int = 0
    reconcile_next: bool = False  # a create was interrupted: reconcile the window to pair it
    owned_meetings: set[str] = field(default_factory=set)  # UIDs whose event this user came to own


@dataclass(slots=True)
class PassServices:
    executor: Executor
    metrics: RuntimeMetrics
    clock: object = None
    observe: frozenset[str] = frozenset()  # users in observe mode: `bridge.runtime.observe` plans for them
    marks: dict[str, object] = field(default_factory=dict)  # user id -> observe.ObserveMark
    # Told (user id, UIDs) once a pass committed the pairs that made the user own those meetings' events.
    on_owned: Callable[[str, frozenset[str]], None] | None = None

    def now(self) -> datetime:
        if callable(self.clock):
            value = self.clock()
            assert isinstance(value, datetime)
            return value
        return datetime.now(UTC)


async def run_pass(
    services: PassServices,
    ctx: UserContext,
    jobs: Sequence[Job],
    *,
    directory: Directory,
    pair_count: int,
    confirmed: bool = False,
    positions: Sequence[StreamPosition] = (),
    intents_done: Sequence[str] = (),
    extra_issues: Sequence[Issue] = (),
    extra_pairs: Sequence[StoredPair] = (),
) -> PassResult:
    """Plan, guard, execute and commit `jobs` of one user. Raises TransientError (after committing what
    succeeded) when a service is unavailable. A user in observe mode is planned and reported instead, and
    the first pass after it asks for a window reconcile (`bridge.runtime.observe`)."""
    from bridge.runtime import observe

    mark = observe.mark_of(services, ctx)
    if ctx.observe or ctx.user_id in services.observe:
        await observe.observe_pass(
            services,
            replace(ctx, observe=True),
            jobs,
            mark=mark,
            pair_count=pair_count,
            confirmed=confirmed,
            positions=positions,
            extra_issues=extra_issues,
        )
        return PassResult()
    resumed = await mark.writes_resumed(ctx)
    positions = [*positions, *mark.positions(ctx)] if resumed else positions
    now = services.now()
    store = services.executor.store
    plans = [plan(_state(job), job.observation, ctx.policy, now) for job in jobs]
    guarded = guard_deletions(plans, pair_count, ctx.policy, confirmed)
    held = {id(p) for p in guarded.held}
    result = PassResult(held=len(guarded.held))
    commit = Commit(user_id=ctx.user_id, pairs=list(extra_pairs))
    issues = list(extra_issues)
    if guarded.issue is not None:
        issues.append(guarded.issue.issue)
    elif confirmed:
        # R-DEL-10: the confirmed pass carries out the held deletions, so the hold's issue is resolved.
        commit.issues_closed.append((IssueCode.MASS_DELETE.value, None, None))
    done_ok = False
    try:
        todo = [(job, planned) for job, planned in zip(jobs, plans, strict=True) if id(planned) not in held]
        while todo:
            together, todo = _one_per_pair(todo)
            try:
                ran = await _execute_together(services, ctx, together, directory, result, issues)
            except _Stopped as stopped:
                _record(services, ctx, commit, result, stopped.done, now)
                raise stopped.cause from None
            _record(services, ctx, commit, result, ran, now)
            todo = _after_round(ctx, todo, ran, now)
        done_ok = True
    finally:
        commit.positions = list(positions) + _synced_marks(ctx, result, now) if done_ok else []
        commit.intents_done += list(intents_done) if done_ok else []
        for issue in issues:
            commit.issues_opened.append(_stored_issue(issue, now))
            services.metrics.issue(issue.code.value)
        for stored in commit.issues_opened:
            _log_issue(stored)
        if _has_content(commit):
            await store.commit(commit)
            if result.owned_meetings and services.on_owned is not None:
                services.on_owned(ctx.user_id, frozenset(result.owned_meetings))
    services.metrics.plans(len(plans))
    if resumed:
        mark.committed(ctx)
        result.reconcile_next = True  # writes just turned on: the whole window, of which nothing was written
    return result


def _record(
    services: PassServices,
    ctx: UserContext,
    commit: Commit,
    result: PassResult,
    ran: Sequence[tuple[Job, Executed, Plan]],
    now: datetime,
) -> None:
    for job, executed, final in ran:
        result.executed.append(executed)
        _add(commit, ctx, job, executed, now)
        if _owns_meeting(executed.state) and not _owns_meeting(job.stored.state if job.stored else None):
            assert executed.state is not None and executed.state.uid is not None
            result.owned_meetings.add(executed.state.uid)
        _measure(services, ctx, job, executed, final, now)


def _owns_meeting(state: PairState | None) -> bool:
    """A synced pair that owns its meeting's event, which other users' copies may wait for (R-MULTI-1)."""
    return (
        state is not None
        and state.status is PairStatus.ACTIVE
        and state.owns_event
        and state.sf_id is not None
        and state.uid is not None
    )


async def _execute_together(
    services: PassServices,
    ctx: UserContext,
    todo: Sequence[tuple[Job, Plan]],
    directory: Directory,
    result: PassResult,
    issues: list[Issue],
) -> list[tuple[Job, Executed, Plan]]:
    """Each plan's store work first, then every plan at once: their writes reach the adapters in the same
    moment and go out batched per side and kind (issue 10), while each plan still fails alone. A failure
    that stops the pass (a service unavailable) is raised once every plan has ended, so that what the
    others did is committed."""
    executor = services.executor
    prepared = await executor.prepare(ctx, [(p, _key(job)) for job, p in todo])
    journal: list[JournalEntry] = []
    try:
        outcomes = await asyncio.gather(
            *(
                _execute(services, ctx, job, planned, directory, result, issues, ready, journal)
                for (job, planned), ready in zip(todo, prepared, strict=True)
            ),
            return_exceptions=True,
        )
    finally:
        await executor.record_journal(journal)  # the round's writes, done or failed, in one go
    done: list[tuple[Job, Executed, Plan]] = []
    failure: BaseException | None = None
    for (job, _), outcome in zip(todo, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            failure = failure or outcome
        elif outcome is not None:
            done.append((job, *outcome))
    if failure is not None:
        raise _Stopped(failure, done)
    return done


class _Stopped(Exception):
    """A pass stopped by `cause` after the plans in `done` ran (they are committed before it goes up)."""

    def __init__(self, cause: BaseException, done: list[tuple[Job, Executed, Plan]]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.done = done


def _one_per_pair(todo: Sequence[tuple[Job, Plan]]) -> tuple[list[tuple[Job, Plan]], list[tuple[Job, Plan]]]:
    """The jobs to execute together (at most one per stored pair) and those left for the next round: two
    observations of one pair in a pass (a deletion and the echo of a write, say) run one after the other."""
    now: list[tuple[Job, Plan]] = []
    later: list[tuple[Job, Plan]] = []
    keys: set[str] = set()
    for job, planned in todo:
        key = _key(job)
        if key is not None and key in keys:
            later.append((job, planned))
            continue
        if key is not None:
            keys.add(key)
        now.append((job, planned))
    return now, later


def _after_round(
    ctx: UserContext,
    later: Sequence[tuple[Job, Plan]],
    executed: Sequence[tuple[Job, Executed, Plan]],
    now: datetime,
) -> list[tuple[Job, Plan]]:
    """The jobs left, planned again from the state the round stored for their pair; a job whose pair the
    round ended for good (no state) or did not store (failed, reported) keeps its own plan."""
    states = {_key(job): ex.state for job, ex, _ in executed if _key(job) is not None}
    wrote = {_key(job): {side for side, _ in ex.writes} for job, ex, _ in executed if _key(job) is not None}
    out: list[tuple[Job, Plan]] = []
    for job, planned in later:
        key = _key(job)
        if key not in states:
            out.append((job, planned))
            continue
        state = states[key]
        if state is None or job.stored is None:
            continue  # the pair is gone: nothing is left for this observation to act on
        seen = job.observation
        if isinstance(seen, Changed) and wrote[key]:
            # A copy this job read before the round wrote its side is older than that write (which was
            # made at the version the round knew, so it met no change of the user's): planned again, it
            # would undo the write, or bring back a pair the round ended. That side is taken as written.
            sf = None if Side.SALESFORCE in wrote[key] else seen.sf
            ex = None if Side.EXCHANGE in wrote[key] else seen.ex
            if sf is None and ex is None:
                continue
            job.observation = replace(seen, sf=sf, ex=ex)
        event = job.event if job.event is not None else job.stored.event
        item = job.item if job.item is not None else job.stored.item
        job.stored = StoredPair(job.stored.user_id, state, event, item)
        out.append((job, plan(state, job.observation, ctx.policy, now)))
    return out


def _has_content(commit: Commit) -> bool:
    return bool(
        commit.pairs
        or commit.forget
        or commit.positions
        or commit.issues_opened
        or commit.issues_closed
        or commit.intents_done
    )


def _state(job: Job) -> PairState | None:
    return job.stored.state if job.stored is not None else None


def _key(job: Job) -> str | None:
    before = _state(job)
    return records.pair_key(before) if before is not None else None


async def _execute(
    services: PassServices,
    ctx: UserContext,
    job: Job,
    planned: Plan,
    directory: Directory,
    result: PassResult,
    issues: list[Issue],
    prepared: Prepared | None = None,
    journal: list[JournalEntry] | None = None,
) -> tuple[Executed, Plan] | None:
    """Execute one plan, re-planning on the failures that call for it: what ran and the plan it ran (the
    last re-plan); None when nothing is to store. `prepared` serves the first attempt only."""
    before = _state(job)
    key = _key(job)
    event, item = job.event, job.item
    gone: set[Side] = set()
    last: Exception | None = None
    made_before: Executed | None = None  # an attempt that created a record, then lost a race
    seen = job.observation  # what `planned` was made from
    for _attempt in range(MAX_REPLANS + 1):
        try:
            executed = await services.executor.execute(
                ctx,
                planned,
                key=key,
                event=event,
                item=item,
                directory=directory,
                prepared=prepared,
                journal_into=journal,
            )
            if made_before is not None:  # its create is this pair's too: its intent is done with it
                executed.intents[:0] = made_before.intents
                executed.writes[:0] = made_before.writes
                executed.created = True
            return executed, planned
        except PlanFailed as failed:
            prepared = None
            cause = last = failed.cause
            services.metrics.failure(type(cause).__name__)
            if not isinstance(cause, TransientError):
                log.warning(
                    "write_failed",
                    extra={
                        "user": ctx.user_id,
                        "pair": key,
                        "command": type(failed.command).__name__,
                        "failure": type(cause).__name__,
                        "reason": str(cause),
                    },
                )
            if not failed.done.created:
                before = _advanced(before, failed, seen)
            elif isinstance(cause, ConflictError | NotFoundError) and failed.done.state is not None:
                # The record just made is known (its id, and what was written): go on from there as after
                # any lost race or vanished copy. A reconcile would meet two copies with no common base (a
                # change made in the same second as the creation lost to the bridge's own copy), or an
                # event whose item is gone with no pair to tell it was the bridge's.
                before, made_before = failed.done.state, failed.done
            else:
                log.warning(
                    "user %s: a plan failed after it created a record (%s); reconciling", ctx.user_id, cause
                )
                result.reconcile_next = True
                return None
            event, item = failed.done.event, failed.done.item
            if isinstance(cause, ConflictError):
                reread = await _reread(services, ctx, before, job, directory)
                if reread is None:
                    return None
                observation, before, directory = reread
                if isinstance(job.observation, UserSwitchedOff) and isinstance(observation, Changed):
                    # R-DEL-6 is the admin's decision: a lost race moves the versions it writes on, never
                    # turns it into an ordinary sync of a user who is switched off.
                    for copy in (observation.sf, observation.ex):
                        before = _survivor_seen(before, copy)
                    observation = job.observation
            elif isinstance(cause, NotFoundError):
                if cause.side in gone:
                    break  # the plan for the gone copy still writes it: a re-plan would repeat itself
                gone.add(cause.side)
                observation = Deleted(cause.side)
                if len(gone) == len(Side):
                    # Both copies are gone (a shared pair whose event went with its owner): each Deleted
                    # would touch the other missing copy; nothing is left to sync, so the row goes.
                    planned = Plan((), None)
                    continue
            elif isinstance(cause, RefusedError):
                if before is None:
                    issues.append(_refused_issue(ctx, job, cause))
                    return None
                observation = WriteFailed(cause.side, str(cause))
            else:
                raise cause from failed
            planned, seen = plan(before, observation, ctx.policy, services.now()), observation
    if isinstance(last, ConflictError):
        # Lost races only: the copies kept changing under the writes; the window reconcile reads them anew.
        log.warning("user %s: gave up re-planning pair %s", ctx.user_id, key)
        result.reconcile_next = True
        return None
    # A permanent failure (a refusal, a copy gone whose plan still writes it): re-planning or reconciling
    # would make the same failing writes again, forever. The pair keeps its stored state and the failure
    # is reported (R-LIM-1); its next real change is planned afresh.
    log.warning("user %s: gave up re-planning pair %s; reported", ctx.user_id, key)
    assert isinstance(last, RefusedError | NotFoundError)
    issues.append(_stuck_issue(ctx, before, job, last))
    return None


def _advanced(before: PairState | None, failed: PlanFailed, seen: Observation) -> PairState | None:
    """The state to plan again from after `failed`, a plan made from `seen` that stopped part way. The sides
    whose writes all succeeded move to what they wrote, but for what the failed write was to carry across
    (`_still_to_carry`); when one did, the side whose write failed moves to the copy of it the plan read
    (`_read_as_base`). The re-plan then finds, as changes, the person's edits made since that copy on the
    failed side, and the written side's edits that have not reached the failed side yet."""
    planned = failed.done.state
    if before is None or planned is None:
        return before
    failed_side = Side.SALESFORCE if isinstance(failed.command, WRITES_SALESFORCE) else Side.EXCHANGE
    wrote = {s for s, _ in failed.done.writes}
    read = _copy_read(before, failed_side, seen)
    state = before
    for side in wrote - {failed_side}:
        record_id, version, base = planned.id_of(side), planned.version_of(side), planned.base_of(side)
        if record_id is None:
            continue
        kept = _still_to_carry(before, planned, side, read)
        if kept is not None:
            base, version = kept, None  # a base that differs from the record tracks no version
        else:
            state = replace(state, masked=planned.masked)  # R-PRIV-1: the written side shows the mask or not
        if side is Side.SALESFORCE:
            state = replace(state, sf_id=record_id, base_sf=base, sf_version=version)
        else:
            state = replace(state, ex_id=record_id, base_ex=base, ex_version=version)
    if state is not before and failed_side not in wrote:
        state = _read_as_base(state, failed_side, seen)
    if state.base_ex is not before.base_ex:
        # R-ATT-8: the addresses of the item's base that resolved to no one, as the plan found them.
        state = replace(state, unresolved=planned.unresolved)
    return state


def _copy_read(state: PairState, side: Side, seen: Observation) -> Content | None:
    """The content of `side` the plan made from `seen` worked with: the copy read, or the base standing in
    for a side not read (`bridge.core.plan`)."""
    copy = (seen.sf if side is Side.SALESFORCE else seen.ex) if isinstance(seen, Changed) else None
    if copy is not None:
        return copy.content if copy.id == state.id_of(side) else None
    held = state.held_of(side)
    return held.content if held is not None else state.base_of(side)


def _still_to_carry(
    before: PairState, planned: PairState, side: Side, read: Content | None
) -> Content | None:
    """The base of `side`, written, when the failed write to the other side was to carry some of `side`'s
    edits there (R-MERGE-1, R-ATT-1): `side`'s planned base with those fields and attendees as they were in
    its old base, so that they still count as `side`'s changes and are carried by the re-plan (the planned
    base would take them as in step, and they would never reach the other side). None when nothing was to
    be carried, or the plan was no merge of an active pair."""
    old, written, meant = before.base_of(side), planned.base_of(side), planned.base_of(side.other)
    if old is None or written is None or meant is None or read is None:
        return None
    if planned.status is not PairStatus.ACTIVE or not planned.owns_event:
        return None
    fields = {
        name: getattr(old, name) for name in SCALAR_FIELDS if getattr(meant, name) != getattr(read, name)
    }
    to, had, was = _by_email(meant), _by_email(read), _by_email(old)
    carried = {email for email in to.keys() | had.keys() if to.get(email) != had.get(email)}
    if not fields and not carried:
        return None
    attendees = {a.email: a for a in written.attendees if a.email not in carried}
    attendees |= {email: was[email] for email in carried if email in was}
    kept = tuple(attendees[email] for email in sorted(attendees))
    return replace(written, attendees=kept, **fields)


def _by_email(content: Content) -> dict[str, Attendee]:
    return {a.email: a for a in content.attendees}


def _read_as_base(state: PairState, side: Side, seen: Observation) -> PairState:
    """`state` with `side`'s base the copy of it the failed plan read, at that copy's version. The other side
    now holds what the plan merged from that copy (R-ATT-3, R-MERGE-1), so the copy is what both sides last
    agreed on; the old base would hide a later change that undoes it (an attendee added, then removed while
    the write-back was under way: R-ATT-4), as the re-read copy would equal it. A copy the plan did not read
    (that side stood in as its base), of another record, or on a side that tracks no base leaves it as is."""
    copy = (seen.sf if side is Side.SALESFORCE else seen.ex) if isinstance(seen, Changed) else None
    if copy is None or copy.id != state.id_of(side) or state.base_of(side) is None:
        return state
    if side is Side.SALESFORCE:
        return replace(state, base_sf=copy.content, sf_version=copy.version or None)
    return replace(state, base_ex=copy.content, ex_version=copy.version or None)


async def _reread(
    services: PassServices, ctx: UserContext, state: PairState | None, job: Job, directory: Directory
) -> tuple[Observation, PairState | None, Directory] | None:
    """Both copies read again after a lost race (R-MERGE-5): the observation to plan, with the state to
    plan it from and the pass's directory with the attendees the re-read item brought (R-ATT-8: the race
    may have been an attendee added; the pass resolved only the addresses it read at its start). When one
    copy is gone, the survivor is still read and the state takes its version: a `Deleted` carries no copy,
    so its plan writes the survivor on the state's version, and a survivor changed since (the race just
    lost) would make every re-plan lose it again."""
    executor = services.executor
    seen = job.observation
    sf_id = (
        state.sf_id if state is not None else (seen.sf.id if isinstance(seen, Changed) and seen.sf else None)
    )
    ex_id = (
        state.ex_id if state is not None else (seen.ex.id if isinstance(seen, Changed) and seen.ex else None)
    )
    sf: Copy | None = None
    ex: Copy | None = None
    gone: Side | None = None
    event: EventRecord | None = None
    if sf_id:
        found = await executor.salesforce.read_events([sf_id])
        if sf_id in found:
            event = found[sf_id]
            sf = records.event_copy(event)
        else:
            gone = Side.SALESFORCE
    if ex_id:
        items = await executor.exchange.read_items(ctx.mailbox, [ex_id])
        if ex_id in items:
            ex = item_from_exchange(items[ex_id], ctx.policy)
        elif gone is None:
            gone = Side.EXCHANGE
    if gone is not None:
        survivor = ex if gone is Side.SALESFORCE else sf
        return Deleted(gone), _survivor_seen(state, survivor), directory
    if sf is None and ex is None:
        return None
    if ex is not None:
        directory = await resolve_attendees(executor.salesforce, [ex], [event], known=directory)
    meeting = seen.meeting if isinstance(seen, Changed) else None
    return Changed(sf=sf, ex=ex, directory=directory, meeting=meeting), state, directory


def _survivor_seen(state: PairState | None, survivor: Copy | None) -> PairState | None:
    """`state` with the surviving copy's version as read, where the state tracks one (a side without a
    base writes unconditionally). Only the version moves: the base stays what both sides last agreed on."""
    if state is None or survivor is None or state.version_of(survivor.side) is None:
        return state
    if survivor.side is Side.SALESFORCE:
        return replace(state, sf_version=survivor.version)
    return replace(state, ex_version=survivor.version)


def _stuck_issue(
    ctx: UserContext, state: PairState | None, job: Job, cause: RefusedError | NotFoundError
) -> Issue:
    """The issue of a pair whose writes keep failing the same way, against both its copies."""
    code = IssueCode.SF_VALIDATION if cause.side is Side.SALESFORCE else IssueCode.EXCHANGE_REFUSED
    if state is None:
        return _refused_issue(ctx, job, cause)
    return make_issue(code, ctx.user_id, state.sf_id, state.ex_id, f"The write kept failing: {cause}")


def _refused_issue(ctx: UserContext, job: Job, cause: RefusedError | NotFoundError) -> Issue:
    code = IssueCode.SF_VALIDATION if cause.side is Side.SALESFORCE else IssueCode.EXCHANGE_REFUSED
    seen = job.observation
    sf_id = seen.sf.id if isinstance(seen, Changed) and seen.sf is not None else None
    ex_id = seen.ex.id if isinstance(seen, Changed) and seen.ex is not None else None
    return make_issue(code, ctx.user_id, sf_id, ex_id, str(cause))


def mapping_issue(ctx: UserContext, side: Side, record_id: str, error: Exception) -> Issue:
    """A record that cannot be read into the model: reported against it; everything else goes on."""
    code = IssueCode.SF_VALIDATION if side is Side.SALESFORCE else IssueCode.EXCHANGE_REFUSED
    sf_id, ex_id = (record_id, None) if side is Side.SALESFORCE else (None, record_id)
    detail = f"The {side} record could not be read: {error}"
    return Issue(code=code, user_id=ctx.user_id, sf_id=sf_id, ex_id=ex_id, message=detail)


def _add(commit: Commit, ctx: UserContext, job: Job, executed: Executed, now: datetime) -> None:
    old_keys = set(job.forget)
    if job.stored is not None:
        old_keys.add(records.pair_key(job.stored.state))
    state = executed.state
    if state is None:
        commit.forget += sorted(old_keys)
    else:
        key = records.pair_key(state)
        event = executed.event if state.sf_id is not None else None
        item = executed.item if state.ex_id is not None else None
        if event is not None and state.sf_id is not None and event.id != state.sf_id:
            event = None
        if item is not None and state.ex_id is not None and item.item_id != state.ex_id:
            item = None
        commit.pairs.append(StoredPair(ctx.user_id, state, event, item))
        commit.forget += sorted(old_keys - {key})
    for issue in executed.opened:
        commit.issues_opened.append(_stored_issue(issue, now))
    for code, sf_id, ex_id in executed.closed:
        commit.issues_closed.append((code.value, sf_id, ex_id))
    commit.intents_done += executed.intents


def _stored_issue(issue: Issue, now: datetime) -> StoredIssue:
    return StoredIssue(issue.user_id, issue.code.value, issue.sf_id, issue.ex_id, issue.message, now, now)


def _direction(side: Side) -> str:
    """The direction of a write made on `side`."""
    return "to_salesforce" if side is Side.SALESFORCE else "to_exchange"


def _measure(
    services: PassServices, ctx: UserContext, job: Job, executed: Executed, planned: Plan, now: datetime
) -> None:
    """Count the writes, time the propagation from the source's commit, and log the plan that wrote."""
    sides = {s for s, _ in executed.writes}
    if not sides:
        return
    for side in sides:
        services.metrics.writes(side.value, sum(1 for s, _ in executed.writes if s is side))
    latency: float | None = None
    if job.source is not None and job.committed_at is not None and job.source.other in sides:
        latency = max(0.0, (datetime.now(UTC) - job.committed_at).total_seconds())
        services.metrics.latency(_direction(job.source.other), latency)
    state = executed.state
    kinds = Counter(type(c).__name__ for c in planned.writes)
    log.info(
        "pass_written",
        extra={
            "user": ctx.user_id,
            "pair": executed.key or (records.pair_key(state) if state is not None else None),
            "commands": dict(sorted(kinds.items())),
            # A change crossing over also writes its pairing fields back to its source (R-PAIR-1): the
            # direction is where the change went; "both" only for a reconcile that wrote both sides.
            "direction": _direction(job.source.other)
            if job.source is not None and job.source.other in sides
            else ("both" if len(sides) > 1 else _direction(next(iter(sides)))),
            "source": job.source.value if job.source is not None else "reconcile",
            "latency_s": round(latency, 3) if latency is not None else None,
            "salesforce_id": state.sf_id if state is not None else None,
            "exchange_id": state.ex_id if state is not None else None,
        },
    )


def _synced_marks(ctx: UserContext, result: PassResult, now: datetime) -> list[StreamPosition]:
    """`synced:<direction>:<user>` = now, for each direction this pass wrote (calbridge status)."""
    sides = {side for executed in result.executed for side, _ in executed.writes}
    return [StreamPosition(f"synced:{_direction(side)}:{ctx.user_id}", now.isoformat()) for side in sides]


def _log_issue(issue: StoredIssue) -> None:
    """Issues are what an admin acts on (R-LIM-1): E- and W- as warnings, I- as info."""
    level = logging.INFO if issue.code.startswith("I-") else logging.WARNING
    log.log(
        level,
        "issue_raised",
        extra={
            "user": issue.user_id,
            "code": issue.code,
            "salesforce_id": issue.sf_id,
            "exchange_id": issue.ex_id,
            "reason": issue.message,
        },
    )


def copy_of_item(ctx: UserContext, item: ExchangeItem) -> Copy:
    try:
        return item_from_exchange(item, ctx.policy)
    except (ValueError, TypeError, KeyError) as error:
        raise MappingError(f"item {item.item_id}: {error}") from error


def copy_of_event(record: EventRecord) -> Copy:
    try:
        return records.event_copy(record)
    except (ValueError, TypeError, KeyError) as error:
        raise MappingError(f"event {record.fields.get('Id')}: {error}") from error


def live(pair: StoredPair) -> bool:
    """A pair that claims its copies (a waiting row does not: its copy is still unpaired)."""
    return pair.state.status is not PairStatus.WAITING
