"""Subscribe (streaming, pull), GetEvents, Unsubscribe, and the XML parts of a GetStreamingEvents stream.

The stream itself (one chunked HTTP response, parts over time) lives in ``streaming.py``.
"""

from __future__ import annotations

from .context import RequestContext
from .items_xml import local
from .subscriptions import EVENT_TYPES, QueuedEvent, Subscription, SubscriptionHub
from .wire import Element, EWSError, Response, fmt_bool, fmt_time, m, parse_bool, serialize_fragment, sub, t

MAX_EVENTS_PER_NOTIFICATION = 50


def _write_event(
    parent: Element, hub: SubscriptionHub, subscription: Subscription, queued: QueuedEvent
) -> None:
    event = queued.event
    out = sub(parent, t(f"{event.kind}Event"))
    sub(out, t("Watermark"), hub.watermark(subscription, queued.index + 1))
    sub(out, t("TimeStamp"), fmt_time(event.timestamp))
    folder = hub.store.folders.get(event.folder_id)
    sub(out, t("ItemId"), Id=event.item_id, ChangeKey=event.change_key)
    sub(out, t("ParentFolderId"), Id=event.folder_id, ChangeKey=folder.change_key if folder else "")
    if event.kind == "Moved" and event.old_item_id and event.old_folder_id:
        old_folder = hub.store.folders.get(event.old_folder_id)
        sub(out, t("OldItemId"), Id=event.old_item_id)
        sub(
            out,
            t("OldParentFolderId"),
            Id=event.old_folder_id,
            ChangeKey=old_folder.change_key if old_folder else "",
        )


def subscribe(ctx: RequestContext, request: Element) -> Response:
    response = Response("Subscribe")
    for req in request:
        kind = local(req)
        try:
            if kind not in ("StreamingSubscriptionRequest", "PullSubscriptionRequest"):
                raise EWSError(
                    "ErrorInvalidSubscriptionRequest", f"{kind} subscriptions are not supported here."
                )
            streaming = kind == "StreamingSubscriptionRequest"
            all_folders = parse_bool(req.get("SubscribeToAllFolders") or "false")
            folder_holder = req.find(t("FolderIds"))
            folders = [ctx.folder(f) for f in ([] if folder_holder is None else list(folder_holder))]
            if not folders and not all_folders:
                raise EWSError("ErrorInvalidSubscriptionRequest", "The subscription names no folders.")
            mailboxes = {f.mailbox.lower() for f in folders}
            if len(mailboxes) > 1:
                raise EWSError("ErrorInvalidSubscriptionRequest", "All folders must be in one mailbox.")
            mailbox = folders[0].mailbox if folders else ctx.mailbox_named(None).address
            event_types = frozenset(e.text or "" for e in req.findall(f"{t('EventTypes')}/{t('EventType')}"))
            if streaming:
                idle = ctx.timings.streaming_idle
            else:
                minutes = int(req.findtext(t("Timeout")) or "30")
                if not 1 <= minutes <= 1440:
                    raise EWSError(
                        "ErrorInvalidSubscriptionRequest", "Timeout must be between 1 and 1440 minutes."
                    )
                idle = ctx.timings.minutes(minutes)
            subscription = ctx.hub.create(
                mailbox,
                streaming,
                None if all_folders else frozenset(f.folder_id for f in folders),
                event_types or frozenset(EVENT_TYPES) - {"StatusEvent"},
                idle,
            )
        except (EWSError, ValueError) as exc:
            code, text = (
                (exc.code, exc.text)
                if isinstance(exc, EWSError)
                else ("ErrorInvalidSubscriptionRequest", str(exc))
            )
            response.error(code, text)
            continue
        msg = response.success()
        sub(msg, m("SubscriptionId"), subscription.subscription_id)
        if not streaming:
            sub(msg, m("Watermark"), ctx.hub.watermark(subscription, subscription.next_index))
    return response


def _check_owner(ctx: RequestContext, subscription: Subscription) -> None:
    mailbox = ctx.store.mailbox(subscription.mailbox)
    if mailbox is None or not ctx.can_access(mailbox):
        raise EWSError("ErrorSubscriptionAccessDenied", "The subscription belongs to another account.")


def get_events(ctx: RequestContext, request: Element) -> Response:
    response = Response("GetEvents")
    try:
        subscription = ctx.hub.find(request.findtext(m("SubscriptionId")) or "", streaming=False)
        _check_owner(ctx, subscription)
        previous = request.findtext(m("Watermark")) or ""
        index = ctx.hub.read_watermark(subscription, previous)
    except EWSError as exc:
        response.error(exc.code, exc.text)
        return response
    page, more = ctx.hub.pull(subscription, index, MAX_EVENTS_PER_NOTIFICATION)
    msg = response.success()
    note = sub(msg, m("Notification"))
    sub(note, t("SubscriptionId"), subscription.subscription_id)
    sub(note, t("PreviousWatermark"), previous)
    sub(note, t("MoreEvents"), fmt_bool(more))
    if page:
        for queued in page:
            _write_event(note, ctx.hub, subscription, queued)
    else:
        status = sub(note, t("StatusEvent"))
        sub(status, t("Watermark"), ctx.hub.watermark(subscription, max(index, subscription.next_index)))
    return response


def unsubscribe(ctx: RequestContext, request: Element) -> Response:
    response = Response("Unsubscribe")
    try:
        subscription_id = (request.findtext(m("SubscriptionId")) or "").strip()
        subscription = ctx.hub.subscriptions.get(subscription_id)
        if subscription is not None:
            _check_owner(ctx, subscription)
        ctx.hub.remove(subscription_id)
        response.success()
    except EWSError as exc:
        response.error(exc.code, exc.text)
    return response


def streaming_part(
    hub: SubscriptionHub,
    batches: list[tuple[Subscription, list[QueuedEvent]]],
    status: str,
    error: EWSError | None = None,
    bad_ids: list[str] | None = None,
) -> bytes:
    """One envelope of a GetStreamingEvents stream: notifications (at most 50 events each) and a status."""
    response = Response("GetStreamingEvents")
    if error is not None:
        msg = response.error(error.code, error.text)
        if bad_ids:
            holder = sub(msg, m("ErrorSubscriptionIds"))
            for bad in bad_ids:
                sub(holder, m("SubscriptionId"), bad)
    else:
        msg = response.success()
        non_empty = [(s, events) for s, events in batches if events]
        if non_empty:
            notes = sub(msg, m("Notifications"))
            for subscription, events in non_empty:
                for start in range(0, len(events), MAX_EVENTS_PER_NOTIFICATION):
                    note = sub(notes, m("Notification"))
                    sub(note, t("SubscriptionId"), subscription.subscription_id)
                    for queued in events[start : start + MAX_EVENTS_PER_NOTIFICATION]:
                        _write_event(note, hub, subscription, queued)
    sub(msg, m("ConnectionStatus"), status)
    return serialize_fragment(response.envelope)


HANDLERS = {"Subscribe": subscribe, "GetEvents": get_events, "Unsubscribe": unsubscribe}
