"""Reading a calendar through Graph: events by id, a window (calendarView), changes (calendarView/delta).

Events by id are read with `$expand` of our two extended properties, many at a time in `$batch` calls;
delta answers carry no extended properties (Graph allows no `$expand` there), so the events a delta page
names are read that way too. An occurrence or exception of a series stands for its master, which is what
the EWS provider reports (a series is one item).

Delta tokens hold a fixed window; the bridge's sync state is that window and Graph's link. A window older
than `WINDOW_REFRESH` is started over (a `StreamGapError`, so the runtime reconciles, R-TIME-3), so it keeps
covering what the runtime's window covers. Graph reports events moved out of the window as removed: one
still there, outside the window, is reported as changed, not deleted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from bridge.core.fields import ExchangeItem
from bridge.errors import MappingError, StreamGapError
from bridge.ports import MailboxChanges

from .client import Answer, GraphClient, Request
from .failures import GraphFailure, translate
from .items import EXPAND, to_exchange_item

PAST_DAYS, FUTURE_DAYS = 365, 730  # the delta window: every window the runtime may ask for (R-SCOPE-1)
WINDOW_REFRESH = timedelta(days=7)
PAGE_SIZE = 100
EVIDENCE_DAYS = 30
MASTERS_KEPT = 50_000  # occurrence ids remembered per mailbox, to name the master of one removed


def user_path(mailbox: str) -> str:
    return f"users/{quote(mailbox, safe='@')}"


def event_path(mailbox: str, item_id: str) -> str:
    return f"{user_path(mailbox)}/events/{quote(item_id, safe='')}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def fetch_raw(
    client: GraphClient, mailbox: str, item_ids: Collection[str]
) -> dict[str, dict[str, Any]]:
    """Graph's JSON of the events by id (read in `$batch` calls); ids Graph does not know are left out."""
    ids = list(dict.fromkeys(item_ids))
    query = urlencode({"$expand": EXPAND}, quote_via=quote)
    answers = await client.batch(mailbox, [Request("GET", f"{event_path(mailbox, i)}?{query}") for i in ids])
    found: dict[str, dict[str, Any]] = {}
    for item_id, answer in zip(ids, answers, strict=True):
        if isinstance(answer, GraphFailure):
            if answer.status in (400, 404) and answer.code in (
                "ErrorItemNotFound",
                "ErrorInvalidIdMalformed",
            ):
                continue
            if answer.status == 404:
                continue
            raise translate(answer, mailbox=mailbox, item_id=item_id)
        if isinstance(answer.body, dict):
            found[item_id] = answer.body
    return found


def _items(raw: dict[str, dict[str, Any]]) -> dict[str, ExchangeItem]:
    return {item_id: to_exchange_item(event) for item_id, event in raw.items()}


def _span(item: ExchangeItem) -> tuple[datetime, datetime]:
    """The UTC instants an item covers (an all-day item: its dates, a day wider for any zone)."""

    def moment(value: datetime | date, shift: int) -> datetime:
        if isinstance(value, datetime):
            return value
        return datetime(value.year, value.month, value.day, tzinfo=UTC) + timedelta(days=shift)

    return moment(item.start, -1), moment(item.end, 1)


