"""``calendarView/delta``: rounds of changes to the events inside a fixed window, as opaque tokens.

A round compares what is in the window now with what the previous round reported (kept server-side under
the ``$deltatoken``): new or changed events come whole, events gone (deleted, declined, moved out of the
window) come as ``{"id", "@removed": {"reason": "deleted"}}``. The first request of a round fixes its pages
(``$skiptoken``); the last page carries the next ``@odata.deltaLink``. Tokens are kept for the last rounds
only, as Exchange keeps a few sync state generations: an evicted or invalidated token answers 410
``SyncStateNotFound``; a ``resync`` fault answers 410 with a ``Location`` to start over at.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..exchange.model import CalendarItem
from ..exchange.store import Store
from .errors import GraphError

MAX_STATES = 20_000


@dataclass
class DeltaState:
    mailbox: str
    start: datetime
    end: datetime
    known: dict[str, str]  # EWS item id -> change key last reported
    generation: int = 0


@dataclass
class PendingRound:
    """A round being paged: the entries to report and the state it leads to."""

    mailbox: str
    start: datetime
    end: datetime
    changed: list[str]  # EWS ids to report whole (rendered when their page is served)
    removed: list[str]  # EWS ids to report as @removed
    next_known: dict[str, str]
    generation: int = 0

    @property
    def total(self) -> int:
        return len(self.changed) + len(self.removed)


@dataclass
class DeltaBook:
    states: OrderedDict[str, DeltaState] = field(default_factory=OrderedDict)
    rounds: OrderedDict[str, tuple[PendingRound, int]] = field(default_factory=OrderedDict)
    generation: dict[str, int] = field(default_factory=dict)  # mailbox -> bumped to invalidate its tokens
    resync: dict[str, int] = field(default_factory=dict)  # mailbox -> how many 410 + Location to answer
    refused: dict[str, int] = field(default_factory=dict)  # mailbox -> 410s answered (tests, admin state)

    def _gen(self, mailbox: str) -> int:
        return self.generation.get(mailbox.lower(), 0)

    def invalidate(self, mailbox: str | None) -> int:
        boxes = {s.mailbox.lower() for s in self.states.values()} | {
            r.mailbox.lower() for r, _ in self.rounds.values()
        }
        if mailbox is not None:
            boxes = {mailbox.lower()}
        for box in boxes:
            self.generation[box] = self._gen(box) + 1
        return len(boxes)

    @staticmethod
    def in_window(item: CalendarItem, start: datetime, end: datetime) -> bool:
        if item.start is None or item.end is None:
            return False
        if item.start == item.end:
            return start <= item.start < end
        return item.start < end and item.end > start

    def begin(
        self,
        expand: Callable[[list[CalendarItem], datetime, datetime], list[CalendarItem]],
        store: Store,
        mailbox: str,
        window: tuple[datetime, datetime] | None,
        token: str | None,
        restart: Callable[[datetime, datetime], str],
    ) -> PendingRound:
        """Start a round: over ``window`` from nothing, or from a ``$deltatoken`` (its own window)."""
        known: dict[str, str] = {}
        if token is not None:
            state = self.states.get(token)
            if (
                state is None
                or state.mailbox.lower() != mailbox.lower()
                or state.generation != self._gen(mailbox)
            ):
                raise self._not_found(mailbox)
            self._check_resync(mailbox, restart(state.start, state.end))
            self.states.move_to_end(token)
            start, end, known = state.start, state.end, state.known
        else:
            assert window is not None
            start, end = window
        box = store.mailbox(mailbox)
        assert box is not None
        visible = {i.item_id: i for i in expand(list(box.folder("calendar").items.values()), start, end)}
        current = {item_id: item.change_key for item_id, item in visible.items()}
        changed = [i for i, ck in current.items() if known.get(i) != ck]
        changed.sort(key=lambda i: (visible[i].start or start, i))
        removed = [i for i in known if i not in current]
        return PendingRound(mailbox, start, end, changed, removed, current, generation=self._gen(mailbox))

    def park(self, pending: PendingRound, offset: int) -> str:
        """A ``$skiptoken`` for the page of ``pending`` from ``offset`` (a page may be fetched again)."""
        token = secrets.token_urlsafe(24)
        self.rounds[token] = (pending, offset)
        self._trim(self.rounds)
        return token

    def resume(
        self, mailbox: str, token: str, restart: Callable[[datetime, datetime], str]
    ) -> tuple[PendingRound, int]:
        found = self.rounds.get(token)
        if (
            found is None
            or found[0].mailbox.lower() != mailbox.lower()
            or found[0].generation != self._gen(mailbox)
        ):
            raise self._not_found(mailbox)
        self._check_resync(mailbox, restart(found[0].start, found[0].end))
        return found

    def finish(self, pending: PendingRound) -> str:
        token = secrets.token_urlsafe(24)
        self.states[token] = DeltaState(
            pending.mailbox, pending.start, pending.end, pending.next_known, pending.generation
        )
        self._trim(self.states)
        return token

    def _check_resync(self, mailbox: str, location: str) -> None:
        if self.resync.get(mailbox.lower(), 0) > 0:
            self.resync[mailbox.lower()] -= 1
            self._count_refusal(mailbox)
            raise GraphError(
                410,
                "resyncRequired",
                "Resync required. Replace any local items with the server's.",
                {"Location": location},
            )

    def _count_refusal(self, mailbox: str) -> None:
        self.refused[mailbox.lower()] = self.refused.get(mailbox.lower(), 0) + 1

    def _not_found(self, mailbox: str) -> GraphError:
        self._count_refusal(mailbox)
        return GraphError(410, "SyncStateNotFound", "The sync state generation is not found.")

    @staticmethod
    def _trim(table: OrderedDict[str, Any]) -> None:
        while len(table) > MAX_STATES:
            table.popitem(last=False)

    # ---- persistence -------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "states": [
                {
                    "token": token,
                    "mailbox": s.mailbox,
                    "start": s.start.isoformat(),
                    "end": s.end.isoformat(),
                    "known": s.known,
                    "generation": s.generation,
                }
                for token, s in self.states.items()
            ],
            "generation": self.generation,
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.generation.update(data.get("generation", {}))
        for entry in data.get("states", []):
            self.states[entry["token"]] = DeltaState(
                entry["mailbox"],
                datetime.fromisoformat(entry["start"]),
                datetime.fromisoformat(entry["end"]),
                dict(entry["known"]),
                int(entry.get("generation", 0)),
            )
