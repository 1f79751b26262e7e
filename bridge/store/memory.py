"""`MemoryStore`: the `Store` contract in dicts, for property tests and the in-memory runtime.

It behaves as the SQL store does, to the order of its answers: the same checks refuse the same commits
before anything changes (`bridge.store.rules`), a commit applies to copies and swaps them in only when
every step succeeded, and every pair passes through the JSON codecs on the way in, so a value the SQL
store could not keep fails here too. Nothing survives the process; `snapshot()`/`MemoryStore(snapshot)`
stand in for closing and re-opening a store in tests of crashes.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bridge.core.model import PairStatus, Side
from bridge.core.serial import state_to_dict
from bridge.core.series_serial import series_from_dict, series_to_dict
from bridge.ports import Commit, Intent, StoredIssue, StoredPair, StoredSeries
from bridge.store import rules
from bridge.store.codec import dumps, event_to_dict, item_to_dict, loads


@dataclass(slots=True)
class _Issue:
    id: int
    issue: StoredIssue


@dataclass(slots=True)
class MemoryState:
    """Everything a `MemoryStore` holds; what a re-opened store starts from."""

    pairs: dict[tuple[str, str], StoredPair] = field(default_factory=dict)
    positions: dict[str, str] = field(default_factory=dict)
    series: dict[tuple[str, str], StoredSeries] = field(default_factory=dict)
    intents: dict[str, tuple[datetime, Intent]] = field(default_factory=dict)
    issues: list[_Issue] = field(default_factory=list)
    next_issue: int = 1
    journal: Any = None  # bridge.store.journal.MemoryJournal, made by journal_of
    meeting_claims: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # UID -> holder, expiry


class MemoryStore:
    def __init__(self, state: MemoryState | None = None, *, now: rules.Clock = rules.system_clock) -> None:
        self._state = state if state is not None else MemoryState()
        self._now = now
        self.closed = False

    def snapshot(self) -> MemoryState:
        """A copy of what is stored, as a crash would leave it."""
        return copy.deepcopy(self._state)

    async def migrate(self) -> None:
        return None

    # --------------------------------------------------------------------------------------- pairs

    async def pairs_of(self, user_id: str) -> list[StoredPair]:
        found = [pair for pair in self._state.pairs.values() if pair.user_id == user_id]
        return sorted(found, key=rules.pair_key)

    async def claimed_item_ids(self, user_id: str) -> set[str]:
        return {
            ex_id
            for pair in self._state.pairs.values()
            if pair.user_id == user_id
            and pair.state.status is not PairStatus.WAITING
            and (ex_id := pair.state.ex_id)
        }

    async def pair_by_record(self, side: Side, record_id: str) -> StoredPair | None:
        found = [pair for pair in self._state.pairs.values() if pair.state.id_of(side) == record_id]
        return min(found, key=rules.by_record_preference, default=None)

    async def pairs_by_uid(self, uid: str) -> list[StoredPair]:
        return (await self.pairs_by_uids([uid])).get(uid, [])

    async def pairs_by_uids(self, uids: Collection[str]) -> dict[str, list[StoredPair]]:
        wanted = set(uids)
        found: dict[str, list[StoredPair]] = {}
        for pair in sorted(self._state.pairs.values(), key=rules.by_uid_order):
            if pair.state.uid in wanted:
                found.setdefault(pair.state.uid, []).append(pair)
        return found

    async def series_of(self, user_id: str) -> list[StoredSeries]:
        return [s for (user, _), s in sorted(self._state.series.items()) if user == user_id]

    async def series_by_record(self, side: Side, record_id: str) -> StoredSeries | None:
        found = (s for _, s in sorted(self._state.series.items()) if s.state.holds(side, record_id))
        return next(found, None)

    # ----------------------------------------------------------------------------------- positions

    async def position(self, stream: str) -> str | None:
        return self._state.positions.get(stream)

    async def positions(self, prefix: str) -> dict[str, str]:
        return {
            stream: value
            for stream, value in sorted(self._state.positions.items())
            if stream.startswith(prefix)
        }

    # ------------------------------------------------------------------------------------- intents

    async def record_intent(self, intent: Intent) -> None:
        rules.check_intent(intent)
        known = self._state.intents.get(intent.token)
        created = known[0] if known else rules.utc(self._now())
        self._state.intents[intent.token] = (created, intent)

    async def record_intents(self, many: Sequence[Intent]) -> None:
        for intent in many:
            await self.record_intent(intent)

    async def pending_intents(self, user_id: str | None = None) -> list[Intent]:
        rows = sorted(self._state.intents.values(), key=lambda row: (row[0], row[1].token))
        return [intent for _, intent in rows if user_id is None or intent.user_id == user_id]

    # -------------------------------------------------------------------------------------- commit

    async def commit(self, commit: Commit) -> None:
        rules.check_commit(commit)
        for pair in commit.pairs:  # what the SQL store would fail to encode fails here too
            dumps(state_to_dict(pair.state))
            if pair.event is not None:
                dumps(event_to_dict(pair.event))
            if pair.item is not None:
                dumps(item_to_dict(pair.item))
        # The SQL store keeps a series as JSON text: what it reads back is what this one keeps.
        kept = [
            StoredSeries(s.user_id, series_from_dict(loads(dumps(series_to_dict(s.state)))))
            for s in commit.series
        ]
        now = rules.utc(self._now())
        state = copy.copy(self._state)
        state.pairs = dict(state.pairs)
        state.positions = dict(state.positions)
        state.intents = dict(state.intents)
        state.issues = list(state.issues)

        for pair in commit.pairs:
            state.pairs[rules.pair_id(pair)] = pair
        for key in commit.forget:
            state.pairs.pop((commit.user_id, key), None)
        state.series = dict(state.series)
        for stored in kept:
            state.series[(stored.user_id, stored.state.key)] = stored
        for key in commit.forget_series:
            state.series.pop((commit.user_id, key), None)
        for position in commit.positions:
            state.positions[position.stream] = position.value
        for issue in commit.issues_opened:
            self._open_issue(state, issue)
        for code, sf_id, ex_id in commit.issues_closed:
            cause = rules.issue_cause(commit.user_id, code, sf_id, ex_id)
            for index, row in enumerate(state.issues):
                if row.issue.closed_at is None and _cause(row.issue) == cause:
                    state.issues[index] = _Issue(row.id, replace(row.issue, closed_at=now))
        for token in commit.intents_done:
            state.intents.pop(token, None)
        self._state = state

    @staticmethod
    def _open_issue(state: MemoryState, issue: StoredIssue) -> None:
        cause = _cause(issue)
        for index, row in enumerate(state.issues):
            if row.issue.closed_at is None and _cause(row.issue) == cause:
                updated = replace(row.issue, last_seen=rules.utc(issue.last_seen), message=issue.message)
                state.issues[index] = _Issue(row.id, updated)
                return
        opened = replace(
            issue,
            sf_id=issue.sf_id or None,
            ex_id=issue.ex_id or None,
            first_seen=rules.utc(issue.first_seen),
            last_seen=rules.utc(issue.last_seen),
            closed_at=None,
        )
        state.issues.append(_Issue(state.next_issue, opened))
        state.next_issue += 1

    # -------------------------------------------------------------------------------------- issues

    async def issues(self, user_id: str | None = None, *, open_only: bool = True) -> list[StoredIssue]:
        rows = sorted(self._state.issues, key=lambda row: (row.issue.first_seen, row.id))
        return [
            row.issue
            for row in rows
            if (user_id is None or row.issue.user_id == user_id)
            and (not open_only or row.issue.closed_at is None)
        ]

    # ------------------------------------------------------------------------------ meeting claims

    async def claim_meetings(self, holder: str, uids: Collection[str], ttl: timedelta) -> set[str]:
        now = rules.utc(self._now())
        claims = self._state.meeting_claims
        theirs = {u for u in uids if (c := claims.get(u)) is not None and c[0] != holder and c[1] > now}
        if not theirs:
            claims.update({u: (holder, now + ttl) for u in uids})
        return theirs

    async def release_meetings(self, holder: str, uids: Collection[str] | None = None) -> None:
        claims = self._state.meeting_claims
        for uid in list(claims) if uids is None else uids:
            if (c := claims.get(uid)) is not None and c[0] == holder:
                del claims[uid]

    async def close(self) -> None:
        self.closed = True


def _cause(issue: StoredIssue) -> tuple[str, str, str, str]:
    return rules.issue_cause(issue.user_id, issue.code, issue.sf_id, issue.ex_id)
