"""GetStreamingEvents: one chunked HTTP 200 response carrying several SOAP envelopes over time.

First part at once (with whatever was queued), then a part whenever events arrive, an empty "OK" heartbeat
when idle, and a final "Closed" part when ConnectionTimeout (minutes) runs out. A subscription read by a newer
connection, expired or removed closes the older one. The drop fault cuts connections without a final part.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from .context import RequestContext
from .ops_subscribe import streaming_part
from .subscriptions import Subscription
from .wire import Element, EWSError, m, t

log = logging.getLogger(__name__)


class StreamRegistry:
    """The open streams, so the sandbox can drop them (fault) or close them (shutdown)."""

    def __init__(self) -> None:
        self.drops: set[asyncio.Event] = set()
        self.closing = False
        self.opened = 0  # GetStreamingEvents requests served, for admin state (connections reopened)

    def drop_all(self) -> int:
        for drop in self.drops:
            drop.set()
        return len(self.drops)


def _parse(
    ctx: RequestContext, request: Element
) -> tuple[list[Subscription], int, list[str], EWSError | None]:
    ids = [(e.text or "").strip() for e in request.findall(f"{m('SubscriptionIds')}/{t('SubscriptionId')}")]
    try:
        timeout = int(request.findtext(m("ConnectionTimeout")) or "0")
    except ValueError:
        timeout = 0
    if not 1 <= timeout <= 30:
        return (
            [],
            0,
            [],
            EWSError("ErrorInvalidArgument", "ConnectionTimeout must be between 1 and 30 minutes."),
        )
    subs: list[Subscription] = []
    bad: list[str] = []
    for sid in ids:
        try:
            subscription = ctx.hub.find(sid, streaming=True)
            mailbox = ctx.store.mailbox(subscription.mailbox)
            if mailbox is None or not ctx.can_access(mailbox):
                raise EWSError("ErrorInvalidSubscription", "Subscription is invalid.")
            subs.append(subscription)
        except EWSError:
            bad.append(sid)
    if bad or not ids:
        return [], timeout, bad, EWSError("ErrorInvalidSubscription", "Subscription is invalid.")
    return subs, timeout, [], None


async def serve_stream(
    http_request: web.Request, ctx: RequestContext, request: Element, registry: StreamRegistry
) -> web.StreamResponse:
    registry.opened += 1
    subs, timeout, bad, error = _parse(ctx, request)
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/xml; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(http_request)
    if error is not None:
        await response.write(streaming_part(ctx.hub, [], "Closed", error, bad))
        await response.write_eof()
        return response

    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    drop = asyncio.Event()
    waker = wake.set  # one bound method, so identity tells whether this stream still owns a subscription
    registry.drops.add(drop)
    for subscription in subs:
        previous = subscription.waker
        subscription.waker = waker
        if previous is not None:
            previous()  # the older reader notices it lost the subscription and closes
    deadline = loop.time() + ctx.timings.minutes(timeout)
    heartbeat = ctx.timings.heartbeat
    try:
        await response.write(_drain(ctx, subs, "OK"))
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            waiter = asyncio.ensure_future(wake.wait())
            dropper = asyncio.ensure_future(drop.wait())
            _, pending = await asyncio.wait(
                {waiter, dropper}, timeout=min(heartbeat, remaining), return_when=asyncio.FIRST_COMPLETED
            )
            for task in pending:
                task.cancel()
            if drop.is_set():
                if http_request.transport is not None:
                    http_request.transport.abort()
                return response
            wake.clear()
            if registry.closing or any(s.expired or s.waker is not waker for s in subs):
                lost = [s.subscription_id for s in subs if s.expired]
                if lost:
                    err = EWSError("ErrorInvalidSubscription", "Subscription is invalid.")
                    await response.write(streaming_part(ctx.hub, [], "Closed", err, lost))
                    await response.write_eof()
                    return response
                break
            await response.write(_drain(ctx, subs, "OK"))
        await response.write(_drain(ctx, subs, "Closed"))
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError, RuntimeError) as exc:
        log.debug("streaming connection ended early: %s", type(exc).__name__)
    finally:
        registry.drops.discard(drop)
        now = ctx.hub.monotonic()
        for subscription in subs:
            if subscription.waker is waker:
                subscription.waker = None
            subscription.last_used = now
    return response


def _drain(ctx: RequestContext, subs: list[Subscription], status: str) -> bytes:
    batches = [(s, ctx.hub.drain(s, len(s.queue))) for s in subs]
    return streaming_part(ctx.hub, batches, status)
