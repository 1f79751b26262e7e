"""Streaming notifications for many calendars over few connections (R-TIME-1, R-TIME-3).

Theory. Each watched mailbox has one streaming subscription on its calendar. Subscriptions are grouped:
one GetStreamingEvents connection carries up to `per_connection` of them (exchangelib sends several ids in
one request). A connection is a blocking read of minutes, so each runs on a thread of its own and hands
notifications to the event loop; a group's task on the loop decides what happens when it ends:

- it closed normally (ConnectionTimeout ran out): open the next one with the same subscriptions;
- Exchange says some subscriptions are invalid (expired, lost on a server restart): subscribe those
  mailboxes again, then yield `MailboxNotice(lost=True)` for each, so the runtime catches up with a sync
  (subscribing first means no change can fall between the catch-up and the new subscription);
- it broke (network, server busy): open it again after a back-off, and yield `lost=True` for its
  mailboxes, since notifications in flight may be gone.

A group whose set of subscriptions changes (watch, unwatch, a re-subscription) opens a new connection
with the new set; Exchange moves the subscriptions to the newest connection and ends the older one, whose
outcome no longer matters. Unwatching removes the subscription from its group first, then unsubscribes.

Bursts (issue 10: 10,000 mailboxes watched at start). A group gathers its changes before it reopens: it
waits until none came for `GATHER_QUIET`, at most `GATHER_MAX` from the first, then opens one connection
with every id; so a burst of N subscriptions reopens each connection once per gathering, not N times (each
reopening sends every id of the group). A new subscription's events wait in Exchange's queue meanwhile, and
the group's older connection keeps reading the others. Subscribe calls take at most a share of the
session's worker threads (`SUBSCRIBE_SHARE`), so the first syncs' calls are not queued behind thousands of
them. They wait their turn in the order watched, but a mailbox about to be read (`before_read`) is
subscribed at once and its read waits for that first attempt: a mailbox is subscribed before the sync that
catches it up, so no change falls between the two (R-TIME-3), and the first syncs are not held to the
background share.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from exchangelib import Account
from exchangelib.errors import ErrorExpiredSubscription, ErrorInvalidSubscription, ErrorSubscriptionNotFound
from exchangelib.properties import OldTimestampEvent, TimestampEvent
from exchangelib.services import GetStreamingEvents

from bridge.errors import CalbridgeError, TransientError
from bridge.ports import MailboxNotice

from .failures import translate
from .session import EwsSession

log = logging.getLogger(__name__)

# Item changes only: mail, free/busy and status events say nothing a sync would not.
EVENT_TYPES = ("CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent")
_LOST = (ErrorInvalidSubscription, ErrorSubscriptionNotFound, ErrorExpiredSubscription)
_ERROR_IDS = re.compile(r"subscription IDs: \[(.*)\]")
GATHER_QUIET = 0.25  # seconds without a change before a changed group reopens its connection
GATHER_MAX = 5.0  # seconds a group gathers changes at most while they keep coming (a start-up's burst)
SUBSCRIBE_SHARE = 4  # Subscribe calls in flight: at most one in this many of the session's worker threads
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 30.0


class _Turns:
    """At most `limit` Subscribe calls at once in the order asked, plus those `hurry` lets go at once: a
    mailbox a first sync waits for (the start-up bounds those already, `startup_parallel`)."""

    def __init__(self, limit: int) -> None:
        self._free = limit  # below 0 while hurried calls run beyond the limit
        self._waiting: OrderedDict[int, asyncio.Future[None]] = OrderedDict()
        self._token_of: dict[str, int] = {}  # mailbox key -> its latest waiting token
        self._tokens = itertools.count()

    async def take(self, key: str) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        token = next(self._tokens)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting[token] = turn
        self._token_of[key] = token
        try:
            await turn
        except asyncio.CancelledError:
            if self._waiting.pop(token, None) is None and turn.done() and not turn.cancelled():
                self.give()  # handed the turn just as it was cancelled: pass it on
            raise
        finally:
            if self._token_of.get(key) == token:
                del self._token_of[key]

    def give(self) -> None:
        self._free += 1
        while self._free > 0 and self._waiting:
            _, turn = self._waiting.popitem(last=False)
            if not turn.done():
                self._free -= 1
                turn.set_result(None)

    def hurry(self, key: str) -> None:
        token = self._token_of.get(key)
        turn = self._waiting.pop(token, None) if token is not None else None
        if turn is not None and not turn.done():
            self._free -= 1
            turn.set_result(None)


@dataclass
class _Group:
    """Subscriptions read over one connection: subscription id -> mailbox."""

    subscriptions: dict[str, str] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class _Outcome:
    kind: str  # "closed", "invalid" (ids lost) or "broken"
    lost_ids: tuple[str, ...] = ()
    error: BaseException | None = None


def _lost_ids(error: BaseException, ids: Iterable[str]) -> tuple[str, ...]:
    """The subscription ids a GetStreamingEvents error names (exchangelib appends them to its message);
    every id of the connection when it names none."""
    match = _ERROR_IDS.search(str(getattr(error, "value", error)))
    named = tuple(re.findall(r"'([^']+)'", match.group(1))) if match else ()
    return named or tuple(ids)


def _notices(notification: Any, mailbox_of: dict[str, str]) -> MailboxNotice | None:
    mailbox = mailbox_of.get(notification.subscription_id or "")
    if mailbox is None:
        return None
    item_ids: list[str] = []
    latest: datetime | None = None
    for event in notification.events or ():
        if not isinstance(event, TimestampEvent) or event.event_type != TimestampEvent.ITEM:
            continue
        if event.item_id is not None:
            item_ids.append(event.item_id.id)
        if isinstance(event, OldTimestampEvent) and event.old_item_id is not None:
            item_ids.append(event.old_item_id.id)  # a move out of the calendar: the id we knew
        if event.timestamp is not None:
            stamp = datetime.fromtimestamp(event.timestamp.timestamp(), UTC)
            latest = stamp if latest is None or stamp > latest else latest
    if not item_ids:
        return None
    return MailboxNotice(mailbox=mailbox, item_ids=tuple(dict.fromkeys(item_ids)), committed_at=latest)


def _described(error: BaseException | None) -> BaseException | None:
    try:
        return translate(error, mailbox="a streaming connection") if error is not None else None
    except Exception:
        return error


def _read_connection(
    account: Account,
    mailbox_of: dict[str, str],
    timeout_minutes: int,
    deliver: Callable[[MailboxNotice], None],
) -> _Outcome:
    """One GetStreamingEvents connection, read to its end (blocking; on its own thread)."""
    service = GetStreamingEvents(account=account)
    try:
        for notification in service.call(
            subscription_ids=list(mailbox_of), connection_timeout=timeout_minutes
        ):
            notice = _notices(notification, mailbox_of)
            if notice is not None:
                deliver(notice)
    except _LOST as exc:
        return _Outcome("invalid", _lost_ids(exc, mailbox_of))
    except Exception as exc:
        return _Outcome("broken", error=exc)
    return _Outcome("closed")


class Streams:
    """Streaming subscriptions of the watched mailboxes, grouped onto few connections."""

    def __init__(
        self, session: EwsSession, *, per_connection: int = 200, connection_timeout: int = 30
    ) -> None:
        self._session = session
        self._per_connection = per_connection
        self._timeout = connection_timeout  # minutes, 1..30 as EWS allows
        self._queue: asyncio.Queue[MailboxNotice] = asyncio.Queue()
        self._names: dict[str, str] = {}  # lower-case address -> address as first watched
        self._subscription: dict[str, str] = {}  # lower-case address -> subscription id
        self._groups: list[_Group] = []
        self._retries: dict[str, asyncio.Task[None]] = {}
        self._closing = False
        self._turns = _Turns(max(1, session.workers // SUBSCRIBE_SHARE))
        self._first: dict[str, asyncio.Event] = {}  # key -> set once its first Subscribe ended, either way

    # ---- the set of mailboxes ----------------------------------------------------------------------------

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._names.values())

    @property
    def subscribed(self) -> frozenset[str]:
        """The watched mailboxes (lower case) whose subscription is live now; one being re-subscribed
        is missing. Exchange queues a subscription's events until a connection reads them."""
        return frozenset(self._subscription)

    async def watch(self, mailbox: str) -> None:
        """Subscribe to `mailbox`'s calendar and stream it. Idempotent. A transient failure is retried in
        the background (then a `lost` notice follows the subscription); a refusal raises."""
        key = mailbox.lower()
        if key in self._names:
            return
        self._names[key] = mailbox
        first = self._first[key] = asyncio.Event()
        try:
            await self._subscribe(key)
        except TransientError as exc:
            log.warning("subscribing to %s failed (%s); retrying in the background", mailbox, exc)
            self._retry(key)
        except CalbridgeError:
            self._names.pop(key, None)
            raise
        finally:
            first.set()
            if self._first.get(key) is first:
                del self._first[key]

    async def before_read(self, mailbox: str) -> None:
        """Before a read that catches `mailbox` up: if its first subscription is still waiting for its turn,
        let it go now and wait for it (it may fail; a retried one announces itself with a `lost` notice)."""
        first = self._first.get(mailbox.lower())
        if first is not None:
            self._turns.hurry(mailbox.lower())
            await first.wait()

    async def unwatch(self, mailbox: str) -> None:
        key = mailbox.lower()
        self._names.pop(key, None)
        retry = self._retries.pop(key, None)
        if retry is not None:
            retry.cancel()
        subscription_id = self._subscription.pop(key, None)
        if subscription_id is None:
            return
        self._leave_group(subscription_id)
        await self._unsubscribe(mailbox, subscription_id)

    async def next_notice(self) -> MailboxNotice:
        return await self._queue.get()

    async def close(self) -> None:
        """Stop every group and unsubscribe; the streams end when Exchange sees their subscriptions go."""
        self._closing = True
        tasks = [g.task for g in self._groups if g.task is not None] + list(self._retries.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        subscriptions = [(self._names.get(key, key), sid) for key, sid in self._subscription.items()]
        self._subscription.clear()
        self._groups.clear()
        await asyncio.gather(
            *(self._unsubscribe(mailbox, sid) for mailbox, sid in subscriptions), return_exceptions=True
        )

    async def _unsubscribe(self, mailbox: str, subscription_id: str) -> None:
        """Unsubscribe; one already gone (expired, lost) is what we wanted anyway."""
        with contextlib.suppress(CalbridgeError):
            await self._session.run(mailbox, lambda account: account.calendar.unsubscribe(subscription_id))

    # ---- subscriptions -----------------------------------------------------------------------------------

    async def _subscribe(self, key: str) -> None:
        mailbox = self._names[key]
        await self._turns.take(key)
        try:
            if key not in self._names or self._closing:  # unwatched while waiting for its turn
                return
            subscription_id: str = await self._session.run(
                mailbox,
                lambda account: account.calendar.subscribe_to_streaming(event_types=list(EVENT_TYPES)),
            )
        finally:
            self._turns.give()
        if key not in self._names or self._closing:  # unwatched meanwhile
            await self._unsubscribe(mailbox, subscription_id)
            return
        self._subscription[key] = subscription_id
        self._join_group(subscription_id, mailbox)

    def _retry(self, key: str, *, lost: bool = False) -> None:
        """Subscribe `key` again until it works (or it is unwatched), then announce the gap."""
        if key in self._retries or self._closing:
            return

        async def again() -> None:
            wait = BACKOFF_FIRST
            while key in self._names and not self._closing:
                try:
                    await self._subscribe(key)
                except CalbridgeError as exc:
                    log.warning(
                        "re-subscribing to %s failed (%s); next try in %.1f s", self._names[key], exc, wait
                    )
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, BACKOFF_MAX)
                    continue
                if lost and key in self._names:
                    self._queue.put_nowait(MailboxNotice(mailbox=self._names[key], lost=True))
                return

        task = asyncio.create_task(again(), name=f"ews-subscribe-{key}")
        self._retries[key] = task
        task.add_done_callback(lambda _: self._retries.pop(key, None))

    def _join_group(self, subscription_id: str, mailbox: str) -> None:
        group = next((g for g in self._groups if len(g.subscriptions) < self._per_connection), None)
        if group is None and len(self._groups) >= self._session.stream_connections:
            # Every connection we may open is full: load the emptiest one beyond the target size.
            group = min(self._groups, key=lambda g: len(g.subscriptions))
        if group is None:
            group = _Group()
            self._groups.append(group)
            group.task = asyncio.create_task(self._run_group(group), name=f"ews-stream-{len(self._groups)}")
        group.subscriptions[subscription_id] = mailbox
        group.changed.set()

    def _leave_group(self, subscription_id: str) -> None:
        for group in self._groups:
            if group.subscriptions.pop(subscription_id, None) is not None:
                group.changed.set()

    # ---- connections -------------------------------------------------------------------------------------

    def _open(self, mailbox_of: dict[str, str]) -> asyncio.Future[_Outcome]:
        """Start reading one connection on a thread of its own; its outcome arrives in the future."""
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[_Outcome] = loop.create_future()
        anchor = next(iter(mailbox_of.values()))
        account = self._session.stream_account(anchor)

        def deliver(notice: MailboxNotice) -> None:
            loop.call_soon_threadsafe(self._queue.put_nowait, notice)

        def run() -> None:
            result = _read_connection(account, mailbox_of, self._timeout, deliver)

            def settle() -> None:
                if not outcome.done():
                    outcome.set_result(result)

            with contextlib.suppress(RuntimeError):  # the loop closed first
                loop.call_soon_threadsafe(settle)

        threading.Thread(target=run, name=f"ews-stream-{anchor}", daemon=True).start()
        return outcome

    async def _run_group(self, group: _Group) -> None:
        backoff = BACKOFF_FIRST
        while not self._closing:
            if not group.subscriptions:
                await group.changed.wait()
            await self._gather(group)
            group.changed.clear()
            if not group.subscriptions:
                continue
            mailbox_of = dict(group.subscriptions)
            opened = asyncio.get_running_loop().time()
            outcome = self._open(mailbox_of)
            changed: asyncio.Future[Any] = asyncio.ensure_future(group.changed.wait())
            await asyncio.wait([outcome, changed], return_when=asyncio.FIRST_COMPLETED)
            changed.cancel()
            if not outcome.done():
                continue  # the set changed: a new connection takes the subscriptions over
            result = outcome.result()
            if result.kind == "closed":
                # A server that closes at once (shutting down) must not be asked again in a tight loop.
                if asyncio.get_running_loop().time() - opened < 1.0:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                else:
                    backoff = BACKOFF_FIRST
            elif result.kind == "invalid":
                self._resubscribe(group, result.lost_ids)
            else:
                error = _described(result.error)
                wait = getattr(error, "retry_after", None) or backoff
                log.warning("a streaming connection broke (%s); reopening in %.1f s", error, wait)
                for mailbox in dict.fromkeys(mailbox_of.values()):
                    self._queue.put_nowait(MailboxNotice(mailbox=mailbox, lost=True))
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, BACKOFF_MAX)

    @staticmethod
    async def _gather(group: _Group) -> None:
        """Return once the group's set has not changed for GATHER_QUIET, or GATHER_MAX after the call."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GATHER_MAX
        while (left := deadline - loop.time()) > 0:
            group.changed.clear()
            try:
                await asyncio.wait_for(group.changed.wait(), min(GATHER_QUIET, left))
            except TimeoutError:
                return

    def _resubscribe(self, group: _Group, lost_ids: Iterable[str]) -> None:
        for subscription_id in lost_ids:
            mailbox = group.subscriptions.pop(subscription_id, None)
            if mailbox is None:
                continue
            key = mailbox.lower()
            if self._subscription.get(key) == subscription_id:
                del self._subscription[key]
            log.info("the streaming subscription of %s was lost; subscribing again", mailbox)
            self._retry(key, lost=True)
        group.changed.set()
