"""The Microsoft Graph mailbox adapter (issue 12, R-GRAPH): `open_graph(GraphConnection(...))` gives the
`MailboxPort` the runtime uses, behind the same port as EWS (`bridge.exchange.ews`).

Modules: `connection` (where and as whom), `auth` (MSAL client credentials), `client` (aiohttp, the
per-mailbox limits, retries, `$batch`), `failures` (Graph's answers to `bridge.errors`), `items` (event
JSON <-> ExchangeItem, the SalesforceEventId property, attendees listed instead of invited), `reading`
(events by id, calendarView, delta), `writing` (create with a transactionId, If-Match updates and
deletes), `batching` (writes of one mailbox in one `$batch`), `polling` (delta polling), `subscribing`
(Graph's /subscriptions calls), `notifications` (subscriptions kept alive and the routes Graph posts to,
served by the ops server), `settings` (the port from calbridge's configuration), `mailboxes` (the port
itself).

The official SDK (msgraph-sdk) is not used: it is a 29 MB wheel of generated code for all of Graph, and
the bridge needs about ten calls whose headers (Prefer, If-Match, Retry-After) it must control anyway.
"""

from .connection import GraphConnection
from .mailboxes import GraphMailboxes, open_graph

__all__ = ["GraphConnection", "GraphMailboxes", "open_graph"]
