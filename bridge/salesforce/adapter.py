"""The Salesforce adapter: `bridge.ports.SalesforcePort` over REST (simple-salesforce) and Pub/Sub (grpc.aio).

    async with open_salesforce(connection) as salesforce:
        async for notice in salesforce.notices(resume):
            ...

One token serves REST and Pub/Sub (`auth.Tokens`); REST runs on the adapter's thread pool (`rest`), writes
are batched and conditional (`writes`), reads are few SOQL calls (`reads`), and the stream merges the
topics (`pubsub`, `changes`). `calls` counts calls per kind and `api_usage`/`api_limit`/
`budget_exceeded` report the org's API use (R-API-1, R-API-2) for the runtime's metrics and issues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from types import TracebackType

from bridge.core.model import Directory, Response
from bridge.core.series import Series
from bridge.errors import MappingError
from bridge.ports import EventRecord, SalesforceNotice, Written
from bridge.salesforce import changes, owners, series, settings
from bridge.salesforce.auth import Tokens
from bridge.salesforce.budget import ApiBudget
from bridge.salesforce.connection import SalesforceConnection
from bridge.salesforce.metrics import CallCounter
from bridge.salesforce.pubsub import PubSub
from bridge.salesforce.reads import Reader
from bridge.salesforce.rest import RestClient, https_session
from bridge.salesforce.writes import Create, Update, Writer

log = logging.getLogger(__name__)
_END = object()


def _log_mapping_error(error: MappingError) -> None:
    log.warning("salesforce: skipped an event that does not read: %s", error)


class SalesforceAdapter:
    """Implements `SalesforcePort`. Build it with `open_salesforce`; `close()` (or leaving the `async with`)
    sends pending writes and releases the channel and threads."""

    def __init__(
        self, connection: SalesforceConnection, on_error: Callable[[MappingError], None] | None = None
    ) -> None:
        self.connection = connection
        self.calls = CallCounter()
        self.budget = ApiBudget(connection.api_budget)
        self.mapping_errors: list[MappingError] = []
        self._on_error = on_error or _log_mapping_error
        self._executor = ThreadPoolExecutor(connection.max_workers, thread_name_prefix="salesforce-rest")
        self._session = https_session(connection)
        self.tokens = Tokens(connection, self._session, self._executor, self.calls)
        self.rest = RestClient(
            connection, self.tokens, self._session, self._executor, self.calls, self.budget
        )
        self._reader = Reader(self.rest, connection.directory_ttl_s)
        self._writer = Writer(connection, self.rest, self.budget)
        self.pubsub = PubSub(connection, self.tokens, self.calls, self._mapping_error)

    def __repr__(self) -> str:
        return f"SalesforceAdapter({self.connection.instance_url}, org {self.connection.org_id})"

    def _mapping_error(self, error: MappingError) -> None:
        self.mapping_errors.append(error)
        del self.mapping_errors[:-100]  # the latest few, for diagnostics
        self._on_error(error)

    # -- API usage ------------------------------------------------------------------------------------

    @property
    def api_usage(self) -> int | None:
        """Org API calls used today, as the last answer's `Sforce-Limit-Info` said."""
        return self.budget.used

    @property
    def api_limit(self) -> int | None:
        return self.budget.limit

    @property
    def budget_exceeded(self) -> bool:
        """Usage is past `api_budget` of the limit: writes wait (W-API-BUDGET)."""
        return self.budget.exceeded

    def release_budget(self) -> None:
        """Shutdown: writes held back by the budget fail (TransientError) instead of waiting, so the passes
        in flight end; the runtime makes them after the restart from their recorded intents."""
        self.budget.release()

    # -- stream ---------------------------------------------------------------------------------------

    @property
    def stream_connected(self) -> bool:
        """Every topic the bridge reads is subscribed now (the ops server's readiness, `/readyz`)."""
        return all(self.pubsub.connected(topic) for topic in self.topics)

    @property
    def topics(self) -> tuple[str, ...]:
        """The topics read: Event, EventRelation and commands, plus `connection.extra_topics` (the settings
        object's change events when settings come from Salesforce)."""
        return (*changes.TOPICS, *self.connection.extra_topics)

    async def notices(self, resume: Mapping[str, str]) -> AsyncIterator[SalesforceNotice]:
        """Change events and commands from every topic read, merged; see `pubsub` for resume and gaps.
        `resume` maps stream names (`sf:<topic>`) to replay ids in hex."""
        queue: asyncio.Queue[object] = asyncio.Queue(maxsize=1)

        async def run(topic: str) -> None:
            start = resume.get(changes.stream_name(topic)) or resume.get(topic)
            try:
                await self.pubsub.stream(topic, start, queue.put)
            except asyncio.CancelledError:
                raise
            except BaseException as error:  # a bug: end the merged stream with it rather than hang
                await queue.put(error)

        tasks = [asyncio.create_task(run(topic), name=f"salesforce {topic}") for topic in self.topics]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- reads ----------------------------------------------------------------------------------------

    async def read_events(self, event_ids: Collection[str]) -> dict[str, EventRecord]:
        return await self._reader.read_events(event_ids)

    async def window_events(
        self, owner_ids: Collection[str], start: datetime, end: datetime
    ) -> dict[str, list[EventRecord]]:
        return await self._reader.window_events(owner_ids, start, end)

    async def window_digests(
        self, owner_ids: Collection[str], start: datetime, end: datetime
    ) -> dict[str, str]:
        """Whether each owner's window changed, cheaply: see `reads.Reader.window_digests` (R-TIME-4)."""
        return await self._reader.window_digests(owner_ids, start, end)

    async def resolve(self, emails: Collection[str]) -> Directory:
        return await self._reader.resolve(emails)

    # -- the package's settings, permission sets and issues (bridge.salesforce.settings) ----------------

    async def read_enrolment(self) -> settings.Enrolment:
        return await settings.read_enrolment(self.rest)

    async def holds(self, user_id: str, set_names: Collection[str]) -> bool:
        return await settings.holds(self.rest, user_id, set_names)

    async def open_issues(self) -> list[dict[str, object]]:
        return await settings.open_issues(self.rest)

    async def create_issue(self, fields: Mapping[str, object]) -> str:
        """A `Calbridge_Issue__c` record, batched with other creates (R-API-3); its id."""
        return await self._writer.creates.submit(Create(settings.ISSUE_OBJECT, settings.issue_fields(fields)))

    async def update_issue(self, record_id: str, fields: Mapping[str, object]) -> None:
        await self._writer.updates.submit(
            Update(settings.ISSUE_OBJECT, record_id, settings.issue_fields(fields))
        )

    # -- recurring series (SPEC §15) -------------------------------------------------------------------

    async def read_series(self, series_id: str, known: Mapping[str, datetime]) -> Series | None:
        return await series.read_series(self.rest, series_id, known)

    async def series_ids(self, event_ids: Sequence[str]) -> dict[str, str]:
        return await series.series_ids(self.rest, event_ids)

    async def create_series(self, fields: Mapping[str, object], rule: str) -> str:
        return await series.create_series(self.rest, fields, rule)

    async def delete_onwards(self, row_id: str) -> None:
        await series.delete_onwards(self.rest, row_id)

    async def owner_time_zone(self, user_id: str) -> str | None:
        """The zone Salesforce repeats the user's Lightning series in (`User.TimeZoneSidKey`)."""
        return await owners.time_zone(self.rest, user_id)

    # -- writes ---------------------------------------------------------------------------------------

    async def create_event(self, fields: Mapping[str, object], who_ids: Sequence[str]) -> Written:
        return await self._writer.create_event(fields, who_ids)

    async def update_event(
        self, event_id: str, if_version: str | None, fields: Mapping[str, object]
    ) -> Written:
        return await self._writer.update_event(event_id, if_version, fields)

    async def delete_event(self, event_id: str, if_version: str | None) -> None:
        await self._writer.delete_event(event_id, if_version)

    async def add_relation(self, event_id: str, relation_id: str, status: Response) -> None:
        await self._writer.add_relation(event_id, relation_id, status)

    async def update_relation(self, event_id: str, relation_id: str, status: Response) -> None:
        await self._writer.update_relation(event_id, relation_id, status)

    async def remove_relation(self, event_id: str, relation_id: str) -> None:
        await self._writer.remove_relation(event_id, relation_id)

    # -- lifecycle ------------------------------------------------------------------------------------

    async def close(self) -> None:
        await self._writer.close()
        with contextlib.suppress(Exception):
            await self.pubsub.close()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._session.close()

    async def __aenter__(self) -> SalesforceAdapter:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()


def open_salesforce(
    connection: SalesforceConnection, on_error: Callable[[MappingError], None] | None = None
) -> SalesforceAdapter:
    """The adapter for `connection`; use it as `async with` or call `close()`. Nothing connects until the
    first call. `on_error` hears of every change event that could not be read (default: a warning log)."""
    return SalesforceAdapter(connection, on_error)
