"""Graph's `/subscriptions` calls for one mailbox's calendar (R-GRAPH-2): create, renew, delete, list ours.

A subscription watches `/users/{object id}/events` (Graph's docs advise the object id over the address,
which fails with some characters) for created, updated and deleted events, with immutable ids. Creating one
makes Graph validate both URLs against the bridge before it answers, so the routes must already be served.
Every failure is a `bridge.errors` error, except a renewal of a subscription Graph no longer has (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from bridge.errors import TransientError

from .client import GraphClient, Request
from .failures import GraphFailure, translate
from .reading import user_path

CHANGE_TYPES = "created,updated,deleted"
LISTING = ""  # the request slot of calls that concern no one mailbox


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    mailbox: str
    expires: datetime


def graph_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _expiry(body: Mapping[str, Any], asked: datetime) -> datetime:
    """The expiry Graph granted (it may shorten what was asked), else what was asked."""
    value = body.get("expirationDateTime")
    try:
        granted = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return asked
    return granted if granted.tzinfo else granted.replace(tzinfo=UTC)


def resource_of(user_id: str) -> str:
    return f"/users/{user_id}/events"


async def _send(client: GraphClient, mailbox: str, request: Request) -> Any:
    try:
        return (await client.send(mailbox or LISTING, request)).body
    except GraphFailure as failure:
        raise translate(failure, mailbox=mailbox or "subscriptions") from None


async def object_id(client: GraphClient, mailbox: str) -> str:
    """The Entra object id of the mailbox's user."""
    body = await _send(client, mailbox, Request("GET", f"{user_path(mailbox)}?$select=id"))
    found = body.get("id") if isinstance(body, dict) else None
    if not found:
        raise TransientError(f"Graph named no object id for {mailbox}")
    return str(found)


async def create(
    client: GraphClient,
    mailbox: str,
    user_id: str,
    urls: tuple[str, str],
    client_state: str,
    expires: datetime,
) -> Subscription:
    """A new subscription on the mailbox's events posting to `urls` (notifications, lifecycle)."""
    notify, lifecycle = urls
    body = {
        "changeType": CHANGE_TYPES,
        "notificationUrl": notify,
        "lifecycleNotificationUrl": lifecycle,
        "resource": resource_of(user_id),
        "expirationDateTime": graph_time(expires),
        "clientState": client_state,
    }
    made = await _send(client, mailbox, Request("POST", "subscriptions", body))
    if not isinstance(made, dict) or not made.get("id"):
        raise TransientError(f"Graph created a subscription for {mailbox} without an id")
    return Subscription(str(made["id"]), mailbox, _expiry(made, expires))


async def renew(client: GraphClient, subscription: Subscription, expires: datetime) -> Subscription | None:
    """The subscription with a later expiry (a renewal also reauthorizes it); None when Graph has it no
    more (expired or removed): subscribe again."""
    url = f"subscriptions/{quote(subscription.id, safe='')}"
    try:
        answer = await client.send(
            subscription.mailbox, Request("PATCH", url, {"expirationDateTime": graph_time(expires)})
        )
    except GraphFailure as failure:
        if failure.status == 404:
            return None
        raise translate(failure, mailbox=subscription.mailbox) from None
    body = answer.body if isinstance(answer.body, dict) else {}
    return Subscription(subscription.id, subscription.mailbox, _expiry(body, expires))


async def delete(client: GraphClient, mailbox: str, subscription_id: str) -> None:
    """The subscription gone (one already gone is fine)."""
    try:
        await client.send(mailbox, Request("DELETE", f"subscriptions/{quote(subscription_id, safe='')}"))
    except GraphFailure as failure:
        if failure.status != 404:
            raise translate(failure, mailbox=mailbox) from None


async def ours(client: GraphClient, notify_url: str) -> list[dict[str, Any]]:
    """The app's subscriptions that post to `notify_url`: left by an earlier run of this bridge, whose
    clientState is lost with that process."""
    found: list[dict[str, Any]] = []
    url: str | None = "subscriptions"
    while url:
        body = await _send(client, LISTING, Request("GET", url))
        body = body if isinstance(body, dict) else {}
        found += [s for s in body.get("value") or () if isinstance(s, dict)]
        url = body.get("@odata.nextLink")
    return [s for s in found if s.get("notificationUrl") == notify_url and s.get("id")]
