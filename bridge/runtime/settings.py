"""Who syncs and how, from Salesforce: the `Calbridge User` permission set and `Calbridge_Settings__c` rows.

With `sync.settings_source = "salesforce"` (docs/config.md) a user syncs while they hold `Calbridge User`,
are an active user, and are not switched off (`Sync Enabled` unticked on their row, or `enabled = false`
on their `[[users]]` entry). Each policy is taken from the first place that sets it:

    the user's settings row  >  the org's row (User blank)  >  calbridge.toml ([[users]] entry > [policy])

A blank field sets nothing. The mailbox is the `[[users]]` entry's `email` when there is one, else the
User's Email. What cannot be read is never guessed: a bad value is left out (the next source gives it) and
reported as W-SETTINGS on the user (the org row's problems on no user); two rows for one user, or two org
rows, use none of them until one is removed.

`resolve` is pure: Salesforce's answer and the config in, bindings and problems out. `SettingsFollower`
reads again when asked (a settings change event, the periodic reconcile, a `sync_now`), coalescing asks
that arrive during a read, and hands the bindings to the bridge, which enrols, re-plans or switches off
(R-DEL-6) whoever changed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from bridge.config import Config, PolicySettings, UserSettings
from bridge.core.issues import MESSAGES, IssueCode
from bridge.ports import Commit, Store, StoredIssue
from bridge.runtime.sync import UserBinding
from bridge.salesforce.settings import POLICY_FIELDS, Enrolment

log = logging.getLogger(__name__)

_SWITCHES = {"on": True, "off": False}
_LISTS = frozenset({"blocked_categories", "internal_domains"})
ORG = ""  # the user id the org row's problems are reported on


def _key(record_id: str) -> str:
    return record_id[:15]


def _value(key: str, raw: object) -> object:
    """A field's value in the config's terms: On/Off picklists as booleans, one-a-line lists as lists."""
    if isinstance(raw, str) and isinstance(PolicySettings.model_fields[key].default, bool):
        return _SWITCHES.get(raw.strip().lower(), raw)
    if key in _LISTS and isinstance(raw, str):
        return [line.strip() for line in raw.splitlines() if line.strip()]
    return raw


def row_policy(row: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The policy keys a settings row sets, each checked as `calbridge check-config` checks it, and a line
    per field that does not read (left out)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, key in POLICY_FIELDS.items():
        raw = row.get(name)
        if raw is None or raw == "":
            continue
        try:
            checked = PolicySettings.model_validate({key: _value(key, raw)})
        except ValidationError as error:
            reason = str(error.errors()[0]["msg"]).removeprefix("Value error, ")
            problems.append(f"{name} = {raw!r} is not used: {reason}")
            continue
        values[key] = getattr(checked, key)
    return values, problems


@dataclass(slots=True)
class Resolved:
    bindings: dict[str, UserBinding] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)  # user id (ORG for the org row) -> lines

    def problem(self, user_id: str, line: str) -> None:
        self.problems.setdefault(user_id, []).append(line)


def resolve(config: Config, found: Enrolment) -> Resolved:
    """The enrolled users with their policies, from what Salesforce says and the config (pure)."""
    out = Resolved()
    org_rows = [r for r in found.rows if not r.get("User__c")]
    by_user: dict[str, list[Mapping[str, Any]]] = {}
    for row in found.rows:
        if row.get("User__c"):
            by_user.setdefault(_key(str(row["User__c"])), []).append(row)
    org: dict[str, Any] = {}
    if len(org_rows) > 1:
        ids = ", ".join(str(r.get("Id")) for r in org_rows)
        out.problem(ORG, f"several org rows ({ids}); none is used until one is left")
    elif org_rows:
        org, lines = row_policy(org_rows[0])
        for line in lines:
            out.problem(ORG, f"org row {org_rows[0].get('Id')}: {line}")
    entries = {_key(u.salesforce_user_id): u for u in config.users}
    for user_id in sorted(found.assigned):
        rows = by_user.get(_key(user_id), [])
        own: dict[str, Any] = {}
        if len(rows) > 1:
            ids = ", ".join(str(r.get("Id")) for r in rows)
            out.problem(
                user_id, f"several settings rows name this user ({ids}); none is used until one is left"
            )
        elif rows:
            if rows[0].get("Sync_Enabled__c") is False:
                continue  # switched off by the admin (R-DEL-6)
            own, lines = row_policy(rows[0])
            for line in lines:
                out.problem(user_id, f"settings row {rows[0].get('Id')}: {line}")
        entry = entries.get(_key(user_id))
        if entry is not None and not entry.enabled:
            continue  # switched off in calbridge.toml
        user = found.users.get(user_id) or {}
        if not user.get("IsActive", True):
            continue
        mailbox = entry.email if entry is not None else str(user.get("Email") or "").lower()
        if not mailbox:
            out.problem(user_id, "holds Calbridge User but has no email address and no [[users]] entry")
            continue
        values = {**(entry.overrides() if entry is not None else {}), **org, **own}
        try:
            settings = UserSettings(email=mailbox, salesforce_user_id=user_id, **values)
        except ValidationError as error:
            out.problem(user_id, f"not enrolled: {error.errors()[0]['msg']}")
            continue
        out.bindings[user_id] = UserBinding(
            user_id, mailbox, config.policy_for(settings), observe=config.observing(settings)
        )
    return out


Apply = Callable[[Mapping[str, UserBinding]], Awaitable[None]]


class SettingsFollower:
    """Reads enrolment and policies when asked and hands them to the bridge; reports W-SETTINGS in `store`.

    `refresh()` returns once a read that began after the call has been applied; concurrent calls share
    one read. A read that fails (Salesforce unreachable) leaves the users as they were and raises."""

    def __init__(
        self,
        config: Config,
        read: Callable[[], Awaitable[Enrolment]],
        store: Store,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self._read = read
        self._store = store
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = asyncio.Lock()
        self._generation = 0  # reads begun
        self._reported: set[str] | None = None  # users with an open W-SETTINGS (None: ask the store)
        self.reads = 0

    async def current(self) -> Resolved:
        """One read, resolved, without applying it (the supervisor's first users)."""
        self.reads += 1
        resolved = resolve(self.config, await self._read())
        await self._report(resolved)
        return resolved

    async def refresh(self, apply: Apply) -> None:
        wanted = self._generation + 1
        async with self._lock:
            if self._generation >= wanted:
                return  # a read that began after our call has been applied meanwhile
            self._generation += 1
            resolved = await self.current()
            await apply(resolved.bindings)

    async def _report(self, resolved: Resolved) -> None:
        code = IssueCode.SETTINGS.value
        if self._reported is None:
            self._reported = {i.user_id for i in await self._store.issues() if i.code == code}
        now = self._clock()
        for user_id, lines in resolved.problems.items():
            message = MESSAGES[IssueCode.SETTINGS] + " " + "; ".join(lines)
            issue = StoredIssue(user_id, code, None, None, message, now, now)
            await self._store.commit(Commit(user_id=user_id, issues_opened=[issue]))
            log.warning("settings in Salesforce: %s", message, extra={"user": user_id or "org"})
        for user_id in self._reported - set(resolved.problems):
            await self._store.commit(Commit(user_id=user_id, issues_closed=[(code, None, None)]))
        self._reported = set(resolved.problems)


__all__ = ["ORG", "Resolved", "SettingsFollower", "resolve", "row_policy"]
