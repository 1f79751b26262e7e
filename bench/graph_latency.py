"""Benchmark: the bridge's latency each way with `[exchange] provider = "graph"` (R-GRAPH-1), beside a Graph
floor: the run of bench/bridge_latency.py with Exchange reached through Microsoft Graph.

The bridge is told of mailbox changes by Graph change notifications posted to its ops server (R-GRAPH-2, the
production set-up with a public address; delta polling slowed to a fallback) and writes through Graph. The
people and the observers are the ones of bench/bridge_latency.py (the Graph sandbox serves the EWS
sandbox's mailboxes, so the same Outlook edits and the same EWS streaming subscription see them), so both
runs end a latency at the same moment. The floor, with the bridge stopped, relays with the least a Graph
bridge must do, i.e. delivery + one read + one write:

- Salesforce -> Exchange: the change event, a GET of the event, a Graph PATCH of the event's subject;
- Exchange -> Salesforce: a Graph change notification to this process's own webhook (a subscription per
  mailbox, immutable ids), a Graph GET of the event, a PATCH of the Salesforce event.

No idle phase: the Salesforce side is the one bench/bridge_latency.py measures. Figures go to
bench/results/graph_latency.json and, as one JSON line, to stdout.
Run: `.venv/bin/python -m bench.graph_latency [--users N] [--rate R] [--seconds S]`.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import tomllib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import msal
import requests

from bench.bridge_latency import Bench, Pair, arguments, measure

SCOPE = "https://graph.microsoft.com/.default"
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}
FALLBACK_POLL_S = 30  # the bridge's delta poll while notifications come: too slow to explain a latency


def use_graph(config: Path, endpoints: Mapping[str, Any]) -> None:
    """The written EWS config switched to Graph, notifications posted to the bridge's ops server."""
    graph = endpoints["graph"]
    secret = config.parent / "graph-client-secret"
    secret.write_text(graph["client_secret"] + "\n", encoding="utf-8")
    secret.chmod(0o600)
    text = config.read_text()
    ops_port = tomllib.loads(text)["ops"]["port"]
    config.write_text(
        text.replace('provider = "ews"', 'provider = "graph"', 1)
        + "\n[exchange.graph]\n"
        + f'authority = "{graph["authority"]}"\n'
        + f'client_id = "{graph["client_id"]}"\n'
        + f'client_secret_file = "{secret}"\n'
        + f'graph_url = "{graph["graph_url"]}"\n'
        + f'notification_url = "http://127.0.0.1:{ops_port}"\n'
        + f"poll_seconds = {FALLBACK_POLL_S}\npoll_fast_seconds = {FALLBACK_POLL_S}\n"
    )