async def _pages(client: GraphClient, mailbox: str, url: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        answer = await _get(client, mailbox, next_url)
        body = answer.body if isinstance(answer.body, dict) else {}
        events += [e for e in body.get("value") or () if isinstance(e, dict)]
        next_url = body.get("@odata.nextLink")
    return events


async def _get(client: GraphClient, mailbox: str, url: str) -> Answer:
    try:
        return await client.send(mailbox, Request("GET", url))
    except GraphFailure as failure:
        raise translate(failure, mailbox=mailbox) from None


async def in_calendar(client: GraphClient, mailbox: str, items: Mapping[str, ExchangeItem]) -> set[str]:
    """The ids of `items` still in the calendar: an event in Deleted Items still answers by its immutable
    id, so each one is looked for in a calendarView of its own span (R-DEL-11)."""
    checks = []
    for item in items.values():
        start, end = _span(item)
        query = urlencode(
            {
                "startDateTime": _iso(start - timedelta(minutes=1)),
                "endDateTime": _iso(end + timedelta(minutes=1)),
                "$select": "id,seriesMasterId",
                "$top": "1000",
            },
            quote_via=quote,
        )
        checks.append(Request("GET", f"{user_path(mailbox)}/calendarView?{query}"))
    answers = await client.batch(mailbox, checks)
    kept: set[str] = set()
    for item_id, answer in zip(items, answers, strict=True):
        if isinstance(answer, GraphFailure):
            raise translate(answer, mailbox=mailbox, item_id=item_id)
        body = answer.body if isinstance(answer.body, dict) else {}
        seen = {e.get("id") for e in body.get("value") or ()}
        seen |= {e.get("seriesMasterId") for e in body.get("value") or ()}
        if item_id in seen or body.get("@odata.nextLink"):  # a crowded day is no proof of a move
            kept.add(item_id)
    return kept


async def read(client: GraphClient, mailbox: str, item_ids: Collection[str]) -> dict[str, ExchangeItem]:
    """`ExchangeItem`s by id; ids gone, or moved out of the calendar (R-DEL-11), are left out."""
    items = _items(await fetch_raw(client, mailbox, item_ids))
    if not items:
        return {}
    kept = await in_calendar(client, mailbox, items)
    return {item_id: item for item_id, item in items.items() if item_id in kept}


async def window(client: GraphClient, mailbox: str, start: datetime, end: datetime) -> list[ExchangeItem]:
    """Every item overlapping [start, end), as calendarView expands it (series as their occurrences)."""
    query = urlencode(
        {"startDateTime": _iso(start), "endDateTime": _iso(end), "$expand": EXPAND, "$top": str(PAGE_SIZE)},
        quote_via=quote,
    )
    events = await _pages(client, mailbox, f"{user_path(mailbox)}/calendarView?{query}")
    found: dict[str, ExchangeItem] = {}
    for event in events:
        item = to_exchange_item(event)
        found[item.item_id] = item
    return list(found.values())


# ------------------------------------------------------------------------------------------------ delta


def _state(start: datetime, end: datetime, link: str) -> str:
    return json.dumps({"start": _iso(start), "end": _iso(end), "link": link})


def _parse_state(state: str) -> tuple[datetime, datetime, str]:
    try:
        data = json.loads(state)
        start = datetime.fromisoformat(data["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(data["end"].replace("Z", "+00:00"))
        return start, end, str(data["link"])
    except (ValueError, KeyError, TypeError, AttributeError):
        raise StreamGapError("the stored Graph delta state is not one this bridge wrote") from None


async def _delta(
    client: GraphClient, mailbox: str, sync_state: str | None, now: datetime
) -> tuple[datetime, datetime, dict[str, Any]]:
    """One delta answer since `sync_state` (None: a new round over the whole delta window)."""
    if sync_state is None:
        start = (now - timedelta(days=PAST_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=PAST_DAYS + FUTURE_DAYS + 1)
        query = urlencode({"startDateTime": _iso(start), "endDateTime": _iso(end)}, quote_via=quote)
        link = f"{user_path(mailbox)}/calendarView/delta?{query}"
    else:
        start, end, link = _parse_state(sync_state)
        if now - timedelta(days=PAST_DAYS) - start > WINDOW_REFRESH:
            raise StreamGapError(f"the Graph delta window of {mailbox} has moved on; starting over")
    request = Request("GET", link, headers={"Prefer": f"odata.maxpagesize={PAGE_SIZE}"})
    try:
        answer = await client.send(mailbox, request)
    except GraphFailure as failure:
        error = translate(failure, mailbox=mailbox)
        if sync_state is not None and failure.status in (400, 404) and not isinstance(error, StreamGapError):
            raise StreamGapError(
                f"Graph refused the stored delta state of {mailbox}: {failure.code}"
            ) from None
        raise error from None
    body = answer.body if isinstance(answer.body, dict) else {}
    if not body.get("@odata.nextLink") and not body.get("@odata.deltaLink"):
        raise MappingError(f"Graph's delta answer for {mailbox} has neither a next nor a delta link")
    return start, end, body


def _entries(body: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Ids changed (an occurrence stands for its master) and ids removed, in the order Graph gave them."""
    changed: list[str] = []
    removed: list[str] = []
    for entry in body.get("value") or ():
        if not isinstance(entry, dict) or not entry.get("id"):
            continue
        if "@removed" in entry:
            removed.append(str(entry["id"]))
        else:
            changed.append(str(entry.get("seriesMasterId") or entry["id"]))
    return list(dict.fromkeys(changed)), list(dict.fromkeys(removed))


def _next_state(start: datetime, end: datetime, body: dict[str, Any]) -> tuple[str, bool]:
    next_link = body.get("@odata.nextLink")
    return _state(start, end, str(next_link or body.get("@odata.deltaLink"))), bool(next_link)


async def peek(
    client: GraphClient, mailbox: str, sync_state: str | None, now: datetime | None = None
) -> tuple[tuple[str, ...], str, bool]:
    """The ids a delta page names, without reading them: what a poll needs to say something changed."""
    start, end, body = await _delta(client, mailbox, sync_state, now or datetime.now(UTC))
    changed, removed = _entries(body)
    state, more = _next_state(start, end, body)
    return tuple(dict.fromkeys([*changed, *removed])), state, more


def _learn_masters(body: dict[str, Any], masters: dict[str, str]) -> None:
    """Remember the master of each occurrence a page shows (bounded, oldest forgotten first)."""
    for entry in body.get("value") or ():
        if isinstance(entry, dict) and entry.get("seriesMasterId") and entry.get("id"):
            masters.pop(str(entry["id"]), None)
            masters[str(entry["id"])] = str(entry["seriesMasterId"])
    for _ in range(len(masters) - MASTERS_KEPT):
        del masters[next(iter(masters))]


def _at_versions(body: dict[str, Any], versions: Mapping[str, str]) -> set[str]:
    """The single events a delta page lists at the changeKey `versions` gives for their id. (An occurrence
    stands for its master, whose changeKey the entry does not carry.)"""
    same: set[str] = set()
    for entry in body.get("value") or ():
        if not isinstance(entry, dict) or "@removed" in entry or entry.get("seriesMasterId"):
            continue
        item_id, change_key = str(entry.get("id") or ""), entry.get("changeKey")
        if item_id in versions and change_key and change_key == versions[item_id]:
            same.add(item_id)
    return same


async def sync_page(
    client: GraphClient,
    mailbox: str,
    sync_state: str | None,
    now: datetime | None = None,
    masters: dict[str, str] | None = None,
    versions: Mapping[str, str] | None = None,
) -> MailboxChanges:
    """One delta page since `sync_state` (None: a new round over the whole delta window), the events it
    names read with their extended properties, except those listed at the changeKey `versions` gives for
    them (most often the bridge's own write coming back): those are `unchanged`, not read, which saves the
    `$batch` read that delta's missing extended properties cost otherwise.

    A series deleted whole shows in delta only as its occurrences removed (Graph lists no masters there),
    and their ids alone name no master. `masters` (occurrence id -> master id, learnt from earlier pages)
    turns them into their master, reported as changed while Graph still answers it: the runtime reads the
    series, which tells one occurrence deleted from the whole series gone (in Deleted Items)."""
    start, end, body = await _delta(client, mailbox, sync_state, now or datetime.now(UTC))
    changed, removed = _entries(body)
    known = masters if masters is not None else {}
    _learn_masters(body, known)
    touched = list(dict.fromkeys(known.pop(i) for i in removed if i in known))
    same = _at_versions(body, versions or {})
    changed = [i for i in changed if i not in same]
    changed += [m for m in touched if m not in changed]
    raw = await fetch_raw(client, mailbox, [*changed, *removed])
    items: dict[str, ExchangeItem] = {}
    deleted: list[str] = []
    for item_id in changed:
        if item_id in raw:
            items[item_id] = to_exchange_item(raw[item_id])
        else:
            deleted.append(item_id)  # changed, then gone before we read it
    for item_id in removed:
        event = raw.get(item_id)
        if event is not None:
            item = to_exchange_item(event)
            first, last = _span(item)
            if last <= start or first >= end:
                items[item_id] = item  # moved out of the delta window, not out of the calendar
                continue
        deleted.append(item_id)
    state, more = _next_state(start, end, body)
    return MailboxChanges(
        changed=tuple(items.values()),
        deleted=tuple(dict.fromkeys(i for i in deleted if i not in items)),
        sync_state=state,
        more=more,
        unchanged=tuple(sorted(same - set(items) - set(deleted))),
    )


async def mailbox_zone(client: GraphClient, mailbox: str) -> str:
    """The mailbox's zone as an IANA name: its mailbox settings, else the zone its owner's own items are
    made in (other than UTC), else UTC; an unmappable Windows name passes through (E-TIMEZONE)."""
    from .items import iana_zone

    try:
        answer = await client.send(mailbox, Request("GET", f"{user_path(mailbox)}/mailboxSettings/timeZone"))
        value = answer.body.get("value") if isinstance(answer.body, dict) else None
        if isinstance(value, str) and value:
            return iana_zone(value) or "UTC"
    except GraphFailure as failure:
        if failure.status not in (400, 403, 404):
            raise translate(failure, mailbox=mailbox) from None
        # No MailboxSettings.Read permission, or no settings: the items are the evidence.
    now = datetime.now(UTC)
    items = await window(
        client, mailbox, now - timedelta(days=EVIDENCE_DAYS), now + timedelta(days=EVIDENCE_DAYS)
    )
    own = [
        i.time_zone for i in items if i.time_zone and (not i.is_meeting or i.my_response_type == "Organizer")
    ]
    local = [zone for zone in own if zone != "UTC"]
    return str(Counter(local).most_common(1)[0][0]) if local else "UTC"
