"""One exchangelib Configuration for all mailboxes, Accounts made on demand, blocking calls kept off the loop.

exchangelib is synchronous (requests underneath). Every call runs on a bounded pool of worker threads; a
streaming read holds an HTTP connection for minutes, so the connection pool is sized for the streams plus
the workers, or a stream would starve the workers of connections (exchangelib blocks waiting for one).

Impersonation: the service account acts as each mailbox through one shared Configuration (and so one
exchangelib Protocol and connection pool). An `Account` is cheap but caches its folders; a small LRU keeps
the active ones without holding one per idle user.

ErrorServerBusy carries how long Exchange wants us to wait (BackOffMilliseconds): the call waits that long
on the event loop (no thread is held while waiting) and tries again, a few times, then gives up with a
`TransientError` carrying the wait, so the runtime retries later.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    UTC,
    Account,
    Build,
    Configuration,
    Credentials,
    Version,
)
from exchangelib.errors import ErrorServerBusy
from exchangelib.protocol import Protocol

from bridge.errors import TransientError

from .connection import EwsConnection
from .failures import translate
from .tls import trust_bundle

log = logging.getLogger(__name__)

T = TypeVar("T")

_AUTH = {"basic": BASIC, "ntlm": NTLM}
BUSY_ATTEMPTS = 4  # tries of one call while Exchange answers ErrorServerBusy
BUSY_WAIT_CAP = 30.0  # seconds: a longer back-off is the runtime's to wait, not a worker's
_EXCHANGELIB_GUESS = "Reraised from"  # how exchangelib words an ErrorServerBusy it made up itself


class EwsSession:
    """The shared Configuration, the Account cache and the worker threads of one EWS endpoint."""

    def __init__(
        self,
        connection: EwsConnection,
        *,
        workers: int = 8,
        stream_connections: int = 8,
        accounts_cached: int = 256,
    ) -> None:
        self.connection = connection
        self.workers = workers
        self.stream_connections = stream_connections
        if connection.ca_bundle:
            trust_bundle(connection.ca_bundle)
        version = Version(build=Build(*connection.version)) if connection.version else None
        # Two slots per stream: a stream being replaced still holds its connection until Exchange closes it.
        self.max_connections = workers + 2 * stream_connections
        self.config = Configuration(
            service_endpoint=connection.ews_url,
            credentials=Credentials(connection.username, connection.password),
            auth_type=_AUTH[connection.auth_type],
            version=version,
            max_connections=self.max_connections,
        )
        # exchangelib shares one Protocol (and pool) per endpoint and credentials; if another part of the
        # process opened it first with a smaller pool, grow it.
        protocol = self.protocol = Protocol(config=self.config)
        if protocol.max_connections < self.max_connections:
            protocol.max_connections = self.max_connections
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ews-worker")
        self._accounts: OrderedDict[str, Account] = OrderedDict()
        self._accounts_cached = accounts_cached
        self._lock = threading.Lock()

    def account(self, mailbox: str) -> Account:
        """The exchangelib Account impersonating `mailbox` (made on first use, kept while recently used)."""
        key = mailbox.lower()
        with self._lock:
            account = self._accounts.get(key)
            if account is not None:
                self._accounts.move_to_end(key)
                return account
        account = Account(
            mailbox,
            config=self.config,
            autodiscover=False,
            access_type=IMPERSONATION,
            default_timezone=UTC,
        )
        with self._lock:
            self._accounts[key] = account
            self._accounts.move_to_end(key)
            while len(self._accounts) > self._accounts_cached:
                self._accounts.popitem(last=False)
        return account

    def stream_account(self, anchor: str) -> Account:
        """The Account a grouped GetStreamingEvents connection is sent as: the service account itself
        (no ExchangeImpersonation header, which would confine the connection to one mailbox), routed by
        X-AnchorMailbox to the group's first mailbox with the affinity cookie its Subscribe answer set.
        The subscription ids say whose notifications they are; Exchange checks the caller made them."""
        account = Account(
            anchor, config=self.config, autodiscover=False, access_type=DELEGATE, default_timezone=UTC
        )
        account.affinity_cookie = self.account(anchor).affinity_cookie
        return account

    async def run(self, mailbox: str, call: Callable[[Account], T], *, item_id: str | None = None) -> T:
        """`call(account)` on a worker thread; exchangelib's failures become `bridge.errors`."""
        loop = asyncio.get_running_loop()
        for attempt in range(1, BUSY_ATTEMPTS + 1):
            try:
                return await loop.run_in_executor(self._executor, lambda: call(self.account(mailbox)))
            except ErrorServerBusy as busy:
                if str(busy.value).startswith(_EXCHANGELIB_GUESS):
                    # exchangelib's own stand-in for a 503 or a broken connection, with a wait it guessed:
                    # not Exchange asking; the runtime's retry policy decides.
                    raise TransientError(f"Exchange is unavailable for {mailbox}: {busy.value}") from None
                wait = busy.back_off or 1.0
                if attempt == BUSY_ATTEMPTS or wait > BUSY_WAIT_CAP:
                    raise TransientError(
                        f"Exchange stayed busy for {mailbox} after {attempt} tries; "
                        f"it asked to wait {wait:.1f} s",
                        retry_after=wait,
                    ) from None
                log.info("Exchange busy for %s; waiting %.1f s as asked (try %d)", mailbox, wait, attempt)
                await asyncio.sleep(wait)
            except Exception as exc:
                raise translate(exc, mailbox=mailbox, item_id=item_id) from None
        raise AssertionError("unreachable")

    async def blocking(self, call: Callable[[], Any]) -> Any:
        """A blocking call that is not a mailbox operation (closing), on a worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Stop the workers and close the idle connections of the pool."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            self._accounts.clear()
        self.protocol.close()
