"""Configuration -> adapters -> store -> Bridge -> ops server; signals; readiness.

    supervisor = Supervisor(load_config("calbridge.toml"))
    await supervisor.start()     # opens the store (migrated), the adapters, the bridge and the ops server
    await supervisor.run()       # start, then wait for SIGTERM/SIGINT, then stop: exit status 0

`stop()` stops reading the streams, lets every plan in flight finish and commit, stores the stream
watermarks, then closes the ops server, the adapters and the store, in that order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from bridge.config import Config
from bridge.ports import MailboxPort, SalesforcePort, Store, StoredIssue
from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.sync import UserBinding

log = logging.getLogger(__name__)


def bindings(config: Config) -> list[UserBinding]:
    """Every enabled user with their policy (the mailbox time zone is looked up by the actor)."""
    return [UserBinding(u.salesforce_user_id, u.email, config.policy_for(u)) for u in config.enabled_users]


def open_salesforce_port(config: Config) -> SalesforcePort:
    from bridge.salesforce import SalesforceConnection, open_salesforce

    sf = config.salesforce
    connection = SalesforceConnection(
        instance_url=sf.instance_url,
        token_url=sf.token_endpoint,
        org_id=sf.org_id or "",
        pubsub=sf.pubsub,
        client_id=sf.client_id,
        auth=sf.auth,
        client_secret=sf.client_secret.get_secret_value() if sf.client_secret else "",
        username=sf.username or "",
        private_key=sf.private_key.get_secret_value() if sf.private_key else "",
        api_version=sf.api_version,
        ca_bundle=str(sf.ca_bundle) if sf.ca_bundle else None,
        call_client=config.bridge_id,
        api_budget=sf.api_budget,
    )
    return open_salesforce(connection)


def open_mailbox_port(config: Config) -> MailboxPort:
    from bridge.errors import ConfigError

    ex = config.exchange
    if ex.provider == "graph":
        from bridge.exchange.graph.settings import open_from_config

        return open_from_config(config)
    if ex.provider != "ews":
        raise ConfigError("exchange.provider", f"{ex.provider!r} is not a provider; use ews or graph")
    from bridge.exchange.ews import EwsConnection, open_ews

    connection = EwsConnection(
        ews_url=ex.ews_url or "",
        username=ex.username or "",
        password=ex.password.get_secret_value() if ex.password else "",
        auth_type=ex.auth_type,
        ca_bundle=str(ex.ca_bundle) if ex.ca_bundle else None,
    )
    return open_ews(connection)


async def open_store_port(config: Config) -> Store:
    from bridge.store import open_store

    config.state_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(config.store_url)
    await store.migrate()
    return store


class Supervisor:
    """The running bridge of one configuration."""

    def __init__(
        self,
        config: Config,
        *,
        salesforce: SalesforcePort | None = None,
        exchange: MailboxPort | None = None,
        store: Store | None = None,
        ops: bool = True,
        settings: BridgeSettings | None = None,
    ) -> None:
        self.config = config
        self._given = (salesforce, exchange, store)
        self.with_ops = ops
        self.settings = settings or BridgeSettings(
            reconcile_every_s=config.sync.reconcile_hours * 3600, actor=ActorSettings()
        )
        self.metrics = RuntimeMetrics()
        self.bridge: Bridge | None = None
        self.ops: Any = None
        self._stopped = asyncio.Event()
        self._closing: list[Any] = []

    async def open_bridge(self) -> Bridge:
        """The store and adapters opened, the bridge built (not started)."""
        salesforce, exchange, store = self._given
        if store is None:
            store = await open_store_port(self.config)
            self._closing.append(store)
        if salesforce is None:
            salesforce = open_salesforce_port(self.config)
            self._closing.append(salesforce)
        if exchange is None:
            exchange = open_mailbox_port(self.config)
            self._closing.append(exchange)
        self.bridge = Bridge(
            salesforce, exchange, store, bindings(self.config), settings=self.settings, metrics=self.metrics
        )
        return self.bridge

    async def start(self) -> Bridge:
        bridge = await self.open_bridge()
        if self.with_ops:
            await self._start_ops()
        await bridge.start()
        log.info("calbridge running for %d users", len(bridge.users))
        return bridge

    async def _start_ops(self) -> None:
        try:
            from bridge.ops.metrics import Metrics, PrometheusSink
            from bridge.ops.server import OpsServer
        except ImportError:  # the ops package is optional for the runtime
            return
        prometheus = Metrics()
        self.metrics.forward.append(PrometheusSink(prometheus))
        self.ops = OpsServer.from_config(self.config, self, prometheus)
        await self.ops.start()

    async def stop(self) -> None:
        """Finish the plans in flight, store the positions, close everything."""
        if self.bridge is not None:
            await self.bridge.stop()
        if self.ops is not None:
            await self.ops.stop()
            self.ops = None
        for resource in reversed(self._closing):
            with contextlib.suppress(Exception):
                await resource.close()
        self._closing.clear()
        self._stopped.set()

    async def run(self) -> int:
        """Start, serve until SIGTERM or SIGINT, stop; 0 when stopped by a signal."""
        loop = asyncio.get_running_loop()
        asked = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, asked.set)
        try:
            await self.start()
            await asked.wait()
            log.info("stopping: finishing the plans in flight")
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
            await self.stop()
        return 0

    # ---------------------------------------------------------------------------- for the ops server

    def readiness(self) -> dict[str, bool]:
        bridge = self.bridge
        return {
            "store": bridge is not None,
            "running": bridge is not None and bridge.ready.is_set(),
        }

    async def issues(self, user: str | None) -> list[StoredIssue]:
        if self.bridge is None:
            return []
        if user is not None and "@" in user:
            user = next((u.user_id for u in self.bridge.users.values() if u.mailbox == user.lower()), user)
        return await self.bridge.store.issues(user)
