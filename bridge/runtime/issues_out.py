"""Issues kept as `Calbridge_Issue__c` records (R-LIM-1), so admins and users see them in Salesforce.

One record per open cause (user, code, event, item): created when the store opens the issue, updated when
its message changes or it has been seen again more than `touch_s` after the record last said so, closed
(`Is_Open__c` unticked) when the store closes it. Each record is owned by the user it is about, so with the
object's private sharing a user sees their own; an owner Salesforce will not take (an inactive user) leaves
the record with the integration user.

The store stays the truth: `IssueMirror` compares the store's open issues with the open records it knows
(read once at start) and writes the difference, through the adapter's sObject Collections batchers
(R-API-3), a moment after a commit opened or closed an issue (`IssueSignal` wraps the store and tells it).
A write that fails transiently is tried again at the next round; nothing else depends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from bridge.errors import CalbridgeError, RefusedError
from bridge.ports import Commit, Store, StoredIssue
from bridge.salesforce import versions
from bridge.salesforce.settings import issue_fields

log = logging.getLogger(__name__)

Cause = tuple[str, str, str, str]  # user (15), code, event id, item id (as the record holds them)


class IssuePort(Protocol):
    async def open_issues(self) -> list[dict[str, object]]: ...

    async def create_issue(self, fields: Mapping[str, object]) -> str: ...

    async def update_issue(self, record_id: str, fields: Mapping[str, object]) -> None: ...


@dataclass(slots=True)
class _Record:
    record_id: str
    message: str
    last_seen: datetime | None


def _cause(user_id: object, code: object, sf_id: object, ex_id: object) -> Cause:
    cut = issue_fields({"Event_Id__c": str(sf_id or ""), "Item_Id__c": str(ex_id or "")})
    return (str(user_id or "")[:15], str(code or ""), cut["Event_Id__c"], cut["Item_Id__c"])


def _seen(value: object) -> datetime | None:
    return versions.parse(value) if value else None


class IssueMirror:
    def __init__(
        self, salesforce: IssuePort, store: Store, *, linger_s: float = 0.5, touch_s: float = 3600.0
    ):
        self._salesforce = salesforce
        self._store = store
        self._linger_s = linger_s
        self._touch_s = touch_s
        self._known: dict[Cause, _Record] | None = None
        self._wake = asyncio.Event()
        self.rounds = 0

    def poke(self) -> None:
        """Something opened or closed an issue: mirror it soon."""
        self._wake.set()

    async def run(self, retry_s: float = 30.0) -> None:
        """Mirror now and after every poke, until cancelled."""
        self._wake.set()
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._linger_s)  # issues opened together go out in one batch
            self._wake.clear()
            try:
                await self.mirror()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning(
                    "could not keep issues in Salesforce (%s); trying again in %.0f s", error, retry_s
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), retry_s)
                self._wake.set()

    async def mirror(self) -> None:
        """One round: the store's open issues made the open records."""
        self.rounds += 1
        if self._known is None:
            self._known = {
                _cause(
                    r.get("User__c"), r.get("Code__c"), r.get("Event_Id__c"), r.get("Item_Id__c")
                ): _Record(str(r["Id"]), str(r.get("Message__c") or ""), _seen(r.get("Last_Seen__c")))
                for r in await self._salesforce.open_issues()
            }
        known = self._known
        wanted = {_cause(i.user_id, i.code, i.sf_id, i.ex_id): i for i in await self._store.issues()}
        jobs = [self._keep(cause, issue, known.get(cause)) for cause, issue in wanted.items()]
        jobs += [self._close(cause, known[cause]) for cause in set(known) - set(wanted)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        for error in failed:
            if not isinstance(error, CalbridgeError):
                raise error
        if failed:
            raise failed[0]

    async def _keep(self, cause: Cause, issue: StoredIssue, record: _Record | None) -> None:
        assert self._known is not None
        fields: dict[str, Any] = {
            "Message__c": issue.message,
            "Last_Seen__c": versions.format_datetime(issue.last_seen),
            "Is_Open__c": True,
        }
        if record is None:
            fields |= {
                "Code__c": issue.code,
                "Event_Id__c": issue.sf_id,
                "Item_Id__c": issue.ex_id,
                "First_Seen__c": versions.format_datetime(issue.first_seen),
            }
            if issue.user_id:
                fields |= {"User__c": issue.user_id, "OwnerId": issue.user_id}
            try:
                record_id = await self._salesforce.create_issue(fields)
            except RefusedError:
                if "OwnerId" not in fields:
                    raise
                fields.pop("OwnerId")  # an owner Salesforce will not take: the integration user keeps it
                record_id = await self._salesforce.create_issue(fields)
            self._known[cause] = _Record(record_id, issue.message, issue.last_seen)
            return
        stale = (
            record.last_seen is None or (issue.last_seen - record.last_seen).total_seconds() > self._touch_s
        )
        if issue.message != record.message or stale:
            await self._salesforce.update_issue(record.record_id, fields)
            self._known[cause] = _Record(record.record_id, issue.message, issue.last_seen)

    async def _close(self, cause: Cause, record: _Record) -> None:
        assert self._known is not None
        await self._salesforce.update_issue(record.record_id, {"Is_Open__c": False})
        self._known.pop(cause, None)


class IssueSignal:
    """A Store that calls `on_issues` after each commit that opened or closed an issue; everything else is
    the wrapped store's."""

    def __init__(self, store: Store, on_issues: Callable[[], None]) -> None:
        self._store = store
        self._on_issues = on_issues

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def commit(self, commit: Commit) -> None:
        await self._store.commit(commit)
        if commit.issues_opened or commit.issues_closed:
            self._on_issues()

    @classmethod
    def wrap(cls, store: Store, on_issues: Callable[[], None]) -> Store:
        return cast(Store, cls(store, on_issues))


__all__: Sequence[str] = ["IssueMirror", "IssuePort", "IssueSignal"]
