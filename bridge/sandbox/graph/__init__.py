"""A local Microsoft Graph (calendar, app-only) with its identity platform, over TLS.

Typical use from synchronous code::

    with running_graph_sandbox(SandboxTLS.generate(), ["alice@example.com"]) as graph:
        ends = graph.endpoints()                # authority, client_id, client_secret, graph_url, mailboxes
        app = msal.ConfidentialClientApplication(ends["client_id"], client_credential=ends["client_secret"],
                                                 authority=ends["authority"], instance_discovery=False,
                                                 verify=ca_path)
        graph.faults.throttle(count=1)          # faults on demand (also POST <admin_url>/faults)

Shared with the EWS sandbox: ``GraphSandbox(tls, store=exchange_sandbox.store)`` on the same event loop.
"""

from .server import GraphSandbox, running_graph_sandbox
from .settings import GraphTimings

__all__ = ["GraphSandbox", "GraphTimings", "running_graph_sandbox"]
