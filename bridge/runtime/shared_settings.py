"""Settings from Salesforce shared by replicas through the store (docs/replicas.md).

One replica reads Salesforce's enrolment (the holder of the stream lease: it also receives the settings
object's change events); every replica must then know the same users, yet subscribe only to the mailboxes
of the users it holds. So the reader stores what it read, unjudged (`Enrolment`: assignments, settings rows,
users), as one stream position (`ENROLMENT`), and every replica resolves it with its own configuration (the
same on every replica), as one process resolves what it read. A replica that finds a newer text than the one
it applied applies the users it names (`Bridge.apply_users`), and only the holder of a user syncs them.

Storing the raw read rather than the resolved bindings keeps policies out of the store's format: a replica
of the next release resolves the same rows with its own rules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bridge.errors import MappingError
from bridge.ports import Commit, Store, StreamPosition
from bridge.salesforce.settings import Enrolment
from bridge.store.codec import dumps, loads
from bridge.store.leases import Fence

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
    read: Callable[[], Awaitable[Enrolment]], store: Store, fence: Callable[[], Fence]
) -> Callable[[], Awaitable[Enrolment]]:
    """`read`, storing each enrolment it returns under `fence` (the reader's lease) before handing it on,
    so the other replicas apply what this one applies. A reader that lost its lease stores nothing."""

    async def read_and_store() -> Enrolment:
        enrolment = await read()
        position = StreamPosition(ENROLMENT, enrolment_to_text(enrolment))
        await store.commit(Commit(user_id="", positions=[position]), fence=fence())  # type: ignore[call-arg]
        return enrolment

    return read_and_store


async def stored_enrolment(store: Store) -> str | None:
    """The text of the last enrolment a replica stored, or None before the first."""
    return await store.position(ENROLMENT)


__all__ = ["ENROLMENT", "enrolment_from_text", "enrolment_to_text", "publishing", "stored_enrolment"]
