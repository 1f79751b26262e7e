"""`calbridge demo`: start the built-in sandbox and show both halves answering the real clients.

Until the bridge's runtime lands, the demo walks through what the bridge will do on each side: log in to
Salesforce with OAuth, query with SOQL, watch Event changes arrive over the Pub/Sub API, and open an Exchange
mailbox with exchangelib, write a calendar item and watch the streaming notification for it. Every call goes
over TLS, verified against the sandbox's own CA.
"""

from __future__ import annotations

import io
import queue
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import avro.io
import avro.schema
import grpc
import requests
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.format import format_soql

from bridge.sandbox.exchange.client_tls import sandbox_account
from bridge.sandbox.runner import running_sandbox
from bridge.wire import pubsub_api_pb2 as pb
from bridge.wire import pubsub_api_pb2_grpc as pb_grpc

DEMO_CLIENT = "calbridge-demo"


def _say(step: str, detail: str = "") -> None:
    print(f"  {step:<44} {detail}", flush=True)


def _login(endpoints: dict[str, Any], ca_bundle: str) -> tuple[Salesforce, str]:
    sf_conf = endpoints["salesforce"]
    answer = requests.post(
        sf_conf["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": sf_conf["client_id"],
            "client_secret": sf_conf["client_secret"],
        },
        verify=ca_bundle,
        timeout=10,
    )
    answer.raise_for_status()
    token = answer.json()
    session = requests.Session()
    session.verify = ca_bundle
    # Otherwise REQUESTS_CA_BUNDLE from the environment would replace the sandbox CA on every request.
    session.trust_env = False
    sf = Salesforce(
        instance_url=token["instance_url"],
        session_id=token["access_token"],
        session=session,
        version=sf_conf["api_version"],
    )
    return sf, token["access_token"]


def _change_events(
    endpoints: dict[str, Any],
    token: str,
    ca_pem: bytes,
    ready: threading.Event,
    out: queue.Queue[dict[str, Any]],
    stop: threading.Event,
) -> None:
    """Subscribe to Event change events from the tip and decode each with the schema the server names."""
    sf_conf = endpoints["salesforce"]
    metadata = (
        ("accesstoken", token),
        ("instanceurl", sf_conf["instance_url"]),
        ("tenantid", sf_conf["org_id"]),
    )
    with grpc.secure_channel(
        sf_conf["pubsub"], grpc.ssl_channel_credentials(root_certificates=ca_pem)
    ) as channel:
        stub = pb_grpc.PubSubStub(channel)
        schemas: dict[str, avro.schema.Schema] = {}
        pending = [100]

        def requests_() -> Iterator[pb.FetchRequest]:
            # EARLIEST: the seeded events come first, so nothing written after subscribing can be missed.
            yield pb.FetchRequest(
                topic_name="/data/EventChangeEvent", replay_preset=pb.EARLIEST, num_requested=100
            )
            while not stop.wait(0.2):
                if pending[0] == 0:
                    pending[0] = 100
                    yield pb.FetchRequest(num_requested=100)

        stream = stub.Subscribe(requests_(), metadata=metadata)
        ready.set()
        try:
            for response in stream:
                pending[0] = response.pending_num_requested
                for consumed in response.events:
                    schema_id = consumed.event.schema_id
                    if schema_id not in schemas:
                        info = stub.GetSchema(pb.SchemaRequest(schema_id=schema_id), metadata=metadata)
                        schemas[schema_id] = avro.schema.parse(info.schema_json)
                    reader = avro.io.DatumReader(schemas[schema_id])
                    decoded = reader.read(avro.io.BinaryDecoder(io.BytesIO(consumed.event.payload)))
                    out.put(cast(dict[str, Any], decoded))
                if stop.is_set():
                    stream.cancel()
        except grpc.RpcError:
            if not stop.is_set():
                raise


