"""HTTP to Graph (aiohttp): the token, Graph's preferences, the per-mailbox limits, retries, `$batch`.

Limits (R-GRAPH-4): Outlook allows 4 requests in flight per app and mailbox; a semaphore per mailbox keeps
us within them, so the bridge's own requests never meet the concurrency 429. A 429 waits the `Retry-After`
Graph sent (up to `WAIT_CAP` seconds, `ATTEMPTS` tries); 5xx and broken connections are tried again after a
short back-off; what still fails becomes a `TransientError` carrying the wait, and the runtime retries later.
A retried request is sent unchanged, so a retried create carries the same `transactionId`.

Every request prefers immutable ids, UTC times and text bodies: ids survive moves between folders, and an
item reads the same whatever zone or body format its author used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bridge.errors import TransientError

from .auth import TokenSource
from .connection import GraphConnection
from .failures import GraphFailure

log = logging.getLogger(__name__)

PREFER = 'IdType="ImmutableId", outlook.timezone="UTC", outlook.body-content-type="text"'
MAILBOX_CONCURRENCY = 4
BATCH_LIMIT = 20
ATTEMPTS = 4
WAIT_CAP = 30.0  # seconds: a longer wait is the runtime's to sit out, not a request's
BACKOFF_FIRST = 0.25
TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=15)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Request:
    """One Graph request, as sent alone or as a `$batch` member. `url` is relative to v1.0 (or absolute,
    for the links Graph returns)."""

    method: str
    url: str
    body: Any = None
    headers: Mapping[str, str] | None = None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def prefer_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """`headers` with our preferences joined to any the request adds (one Prefer header, comma-separated)."""
    merged = dict(headers or {})
    extra = merged.pop("Prefer", None)
    merged["Prefer"] = f"{PREFER}, {extra}" if extra else PREFER
    return merged


class GraphClient:
    """Requests to Graph as the app, at most `MAILBOX_CONCURRENCY` in flight per mailbox."""

    def __init__(self, connection: GraphConnection, tokens: TokenSource | None = None) -> None:
        self.connection = connection
        self.tokens = tokens or TokenSource(connection)
        self._session: aiohttp.ClientSession | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = ssl.create_default_context(cafile=self.connection.ca_bundle)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=context, limit=100), timeout=TIMEOUT
            )
        return self._session

    def _slot(self, mailbox: str) -> asyncio.Semaphore:
        key = mailbox.lower()
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(MAILBOX_CONCURRENCY)
        return slot

    def url(self, relative: str) -> str:
        return (
            relative if relative.startswith("https://") else f"{self.connection.api}/{relative.lstrip('/')}"
        )

    async def _send_once(self, request: Request, token: str) -> Answer:
        headers = {"Authorization": f"Bearer {token}", **prefer_headers(request.headers)}
        data = None
        if request.body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(request.body)
        async with self._http().request(
            request.method, self.url(request.url), data=data, headers=headers
        ) as response:
            text = await response.text()
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = text
            return Answer(response.status, body, dict(response.headers))

    async def send(self, mailbox: str, request: Request) -> Answer:
        """`request` answered with a success (2xx), or `GraphFailure` for what Graph refused, or
        `TransientError` when Graph stayed unavailable or busy."""
        refreshed = False
        wait = BACKOFF_FIRST
        for attempt in range(1, ATTEMPTS + 1):
            token = await self.tokens.token()
            try:
                async with self._slot(mailbox):
                    answer = await self._send_once(request, token)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                if attempt == ATTEMPTS:
                    raise TransientError(
                        f"Graph could not be reached ({mailbox}): {type(exc).__name__}"
                    ) from None
                await asyncio.sleep(wait)
                wait *= 2
                continue
            if answer.status < 400:
                return answer
            failure = GraphFailure.from_answer(answer.status, answer.body, _retry_after(answer.headers))
            if answer.status == 401 and not refreshed:
                await self.tokens.refresh()  # the cached token expired or was revoked early
                refreshed = True
                continue
            if answer.status == 429 or answer.status >= 500:
                asked = failure.retry_after
                pause = asked if asked is not None else wait * (1 + random.random() / 4)
                if attempt == ATTEMPTS or pause > WAIT_CAP:
                    raise TransientError(
                        f"Graph stayed {'busy' if answer.status == 429 else 'unavailable'} for {mailbox} "
                        f"after {attempt} tries ({answer.status} {failure.code})",
                        retry_after=asked,
                    )
                log.info("Graph answered %s for %s; waiting %.1f s", answer.status, mailbox, pause)
                await asyncio.sleep(pause)
                wait *= 2
                continue
            raise failure
        raise AssertionError("unreachable")

    async def batch(self, mailbox: str, requests: Sequence[Request]) -> list[Answer | GraphFailure]:
        """`requests` of one mailbox in `$batch` calls of up to 20; each answer in its request's place.
        Members Graph throttled (429) or could not run (5xx) are sent again, after the longest wait asked."""
        results: list[Answer | GraphFailure | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        for attempt in range(1, ATTEMPTS + 1):
            waits: list[float] = []
            retry: list[int] = []
            for first in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[first : first + BATCH_LIMIT]
                if len(chunk) == 1 and attempt == 1:
                    (index,) = chunk
                    try:
                        results[index] = await self.send(mailbox, requests[index])
                    except GraphFailure as alone:
                        results[index] = alone
                    continue
                members = [
                    {
                        "id": str(index),
                        "method": requests[index].method,
                        "url": "/" + requests[index].url.lstrip("/"),
                        "headers": {
                            **prefer_headers(requests[index].headers),
                            **(
                                {"Content-Type": "application/json"}
                                if requests[index].body is not None
                                else {}
                            ),
                        },
                        **({"body": requests[index].body} if requests[index].body is not None else {}),
                    }
                    for index in chunk
                ]
                answer = await self.send(mailbox, Request("POST", "$batch", {"requests": members}))
                for member in (answer.body or {}).get("responses", []):
                    index = int(member["id"])
                    status = int(member.get("status", 500))
                    headers = member.get("headers") or {}
                    body = member.get("body")
                    if status < 400:
                        results[index] = Answer(status, body, headers)
                        continue
                    refused = GraphFailure.from_answer(status, body, _retry_after(headers))
                    results[index] = refused
                    if status == 429 or status >= 500:
                        retry.append(index)
                        waits.append(refused.retry_after or BACKOFF_FIRST * attempt)
            if not retry or attempt == ATTEMPTS:
                break
            pause = max(waits)
            if pause > WAIT_CAP:
                break
            await asyncio.sleep(pause)
            pending = retry
        for index, result in enumerate(results):
            if result is None:
                results[index] = GraphFailure(500, "NoAnswer", "the batch answered nothing for this member")
        return [r for r in results if r is not None]

    async def close(self) -> None:
        if self._session is not None:
            with contextlib.suppress(Exception):
                await self._session.close()
            self._session = None
