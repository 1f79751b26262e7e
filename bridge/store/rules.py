"""What every store agrees on, so the SQL store and the memory store behave alike to the letter:
the checks a commit passes before anything is written, the orders answers come in, and which pair a
record id finds when several pairs name it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TypeVar

from bridge.core.model import PairStatus
from bridge.ports import Commit, Intent, StoredIssue, StoredPair, StreamPosition

Clock = Callable[[], datetime]
T = TypeVar("T")


def system_clock() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC. Both stores hand back times in this form."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def pair_key(pair: StoredPair) -> str:
    return pair.state.key


def pair_id(pair: StoredPair) -> tuple[str, str]:
    """What names a stored pair: its user and its key (a key is unique among one user's pairs only)."""
    return (pair.user_id, pair.state.key)


def _text(what: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {value!r}")
    if "\x00" in value:
        raise ValueError(f"{what} holds a NUL character, which no database keeps: {value!r}")


def _time(what: str, value: object) -> None:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {value!r}")


def check_commit(commit: Commit) -> None:
    """Raise TypeError or ValueError, before anything is written, for a commit no store could keep."""
    _text("Commit.user_id", commit.user_id)
    for pair in commit.pairs:
        if not isinstance(pair, StoredPair):
            raise TypeError(f"Commit.pairs holds {pair!r}, not a StoredPair")
        _text("StoredPair.user_id", pair.user_id)
        _text("PairState.key", pair_key(pair))
        _text("PairState.sf_id", pair.state.sf_id, optional=True)
        _text("PairState.ex_id", pair.state.ex_id, optional=True)
        _text("PairState.uid", pair.state.uid, optional=True)
    for key in commit.forget:
        _text("Commit.forget", key)
    for position in commit.positions:
        check_position(position)
    for issue in commit.issues_opened:
        check_issue(issue)
    for code, sf_id, ex_id in commit.issues_closed:
        _text("closed issue code", code)
        _text("closed issue sf_id", sf_id, optional=True)
        _text("closed issue ex_id", ex_id, optional=True)
    for token in commit.intents_done:
        _text("Commit.intents_done", token)
    for stored in commit.series:
        _text("StoredSeries.user_id", stored.user_id)
        _text("SeriesState.key", stored.state.key)
    for key in commit.forget_series:
        _text("Commit.forget_series", key)


def check_position(position: StreamPosition) -> None:
    _text("StreamPosition.stream", position.stream)
    _text("StreamPosition.value", position.value)


def check_issue(issue: StoredIssue) -> None:
    _text("StoredIssue.user_id", issue.user_id)
    _text("StoredIssue.code", issue.code)
    _text("StoredIssue.sf_id", issue.sf_id, optional=True)
    _text("StoredIssue.ex_id", issue.ex_id, optional=True)
    _text("StoredIssue.message", issue.message)
    _time("StoredIssue.first_seen", issue.first_seen)
    _time("StoredIssue.last_seen", issue.last_seen)


def check_intent(intent: Intent) -> None:
    for name in ("user_id", "pair_key", "description", "token"):
        _text(f"Intent.{name}", getattr(intent, name))
    _text("Intent.side", str(intent.side))


def last_by(items: Iterable[T], key: Callable[[T], object]) -> list[T]:
    """One item per key, the last given winning, in the order the keys first appeared."""
    found: dict[object, T] = {}
    for item in items:
        found[key(item)] = item
    return list(found.values())


# ------------------------------------------------------------------------------------------- orders


def by_record_preference(pair: StoredPair) -> tuple[bool, bool, str, str]:
    """Which of several pairs naming one record id `pair_by_record` returns: a live pair before a
    tombstone, the pair that owns the Salesforce event (R-MULTI) before one that shares it, then by user
    and key."""
    return (pair.state.status is PairStatus.ENDED, not pair.state.owns_event, pair.user_id, pair_key(pair))


def by_uid_order(pair: StoredPair) -> tuple[str, str]:
    return (pair.user_id, pair_key(pair))


def issue_cause(user_id: str, code: str, sf_id: str | None, ex_id: str | None) -> tuple[str, str, str, str]:
    """What makes two issues the same issue; a missing id is "" (as the SQL store keeps it)."""
    return (user_id, code, sf_id or "", ex_id or "")
