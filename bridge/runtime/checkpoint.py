"""The resumable checkpoint of `calbridge backfill` (issue 10), kept in the store beside the stream positions.

A backfill of thousands of users takes minutes; one stopped half-way (Ctrl-C, a crash, a lost connection)
starts again where it stopped instead of from the first user. Positions:

- `backfill:run` = `<started>` while a run is unfinished, `done:<started>` once every user was reconciled;
- `backfill:user:<user id>` = `<started>` of the run that finished that user.

A run that finds an unfinished one resumes it: the users already marked with its start are skipped. A
finished run (or `--restart`) starts a new one. Marks are stored a few at a time (`flush`), so a stop loses
at most the users finished since the last flush; reconciling a user again is harmless, only slower (every
write is conditional and pairing is idempotent, R-PAIR-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bridge.ports import Commit, Store, StreamPosition

RUN = "backfill:run"
USER = "backfill:user:"
DONE = "done:"


class Checkpoint:
    """Which users of the current backfill run are done, stored as they finish."""

    def __init__(self, store: Store, started: str, done: set[str]) -> None:
        self.store = store
        self.started = started
        self.done = done
        self._unstored: list[str] = []

    @classmethod
    async def open(cls, store: Store, *, restart: bool = False) -> Checkpoint:
        """The unfinished run to resume, or a new one (none unfinished, or `restart`)."""
        run = await store.position(RUN)
        if run and not run.startswith(DONE) and not restart:
            marks = await store.positions(USER)
            done = {key.removeprefix(USER) for key, value in marks.items() if value == run}
            return cls(store, run, done)
        started = datetime.now(UTC).isoformat()
        await store.commit(Commit(user_id="", positions=[StreamPosition(RUN, started)]))
        return cls(store, started, set())

    @property
    def resumed(self) -> bool:
        return bool(self.done)

    def left(self, user_ids: Sequence[str]) -> list[str]:
        """The users this run has still to reconcile, in the given order."""
        return [u for u in user_ids if u not in self.done]

    def finished(self, user_id: str) -> None:
        self.done.add(user_id)
        self._unstored.append(user_id)

    async def flush(self) -> None:
        """Store the marks of the users finished since the last flush."""
        taken, self._unstored = self._unstored, []
        if taken:
            marks = [StreamPosition(USER + u, self.started) for u in taken]
            await self.store.commit(Commit(user_id="", positions=marks))

    async def close(self, complete: bool) -> None:
        """Store what is left to store; a run that reconciled every user is marked done."""
        await self.flush()
        if complete:
            position = StreamPosition(RUN, DONE + self.started)
            await self.store.commit(Commit(user_id="", positions=[position]))
