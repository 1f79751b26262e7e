"""A local Exchange Server 2016 speaking EWS over TLS, faithful enough for exchangelib's calendar use.

Typical use from synchronous code::

    with running_exchange_sandbox(SandboxTLS.generate(), ["alice@example.com"]) as sandbox:
        trust_ca(sandbox.tls.ca_pem)           # bridge.sandbox.exchange.client_tls: exchangelib verifies TLS
        ends = sandbox.endpoints()             # ews_url, username, password, mailboxes
        sandbox.faults.server_busy(count=1)    # faults on demand (also POST /_sandbox/faults)

From asyncio: ``sandbox = ExchangeSandbox(tls, mailboxes); await sandbox.start(); ...; await sandbox.stop()``.
"""

from .server import ExchangeSandbox, running_exchange_sandbox
from .settings import SandboxTimings

__all__ = ["ExchangeSandbox", "SandboxTimings", "running_exchange_sandbox"]
