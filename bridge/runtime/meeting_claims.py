"""R-MULTI-1 across processes: claims on meetings' UIDs kept in the store that bridge processes share.

The claims of `bridge.runtime.reconcile.MeetingClaims` (single meetings) and `series_heirs._claimed`
(series) take turns among the users one process syncs. Replicas (users spread by lease over one store) and
backfill workers are several processes: two enrolled attendees of one outside organizer's meeting synced by
two of them would each find no owner and each make an event. So a pass that is about to make the event of
such a meeting (no owner stored) also claims its UID in the store (`Store.claim_meetings`, all of a pass's
UIDs at once or none), under a holder naming its process (`StoreClaims.holder`, one per bridge) and user.
A pass that finds a UID held elsewhere holds none of them meanwhile and tries again after a short poll,
then reads the store again: the other process's event is there, and it joins it as an invitee.

Liveness: a claim lasts `CLAIM_TTL` and is renewed while its pass runs, so a dead process's claims are taken
over once they expired. A pass that waited `WAIT_LIMIT` in all fails as transient (it is retried, its own
claims let go meanwhile), so no two processes can wait for each other for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection, Sequence
from datetime import timedelta

from bridge.errors import TransientError
from bridge.ports import Store

log = logging.getLogger(__name__)

CLAIM_TTL = timedelta(seconds=60)
FIRST_POLL_S = 0.05
LAST_POLL_S = 1.0
WAIT_LIMIT = timedelta(minutes=3)


class StoreClaims:
    """One bridge process's claims in `store`; `holder` tells this process from the others sharing it."""

    def __init__(
        self,
        store: Store,
        holder: str | None = None,
        *,
        ttl: timedelta = CLAIM_TTL,
        wait: timedelta = WAIT_LIMIT,
    ) -> None:
        self.store = store
        self.holder = holder or uuid.uuid4().hex
        self.ttl = ttl
        self.wait = wait
        self._held: dict[str, set[str]] = {}  # key (a user's pass, or their series road) -> UIDs
        self._renewal: asyncio.Task[None] | None = None

    def _who(self, key: str) -> str:
        return f"{self.holder}/{key}"

    def held(self, key: str) -> set[str]:
        return set(self._held.get(key, ()))

    async def take(self, key: str, uids: Collection[str]) -> bool:
        """Every one of `uids` claimed for `key`, once no other holder has any of them unexpired; True when
        it had to wait (what the caller read of these meetings before is stale then)."""
        wanted = sorted(set(uids))
        if not wanted:
            return False
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.wait.total_seconds()
        poll, waited = FIRST_POLL_S, False
        while theirs := await self.store.claim_meetings(self._who(key), wanted, self.ttl):
            if not waited:
                log.info(
                    "meeting_claim_waits", extra={"user": key, "meetings": len(theirs), "elsewhere": True}
                )
            waited = True
            if loop.time() >= give_up:
                raise TransientError(
                    f"{len(theirs)} meetings stayed claimed by another bridge process for "
                    f"{self.wait.total_seconds():.0f} s; the pass is retried"
                )
            await asyncio.sleep(poll)
            poll = min(poll * 2, LAST_POLL_S)
        self._held.setdefault(key, set()).update(wanted)
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._renew(), name="meeting claims renewal")
        return waited

    async def let_go(self, key: str, uids: Collection[str] | None = None) -> None:
        """`key`'s claims on `uids` (all of them by default) given up in the store."""
        mine = self._held.get(key)
        if not mine:
            return
        gone: Sequence[str] = sorted(mine if uids is None else mine & set(uids))
        if not gone:
            return
        mine.difference_update(gone)
        if not mine:
            del self._held[key]
        await self.store.release_meetings(self._who(key), None if uids is None else gone)
        if not self._held and self._renewal is not None:
            self._renewal.cancel()
            self._renewal = None

    async def _renew(self) -> None:
        """The claims of passes still running pushed back, every third of their time to live."""
        while self._held:
            await asyncio.sleep(self.ttl.total_seconds() / 3)
            for key, uids in list(self._held.items()):
                with contextlib.suppress(TransientError):
                    if lost := await self.store.claim_meetings(self._who(key), sorted(uids), self.ttl):
                        log.warning("meeting_claims_lost", extra={"user": key, "meetings": len(lost)})
