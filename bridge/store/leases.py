"""Leases with fencing tokens, replica heartbeats and handed-over work, in the store the replicas share.

Theory (docs/replicas.md). A lease says which replica syncs a user (or reads the Salesforce stream) until
when. Expiry is for liveness only: a replica that dies stops renewing, its leases run out and the others take
them. Safety does not rest on clocks: every acquisition and every release raises the lease's `token`, a
replica commits under the token it acquired (`Fence`), and `check_fence` refuses the commit once the token
moved on. So a replica that was paused past its expiry (a long GC, a frozen VM, a partition) and wakes up in
the middle of a pass cannot store that pass: `LeaseLostError`, nothing stored, and the new holder recovers the
writes already made from the recorded intents and the pairing fields (R-MERGE-4, R-PAIR-1).

Times are the replicas' own clocks (kept by NTP); a skewed clock can only take a lease early or late, never
let two replicas commit for one user.

`LeaseBook` is one replica's view: heartbeat, acquire, renew, release, and the hand-over table. It writes
through its `SqlStore`'s transactions (the SQLite write lock, the failures translated to TransientError).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.errors import TransientError
from bridge.store import rules
from bridge.store.schema import UtcDateTime, metadata

if TYPE_CHECKING:
    from bridge.store.sql import SqlStore

# The tables (migration 0004), on the schema's metadata so the migrations test compares them too.

replicas = sa.Table(
    "replicas",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),  # alive while in the future (a heartbeat)
)

leases = sa.Table(
    # A user id (or STREAM_KEY) held by one replica until `expires_at`. `token` grows at every acquisition
    # and every release: a commit names the token it was made under, and fails once the token moved on.
    "leases",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),  # a replica id; RELEASED once given up
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Index(None, "holder"),
)

handoffs = sa.Table(
    # Work for a user, written by the replica that received it (the Salesforce stream's holder, or one
    # giving the user up), read and deleted by the replica holding the user's lease once committed.
    "handoffs",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("user_id", sa.Text, nullable=False),
    sa.Column("work", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index(None, "user_id"),
)

STREAM_KEY = "stream:salesforce"  # the lease of the replica that reads the Salesforce stream
RELEASED = ""  # the holder of a released lease


@dataclass(frozen=True, slots=True)
class Fence:
    """The lease a write is made under: its key and the token it was acquired with."""

    key: str
    token: int


class LeaseLostError(TransientError):
    """The lease a commit was made under passed to another replica (or was released): nothing was stored.
    Transient for the pass that met it (its work is handed to the new holder), never for the deployment."""

    def __init__(self, fence: Fence, found: int | None) -> None:
        now = "was never taken" if found is None else f"is at token {found}"
        super().__init__(
            f"the lease on {fence.key} was lost (held under token {fence.token}, now {now}): "
            "this replica's pass was not stored; the replica holding the lease takes the work over"
        )
        self.fence = fence


async def check_fence(connection: AsyncConnection, fence: Fence | None) -> None:
    """Inside a write transaction, before anything is written: raise `LeaseLostError` unless `fence` is
    still the lease's token. PostgreSQL: the row is read FOR SHARE, so a takeover waits for this commit."""
    if fence is None:
        return
    query = sa.select(leases.c.token).where(leases.c.key == fence.key)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    found = (await connection.execute(query)).scalar_one_or_none()
    if found != fence.token:
        raise LeaseLostError(fence, None if found is None else int(found))


def _chunks(values: Sequence[str], size: int = 500) -> list[Sequence[str]]:
    return [values[start : start + size] for start in range(0, len(values), size)]


