"""Benchmark: the Exchange sandbox's item writes per second and streaming notification delivery, over HTTPS.

The sandbox runs in its own process (as `calbridge sandbox` does); the load comes from this process over TLS
with the sandbox CA, speaking the same EWS requests exchangelib sends. Numbers from one run:

- floor: the cheapest authenticated EWS call (GetFolder of the calendar) per second, same connections and
  concurrency, i.e. what TLS + HTTP + auth + SOAP cost per call on this machine with no item work;
- writes: CreateItem and UpdateItem calls per second, one item each (target >= 300/s), and the ratio to the
  floor; plus items per second through the real exchangelib (`bulk_create`, one thread) for reference;
- streaming: 1,000 streaming subscriptions (one per mailbox), each read by its own GetStreamingEvents
  connection, while items are written at a steady rate across those mailboxes; every notification must
  arrive, and its delay after the write returned says whether delivery keeps up.

Run: `.venv/bin/python -m bench.ews [--seconds S] [--streams N] [--rate R]`; prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import re
import ssl
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

TARGET_WRITES_PER_SECOND = 300
NS = (
    'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"'
)
ITEM_ID = re.compile(r'ItemId Id="([^"]+)" ChangeKey="([^"]+)"')
CREATED_ID = re.compile(r'CreatedEvent>.*?<t:ItemId Id="([^"]+)"', re.S)


def _serve(pipe: Connection, mailboxes: list[str]) -> None:
    """Child process: run a sandbox, send its endpoints and CA, wait for the parent to say stop."""
    from bridge.sandbox.exchange import running_exchange_sandbox

    with running_exchange_sandbox(mailboxes=mailboxes) as sandbox:
        pipe.send({"endpoints": sandbox.endpoints(), "ca_pem": sandbox.tls.ca_pem})
        pipe.recv()


def _envelope(mailbox: str, body: str) -> bytes:
    return (
        f'<s:Envelope {NS}><s:Header><t:RequestServerVersion Version="Exchange2016"/>'
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{mailbox}</t:PrimarySmtpAddress>"
        f"</t:ConnectingSID></t:ExchangeImpersonation></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _create_body(n: int) -> str:
    return (
        '<m:CreateItem MessageDisposition="SaveOnly" SendMeetingInvitations="SendToNone">'
        '<m:SavedItemFolderId><t:DistinguishedFolderId Id="calendar"/></m:SavedItemFolderId><m:Items>'
        f"<t:CalendarItem><t:Subject>Bench {n}</t:Subject><t:Sensitivity>Normal</t:Sensitivity>"
        '<t:Body BodyType="Text">Synced from Salesforce</t:Body><t:Categories><t:String>Salesforce</t:String>'
        "</t:Categories><t:ReminderIsSet>0</t:ReminderIsSet><t:ExtendedProperty><t:ExtendedFieldURI "
        'PropertySetId="6a1f0c2e-3b7d-4a59-9c1e-5f0b8d2a7e11" PropertyName="SalesforceEventId" '
        f'PropertyType="String"/><t:Value>00U{n:012d}</t:Value></t:ExtendedProperty>'
        "<t:Start>2030-05-01T10:00:00+02:00</t:Start><t:End>2030-05-01T11:00:00+02:00</t:End>"
        "<t:IsAllDayEvent>0</t:IsAllDayEvent><t:LegacyFreeBusyStatus>Busy</t:LegacyFreeBusyStatus>"
        '<t:StartTimeZone Id="Romance Standard Time"/><t:EndTimeZone Id="Romance Standard Time"/>'
        "</t:CalendarItem></m:Items></m:CreateItem>"
    )


def _update_body(item_id: str, change_key: str, n: int) -> str:
    return (
        '<m:UpdateItem ConflictResolution="NeverOverwrite" MessageDisposition="SaveOnly" '
        'SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>'
        f'<t:ItemId Id="{item_id}" ChangeKey="{change_key}"/><t:Updates><t:SetItemField>'
        '<t:FieldURI FieldURI="item:Subject"/><t:CalendarItem>'
        f"<t:Subject>Bench update {n}</t:Subject></t:CalendarItem></t:SetItemField></t:Updates>"
        "</t:ItemChange></m:ItemChanges></m:UpdateItem>"
    )


GET_FOLDER = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    '<m:FolderIds><t:DistinguishedFolderId Id="calendar"/></m:FolderIds></m:GetFolder>'
)


class Client:
    def __init__(self, endpoints: dict[str, Any], ca_pem: bytes, connections: int) -> None:
        context = ssl.create_default_context(cadata=ca_pem.decode())
        self.url = endpoints["ews_url"]
        credentials = f"{endpoints['username']}:{endpoints['password']}".encode()
        auth = {"Authorization": "Basic " + base64.b64encode(credentials).decode()}
        connector = aiohttp.TCPConnector(ssl=context, limit=connections)
        timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
        self.session = aiohttp.ClientSession(connector=connector, headers=auth, timeout=timeout)

    async def call(self, mailbox: str, body: str) -> str:
        headers = {"Content-Type": "text/xml; charset=utf-8", "X-AnchorMailbox": mailbox}
        async with self.session.post(self.url, data=_envelope(mailbox, body), headers=headers) as response:
            text = await response.text()
            if response.status != 200 or 'ResponseClass="Success"' not in text:
                raise RuntimeError(f"{response.status}: {text[:300]}")
            return text

    async def close(self) -> None:
        await self.session.close()


async def _rate(seconds: float, workers: int, work: Any) -> float:
    """Calls per second of `await work(worker, n)` across `workers` tasks for `seconds`."""
    counts = [0] * workers
    stop = time.monotonic() + seconds

    async def loop(index: int) -> None:
        while time.monotonic() < stop:
            await work(index, counts[index])
            counts[index] += 1

    started = time.monotonic()
    await asyncio.gather(*(loop(i) for i in range(workers)))
    return sum(counts) / (time.monotonic() - started)


async def _writes(client: Client, mailboxes: list[str], seconds: float, workers: int) -> dict[str, float]:
    floor = await _rate(seconds, workers, lambda w, n: client.call(mailboxes[w], GET_FOLDER))
    created: list[list[tuple[str, str]]] = [[] for _ in range(workers)]

    async def create(w: int, n: int) -> None:
        text = await client.call(mailboxes[w], _create_body(n))
        found = ITEM_ID.search(text)
        assert found is not None
        created[w].append((found.group(1), found.group(2)))

    creates = await _rate(seconds, workers, create)

    async def update(w: int, n: int) -> None:
        items = created[w]
        item_id, change_key = items[n % len(items)]
        text = await client.call(mailboxes[w], _update_body(item_id, change_key, n))
        found = ITEM_ID.search(text)
        assert found is not None
        items[n % len(items)] = (found.group(1), found.group(2))

    updates = await _rate(seconds, workers, update)
    writes = (creates + updates) / 2
    return {
        "floor_calls_per_s": round(floor, 1),
        "creates_per_s": round(creates, 1),
        "updates_per_s": round(updates, 1),
        "writes_per_s": round(writes, 1),
        "writes_vs_floor": round(writes / floor, 3),
    }


def _exchangelib_bulk(endpoints: dict[str, Any], ca_pem: bytes, seconds: float) -> float:
    """Items per second through the real client's bulk_create (chunks of 100), one thread."""
    from exchangelib import UTC, CalendarItem, EWSDateTime

    from bridge.sandbox.exchange.client_tls import sandbox_account

    account = sandbox_account(endpoints, ca_pem, endpoints["mailboxes"][-1])
    start = EWSDateTime(2030, 5, 1, 8, tzinfo=UTC)
    total = 0
    stop = time.monotonic() + seconds
    began = time.monotonic()
    while time.monotonic() < stop:
        batch = [
            CalendarItem(
                account=account, folder=account.calendar, subject=f"bulk {total + i}", start=start, end=start
            )
            for i in range(100)
        ]
        total += len(account.bulk_create(folder=account.calendar, items=batch))
    return total / (time.monotonic() - began)


