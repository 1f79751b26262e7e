"""Low watermarks: per stream, the position up to which every notice is committed.

Notices of one Salesforce stream go to many actors, which finish out of order. The stored replay id must
never pass a notice whose plans are not committed yet (R-TIME-2), so each stream keeps its notices in
arrival order and advances past a notice only once it and every earlier one are done. A crash replays from
the low watermark; replays plan nothing (R-MERGE-4).

A `Ticket` is shared by every actor one notice went to, and is done when the last of them releases it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bridge.ports import StreamPosition


@dataclass(eq=False, slots=True)
class Ticket:
    """One notice in flight."""

    stream: Watermark
    position: str
    holders: int = 1
    done: bool = False

    def hold(self) -> Ticket:
        """One more actor works on this notice."""
        self.holders += 1
        return self

    def release(self) -> None:
        self.holders -= 1
        if self.holders <= 0 and not self.done:
            self.done = True
            self.stream._advance()


@dataclass(slots=True)
class Watermark:
    """The low watermark of one stream."""

    stream: str
    low: str | None = None  # the position every notice up to which is committed
    _flight: deque[Ticket] = field(default_factory=deque)
    _written: str | None = None

    def __post_init__(self) -> None:
        self._written = self.low

    def begin(self, position: str) -> Ticket:
        """A notice arrived at `position` (in stream order). Release the ticket once it is committed."""
        ticket = Ticket(self, position, holders=1)
        self._flight.append(ticket)
        return ticket

    def _advance(self) -> None:
        while self._flight and self._flight[0].done:
            self.low = self._flight.popleft().position

    @property
    def in_flight(self) -> int:
        return len(self._flight)

    def take(self) -> StreamPosition | None:
        """The low watermark if it moved since last taken (to store), else None."""
        if self.low is None or self.low == self._written:
            return None
        self._written = self.low
        return StreamPosition(self.stream, self.low)

    def untake(self, position: StreamPosition) -> None:
        """The store did not keep `position`: offer it again next time."""
        if self._written == position.value:
            self._written = None


class Watermarks:
    """Every stream's watermark, created on the first notice."""

    def __init__(self, stored: dict[str, str] | None = None) -> None:
        self._streams: dict[str, Watermark] = {k: Watermark(k, v) for k, v in (stored or {}).items()}

    def begin(self, position: StreamPosition) -> Ticket:
        mark = self._streams.get(position.stream)
        if mark is None:
            mark = self._streams[position.stream] = Watermark(position.stream)
        return mark.begin(position.value)

    def take(self) -> list[StreamPosition]:
        return [p for m in self._streams.values() if (p := m.take()) is not None]

    def untake(self, positions: list[StreamPosition]) -> None:
        for position in positions:
            self._streams[position.stream].untake(position)

    def in_flight(self) -> int:
        return sum(m.in_flight for m in self._streams.values())