def _salesforce_part(endpoints: dict[str, Any], ca_bundle: str, ca_pem: bytes) -> None:
    sf, token = _login(endpoints, ca_bundle)
    _say("OAuth client credentials", f"token issued for {sf.sf_instance}")
    users = sf.query(
        "SELECT Id, Name FROM User WHERE Email LIKE '%@calbridge.test' AND Alias != 'cbint' ORDER BY Name"
    )
    _say("SOQL: seeded users", ", ".join(r["Name"] for r in users["records"]))
    owner = users["records"][0]
    upcoming = sf.query(
        format_soql("SELECT COUNT() FROM Event WHERE OwnerId = {} AND IsChild = false", owner["Id"])
    )
    _say(f"SOQL: events of {owner['Name']}", str(upcoming["totalSize"]))

    ready, stop = threading.Event(), threading.Event()
    received: queue.Queue[dict[str, Any]] = queue.Queue()
    listener = threading.Thread(
        target=_change_events, args=(endpoints, token, ca_pem, ready, received, stop), daemon=True
    )
    listener.start()
    ready.wait(10)
    start = datetime.now(UTC).replace(microsecond=0, second=0) + timedelta(days=1)
    events = SFType("Event", sf.session_id, sf.sf_instance, sf.sf_version, session=sf.session)
    created = events.create(
        {
            "Subject": "Quarterly review with Northwind",
            "OwnerId": owner["Id"],
            "StartDateTime": start.isoformat(),
            "EndDateTime": (start + timedelta(hours=1)).isoformat(),
        },
        headers={"Sforce-Call-Options": f"client={DEMO_CLIENT}"},
    )
    _say("REST: Event created", created["id"])
    events.update(created["id"], {"Location": "Room 4"})
    replayed = 0
    shown = 0
    while shown < 2:
        event = received.get(timeout=10)
        header = event["ChangeEventHeader"]
        if created["id"] not in header["recordIds"]:
            replayed += 1
            continue
        if shown == 0:
            _say("Pub/Sub: replayed from EARLIEST", f"{replayed} earlier Event changes")
        shown += 1
        _say(
            f"Pub/Sub: {header['changeType']} change event",
            f"{event.get('Subject') or event.get('Location')} (origin {header['changeOrigin'] or '-'})",
        )
    stop.set()
    listener.join(5)
    daily = sf.limits()["DailyApiRequests"]
    _say("REST: limits", f"{daily['Max'] - daily['Remaining']} of {daily['Max']} daily API requests used")


def _exchange_part(endpoints: dict[str, Any], ca_pem: bytes) -> None:
    from exchangelib import UTC as EWS_UTC
    from exchangelib import CalendarItem, EWSDateTime

    account = sandbox_account(endpoints["exchange"], ca_pem, endpoints["exchange"]["mailboxes"][0])
    _say("EWS: mailbox opened (impersonation)", account.primary_smtp_address)
    now = EWSDateTime.now(tz=EWS_UTC)
    week = account.calendar.view(start=now - timedelta(days=1), end=now + timedelta(days=8))
    _say("EWS: CalendarView of the coming week", "; ".join(str(i.subject) for i in week))
    subscription = account.calendar.subscribe_to_streaming()
    start = now.replace(microsecond=0, second=0) + timedelta(days=2)
    item = CalendarItem(
        account=account,
        folder=account.calendar,
        subject="Pipeline sync",
        start=start,
        end=start + timedelta(minutes=30),
        categories=["Salesforce"],
    )
    item.save()
    _say("EWS: calendar item created", str(item.subject))
    seen: list[str] = []
    for notification in account.calendar.get_streaming_events(
        subscription, connection_timeout=1, max_notifications_returned=1
    ):
        seen.extend(type(e).__name__ for e in notification.events)
    _say("EWS streaming notification", ", ".join(seen) or "none")
    account.calendar.unsubscribe(subscription)
    item.location = "Room 2"
    item.save(update_fields=["location"])
    _say("EWS: item updated", f"ChangeKey changed, location {item.location}")


def run_demo(state_dir: Path | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="calbridge-demo-") as scratch:
        directory = state_dir or Path(scratch)
        print("calbridge demo: starting the local Salesforce and Exchange sandboxes (TLS, own CA)")
        with running_sandbox(directory, persist=False) as sandbox:
            endpoints = sandbox.endpoints()
            ca_pem = Path(endpoints["ca_bundle"]).read_bytes()
            _say("Salesforce REST", endpoints["salesforce"]["instance_url"])
            _say("Salesforce Pub/Sub", endpoints["salesforce"]["pubsub"])
            _say("Exchange EWS", endpoints["exchange"]["ews_url"])
            print("Salesforce")
            _salesforce_part(endpoints, endpoints["ca_bundle"], ca_pem)
            print("Exchange")
            _exchange_part(endpoints, ca_pem)
        print("calbridge demo: both sandboxes answered the real clients; stopped.")
    return 0