async def _streaming(client: Client, mailboxes: list[str], rate: float, seconds: float) -> dict[str, Any]:
    subscribe = (
        '<m:Subscribe><m:StreamingSubscriptionRequest><t:FolderIds><t:DistinguishedFolderId Id="calendar"/>'
        "</t:FolderIds><t:EventTypes><t:EventType>CreatedEvent</t:EventType><t:EventType>ModifiedEvent"
        "</t:EventType></t:EventTypes></m:StreamingSubscriptionRequest></m:Subscribe>"
    )
    semaphore = asyncio.Semaphore(64)

    async def subscribe_one(mailbox: str) -> str:
        async with semaphore:
            text = await client.call(mailbox, subscribe)
        found = re.search(r"<m:SubscriptionId>([^<]+)<", text)
        assert found is not None
        return found.group(1)

    subscription_ids = await asyncio.gather(*(subscribe_one(mb) for mb in mailboxes))
    received: dict[str, float] = {}
    connected = 0
    all_connected = asyncio.Event()

    async def read(mailbox: str, subscription_id: str) -> None:
        nonlocal connected
        body = (
            "<m:GetStreamingEvents><m:SubscriptionIds>"
            f"<t:SubscriptionId>{subscription_id}</t:SubscriptionId></m:SubscriptionIds>"
            "<m:ConnectionTimeout>5</m:ConnectionTimeout></m:GetStreamingEvents>"
        )
        headers = {"Content-Type": "text/xml; charset=utf-8", "X-AnchorMailbox": mailbox}
        async with client.session.post(
            client.url, data=_envelope(mailbox, body), headers=headers
        ) as response:
            buffer = ""
            first = True
            async for chunk in response.content.iter_any():
                buffer += chunk.decode()
                *parts, buffer = buffer.split("</s:Envelope>")
                now = time.monotonic()
                for part in parts:
                    if first:
                        first = False
                        connected += 1
                        if connected == len(mailboxes):
                            all_connected.set()
                    for item_id in CREATED_ID.findall(part):
                        received[item_id] = now
                    if "<m:ConnectionStatus>Closed<" in part:
                        return

    readers = [
        asyncio.create_task(read(mb, sid)) for mb, sid in zip(mailboxes, subscription_ids, strict=True)
    ]
    await asyncio.wait_for(all_connected.wait(), timeout=60)
    written: dict[str, float] = {}
    total = int(rate * seconds)
    interval = 1.0 / rate
    began = time.monotonic()

    async def write(n: int) -> None:
        text = await client.call(mailboxes[n % len(mailboxes)], _create_body(n))
        found = ITEM_ID.search(text)
        assert found is not None
        written[found.group(1)] = time.monotonic()

    pending: list[asyncio.Task[None]] = []
    for n in range(total):
        delay = began + n * interval - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.create_task(write(n)))
    await asyncio.gather(*pending)
    write_seconds = time.monotonic() - began
    deadline = time.monotonic() + 10
    while len(received.keys() & written.keys()) < len(written) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    delays = sorted(max(0.0, received[i] - written[i]) for i in written if i in received)
    delivered = len(delays)
    p99 = delays[int(0.99 * (delivered - 1))] if delivered else float("inf")
    return {
        "subscriptions": len(mailboxes),
        "connected_streams": connected,
        "writes": len(written),
        "achieved_write_rate_per_s": round(len(written) / write_seconds, 1),
        "delivered": delivered,
        "delay_p50_ms": round(statistics.median(delays) * 1000, 1) if delays else None,
        "delay_p99_ms": round(p99 * 1000, 1),
        "delay_max_ms": round(delays[-1] * 1000, 1) if delays else None,
        "kept_up": delivered == len(written) and p99 < 1.0,
    }


