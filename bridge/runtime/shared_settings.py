"""Settings from Salesforce shared by replicas through the store (docs/replicas.md).

One replica reads Salesforce's enrolment (the holder of the stream lease: it also receives the settings
object's change events); every replica must then know the same users, yet subscribe only to the mailboxes
of the users it holds. So the reader stores what it read, unjudged (`Enrolment`: assignments, settings rows,
users), as one stream position (`ENROLMENT`), and every replica resolves it with its own configuration (the
same on every replica), as one process resolves what it read. A replica that finds a newer text than the one
it applied applies the users it names (`Bridge.apply_users`), and only the holder of a user syncs them.

Storing the raw read rather than the resolved bindings keeps policies out of the store's format: a replica
of the next release resolves the same rows with its own rules.

One process stores its reads too: at start, the users the last stored read enrolled and the first read no
longer does were switched off while the bridge was stopped (`left_while_stopped`), and get the switch-off
pass (R-DEL-6) under the policy they synced with. Replicas need no such step: each applies the stored
enrolment first, and the next read switches off whoever left.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from bridge.config import Config
from bridge.errors import MappingError
from bridge.ports import Commit, Store, StreamPosition
from bridge.runtime.settings import resolve
from bridge.runtime.sync import UserBinding
from bridge.salesforce.settings import Enrolment
from bridge.store.codec import dumps, loads
from bridge.store.leases import Fence

log = logging.getLogger(__name__)

ENROLMENT = "settings:enrolment"  # the stream position holding the last enrolment read, as JSON text
VERSION = 1


def enrolment_to_text(enrolment: Enrolment) -> str:
    data: dict[str, Any] = {
        "v": VERSION,
        "assigned": sorted(enrolment.assigned),
        "rows": [dict(row) for row in enrolment.rows],
        "users": {user: dict(fields) for user, fields in enrolment.users.items()},
    }
    return dumps(data)


def enrolment_from_text(text: str) -> Enrolment:
    """The `Enrolment` of `enrolment_to_text`; `MappingError` for text this release did not write."""
    data = loads(text)
    if not isinstance(data, dict) or data.get("v") != VERSION:
        raise MappingError(f"stored enrolment has no version {VERSION}: {text[:200]!r}")
    try:
        return Enrolment(
            assigned=frozenset(str(u) for u in data["assigned"]),
            rows=tuple(dict(r) for r in data["rows"]),
            users={str(u): dict(f) for u, f in data["users"].items()},
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MappingError(f"stored enrolment cannot be read ({error}): {text[:200]!r}") from error


def publishing(
    read: Callable[[], Awaitable[Enrolment]], store: Store, fence: Callable[[], Fence] | None = None
) -> Callable[[], Awaitable[Enrolment]]:
    """`read`, storing each enrolment it returns before handing it on: under `fence` (the reader's lease)
    so the other replicas apply what this one applies (a reader that lost its lease stores nothing); in one
    process without, so the next start knows who was enrolled (`left_while_stopped`)."""

    async def read_and_store() -> Enrolment:
        enrolment = await read()
        commit = Commit(user_id="", positions=[StreamPosition(ENROLMENT, enrolment_to_text(enrolment))])
        if fence is None:
            await store.commit(commit)
        else:
            await store.commit(commit, fence=fence())  # type: ignore[call-arg]
        return enrolment

    return read_and_store


async def stored_enrolment(store: Store) -> str | None:
    """The text of the last enrolment a replica stored, or None before the first."""
    return await store.position(ENROLMENT)


def left_while_stopped(config: Config, stored: str | None, enrolled: Collection[str]) -> list[UserBinding]:
    """The users the stored enrolment (`stored`, the last read before the bridge stopped) enrolled and who
    are not in `enrolled` now, with the bindings they synced under; none when nothing was stored."""
    if stored is None:
        return []
    try:
        before = resolve(config, enrolment_from_text(stored)).bindings
    except MappingError as error:
        log.error("the stored enrolment cannot be read (%s): who left meanwhile is not switched off", error)
        return []
    return [binding for user_id, binding in sorted(before.items()) if user_id not in enrolled]


__all__ = [
    "ENROLMENT",
    "enrolment_from_text",
    "enrolment_to_text",
    "left_while_stopped",
    "publishing",
    "stored_enrolment",
]
