"""Change notifications (R-GRAPH-2 with a public address): a subscription per watched mailbox, kept alive,
and the two routes Graph posts to, served by the ops server (`routes()`, `OpsServer.add_route`).

Contract:
- `watch(mailbox)` keeps a subscription on the mailbox's events, posting to `connection.notification_urls`:
  created (after deleting the ones an earlier run left, whose clientState died with it), renewed half-way
  through its life, created again when Graph drops it. A failure is retried with back-off while delta
  polling covers the mailbox at full speed; once subscribed, the poller only checks every
  `fallback_poll_seconds`, so a notification Graph loses is still found.
- A POST with `validationToken` is answered 200 with the token as text/plain, while a subscription is being
  created (Graph validates both URLs then; at any other time nobody of ours asked for it: 404).
- Every notification must carry the bridge's `clientState` (a random secret of this process, compared in
  constant time, never logged); one without it, or for a subscription not ours, is acknowledged and ignored.
  A change becomes a `MailboxNotice` for its mailbox (the runtime's `sync` then reads the delta).
- Lifecycle: `reauthorizationRequired` renews the subscription (a renewal reauthorizes),
  `subscriptionRemoved` subscribes again and then says `lost=True`, `missed` says `lost=True` at once (the
  runtime catches up, R-TIME-3).
- Graph wants an answer within 3 s: the routes only parse, check and hand on, and answer 202.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bridge.errors import CalbridgeError
from bridge.ports import MailboxNotice

from . import subscribing
from .client import GraphClient
from .connection import GraphConnection
from .polling import Poller
from .subscribing import Subscription

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOTIFY_PATH, LIFECYCLE_PATH = "/graph/notify", "/graph/lifecycle"
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 300.0
SUBSCRIPTION_WRITES = 4  # Graph limits subscription writes per tenant (500 per 20 s): a few at a time
MAX_TOKEN = 1024  # Graph's validation tokens are short; a longer one is not Graph's
CLOSE_TIMEOUT = 5.0


@dataclass(eq=False)
class _Box:
    """One watched mailbox: its subscription (None while there is none) and what its keeper should do."""

    mailbox: str
    user_id: str | None = None
    subscription: Subscription | None = None
    subscribed_before: bool = False
    renew_now: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Notifications:
    """Subscriptions of the watched mailboxes and the routes Graph posts their notifications to."""

    def __init__(
        self,
        client: GraphClient,
        connection: GraphConnection,
        deliver: Callable[[MailboxNotice], None],
        poller: Poller,
    ) -> None:
        urls = connection.notification_urls
        if urls is None:
            raise ValueError("change notifications need exchange.graph.notification_url")
        self._client = client
        self._connection = connection
        self._urls = urls
        self._deliver = deliver
        self._poller = poller
        self._client_state = secrets.token_urlsafe(48)  # 64 characters; Graph allows 128
        self._boxes: dict[str, _Box] = {}
        self._by_subscription: dict[str, _Box] = {}
        self._writes = asyncio.Semaphore(SUBSCRIPTION_WRITES)
        self._creating = 0
        self._leftovers: asyncio.Task[list[dict[str, Any]]] | None = None
        self.refused = 0  # notifications without our clientState

    def __repr__(self) -> str:
        return f"Notifications({self._urls[0]!r}, watching={len(self._boxes)})"

    @property
    def subscribed(self) -> frozenset[str]:
        """The watched mailboxes (lower case) with a live subscription."""
        return frozenset(key for key, box in self._boxes.items() if box.subscription is not None)

    def routes(self) -> list[tuple[str, str, Handler]]:
        """`(method, path, handler)` for the ops server: both URLs share one handler (either may carry
        validations, notifications or lifecycle events)."""
        return [("POST", NOTIFY_PATH, self.handle), ("POST", LIFECYCLE_PATH, self.handle)]

    # ---- keeping subscriptions -----------------------------------------------------------------------------

    def watch(self, mailbox: str) -> None:
        key = mailbox.lower()
        if key not in self._boxes:
            box = self._boxes[key] = _Box(mailbox)
            box.task = asyncio.create_task(self._keep(box), name=f"graph-subscription-{key}")

    async def unwatch(self, mailbox: str) -> None:
        box = self._boxes.pop(mailbox.lower(), None)
        if box is None:
            return
        await self._stop(box)

    async def close(self) -> None:
        """Stop keeping subscriptions and delete them (within `CLOSE_TIMEOUT`: what is left expires)."""
        boxes, self._boxes = list(self._boxes.values()), {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await asyncio.gather(*(self._stop(box) for box in boxes))
        if self._leftovers is not None:
            self._leftovers.cancel()

    async def _stop(self, box: _Box) -> None:
        if box.task is not None:
            box.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await box.task
        gone = box.subscription
        if gone is not None:
            self._forget(box)
            with contextlib.suppress(CalbridgeError):
                await subscribing.delete(self._client, box.mailbox, gone.id)

    def _forget(self, box: _Box) -> None:
        if box.subscription is not None:
            self._by_subscription.pop(box.subscription.id, None)
            box.subscription = None
        self._poller.relax(box.mailbox, False)

    def _lifetime(self) -> timedelta:
        return timedelta(minutes=self._connection.subscription_minutes)

    def _renew_at(self, subscription: Subscription) -> datetime:
        return subscription.expires - self._lifetime() / 2

    async def _keep(self, box: _Box) -> None:
        wait = BACKOFF_FIRST
        while True:
            try:
                due = box.subscription is not None and (
                    box.renew_now or datetime.now(UTC) >= self._renew_at(box.subscription)
                )
                if due:
                    await self._renew(box)
                if box.subscription is None:
                    await self._subscribe(box)
                wait = BACKOFF_FIRST
            except CalbridgeError as exc:
                log.warning(
                    "change notifications for %s are not set up (%s); delta polling covers it, next try in "
                    "%.0f s",
                    box.mailbox,
                    exc,
                    wait,
                )
                await self._rest(box, wait)
                wait = min(wait * 2, BACKOFF_MAX)
                continue
            assert box.subscription is not None
            await self._rest(box, (self._renew_at(box.subscription) - datetime.now(UTC)).total_seconds())

    async def _rest(self, box: _Box, seconds: float) -> None:
        """Sleep `seconds`, or until a lifecycle notification gives the keeper something to do."""
        if box.wake.is_set():
            box.wake.clear()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(box.wake.wait(), max(seconds, 0.0))
        box.wake.clear()

    async def _subscribe(self, box: _Box) -> None:
        if box.user_id is None:
            box.user_id = await subscribing.object_id(self._client, box.mailbox)
        resource = subscribing.resource_of(box.user_id).lower().lstrip("/")
        leftovers = await self._left_by_earlier_runs()
        for left in [s for s in leftovers if str(s.get("resource", "")).lower().lstrip("/") == resource]:
            await subscribing.delete(self._client, box.mailbox, str(left["id"]))
            leftovers.remove(left)
        async with self._writes:
            self._creating += 1
            try:
                made = await subscribing.create(
                    self._client,
                    box.mailbox,
                    box.user_id,
                    self._urls,
                    self._client_state,
                    datetime.now(UTC) + self._lifetime(),
                )
            finally:
                self._creating -= 1
        box.subscription = made
        box.renew_now = False
        self._by_subscription[made.id] = box
        self._poller.relax(box.mailbox, True)
        log.info("change notifications for %s until %s", box.mailbox, made.expires.isoformat())
        if box.subscribed_before:  # Graph dropped the last one: what changed meanwhile was not announced
            self._deliver(MailboxNotice(mailbox=box.mailbox, lost=True))
        box.subscribed_before = True

    async def _renew(self, box: _Box) -> None:
        assert box.subscription is not None
        box.renew_now = False
        async with self._writes:
            renewed = await subscribing.renew(
                self._client, box.subscription, datetime.now(UTC) + self._lifetime()
            )
        if renewed is None:
            log.info("the subscription of %s is gone; subscribing again", box.mailbox)
            self._forget(box)
        else:
            box.subscription = renewed

    async def _left_by_earlier_runs(self) -> list[dict[str, Any]]:
        """Our URL's subscriptions that existed before this process made any (listed once, before the first
        subscription of this process is created)."""
        if self._leftovers is None:
            self._leftovers = asyncio.ensure_future(subscribing.ours(self._client, self._urls[0]))
        try:
            return await asyncio.shield(self._leftovers)  # the one list: deletions take their entries out
        except CalbridgeError:
            self._leftovers = None  # listed again by the next try
            raise

    # ---- Graph's POSTs -------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        token = request.query.get("validationToken")
        if token is not None:
            if self._creating == 0 or len(token) > MAX_TOKEN:
                return web.Response(status=404, text="no subscription is being created")
            return web.Response(status=200, text=token, content_type="text/plain")
        try:
            body = await request.json()
            values = body["value"]
            if not isinstance(values, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected Graph\'s {"value": [...]}'}, status=400)
        changed: dict[str, tuple[_Box, list[str]]] = {}
        for value in values:
            box = self._ours(value)
            if box is None:
                continue
            event = value.get("lifecycleEvent")
            if event is not None:
                self._lifecycle(box, str(event))
                continue
            data = value.get("resourceData")
            item_id = data.get("id") if isinstance(data, dict) else None
            ids = changed.setdefault(box.mailbox.lower(), (box, []))[1]
            if isinstance(item_id, str) and item_id not in ids:
                ids.append(item_id)
        arrived = datetime.now(UTC)
        for box, ids in changed.values():
            self._deliver(MailboxNotice(mailbox=box.mailbox, item_ids=tuple(ids), committed_at=arrived))
        return web.Response(status=202)

    def _ours(self, value: object) -> _Box | None:
        """The watched mailbox a notification is for, when it carries our clientState."""
        if not isinstance(value, dict):
            return None
        state = value.get("clientState")
        if not isinstance(state, str) or not hmac.compare_digest(state.encode(), self._client_state.encode()):
            self.refused += 1
            log.warning("a Graph notification without the bridge's clientState was ignored")
            return None
        return self._by_subscription.get(str(value.get("subscriptionId")))

    def _lifecycle(self, box: _Box, event: str) -> None:
        log.info("Graph lifecycle notification %s for %s", event, box.mailbox)
        if event == "reauthorizationRequired":
            box.renew_now = True
            box.wake.set()
        elif event == "subscriptionRemoved":
            self._forget(box)
            box.wake.set()
        elif event == "missed":
            self._deliver(MailboxNotice(mailbox=box.mailbox, lost=True))
