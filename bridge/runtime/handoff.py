"""Work handed between replicas through the store they share (docs/replicas.md).

The replica that reads the Salesforce stream routes each change to its user as one replica would; when another
replica holds that user, the work goes to the `handoffs` table instead of an actor (`Outbox`), and the
holder's `Inbox` reads it from there. A replica giving a user up hands its pending work over the same way.

Nothing is lost on the way: the stream ticket that fed a piece of work is released only once the work is in
the table (so the stored replay id never passes a change that is neither committed nor durably handed
over), and a row is deleted only once the pass it fed committed. A row read twice (its reader died between
the commit and the delete) is planned twice, which writes nothing the second time (R-MERGE-4).

Work travels as versioned JSON: the stream's part of `Work` (changes, re-reads, sync-now, reconcile); the
window records a batched reconcile carries are not sent (the holder reads its own window).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from bridge.errors import MappingError, TransientError
from bridge.ports import ChangeType, EventChange, EventRecord, StreamPosition
from bridge.runtime.sync import Work
from bridge.runtime.watermark import Ticket, Watermark
from bridge.store.codec import dumps, event_from_dict, event_to_dict, loads
from bridge.store.leases import LeaseBook

log = logging.getLogger(__name__)
VERSION = 1
Submit = Callable[[str, Work, list[Ticket]], None]

# ------------------------------------------------------------------------------------------ codec


def _change_to_json(change: EventChange) -> dict[str, Any]:
    return {
        "entity": change.entity,
        "change_type": str(change.change_type),
        "record_ids": list(change.record_ids),
        "fields": event_to_dict(EventRecord(change.fields))["fields"],  # dates and datetimes tagged
        "diff_fields": sorted(change.diff_fields),
        "committed_at": change.committed_at.isoformat(),
        "position": [change.position.stream, change.position.value],
        "echo": change.echo,
        "transaction_key": change.transaction_key,
    }


def _change_from_json(data: Mapping[str, Any]) -> EventChange:
    stream, value = data["position"]
    return EventChange(
        entity=str(data["entity"]),
        change_type=ChangeType(data["change_type"]),
        record_ids=tuple(str(i) for i in data["record_ids"]),
        fields=event_from_dict({"v": 1, "fields": data["fields"]}).fields,
        diff_fields=frozenset(str(f) for f in data["diff_fields"]),
        committed_at=datetime.fromisoformat(data["committed_at"]),
        position=StreamPosition(str(stream), str(value)),
        echo=bool(data["echo"]),
        transaction_key=str(data["transaction_key"]),
    )


def work_to_text(work: Work) -> str:
    """`work` as JSON text. Flags and id sets go by name, so a field added to `Work` travels too."""
    data: dict[str, Any] = {"v": VERSION}
    for spec in dataclass_fields(Work):
        value = getattr(work, spec.name)
        if spec.name == "sf":
            data["sf"] = {eid: [_change_to_json(c) for c in changes] for eid, changes in value.items()}
        elif spec.name == "events" or value is None:
            continue  # window records stay with the replica that read them
        elif isinstance(value, bool):
            data[spec.name] = value
        elif isinstance(value, set | frozenset):
            data[spec.name] = sorted(value)
        elif isinstance(value, datetime):
            data[spec.name] = value.isoformat()
        else:
            raise TypeError(f"Work.{spec.name} holds a {type(value).__name__}, which cannot be handed over")
    return dumps(data)


def work_from_text(text: str) -> Work:
    """The `Work` of `work_to_text`; `MappingError` for text this release did not write."""
    data = loads(text)
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise MappingError(f"handed-over work has no version {VERSION}: {text[:200]!r}")
    work = Work()
    try:
        for spec in dataclass_fields(Work):
            if spec.name not in data:
                continue
            value = data[spec.name]
            current = getattr(work, spec.name)
            if spec.name == "sf":
                work.sf = {str(k): [_change_from_json(c) for c in v] for k, v in value.items()}
            elif isinstance(current, bool):
                setattr(work, spec.name, bool(value))
            elif isinstance(current, set):
                setattr(work, spec.name, {str(v) for v in value})
            else:  # the one optional datetime
                setattr(work, spec.name, datetime.fromisoformat(value))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MappingError(f"handed-over work cannot be read ({error}): {text[:200]!r}") from error
    return work


# --------------------------------------------------------------------------------------- outbox


class Outbox:
    """Work for users another replica holds. `put` never blocks (the router calls it); `flush` writes the
    queue in one commit, then releases the tickets that fed it. A failed write keeps the queue."""

    def __init__(self, book: LeaseBook) -> None:
        self.book = book
        self._queue: list[tuple[str, Work, list[Ticket]]] = []
        self._wake = asyncio.Event()
        self.handed = 0  # pieces of work written, for tests and metrics

    def put(self, user_id: str, work: Work, tickets: list[Ticket]) -> None:
        self._queue.append((user_id, work, tickets))
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    async def flush(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        merged: dict[str, Work] = {}
        for user_id, work, _ in batch:
            merged.setdefault(user_id, Work()).merge(work)
        try:
            await self.book.hand_over((user, work_to_text(work)) for user, work in merged.items())
        except BaseException:
            self._queue = batch + self._queue
            raise
        self.handed += len(merged)
        for _, _, tickets in batch:
            for ticket in tickets:
                ticket.release()

    async def run(self, linger_s: float = 0.05) -> None:
        """Flush whenever work arrives (after `linger_s`, so a burst makes one commit)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(linger_s)
            try:
                await self.flush()
            except TransientError as error:
                log.warning("handing work over failed (%s); trying again", error)
                await asyncio.sleep(1.0)
                self._wake.set()


# ---------------------------------------------------------------------------------------- inbox


class Inbox:
    """Work handed to the users this replica holds: read every `poll_s`, each row submitted to its user's
    actor with a ticket of its own, and deleted once that ticket is released (the pass committed)."""

    def __init__(self, book: LeaseBook, submit: Submit) -> None:
        self.book = book
        self.submit = submit
        self._flight: dict[int, tuple[str, Ticket]] = {}
        self.received = 0

    def forget(self, user_id: str) -> None:
        """The user went to another replica: its rows in flight stay in the table for the new holder."""
        for row_id in [i for i, (user, _) in self._flight.items() if user == user_id]:
            del self._flight[row_id]

    async def poll(self) -> None:
        done = [row_id for row_id, (_, ticket) in self._flight.items() if ticket.done]
        await self.book.done(done)
        for row_id in done:
            self._flight.pop(row_id, None)
        for row_id, user_id, text in await self.book.handed(skip=set(self._flight)):
            try:
                work = work_from_text(text)
            except MappingError as error:  # bad input never stops other users: dropped, with its reason
                log.warning("handed-over work %d for user %s dropped: %s", row_id, user_id, error)
                await self.book.done([row_id])
                continue
            ticket = Watermark(f"handoff:{row_id}").begin(str(row_id))
            self._flight[row_id] = (user_id, ticket)
            self.received += 1
            self.submit(user_id, work, [ticket])

    async def run(self, poll_s: float) -> None:
        while True:
            try:
                await self.poll()
            except TransientError as error:
                log.warning("reading handed-over work failed (%s); trying again", error)
            await asyncio.sleep(poll_s)
