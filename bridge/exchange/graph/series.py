"""Recurring series through Graph (SPEC §15, reference/recurrence.md §4): read a master with its occurrences
and exceptions as a core `Series`, create one, end it early, give it a new pattern. The runtime drives these
through the `MailboxSeries` calls of `GraphMailboxes`, as it drives the EWS provider's.

Graph notifies an edited or deleted occurrence as an update of its master, so the runtime answers a master's
change with `read_series`: the master (its `recurrence`) and its `instances` in the window (occurrences and
exceptions with their `originalStart`), which the core diffs against the pairs it keeps. Graph v1.0 does not
list cancelled occurrences (only beta's `cancelledOccurrences` does): the core finds them as the original
starts the pattern gives in the window with no instance (`bridge.core.series.missing`).

Series are written as the EWS provider writes them: the start and end in UTC (all-day: dates in the
mailbox's zone), the range starting on the series' first local date, no invitations (R-ATT-12, R-GRAPH-3:
attendees are listed, not invited), and master updates conditional on the changeKey just read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from bridge.core.fields import item_from_exchange
from bridge.core.model import Policy, Side
from bridge.core.patterns import Anchor
from bridge.core.patterns_ews import EwsRecurrence
from bridge.core.patterns_graph import ews_from_graph, graph_recurrence, pattern_from_graph
from bridge.core.series import Occurrence, Series
from bridge.errors import MappingError, NotFoundError
from bridge.ports import Written

from .client import GraphClient, Request
from .failures import GraphFailure, translate
from .items import (
    ATTENDEE_FIELDS,
    EXPAND,
    attendee_body,
    event_body,
    iana_zone,
    if_match,
    parse_instant,
    to_exchange_item,
    windows_zone,
)
from .reading import _iso, event_path, fetch_raw, in_calendar, user_path
from .writing import _merge, _written, transaction_id

_READS = 3  # a series still changing after these is read as last seen: its next notification reads it again
PAGE_SIZE = 100


async def read_series(
    client: GraphClient, mailbox: str, master_id: str, start: datetime, end: datetime, policy: Policy
) -> Series:
    """The series of `master_id` with its instances overlapping [start, end). Raises NotFoundError when
    the master is gone (or in Deleted Items, where Graph still answers it by its immutable id).

    The master's changeKey is read before the instances too, and the reads are made again while it moved:
    an occurrence edited or the pattern changed between them would pair old instances with a new master."""
    instances: list[dict[str, Any]] = []
    master: dict[str, Any] = {}
    for _attempt in range(_READS):
        before = await _master(client, mailbox, master_id)
        instances = await _instances(client, mailbox, master_id, start, end)
        master = await _master(client, mailbox, master_id)
        if master.get("changeKey") == before.get("changeKey"):
            break
    if instances:
        first = to_exchange_item(instances[0])
        if not await in_calendar(client, mailbox, {first.item_id: first}):
            raise NotFoundError(Side.EXCHANGE, master_id)  # the series was moved to Deleted Items
    occurrences = tuple(_occurrence(found, policy) for found in instances)
    copy = item_from_exchange(to_exchange_item(master), policy)
    recurrence = master.get("recurrence") or {}
    span = recurrence.get("range") or {}
    zone = _zone(span.get("recurrenceTimeZone") or master.get("originalStartTimeZone"))
    local_start = _local(copy_start(master), ZoneInfo(zone))
    try:
        first_day = date.fromisoformat(str(span.get("startDate")))
    except ValueError:
        first_day = local_start.date()
    return Series(
        side=Side.EXCHANGE,
        id=str(master.get("id") or master_id),
        version=series_version(str(master.get("changeKey") or ""), occurrences),
        modified=copy.modified,
        content=copy.content,
        rule=pattern_from_graph(recurrence),
        anchor=Anchor(first_day, local_start.time(), zone),
        occurrences=tuple(sorted(occurrences, key=lambda o: o.original_start)),
        deleted=frozenset(),  # Graph v1.0 lists no cancelled occurrences; the core expands the pattern
        paired_id=copy.paired_id,
        uid=copy.uid,
        categories=copy.categories,
    )


def series_version(change_key: str, occurrences: Sequence[Occurrence]) -> str:
    """The master's changeKey and the instances as read: an instance changed between the reads gives a
    version never read again, so the next read is planned, not taken for a replay (R-MERGE-4)."""
    seen = sorted(f"{o.id}:{o.version}:{int(o.exception)}" for o in occurrences)
    return f"{change_key}/{hashlib.sha256(','.join(seen).encode()).hexdigest()[:12]}"


async def create_series(
    client: GraphClient,
    mailbox: str,
    fields: Mapping[str, object],
    rule: EwsRecurrence,
    categories: Sequence[str],
) -> Written:
    """A new master with `fields` (its first occurrence) and `rule`; attendees are listed, not invited
    (R-GRAPH-3). A retried create returns the series already made (its transactionId, R-MERGE-4)."""
    label = f"new series for {mailbox}"
    body = _body(fields, rule, label=label)
    if any(name in fields for name in ATTENDEE_FIELDS):
        _merge(body, attendee_body(fields, label=label, invite=False, text=str(fields.get("body") or "")))
    body["categories"] = list(dict.fromkeys(categories))
    body["transactionId"] = transaction_id(mailbox, body)
    try:
        answer = await client.send(mailbox, Request("POST", f"{user_path(mailbox)}/events", body))
    except GraphFailure as failure:
        raise translate(failure, mailbox=mailbox) from None
    return _written(answer, "")


async def end_series(client: GraphClient, mailbox: str, master_id: str, last: date) -> Written:
    """ "This and following" deleted on the other side (R-REC-4): the master's range ends on `last`, the
    local date of its last remaining occurrence. Raises NotFoundError when the master is gone."""
    master = await _master(client, mailbox, master_id)
    recurrence = master.get("recurrence") or {}
    rule = _rule(recurrence, master_id)
    first = rule.boundary_args["start"]
    assert isinstance(first, date)
    ended = replace(rule, boundary="EndDatePattern", boundary_args={"start": first, "end": max(last, first)})
    zone = (recurrence.get("range") or {}).get("recurrenceTimeZone") or None
    return await _patch(client, mailbox, master, {"recurrence": graph_recurrence(ended, zone)})


async def rebuild_series(
    client: GraphClient, mailbox: str, master_id: str, fields: Mapping[str, object], rule: EwsRecurrence
) -> Written:
    """A new pattern or start (R-REC-5): the master's span (`fields`) and recurrence replaced in one update.
    Exchange drops the master's exceptions and deletions with it; the core writes back those whose original
    start the new pattern still gives. Raises NotFoundError when the master is gone."""
    master = await _master(client, mailbox, master_id)
    label = f"series {master_id} in {mailbox}"
    body = _body(fields, rule, label=label, all_day=bool(master.get("isAllDay")))
    if any(name in fields for name in ATTENDEE_FIELDS):
        text = str(fields.get("body") or (master.get("body") or {}).get("content") or "")
        _merge(body, attendee_body(fields, label=label, invite=False, text=text))
    return await _patch(client, mailbox, master, body)


# ---------------------------------------------------------------------------------------------- helpers


def _body(
    fields: Mapping[str, object], rule: EwsRecurrence, *, label: str, all_day: bool | None = None
) -> dict[str, Any]:
    """The event body of a master. With a `time_zone` the series expands in it, a timed one too (its
    start and end are written in that zone's wall-clock time, as EWS writes a start's time zone)."""
    plain = {k: v for k, v in fields.items() if k not in ATTENDEE_FIELDS}
    body = event_body(plain, label=label, all_day=all_day)
    zone_name = fields.get("time_zone")
    windows = windows_zone(str(zone_name), item=label) if zone_name else None
    if windows and not fields.get("is_all_day", all_day):
        local = ZoneInfo(str(zone_name))
        for name in ("start", "end"):
            value = fields.get(name)
            if isinstance(value, datetime):
                moment = value if value.tzinfo else value.replace(tzinfo=UTC)
                shown = moment.astimezone(local).replace(tzinfo=None, microsecond=0)
                body[name] = {"dateTime": shown.isoformat(), "timeZone": windows}
    try:
        body["recurrence"] = graph_recurrence(rule, windows)
    except (KeyError, ValueError, IndexError) as error:
        raise MappingError(f"{label}: recurrence {rule.pattern}/{rule.boundary}: {error}") from None
    return body


def _rule(recurrence: Any, master_id: str) -> EwsRecurrence:
    try:
        return ews_from_graph(recurrence)
    except ValueError as error:
        raise MappingError(f"Exchange series {master_id}: {error}") from None


async def _master(client: GraphClient, mailbox: str, master_id: str) -> dict[str, Any]:
    found = (await fetch_raw(client, mailbox, [master_id])).get(master_id)
    if found is None or not found.get("recurrence") or found.get("type") != "seriesMaster":
        raise NotFoundError(Side.EXCHANGE, master_id)
    return found


async def _instances(
    client: GraphClient, mailbox: str, master_id: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    query = urlencode(
        {"startDateTime": _iso(start), "endDateTime": _iso(end), "$expand": EXPAND, "$top": str(PAGE_SIZE)},
        quote_via=quote,
    )
    found: list[dict[str, Any]] = []
    url: str | None = f"{event_path(mailbox, master_id)}/instances?{query}"
    while url:
        try:
            answer = await client.send(mailbox, Request("GET", url))
        except GraphFailure as failure:
            raise translate(failure, mailbox=mailbox, item_id=master_id) from None
        body = answer.body if isinstance(answer.body, dict) else {}
        found += [e for e in body.get("value") or () if isinstance(e, dict)]
        url = body.get("@odata.nextLink")
    return found


async def _patch(
    client: GraphClient, mailbox: str, master: Mapping[str, Any], body: dict[str, Any]
) -> Written:
    master_id = str(master.get("id"))
    headers = if_match(str(master["changeKey"])) if master.get("changeKey") else None
    try:
        answer = await client.send(mailbox, Request("PATCH", event_path(mailbox, master_id), body, headers))
    except GraphFailure as failure:
        raise translate(failure, mailbox=mailbox, item_id=master_id) from None
    return _written(answer, master_id)


def _occurrence(found: Mapping[str, Any], policy: Policy) -> Occurrence:
    item = to_exchange_item(found)
    copy = item_from_exchange(item, policy)
    original = parse_instant(found.get("originalStart"))
    if original is None:
        original = item.start if isinstance(item.start, datetime) else _midnight(item.start)
    return Occurrence(
        original, item.item_id, copy.content, item.change_key, exception=found.get("type") == "exception"
    )


def copy_start(master: Mapping[str, Any]) -> datetime | date:
    return to_exchange_item(master).start


def _zone(windows: Any) -> str:
    name = iana_zone(str(windows)) if windows else None
    try:
        ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return "UTC"
    return name or "UTC"


def _local(value: datetime | date, zone: ZoneInfo) -> datetime:
    """A master's start in its zone; an all-day master's is a date: its midnight."""
    if isinstance(value, datetime):
        return value.astimezone(zone)
    return datetime.combine(value, time(0), zone)


def _midnight(value: date) -> datetime:
    return datetime.combine(value, time(0), UTC)