class GraphCalls:
    """Plain Graph calls with an app token from MSAL (the client the bridge uses for its token)."""

    def __init__(self, endpoints: Mapping[str, Any]) -> None:
        graph = endpoints["graph"]
        self.base = graph["graph_url"].rstrip("/")
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = endpoints["ca_bundle"]
        self._app = msal.ConfidentialClientApplication(
            graph["client_id"],
            client_credential=graph["client_secret"],
            authority=graph["authority"],
            instance_discovery=False,
            http_client=self.session,
        )

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        token = self._app.acquire_token_for_client(scopes=[SCOPE])  # cached until near expiry
        return {"Authorization": f"Bearer {token['access_token']}", **(extra or {})}

    def call(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Any:
        answer = self.session.request(
            method, f"{self.base}/{path}", json=body, headers=self._headers(headers), timeout=30
        )
        answer.raise_for_status()
        return answer.json() if answer.content else None

    @staticmethod
    def event(mailbox: str, event_id: str) -> str:
        return f"users/{quote(mailbox, safe='@')}/events/{quote(event_id, safe='')}"


class Webhook:
    """This process's notification URL on loopback: answers Graph's validation handshake, acknowledges each
    notification at once and hands it to `on_notification` (on the server's thread)."""

    def __init__(self, on_notification: Callable[[dict[str, Any]], None]) -> None:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                token = parse_qs(urlparse(self.path).query).get("validationToken")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if token:
                    self._answer(200, token[0].encode(), "text/plain")
                    return
                self._answer(202, b"", "text/plain")
                for note in json.loads(body or b"{}").get("value") or ():
                    if note.get("clientState") == hook.client_state:
                        on_notification(note)

            def _answer(self, status: int, content: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args: Any) -> None:
                return None

        self.client_state = secrets.token_urlsafe(16)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self._thread = threading.Thread(target=self.server.serve_forever, name="graph-webhook", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class GraphBench(Bench):
    """The bench's people and observers, with floor relays that write and read through Graph."""

    def __init__(self, endpoints: dict[str, Any], pairs: list[Pair]) -> None:
        self.graph = GraphCalls(endpoints)
        # The bridge keeps Graph's immutable ids; Outlook (EWS) and its stream know the items by EWS ids,
        # which are Outlook REST ids (the one Graph gives without the immutable preference) with / and +.
        self.graph_id: dict[str, str] = {}
        ews_pairs = []
        for pair in pairs:
            rest = self.graph.call("GET", GraphCalls.event(pair.mailbox, pair.item_id) + "?$select=id")["id"]
            ews_id = rest.replace("-", "/").replace("_", "+")
            self.graph_id[ews_id] = pair.item_id
            ews_pairs.append(Pair(pair.user, pair.mailbox, pair.event_id, ews_id))
        super().__init__(endpoints, ews_pairs)
        self.by_graph_id = {self.graph_id[p.item_id]: p for p in self.pairs}
        self.webhook = Webhook(self._on_graph_notification)
        expiry = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
        self.subscriptions = [
            self.graph.call(
                "POST",
                "subscriptions",
                {
                    "changeType": "updated",
                    "notificationUrl": self.webhook.url,
                    "resource": f"/users/{mailbox}/events",
                    "expirationDateTime": expiry,
                    "clientState": self.webhook.client_state,
                },
                IMMUTABLE,
            )["id"]
            for mailbox in sorted({p.mailbox for p in self.pairs})
        ]

    def close(self) -> None:
        for subscription in self.subscriptions:
            with contextlib.suppress(requests.RequestException):  # the sandbox stops next anyway
                self.graph.call("DELETE", f"subscriptions/{subscription}")
        self.webhook.close()
        super().close()

    def _on_notice(self, notice: Any) -> None:
        phase = self.phase
        if phase is not None and phase.relay and phase.direction == "ex_to_sf":
            return  # the Graph floor learns of item changes from its own Graph notifications
        super()._on_notice(notice)

    def _on_graph_notification(self, note: dict[str, Any]) -> None:
        phase = self.phase
        pair = self.by_graph_id.get(str((note.get("resourceData") or {}).get("id")))
        if phase is not None and phase.relay and phase.direction == "ex_to_sf" and pair is not None:
            # Floor, Exchange -> Salesforce: the notification; one Graph read, one Salesforce write.
            self.pool.submit(self._relay_graph_to_salesforce, pair)

    def _relay_to_exchange(self, pair: Pair) -> None:
        # Floor, Salesforce -> Exchange: one Salesforce read, one Graph write.
        event = self.relay_desk.sobject("Event").get(pair.event_id)
        path = GraphCalls.event(pair.mailbox, self.graph_id[pair.item_id])
        self.graph.call("PATCH", path, {"subject": event["Subject"]}, IMMUTABLE)

    def _relay_graph_to_salesforce(self, pair: Pair) -> None:
        path = GraphCalls.event(pair.mailbox, self.graph_id[pair.item_id]) + "?$select=subject"
        event = self.graph.call("GET", path, headers=IMMUTABLE)
        self.relay_desk.update_event(pair.event_id, Subject=event["subject"])


def main() -> None:
    args = arguments(__doc__ or "", users=100, idle=0.0).parse_args()
    result = measure(args, "graph_latency", configure=use_graph, make_bench=GraphBench)
    print(json.dumps({"provider": "graph", **result}))


if __name__ == "__main__":
    main()
