"""``calendarView/delta`` and ``/subscriptions``: how a client learns about changes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from ..exchange.model import Mailbox
from .api_events import window as read_window
from .calls import Call, Reply
from .errors import GraphError
from .events_json import render
from .ids import user_object_id
from .state import GraphState
from .subscriptions import CHANGE_TYPES, Hub, Subscription, client_state_ok
from .zones import iso_utc

_UNSUPPORTED_IN_DELTA = ("$select", "$expand", "$filter", "$orderby", "$search")
_RESOURCE = re.compile(r"^/?(?:users/([^/]+)|me)(?:/calendar)?/events$", re.IGNORECASE)


def delta(state: GraphState, call: Call, box: Mailbox, groups: dict[str, str]) -> Reply:
    for option in _UNSUPPORTED_IN_DELTA:
        if option in call.query:
            raise GraphError(
                400,
                "ErrorInvalidUrlQuery",
                f"The query parameter '{option}' is not supported with delta on events.",
            )
    base_path = f"{call.base}/{call.path}"

    def restart(start: datetime, end: datetime) -> str:
        return f"{base_path}?{urlencode({'startDateTime': iso_utc(start), 'endDateTime': iso_utc(end)})}"

    if "$skiptoken" in call.query:
        pending, offset = state.delta.resume(box.address, call.query["$skiptoken"], restart)
    else:
        token = call.query.get("$deltatoken")
        window = read_window(call) if token is None else None
        pending, offset = state.delta.begin(state.expand, state.store, box.address, window, token, restart), 0
    size = min(call.prefer.max_page_size or state.timings.default_page_size, state.timings.max_page_size)
    entries = [*(("changed", i) for i in pending.changed), *(("removed", i) for i in pending.removed)]
    view = state.view(call)
    user = user_object_id(box.address)
    values: list[dict[str, Any]] = []
    for kind, item_id in entries[offset : offset + size]:
        item = state.find(item_id) if kind == "changed" else None
        if item is not None and item.folder_id == box.folder("calendar").folder_id:
            values.append(
                {"@odata.type": "#microsoft.graph.event", **render(item, state.view_for(view, item), user)}
            )
        else:
            values.append(
                {
                    "@odata.type": "#microsoft.graph.event",
                    "id": state.ids.render(item_id, view.immutable),
                    "@removed": {"reason": "deleted"},
                }
            )
    body: dict[str, Any] = {"@odata.context": f"{call.base}/$metadata#Collection(event)"}
    if offset + size < len(entries):
        body["@odata.nextLink"] = f"{base_path}?$skiptoken={state.delta.park(pending, offset + size)}"
    else:
        body["@odata.deltaLink"] = f"{base_path}?$deltatoken={state.delta.finish(pending)}"
    body["value"] = values
    applied = ["odata.track-changes", *call.prefer.applied()]
    return Reply(200, body, {"Preference-Applied": ", ".join(applied)})


# ---- subscriptions -------------------------------------------------------------------------------------


def _change_types(value: object) -> list[str]:
    if not isinstance(value, str) or not value.strip():
        raise GraphError(400, "ValidationError", "The changeType is required.")
    kinds = [part.strip() for part in value.split(",")]
    for kind in kinds:
        if kind not in CHANGE_TYPES:
            raise GraphError(400, "ValidationError", f"'{kind}' is not a supported changeType for events.")
    return kinds


async def create_subscription(state: GraphState, call: Call, groups: dict[str, str]) -> Reply:
    body = call.body if isinstance(call.body, dict) else None
    if body is None:
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    if body.get("includeResourceData"):
        raise GraphError(
            400,
            "ValidationError",
            "Notifications with resource data are not reproduced by the Graph sandbox.",
        )
    resource = body.get("resource")
    match = _RESOURCE.match(resource) if isinstance(resource, str) else None
    if match is None:
        raise GraphError(400, "ExtensionError", f"Resource '{resource}' is not supported by this sandbox.")
    if match.group(1) is None:
        raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    box = state.mailbox(match.group(1))
    kinds = _change_types(body.get("changeType"))
    expiry = state.hub.expiry_from(body.get("expirationDateTime"))
    url = Hub.check_url(body.get("notificationUrl"), "notificationUrl")
    lifecycle = body.get("lifecycleNotificationUrl")
    lifecycle_url = Hub.check_url(lifecycle, "lifecycleNotificationUrl") if lifecycle is not None else None
    client_state = client_state_ok(body.get("clientState"))
    await state.hub.validate(url)
    if lifecycle_url is not None and lifecycle_url != url:
        await state.hub.validate(lifecycle_url)
    sub = Subscription(
        id=state.hub.new_id(),
        resource=resource,  # type: ignore[arg-type]
        mailbox=box.address,
        user_id=user_object_id(box.address),
        change_types=kinds,
        notification_url=url,
        lifecycle_url=lifecycle_url,
        client_state=client_state,
        expiration=expiry,
        immutable_ids=call.prefer.immutable_ids,
        application_id=state.identity.client_id,
    )
    state.hub.subscriptions[sub.id] = sub
    return Reply(201, sub.to_json(call.base))


async def list_subscriptions(state: GraphState, call: Call, groups: dict[str, str]) -> Reply:
    now = state.hub.clock()
    subs = [s.to_json(call.base) for s in state.hub.subscriptions.values() if s.expiration > now]
    for entry in subs:
        del entry["@odata.context"]
    return Reply(200, {"@odata.context": f"{call.base}/$metadata#subscriptions", "value": subs})


async def get_subscription(state: GraphState, call: Call, groups: dict[str, str]) -> Reply:
    return Reply(200, state.hub.get(groups["sid"]).to_json(call.base))


async def renew_subscription(state: GraphState, call: Call, groups: dict[str, str]) -> Reply:
    sub = state.hub.get(groups["sid"])
    body = call.body if isinstance(call.body, dict) else {}
    if "expirationDateTime" in body:
        sub.expiration = state.hub.expiry_from(body["expirationDateTime"])
    state.hub.reauthorized(sub)  # a renewal reauthorizes too
    return Reply(200, sub.to_json(call.base))


async def delete_subscription(state: GraphState, call: Call, groups: dict[str, str]) -> Reply:
    sub = state.hub.get(groups["sid"])
    del state.hub.subscriptions[sub.id]
    return Reply(204)


async def reauthorize(state: GraphState, call: Call, groups: dict[str, str]) -> Reply:
    state.hub.reauthorized(state.hub.get(groups["sid"]))
    return Reply(204)
