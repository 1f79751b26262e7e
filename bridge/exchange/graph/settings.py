"""The Graph MailboxPort from calbridge's configuration (`exchange.provider = "graph"`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .connection import GraphConnection
from .mailboxes import GraphMailboxes, open_graph

if TYPE_CHECKING:
    from bridge.config import Config


def open_from_config(config: Config) -> GraphMailboxes:
    """`[exchange.graph]` (and `exchange.ca_bundle`) as a connection; errors name their key."""
    ex, graph = config.exchange, config.exchange.graph
    connection = GraphConnection(
        authority=graph.authority or "",
        client_id=graph.client_id or "",
        client_secret=graph.client_secret.get_secret_value() if graph.client_secret else "",
        graph_url=graph.graph_url,
        ca_bundle=str(ex.ca_bundle) if ex.ca_bundle else None,
        notification_url=graph.notification_url,
        poll_seconds=graph.poll_seconds,
        poll_fast_seconds=graph.poll_fast_seconds,
    )
    return open_graph(connection)
