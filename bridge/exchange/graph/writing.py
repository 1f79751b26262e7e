"""Writing events through Graph: create, conditional update, conditional delete (R-MERGE-5, R-GRAPH-4).

Updates and deletes carry `If-Match` with the etag the write was planned from; a stale one is 412, a
`ConflictError`, and the runtime re-plans. Without a planned version the write is conditional on the etag
just read. Categories (R-CAT-1) are read and merged: only the named ones change.

A create carries a `transactionId`, the same on every retry of the same write (derived from the mailbox and
the body, which holds the Salesforce id), so Graph answers a retried create with the event it already made
instead of a second one (R-MERGE-4).

Invitations (R-ATT-12, R-GRAPH-3): Graph mails the attendees of every event it creates or updates with
attendees, and has no way not to. So attendees are written as attendees only when invitations may go;
otherwise they are listed in the body and the `CalbridgeListedAttendees` property (`items.attendee_body`).
A meeting that already has real attendees cannot have them changed without mailing them: that write is
refused (E-EXCHANGE-REFUSED) rather than sending what the admin said not to send.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from bridge.core.model import Side
from bridge.errors import ConflictError, NotFoundError, RefusedError
from bridge.ports import Written

from .client import Answer, GraphClient, Request
from .failures import GraphFailure, translate
from .items import (
    ATTENDEE_FIELDS,
    EVENT_ID_PROPERTY,
    LISTED_PROPERTY,
    attendee_body,
    etag_key,
    event_body,
    if_match,
    listed_attendees,
    merged_categories,
    properties,
    strip_listing,
    to_exchange_item,
)
from .reading import event_path, fetch_raw, in_calendar, user_path

Send = Callable[[str, Request], Awaitable[Answer]]


def _merge(body: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in extra.items():
        if key == "singleValueExtendedProperties":
            body.setdefault(key, []).extend(value)
        else:
            body[key] = value
    return body


def transaction_id(mailbox: str, body: Mapping[str, Any]) -> str:
    """The same id for the same create (R-MERGE-4); a random one when the body names no Salesforce event,
    since two such creates may rightly be equal."""
    props = {p["id"]: p["value"] for p in body.get("singleValueExtendedProperties", ())}
    if not props.get(EVENT_ID_PROPERTY):
        return f"calbridge-{uuid.uuid4().hex}"
    digest = hashlib.sha256(json.dumps([mailbox.lower(), body], sort_keys=True, default=str).encode())
    return f"calbridge-{digest.hexdigest()[:40]}"


def _written(answer: Answer, item_id: str) -> Written:
    event = answer.body if isinstance(answer.body, dict) else {}
    version = event.get("changeKey") or etag_key(event.get("@odata.etag"))
    return Written(id=str(event.get("id") or item_id), version=version, uid=event.get("iCalUId") or None)


async def create(
    client: GraphClient,
    send: Send,
    mailbox: str,
    fields: Mapping[str, object],
    categories: Sequence[str],
    invite: bool,
) -> Written:
    label = f"new item for {mailbox}"
    body = event_body(fields, label=label)
    text = str(fields.get("body") or "")
    _merge(body, attendee_body(fields, label=label, invite=invite, text=text))
    body["categories"] = list(dict.fromkeys(categories))
    body["transactionId"] = transaction_id(mailbox, body)
    try:
        answer = await send(mailbox, Request("POST", f"{user_path(mailbox)}/events", body))
    except GraphFailure as failure:
        raise translate(failure, mailbox=mailbox) from None
    return _written(answer, "")


async def update(
    client: GraphClient,
    send: Send,
    mailbox: str,
    item_id: str,
    if_version: str | None,
    fields: Mapping[str, object],
    add_categories: Sequence[str],
    remove_categories: Sequence[str],
    invite: bool,
) -> Written:
    label = f"Exchange item {item_id} in {mailbox}"
    attendees = any(name in fields for name in ATTENDEE_FIELDS)
    current: dict[str, Any] | None = None
    if (
        if_version is None
        or add_categories
        or remove_categories
        or attendees
        or "body" in fields
        or (("start" in fields or "end" in fields) and "is_all_day" not in fields)
    ):
        found = await fetch_raw(client, mailbox, [item_id])
        if item_id not in found:
            raise NotFoundError(Side.EXCHANGE, item_id)
        current = found[item_id]
        if not await in_calendar(client, mailbox, {item_id: to_exchange_item(current)}):
            raise NotFoundError(Side.EXCHANGE, item_id)  # in Deleted Items: gone for the bridge
        if if_version is not None and current.get("changeKey") != if_version:
            raise ConflictError(Side.EXCHANGE, item_id, f"{label} changed since it was read")
    version = if_version or (str(current.get("changeKey")) if current else None)
    body = event_body(fields, label=label, all_day=bool(current and current.get("isAllDay")))
    if current is not None:
        listed = properties(current).get(LISTED_PROPERTY.lower(), "")
        text = str((current.get("body") or {}).get("content") or "")
        if "body" in fields:
            text = str(fields.get("body") or "")
        if attendees:
            if current.get("attendees") and not invite:
                raise RefusedError(
                    Side.EXCHANGE,
                    f"{label} is a meeting with invited attendees; Graph cannot change them without "
                    "mailing every attendee, and invitations are off (R-GRAPH-3)",
                    code="GraphWouldInvite",
                )
            _merge(body, attendee_body(fields, label=label, invite=invite, text=text))
        elif "body" in fields and listed:
            required, optional = listed_attendees(listed)
            again = {"required_attendees": required, "optional_attendees": optional}
            _merge(body, attendee_body(again, label=label, invite=False, text=strip_listing(text)))
        if add_categories or remove_categories:
            before = [str(c) for c in current.get("categories") or ()]
            after = merged_categories(before, add_categories, remove_categories)
            if after != before:
                body["categories"] = after
    if not body:
        uid = current.get("iCalUId") if current else None
        return Written(id=item_id, version=version, uid=uid)
    headers = if_match(version) if version else None
    try:
        answer = await send(mailbox, Request("PATCH", event_path(mailbox, item_id), body, headers))
    except GraphFailure as failure:
        raise translate(failure, mailbox=mailbox, item_id=item_id) from None
    return _written(answer, item_id)


async def delete(send: Send, mailbox: str, item_id: str, if_version: str | None) -> None:
    headers = if_match(if_version) if if_version else None
    try:
        await send(mailbox, Request("DELETE", event_path(mailbox, item_id), headers=headers))
    except GraphFailure as failure:
        raise translate(failure, mailbox=mailbox, item_id=item_id) from None
