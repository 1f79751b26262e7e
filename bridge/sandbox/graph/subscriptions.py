"""Change notifications: subscriptions on ``/users/{id}/events``, the validation handshake, delivery, renewal,
expiry and lifecycle notifications, as Graph runs them for Outlook resources.

Creating (and never renewing) a subscription POSTs ``<notificationUrl>?validationToken=...`` (and the same
to the lifecycle URL); the endpoint must answer 200 with the token as text/plain within 10 s. Changes in
the mailbox's calendar are gathered for a moment and POSTed as ``{"value": [...]}``, several per POST; a
2xx within 3 s is an acknowledgement, anything else is retried on a schedule and then dropped. Subscriptions
live on the server (they survive a restart), expire at ``expirationDateTime`` and are renewed by PATCH.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import ssl
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from .errors import GraphError
from .settings import GraphTimings

log = logging.getLogger(__name__)
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-6] + "0000000+00:00"


@dataclass
class Subscription:
    id: str
    resource: str  # as the client sent it
    mailbox: str
    user_id: str
    change_types: list[str]
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None
    expiration: datetime
    immutable_ids: bool
    application_id: str
    reauthorization_due: float | None = None  # loop time when notifications pause, until reauthorized
    reauthorize_sent: bool = False

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "@odata.context": f"{base}/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_time(self.expiration),
            "creatorId": self.application_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed_attempts: int = 0
    dropped: int = 0
    lifecycle_sent: int = 0
    validations: int = 0


@dataclass
class _Outgoing:
    url: str
    payload: dict[str, Any]
    attempt: int = 0


@dataclass
class Hub:
    """Every subscription of the sandbox and the deliveries under way."""

    timings: GraphTimings
    tenant_id: str
    client_ssl: ssl.SSLContext
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    stats: DeliveryStats = field(default_factory=DeliveryStats)
    drop_next: int = 0  # notifications to lose (the ``drop_notifications`` fault)
    missed_after_drop: bool = False  # then tell the subscriptions that lost some (lifecycle ``missed``)
    _missed: set[str] = field(default_factory=set)
    _pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # url -> notifications
    _flush: asyncio.TimerHandle | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _session: aiohttp.ClientSession | None = None

    # ---- the subscriber's endpoint -------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.client_ssl, limit=64)
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    @staticmethod
    def check_url(url: object, name: str) -> str:
        """Graph wants https; the sandbox also lets a subscriber on this machine listen on plain http."""
        if not isinstance(url, str):
            raise GraphError(400, "ValidationError", f"The {name} is required.")
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and parts.hostname in _LOOPBACK:
            return url
        raise GraphError(400, "ValidationError", f"The {name} must be an https URL ('{url}').")

    async def validate(self, url: str) -> None:
        """The handshake: 200, text/plain, body = the URL-decoded token, within the timeout; else 400."""
        self.stats.validations += 1
        token = (
            f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        )
        parts = urlsplit(url)
        query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("validationToken", token)])
        target = urlunsplit(parts._replace(query=query))
        failed = (
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to "
            "validation request."
        )
        try:
            async with asyncio.timeout(self.timings.validation_timeout):
                async with self._http().post(
                    target, data=b"", headers={"Content-Type": "text/plain; charset=utf-8"}
                ) as answer:
                    text = await answer.text()
                    status = answer.status
        except TimeoutError:
            raise GraphError(400, "InvalidRequest", "Subscription validation request timed out.") from None
        except aiohttp.ClientError as exc:
            raise GraphError(400, "ValidationError", f"{failed} ({exc.__class__.__name__})") from None
        if status != 200:
            raise GraphError(400, "ValidationError", failed)
        if text != token:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Response must exactly match validationToken query "
                "parameter.",
            )

    # ---- subscriptions -------------------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def expiry_from(self, value: object) -> datetime:
        if not isinstance(value, str):
            raise GraphError(400, "ValidationError", "The expirationDateTime is required.")
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise GraphError(400, "BadRequest", f"Cannot convert '{value}' to a DateTimeOffset.") from None
        moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
        now = self.clock()
        limit = self.timings.max_subscription_minutes
        if moment <= now:
            raise GraphError(400, "ExtensionError", "Subscription expiration must be in the future.")
        if moment > now + timedelta(minutes=limit):
            raise GraphError(
                400,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: BadRequest; Reason: Subscription expiration can "
                f"only be {limit} minutes in the future.]",
            )
        return moment

    def get(self, subscription_id: str) -> Subscription:
        found = self.subscriptions.get(subscription_id)
        if found is None or found.expiration <= self.clock():
            raise GraphError(
                404, "ResourceNotFound", f"The object was not found. Subscription Id: {subscription_id}"
            )
        return found

    def reauthorized(self, subscription: Subscription) -> None:
        subscription.reauthorization_due = None
        subscription.reauthorize_sent = False

    # ---- notifications -------------------------------------------------------------------------------------

    def notify(self, mailbox: str, change: str, resource_id: Callable[[bool], str], etag: str | None) -> None:
        """A change in ``mailbox``'s calendar: queue a notification for every subscription that wants it."""
        loop_time = _loop_time()
        for sub in list(self.subscriptions.values()):
            if sub.mailbox.lower() != mailbox.lower() or change not in sub.change_types:
                continue
            if sub.expiration <= self.clock():
                continue
            if (
                sub.reauthorization_due is not None
                and loop_time is not None
                and loop_time >= sub.reauthorization_due
            ):
                continue  # paused until reauthorized: the change is lost, as Graph's docs warn
            if self.drop_next > 0:
                self.drop_next -= 1
                self.stats.dropped += 1
                if self.missed_after_drop and sub.id not in self._missed:
                    self._missed.add(sub.id)
                    self.lifecycle(sub, "missed")
                if self.drop_next == 0:
                    self._missed.clear()
                    self.missed_after_drop = False
                continue
            event_id = resource_id(sub.immutable_ids)
            data: dict[str, Any] = {
                "@odata.type": "#Microsoft.Graph.Event",
                "@odata.id": f"Users/{sub.user_id}/Events/{event_id}",
                "id": event_id,
            }
            if etag is not None:
                data["@odata.etag"] = etag
            self._queue(
                sub.notification_url,
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": graph_time(sub.expiration),
                    "changeType": change,
                    "resource": f"Users/{sub.user_id}/Events/{event_id}",
                    "resourceData": data,
                    "clientState": sub.client_state,
                    "tenantId": self.tenant_id,
                },
            )

    def lifecycle(self, sub: Subscription, event: str) -> bool:
        """Send a lifecycle notification; False when the subscription has no lifecycle URL."""
        if sub.lifecycle_url is None:
            return False
        self.stats.lifecycle_sent += 1
        self._queue(
            sub.lifecycle_url,
            {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": graph_time(sub.expiration),
                "tenantId": self.tenant_id,
                "clientState": sub.client_state,
                "lifecycleEvent": event,
            },
        )
        return True

    def _queue(self, url: str, notification: dict[str, Any]) -> None:
        self._pending.setdefault(url, []).append(notification)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet: sent once the loop runs and something else flushes
        if self._flush is None:
            self._flush = loop.call_later(self.timings.notification_gather, self._send_pending)

    def _send_pending(self) -> None:
        self._flush = None
        pending, self._pending = self._pending, {}
        for url, values in pending.items():
            self._spawn(self._deliver(_Outgoing(url, {"value": values})))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, out: _Outgoing) -> None:
        while True:
            try:
                async with asyncio.timeout(self.timings.notification_timeout):
                    async with self._http().post(out.url, json=out.payload) as answer:
                        await answer.read()
                        ok = 200 <= answer.status < 300
            except (TimeoutError, aiohttp.ClientError, OSError):
                ok = False
            if ok:
                self.stats.delivered += len(out.payload["value"])
                return
            self.stats.failed_attempts += 1
            if out.attempt >= len(self.timings.retry_delays):
                self.stats.dropped += len(out.payload["value"])
                log.info("dropping %d notifications for %s", len(out.payload["value"]), out.url)
                return
            await asyncio.sleep(self.timings.retry_delays[out.attempt])
            out.attempt += 1

    # ---- housekeeping --------------------------------------------------------------------------------------

    def sweep(self) -> None:
        """Expired subscriptions go; those near expiry are asked to reauthorize (once per renewal)."""
        now = self.clock()
        for sub in list(self.subscriptions.values()):
            if sub.expiration <= now:
                del self.subscriptions[sub.id]
            elif (
                not sub.reauthorize_sent
                and sub.expiration - now <= timedelta(seconds=self.timings.reauthorize_before)
                and self.lifecycle(sub, "reauthorizationRequired")
            ):
                sub.reauthorize_sent = True

    def require_reauthorization(self, sub: Subscription) -> bool:
        loop_time = _loop_time()
        if loop_time is not None and sub.reauthorization_due is None:
            sub.reauthorization_due = loop_time + self.timings.reauthorize_grace
        sub.reauthorize_sent = True
        return self.lifecycle(sub, "reauthorizationRequired")

    def snapshot(self) -> list[dict[str, Any]]:
        out = []
        for sub in self.subscriptions.values():
            data = asdict(sub)
            data["expiration"] = sub.expiration.isoformat()
            data["reauthorization_due"] = None
            out.append(data)
        return out

    def restore(self, entries: list[dict[str, Any]]) -> None:
        for data in entries:
            data = {**data, "expiration": datetime.fromisoformat(data["expiration"])}
            sub = Subscription(**data)
            self.subscriptions[sub.id] = sub


def _loop_time() -> float | None:
    with contextlib.suppress(RuntimeError):
        return asyncio.get_running_loop().time()
    return None


def client_state_ok(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 128:
        raise GraphError(
            400, "ValidationError", "The clientState must be a string of at most 128 characters."
        )
    return value


def new_secret() -> str:
    return secrets.token_urlsafe(16)
