"""The Salesforce sandbox as one server: the org, REST over HTTPS, the event bus and the Pub/Sub API.

    sandbox = SalesforceSandbox(SandboxTLS.generate())
    await sandbox.start()            # REST and Pub/Sub on free loopback ports
    sandbox.endpoints()              # what a client needs to connect
    await sandbox.stop()

`running_salesforce_sandbox()` runs one on a background thread's event loop for synchronous tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from bridge.sandbox.background import in_background
from bridge.sandbox.salesforce import persistence, setup_objects
from bridge.sandbox.salesforce.eventbus import EventBus
from bridge.sandbox.salesforce.faults import Faults
from bridge.sandbox.salesforce.org import DEFAULT_API_VERSION, ConnectedApp, Org
from bridge.sandbox.salesforce.platform_events import PlatformEventPublisher
from bridge.sandbox.salesforce.pubsub import PubSubServer
from bridge.sandbox.salesforce.rest import RestApi
from bridge.sandbox.salesforce.schema import DEFAULT_METADATA_DIR, load_objects
from bridge.sandbox.tls import SandboxTLS

log = logging.getLogger(__name__)

# Not on the seed's domain, so callers that list the seeded users by domain never pick it up.
INTEGRATION_USERNAME = "integration@sandbox.calbridge.test"


class SalesforceSandbox:
    """A local org serving the REST API (HTTPS) and the Pub/Sub API (gRPC, TLS unless `pubsub_plaintext`)."""

    def __init__(
        self,
        tls: SandboxTLS,
        state_file: Path | None = None,
        metadata_dir: Path = DEFAULT_METADATA_DIR,
        api_limit: int = 100_000,
        shared_activities: bool = True,
        pubsub_plaintext: bool = False,
        *,
        save_interval_s: float = 5.0,
        pubsub_options: dict[str, Any] | None = None,
    ) -> None:
        self.tls = tls
        self.state_file = state_file
        self.save_interval_s = save_interval_s
        objects = load_objects(metadata_dir)
        self.org = Org(
            objects, metadata_dir=metadata_dir, shared_activities=shared_activities, api_limit=api_limit
        )
        self.bus = EventBus(self.org.objects)
        self.org.change_sink = self.bus
        if state_file is not None and persistence.load(self.org, state_file, self.bus):
            self.org.api_limit = api_limit
        self.faults = Faults(self.org)
        self.admin_token = secrets.token_urlsafe(32)
        self.api = RestApi(self.org, self.faults, self.admin_token)
        self.api.publisher = PlatformEventPublisher(self.bus)
        fresh = not self.org.clients
        self.client = self._integration_client()
        # The package's permission sets and CDC selections as setup records; the integration user gets its set
        # once, when the org is new (an assignment a test removed stays removed across a restart).
        admin = self.client.run_as_user_id
        setup_objects.install(self.org, metadata_dir, admin)
        if fresh:
            setup_objects.assign(self.org, [admin], setup_objects.INTEGRATION_SET, admin)
        self.access_token = self.org.issue_token(self.client.run_as_user_id, self.client.client_id)
        self.pubsub = PubSubServer(
            self.bus,
            self.org.objects,
            self._authorize,
            self.org.org_id,
            tls,
            pubsub_plaintext,
            **(pubsub_options or {}),
        )
        self.faults.pubsub = self.pubsub.apply_fault
        self.api.pubsub_counts = self.pubsub.counts
        self.host = "127.0.0.1"
        self.rest_port = 0
        self.pubsub_port = 0
        self._runner: web.AppRunner | None = None
        self._saver: asyncio.Task[None] | None = None

    def _integration_client(self) -> ConnectedApp:
        """The connected app and run-as user the sandbox hands out (reused from a loaded state file)."""
        if self.org.clients:
            return next(iter(self.org.clients.values()))
        user_id = self.org.store.new_id("005")
        self.org.store.serials["005"] -= 1  # the transaction below allocates this same id
        with self.org.transaction(user_id) as writer:
            created = writer.create(
                "User",
                {
                    "Username": INTEGRATION_USERNAME,
                    "Email": INTEGRATION_USERNAME,
                    "FirstName": "Calbridge",
                    "LastName": "Integration",
                    "Alias": "cbint",
                    "TimeZoneSidKey": "America/Los_Angeles",
                },
            )
        assert created == user_id
        return self.org.register_client(user_id)

    def _authorize(self, access_token: str, instance_url: str, tenant_id: str) -> bool:
        """Pub/Sub auth metadata: a live session of this org, its org id (15 or 18 characters)."""
        if tenant_id not in (self.org.org_id, self.org.org_id[:15]) or not instance_url:
            return False
        return self.org.session_user(access_token) is not None

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", rest_port: int = 0, pubsub_port: int = 0) -> None:
        """Listen for REST (HTTPS) and Pub/Sub; ports 0 pick free ones."""
        self.host = host
        runner = web.AppRunner(self.api.application(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, rest_port, ssl_context=self.tls.server_context())
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.rest_port = int(sockets[0].getsockname()[1]) if sockets else rest_port
        self.api.instance_url = self.instance_url
        self.pubsub_port = await self.pubsub.start(host, pubsub_port)
        if self.state_file is not None:
            self._saver = asyncio.create_task(self._save_periodically())

    async def stop(self) -> None:
        """Stop serving and save the org (when it has a state file)."""
        if self._saver is not None:
            self._saver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._saver
            self._saver = None
        await self.pubsub.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.save()

    def save(self) -> None:
        if self.state_file is not None:
            persistence.save(self.org, self.state_file, self.bus)

    async def _save_periodically(self) -> None:
        last = (-1, -1, -1)
        while True:
            await asyncio.sleep(self.save_interval_s)
            marker = (self.org.commit_number, self.org.api_usage, self.bus.latest_replay)
            if marker != last:
                await asyncio.to_thread(self.save)
                last = marker

    # -- what clients need --------------------------------------------------------------------------------

    @property
    def instance_url(self) -> str:
        return f"https://{self.host}:{self.rest_port}"

    def endpoints(self) -> dict[str, str]:
        return {
            "instance_url": self.instance_url,
            "token_url": f"{self.instance_url}/services/oauth2/token",
            "client_id": self.client.client_id,
            "client_secret": self.client.client_secret,
            "access_token": self.access_token,
            "org_id": self.org.org_id,
            "api_version": DEFAULT_API_VERSION,
            "pubsub": f"{self.host}:{self.pubsub_port}",
        }

    def admin(self) -> dict[str, str]:
        """The admin endpoint (faults, state) and the token it requires as `Authorization: Bearer`."""
        return {"admin_url": f"{self.instance_url}/_sandbox", "admin_token": self.admin_token}


@contextlib.contextmanager
def running_salesforce_sandbox(tls: SandboxTLS | None = None, **options: Any) -> Iterator[SalesforceSandbox]:
    """A started sandbox on a background thread; stopped (and saved) on exit. `options` go to
    SalesforceSandbox, plus `host`, `rest_port`, `pubsub_port`."""
    address = {k: options.pop(k) for k in ("host", "rest_port", "pubsub_port") if k in options}
    sandbox = SalesforceSandbox(tls or SandboxTLS.generate(), **options)
    with in_background(lambda: sandbox.start(**address), sandbox.stop, "salesforce-sandbox"):
        yield sandbox
