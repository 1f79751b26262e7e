"""REST calls through simple-salesforce, in worker threads, with token refresh, retries and limit tracking.

Every call runs `fn(sf)` on the adapter's thread pool (nothing blocks the event loop) with a `Salesforce`
client bound to the current token. A 401 gets a new token and the call again; 429, 5xx and
REQUEST_LIMIT_EXCEEDED are retried with exponential backoff and jitter (tenacity), honouring `Retry-After`,
and raise TransientError after the last try. `Sforce-Limit-Info` is read from every answer, errors
included, by a response hook on the shared requests Session. Every call carries
`Sforce-Call-Options: client=<call_client>` so change events of our writes are recognised (R-MERGE-3).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar
from urllib.parse import quote_plus

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceGeneralError
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bridge.errors import TransientError
from bridge.salesforce import failures
from bridge.salesforce.auth import Tokens
from bridge.salesforce.budget import ApiBudget
from bridge.salesforce.connection import SalesforceConnection
from bridge.salesforce.metrics import CallCounter

log = logging.getLogger(__name__)
T = TypeVar("T")
REQUEST_TIMEOUT_S = 60.0
COMPOSITE_QUERIES = 5  # query subrequests Salesforce takes in one composite call


def https_session(connection: SalesforceConnection) -> requests.Session:
    """The requests Session of every REST call: the configured CA, and no proxy or CA from the environment
    (REQUESTS_CA_BUNDLE would otherwise silently replace `ca_bundle`)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = connection.ca_bundle or True
    return session


def backoff(connection: SalesforceConnection) -> wait_exponential_jitter:
    """Exponential backoff from `backoff_initial_s`, doubling to `backoff_max_s`, with jitter of up to the
    initial wait so that many clients do not retry in step."""
    initial = connection.backoff_initial_s
    return wait_exponential_jitter(multiplier=initial, jitter=initial, max=connection.backoff_max_s)