async def _main_async(args: argparse.Namespace, endpoints: dict[str, Any], ca_pem: bytes) -> dict[str, Any]:
    mailboxes: list[str] = endpoints["mailboxes"]
    client = Client(endpoints, ca_pem, connections=args.workers)
    try:
        writes = await _writes(client, mailboxes[: args.workers], args.seconds, args.workers)
    finally:
        await client.close()
    stream_client = Client(endpoints, ca_pem, connections=0)
    try:
        streaming = await _streaming(stream_client, mailboxes[: args.streams], args.rate, args.seconds)
    finally:
        await stream_client.close()
    return {"writes": writes, "streaming": streaming}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=300.0, help="writes per second during the streaming phase"
    )
    args = parser.parse_args()
    mailboxes = [f"bench{n:04d}@sandbox.example" for n in range(max(args.streams, args.workers) + 1)]
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(child, mailboxes), daemon=True)
    server.start()
    try:
        hello = parent.recv()
        endpoints, ca_pem = hello["endpoints"], hello["ca_pem"]
        result = asyncio.run(_main_async(args, endpoints, ca_pem))
        result["writes"]["exchangelib_bulk_items_per_s"] = round(
            _exchangelib_bulk(endpoints, ca_pem, args.seconds), 1
        )
    finally:
        parent.send("stop")
        server.join(timeout=30)
    writes, streaming = result["writes"], result["streaming"]
    result["target_writes_per_s"] = TARGET_WRITES_PER_SECOND
    result["ok"] = bool(writes["writes_per_s"] >= TARGET_WRITES_PER_SECOND and streaming["kept_up"])
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