class LeaseBook:
    """One replica's leases in `store`; `ttl` is how long a lease or a heartbeat lasts unrenewed."""

    def __init__(
        self, store: SqlStore, replica: str, ttl: timedelta, *, now: rules.Clock = rules.system_clock
    ) -> None:
        if not replica:
            raise ValueError("a replica needs an id")
        self.store = store
        self.replica = replica
        self.ttl = ttl
        self._now = now

    # ------------------------------------------------------------------------------------ replicas

    async def heartbeat(self) -> list[str]:
        """Say this replica is alive for `ttl` more; the ids of every live replica, sorted."""
        now = self._now()
        insert = self.store._insert(replicas).values(
            id=self.replica, started_at=now, expires_at=now + self.ttl
        )
        async with self.store._write() as connection:
            await connection.execute(
                insert.on_conflict_do_update(
                    index_elements=[replicas.c.id], set_={"expires_at": insert.excluded.expires_at}
                )
            )
            # Replicas dead for a long while are forgotten; recently dead ones are simply not live.
            await connection.execute(sa.delete(replicas).where(replicas.c.expires_at < now - 10 * self.ttl))
            rows = await connection.execute(
                sa.select(replicas.c.id).where(replicas.c.expires_at > now).order_by(replicas.c.id)
            )
            return [str(row) for row in rows.scalars()]

    async def leave(self) -> None:
        """This replica stops (SIGTERM): its heartbeat ends now, so the others count it out at once."""
        async with self.store._write() as connection:
            await connection.execute(sa.delete(replicas).where(replicas.c.id == self.replica))

    # -------------------------------------------------------------------------------------- leases

    async def acquire(self, keys: Collection[str]) -> dict[str, int]:
        """Take the leases of `keys` that are free (never taken, released or expired): key -> new token.
        Leases another replica holds unexpired are left alone."""
        now = self._now()
        expires = now + self.ttl
        won: dict[str, int] = {}
        async with self.store._write() as connection:
            for chunk in _chunks(sorted(keys)):
                insert = self.store._insert(leases).values(
                    [{"key": k, "holder": self.replica, "token": 1, "expires_at": expires} for k in chunk]
                )
                fresh = insert.on_conflict_do_nothing(index_elements=[leases.c.key]).returning(
                    leases.c.key, leases.c.token
                )
                won.update({str(k): int(t) for k, t in (await connection.execute(fresh)).all()})
                rest = [k for k in chunk if k not in won]
                if not rest:
                    continue
                taken = (
                    sa.update(leases)
                    .where(leases.c.key.in_(rest), leases.c.expires_at <= now)
                    .values(holder=self.replica, token=leases.c.token + 1, expires_at=expires)
                    .returning(leases.c.key, leases.c.token)
                )
                won.update({str(k): int(t) for k, t in (await connection.execute(taken)).all()})
        return won

    async def renew(self) -> dict[str, int]:
        """Push back the expiry of every unexpired lease this replica holds: key -> token. A lease missing
        from the answer is lost (taken over, or expired and to be acquired again under a new token)."""
        now = self._now()
        statement = (
            sa.update(leases)
            .where(leases.c.holder == self.replica, leases.c.expires_at > now)
            .values(expires_at=now + self.ttl)
            .returning(leases.c.key, leases.c.token)
        )
        async with self.store._write() as connection:
            return {str(k): int(t) for k, t in (await connection.execute(statement)).all()}

    async def release(self, held: Mapping[str, int]) -> None:
        """Give these leases up now (the token moves on, so nothing more commits under the old one)."""
        now = self._now()
        async with self.store._write() as connection:
            for key, token in sorted(held.items()):
                await connection.execute(
                    sa.update(leases)
                    .where(leases.c.key == key, leases.c.holder == self.replica, leases.c.token == token)
                    .values(holder=RELEASED, token=leases.c.token + 1, expires_at=now)
                )

    async def holders(self) -> dict[str, tuple[str, int, datetime]]:
        """Every lease: key -> (holder, token, expires_at). For status pages and tests."""
        async with self.store._read() as connection:
            rows = (await connection.execute(sa.select(leases))).mappings().all()
        return {row["key"]: (row["holder"], int(row["token"]), row["expires_at"]) for row in rows}

    # ------------------------------------------------------------------------------------ hand-over

    async def hand_over(self, items: Iterable[tuple[str, str]]) -> None:
        """Store work for users (user id, work as text) for whichever replica holds them, in one commit."""
        now = self._now()
        rows = [{"user_id": user, "work": work, "created_at": now} for user, work in items]
        if not rows:
            return
        async with self.store._write() as connection:
            await connection.execute(sa.insert(handoffs), rows)

    async def handed(self, skip: Collection[int] = (), limit: int = 500) -> list[tuple[int, str, str]]:
        """The oldest work handed to users this replica holds, (id, user id, work), without `skip`."""
        query: sa.Select[Any] = (
            sa.select(handoffs.c.id, handoffs.c.user_id, handoffs.c.work)
            .join(leases, leases.c.key == handoffs.c.user_id)
            .where(leases.c.holder == self.replica)
            .order_by(handoffs.c.id)
            .limit(limit + len(skip))
        )
        async with self.store._read() as connection:
            rows = (await connection.execute(query)).all()
        return [(int(i), str(u), str(w)) for i, u, w in rows if int(i) not in skip][:limit]

    async def done(self, ids: Collection[int]) -> None:
        """The hand-overs whose work is committed: deleted."""
        if not ids:
            return
        async with self.store._write() as connection:
            await connection.execute(sa.delete(handoffs).where(handoffs.c.id.in_(sorted(ids))))


__all__: Sequence[str] = ("STREAM_KEY", "Fence", "LeaseBook", "LeaseLostError", "check_fence")