class RestClient:
    """simple-salesforce on a thread pool. `call(kind, fn)` is the only way the adapter reaches REST."""

    def __init__(
        self,
        connection: SalesforceConnection,
        tokens: Tokens,
        session: requests.Session,
        executor: Executor,
        counter: CallCounter,
        budget: ApiBudget,
    ) -> None:
        self._connection = connection
        self._tokens = tokens
        self._session = session
        self._executor = executor
        self._counter = counter
        self._budget = budget
        self._client: tuple[str, Salesforce] | None = None
        self._client_lock = threading.Lock()
        self._local = threading.local()
        self.headers = {"Sforce-Call-Options": f"client={connection.call_client}"}
        session.hooks["response"].append(self._on_response)
        self._wait = backoff(connection)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # Runs in the worker thread that made the request, for every answer, errors included.
        self._budget.observe(response.headers.get("Sforce-Limit-Info"))
        retry_after = response.headers.get("Retry-After")
        self._local.retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None

    def _salesforce(self, token: str) -> Salesforce:
        with self._client_lock:
            if self._client is None or self._client[0] != token:
                sf = Salesforce(
                    instance_url=self._connection.instance_url,
                    session_id=token,
                    session=self._session,
                    version=self._connection.api_version,
                )
                self._client = (token, sf)
            return self._client[1]

    def _run(self, kind: str, fn: Callable[[Salesforce], T], token: str, record_id: str | None) -> T:
        self._counter.add(kind)
        self._local.retry_after = None
        try:
            return fn(self._salesforce(token))
        except SalesforceError as error:
            raise failures.from_rest(error, record_id, self._local.retry_after) from None
        except requests.RequestException as error:
            raise TransientError(f"Salesforce unreachable: {type(error).__name__}") from None

    async def _once(self, kind: str, fn: Callable[[Salesforce], T], record_id: str | None) -> T:
        loop = asyncio.get_running_loop()
        token = await self._tokens.current()
        try:
            return await loop.run_in_executor(self._executor, self._run, kind, fn, token, record_id)
        except failures.SessionExpired:
            token = await self._tokens.refresh(token)
        try:
            return await loop.run_in_executor(self._executor, self._run, kind, fn, token, record_id)
        except failures.SessionExpired:
            raise TransientError("Salesforce refused a freshly issued access token; retrying later") from None

    def _wait_for(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, TransientError) and error.retry_after:
            return min(error.retry_after, self._connection.backoff_max_s)
        return float(self._wait(state))

    def _before_sleep(self, state: RetryCallState) -> None:
        self._counter.add("retry")
        error = state.outcome.exception() if state.outcome else None
        log.info("salesforce: retrying after %s (attempt %d)", error, state.attempt_number)

    async def call(self, kind: str, fn: Callable[[Salesforce], T], *, record_id: str | None = None) -> T:
        """`fn(sf)` in a worker thread, retried while it fails transiently; bridge errors otherwise.
        `kind` names the call for the counter (query, read, write, limits)."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(1, self._connection.retries)),
            wait=self._wait_for,
            retry=retry_if_exception_type(TransientError),
            before_sleep=self._before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                result = await self._once(kind, fn, record_id)
        return result

    # -- shapes every caller uses ---------------------------------------------------------------------

    async def query(self, soql: str) -> list[dict[str, Any]]:
        """Every row of a SOQL query, following `nextRecordsUrl` page by page (each page one call)."""
        page: dict[str, Any] = await self.call("query", lambda sf: sf.query(soql, headers=self.headers))
        return await self._every_row(page)

    async def _every_row(self, page: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows of a query's first `page` and of the pages after it (each one call), without their
        `attributes`."""
        rows = list(page.get("records", []))
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = await self.call("query", self._more(str(page["nextRecordsUrl"])))
            rows.extend(page.get("records", []))
        for row in rows:
            row.pop("attributes", None)
        return rows

    async def queries(self, soqls: Sequence[str]) -> list[list[dict[str, Any]]]:
        """Every row of each query, several queries in one `composite` call (which counts as one API call;
        Salesforce takes five queries a call). A page after the first costs a call of its own, as in
        `query`. A query Salesforce refuses raises as it would alone."""
        answers: list[list[dict[str, Any]]] = []
        for start in range(0, len(soqls), COMPOSITE_QUERIES):
            group = soqls[start : start + COMPOSITE_QUERIES]
            base = f"/services/data/v{self._connection.api_version}"
            body = {
                "allOrNone": False,
                "compositeRequest": [
                    {"method": "GET", "url": f"{base}/query/?q={quote_plus(soql)}", "referenceId": f"q{n}"}
                    for n, soql in enumerate(group)
                ],
            }
            reply = await self.restful("query", "composite", "POST", json=body)
            by_reference = {str(r.get("referenceId")): r for r in reply.get("compositeResponse", [])}
            for n in range(len(group)):
                answer = by_reference.get(f"q{n}") or {}
                status = int(answer.get("httpStatusCode") or 500)
                page: Any = answer.get("body")
                if status >= 400 or not isinstance(page, dict):
                    error = SalesforceGeneralError("composite", status, "query", page)
                    raise failures.from_rest(error, None)
                answers.append(await self._every_row(page))
        return answers

    def _more(self, url: str) -> Callable[[Salesforce], dict[str, Any]]:
        def more(sf: Salesforce) -> dict[str, Any]:
            return dict(sf.query_more(url, identifier_is_url=True, headers=self.headers))

        return more

    async def restful(
        self, kind: str, path: str, method: str = "GET", *, record_id: str | None = None, **kwargs: Any
    ) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.call(
            kind,
            lambda sf: sf.restful(path, method=method, headers=headers, timeout=REQUEST_TIMEOUT_S, **kwargs),
            record_id=record_id,
        )

    async def probe_limits(self) -> None:
        """One cheap call whose answer carries the current usage (`limits`)."""
        await self.restful("limits", "limits/")
