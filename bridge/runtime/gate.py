"""Who may command the bridge from Salesforce (`Calbridge_Command__e`, R-TIME-5, R-DEL-10).

A command is acted on when its sender (the platform event's CreatedById) is the user it is about (the
user it names, or the owner of the event it names), or holds `Calbridge Admin` or `Calbridge Integration`
(the bridge's own identity: scripts and flows running as it can already write every event). Anything else
is refused: nothing runs, and the user it was about gets W-COMMAND-REFUSED naming the sender, open until a
command for them is accepted. A command with no sender is refused too.

Whether a sender holds a set costs one query, remembered for `ttl_s`; a user commanding for themselves
costs none.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime

from bridge.core.issues import MESSAGES, IssueCode
from bridge.ports import BridgeCommand, Commit, Store, StoredIssue
from bridge.salesforce.settings import ADMIN_SET, INTEGRATION_SET

log = logging.getLogger(__name__)

Holds = Callable[[str, Collection[str]], Awaitable[bool]]
Owner = Callable[[str], Awaitable[str | None]]
TRUSTED_SETS = (ADMIN_SET, INTEGRATION_SET)


def _same(a: str | None, b: str | None) -> bool:
    return bool(a and b and a[:15] == b[:15])


class CommandGate:
    def __init__(
        self,
        holds: Holds,
        owner: Owner,
        store: Store,
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._holds = holds
        self._owner = owner
        self._store = store
        self._ttl_s = ttl_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._trusted: dict[str, tuple[float, bool]] = {}
        self.refused = 0

    async def allows(self, command: BridgeCommand) -> bool:
        """Whether to act on `command`; a refusal is reported before this returns False."""
        sender = command.requested_by
        target = command.user_id
        if target is None and command.event_id:
            target = await self._owner(command.event_id)
        allowed = sender is not None and (_same(sender, target) or await self._trusted_sender(sender))
        if allowed:
            if target:
                await self._store.commit(
                    Commit(user_id=target, issues_closed=[(IssueCode.COMMAND_REFUSED.value, None, None)])
                )
            return True
        self.refused += 1
        about = target or sender or ""
        what = f"{command.kind.value}" + (f" for event {command.event_id}" if command.event_id else "")
        message = (
            f"{MESSAGES[IssueCode.COMMAND_REFUSED]} Refused: {what}, sent by {sender or 'nobody known'}."
        )
        now = self._clock()
        issue = StoredIssue(about, IssueCode.COMMAND_REFUSED.value, None, None, message, now, now)
        await self._store.commit(Commit(user_id=about, issues_opened=[issue]))
        log.warning("refused a command from Salesforce: %s", message, extra={"user": about})
        return False

    async def _trusted_sender(self, sender: str) -> bool:
        now = time.monotonic()
        known = self._trusted.get(sender[:15])
        if known is not None and now - known[0] < self._ttl_s:
            return known[1]
        trusted = await self._holds(sender, TRUSTED_SETS)
        self._trusted[sender[:15]] = (now, trusted)
        return trusted


__all__ = ["CommandGate"]
