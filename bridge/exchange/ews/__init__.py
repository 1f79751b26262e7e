"""The Exchange Web Services mailbox adapter (issue 8): `open_ews(EwsConnection(...))` gives the
`MailboxPort` the runtime uses.

Modules: `connection` (where and as whom), `session` (one exchangelib Configuration, Accounts on demand,
worker threads, ErrorServerBusy back-off), `failures` (exchangelib errors to `bridge.errors`), `items`
(CalendarItem <-> ExchangeItem, the SalesforceEventId property, categories), `reading` (GetItem,
CalendarView, SyncFolderItems), `writing` (create, conditional update and delete), `streaming`
(subscriptions grouped on few connections, re-subscription), `zones` (the mailbox's time zone), `tls`
(verifying Exchange against a CA bundle), `mailboxes` (the port itself).
"""

from .connection import EwsConnection
from .mailboxes import EwsMailboxes, open_ews

__all__ = ["EwsConnection", "EwsMailboxes", "open_ews"]
