"""Configuration -> adapters -> store -> Bridge -> ops server; signals; readiness.

    supervisor = Supervisor(load_config("calbridge.toml"))
    await supervisor.start()     # opens the store (migrated), the adapters, the bridge and the ops server
    await supervisor.run()       # start, then wait for SIGTERM/SIGINT, then stop: exit status 0

`stop()` stops reading the streams, lets every plan in flight finish and commit, stores the stream
watermarks, then closes the ops server, the adapters and the store, in that order.

Readiness (`/readyz`, docs/ops.md): `store` (a read answers within 2 s), `salesforce_stream` (every topic
subscribed), `exchange_subscriptions` (every enabled user's mailbox subscribed) and `first_sync` (every
user's first pass since start committed). A port that cannot tell (the in-memory ones) passes its check.

The supervisor is the ops server's source: readiness, issues, metrics, sync-now, and the status page's
`status()` and `confirm()` (held deletions, R-DEL-10).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bridge.config import Config
from bridge.core.issues import IssueCode
from bridge.ports import MailboxPort, SalesforcePort, Store, StoredIssue
from bridge.runtime.actor import ActorSettings
from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.metrics import RuntimeMetrics
from bridge.runtime.sync import UserBinding

if TYPE_CHECKING:
    from bridge.ops.metrics import Metrics
    from bridge.ops.status_page import BridgeStatus

log = logging.getLogger(__name__)
STORE_PROBE_S = 2.0
SYNC_NOW_TIMEOUT_S = 120.0


def bindings(config: Config) -> list[UserBinding]:
    """Every enabled user with their policy (the mailbox time zone is looked up by the actor)."""
    return [UserBinding(u.salesforce_user_id, u.email, config.policy_for(u)) for u in config.enabled_users]


def open_salesforce_port(config: Config) -> SalesforcePort:
    from bridge.salesforce import SalesforceConnection, open_salesforce
    from bridge.salesforce.settings import SETTINGS_TOPIC

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
        budget_poll_s=sf.budget_poll_seconds,
        batch_linger_s=config.sync.linger_ms / 1000,
        batch_size=config.sync.batch_size,
        # Settings from Salesforce: the settings object's change events are read too (docs/metadata.md).
        extra_topics=(SETTINGS_TOPIC,) if config.sync.settings_source == "salesforce" else (),
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


def _local_users(bridge: Bridge) -> list[UserBinding]:
    """The users this process syncs: every enrolled user, or a replica's held ones (docs/replicas.md)."""
    local = getattr(bridge, "local_users", None)
    return list(local()) if callable(local) else list(bridge.users.values())


def _stream_ok(bridge: Bridge) -> bool:
    """The Salesforce stream is connected, or this replica is not the one reading it (docs/replicas.md)."""
    if not getattr(bridge, "reads_salesforce", True):
        return True
    return bool(getattr(bridge.salesforce, "stream_connected", True))


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
            reconcile_every_s=config.sync.reconcile_hours * 3600,
            actor=ActorSettings(workers=config.sync.workers),
        )
        self.metrics = RuntimeMetrics()
        self.bridge: Bridge | None = None
        self.ops: Any = None
        self._stopped = asyncio.Event()
        self._closing: list[Any] = []
        self.first_sync = asyncio.Event()
        self._watch: asyncio.Task[None] | None = None

    async def open_bridge(self, *, running: bool = True) -> Bridge:
        """The store and adapters opened, the bridge built (not started). `running=False`: for a command
        that runs some passes in this process, which leaves the running bridge's records alone."""
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
        if self.config.replica.enabled:  # one of several replicas over PostgreSQL (docs/replicas.md)
            from bridge.runtime.replicas import open_replica

            self.bridge = open_replica(
                self.config, salesforce, exchange, store, bindings(self.config), self.settings, self.metrics
            )
            return self.bridge
        from bridge.runtime.admin import build_bridge

        self.bridge = await build_bridge(
            self.config,
            salesforce,
            exchange,
            store,
            bindings(self.config),
            running=running,
            settings=self.settings,
            metrics=self.metrics,
        )
        return self.bridge

    async def start(self) -> Bridge:
        bridge = await self.open_bridge()
        if self.with_ops:
            await self._start_ops()
        await bridge.start()
        self._watch = asyncio.create_task(self._first_sync(bridge), name="first sync")
        log.info("calbridge running for %d users", len(bridge.users))
        return bridge

    async def _first_sync(self, bridge: Bridge) -> None:
        """Set `first_sync` once every user's first pass since start is done (its actor counted a pass,
        or ended idle after it). A pass retrying a transient failure does not count."""
        pending = set(bridge.users)
        while pending:
            running = bridge.actors.running
            pending = {u for u in pending if (a := running.get(u)) is not None and a.passes == 0}
            if pending:
                await asyncio.sleep(0.1)
        self.first_sync.set()
        log.info("first sync done", extra={"users": len(bridge.users)})

    async def _start_ops(self) -> None:
        try:
            from bridge.ops.metrics import Metrics, PrometheusSink
            from bridge.ops.server import OpsServer
        except ImportError:  # the ops package is optional for the runtime
            return
        prometheus = Metrics()
        self.metrics.forward.append(PrometheusSink(prometheus))
        self.ops = OpsServer.from_config(self.config, self, prometheus)
        # Graph's change notifications arrive at the ops server (R-GRAPH-2); served before the bridge
        # starts, since Graph validates them as the mailboxes are subscribed.
        routes = getattr(self.bridge.exchange, "routes", None) if self.bridge is not None else None
        for method, path, handler in routes() if routes is not None else ():
            self.ops.add_route(method, path, handler)
        await self.ops.start()

    async def stop(self) -> None:
        """Finish the plans in flight, store the positions, close everything."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
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

    async def readiness(self) -> dict[str, bool]:
        bridge = self.bridge
        if bridge is None:
            return {
                "store": False,
                "salesforce_stream": False,
                "exchange_subscriptions": False,
                "first_sync": False,
            }
        try:
            await asyncio.wait_for(bridge.store.position("sf:"), STORE_PROBE_S)
            store = True
        except Exception:
            store = False
        return {
            "store": store,
            "salesforce_stream": _stream_ok(bridge),
            "exchange_subscriptions": not self._unsubscribed(bridge),
            "first_sync": self.first_sync.is_set(),
        }

    @staticmethod
    def _unsubscribed(bridge: Bridge) -> set[str]:
        """Enrolled mailboxes without a live subscription (none when the port cannot tell)."""
        subscribed = getattr(bridge.exchange, "subscribed", None)
        if subscribed is None:
            return set()
        return {u.mailbox.lower() for u in _local_users(bridge)} - set(subscribed)

    def collect(self, metrics: Metrics) -> None:
        """Salesforce calls by kind and the streams' state, for a scrape of /metrics."""
        bridge = self.bridge
        if bridge is None:
            return
        calls = getattr(bridge.salesforce, "calls", None)
        if calls is not None and hasattr(calls, "snapshot"):
            metrics.count_salesforce_calls(calls.snapshot())
        metrics.set_stream("salesforce", _stream_ok(bridge))
        missing = self._unsubscribed(bridge)
        metrics.set_stream("exchange", not missing)
        metrics.mailboxes_subscribed.set(len(_local_users(bridge)) - len(missing))

    def user_id(self, user: str) -> str:
        """An enrolled user's Salesforce id from their id or mailbox address; KeyError otherwise."""
        assert self.bridge is not None
        for binding in self.bridge.users.values():
            if user in (binding.user_id, binding.mailbox) or user.lower() == binding.mailbox.lower():
                return binding.user_id
        raise KeyError(user)

    async def sync_now(self, user: str) -> str:
        """R-TIME-5 through the running bridge: the user's window compared and synced, then return."""
        if self.bridge is None:
            raise KeyError(user)
        user_id = self.user_id(user)
        await self._pass_done(user_id, self.bridge.sync_now)
        return user_id

    async def confirm(self, user: str) -> str:
        """R-DEL-10 from the status page: the user's held deletions carried out, then return. KeyError: not
        an enrolled user; ValueError: no deletions are held for them (an open E-MASS-DELETE says there are),
        so a confirm never releases a hold nobody saw."""
        if self.bridge is None:
            raise KeyError(user)
        user_id = self.user_id(user)
        held = [i for i in await self.bridge.store.issues(user_id) if i.code == IssueCode.MASS_DELETE.value]
        if not held:
            raise ValueError(f"no deletions are held for {user_id}")
        log.info("held deletions confirmed from the status page", extra={"user": user_id})
        await self._pass_done(user_id, self.bridge.confirm)
        return user_id

    async def _pass_done(self, user_id: str, submit: Callable[[str], None]) -> None:
        """`submit(user_id)` work to the user's actor and wait until the pass that takes it up committed."""
        assert self.bridge is not None
        bridge = self.bridge
        before = bridge.actors.running.get(user_id)
        submit(user_id)
        actor = bridge.actors.running.get(user_id)
        if actor is None:  # a user another replica holds: the work was handed over to it (docs/replicas.md)
            return
        # The pass that takes the work up is the next one, or the one after a pass already running.
        target = (actor.passes if actor is before else 0) + 1 + int(actor.busy)
        async with asyncio.timeout(SYNC_NOW_TIMEOUT_S):
            while bridge.actors.running.get(user_id) is actor and actor.passes < target:
                await asyncio.sleep(0.05)

    async def status(self) -> BridgeStatus:
        """For the status page: every enrolled user (from the config or, with settings from Salesforce, as
        enrolled now), then the configured users who are not, as switched off; with the last pass that
        wrote each way (the store's `synced:<direction>:<user>` marks), their open issues and held
        deletions; latency from this process's measurements; readiness."""
        from bridge.ops.status_page import BridgeStatus, Latency, UserStatus

        checks = await self.readiness()
        if self.bridge is None:
            return BridgeStatus(checks)
        store = self.bridge.store
        issues = sorted(await store.issues(None), key=lambda i: (i.user_id, i.code, i.first_seen))
        marks = await store.positions("synced:")
        enrolled = {b.user_id: b.mailbox for b in self.bridge.users.values()}
        configured = {u.salesforce_user_id: u.email for u in self.config.users}
        off = {user_id: mailbox for user_id, mailbox in configured.items() if user_id not in enrolled}
        users = [
            UserStatus(
                user_id=user_id,
                mailbox=mailbox,
                enabled=user_id in enrolled,
                last_to_exchange=_moment(marks.get(f"synced:to_exchange:{user_id}")),
                last_to_salesforce=_moment(marks.get(f"synced:to_salesforce:{user_id}")),
                open_issues=sum(1 for i in issues if i.user_id == user_id),
                held=next(
                    (i for i in issues if i.user_id == user_id and i.code == IssueCode.MASS_DELETE.value),
                    None,
                ),
            )
            for user_id, mailbox in (enrolled | off).items()
        ]
        latency = [
            Latency(
                direction,
                len(self.metrics.latencies.get(direction, ())),
                self.metrics.percentile(direction, 0.5),
                self.metrics.percentile(direction, 0.95),
            )
            for direction in ("to_exchange", "to_salesforce")
        ]
        return BridgeStatus(checks, users, latency, issues)

    async def issues(self, user: str | None) -> list[StoredIssue]:
        if self.bridge is None:
            return []
        if user is not None:
            with contextlib.suppress(KeyError):
                user = self.user_id(user)
        return await self.bridge.store.issues(user)


def _moment(value: str | None) -> datetime | None:
    """A stored `synced:` mark as a time (None when missing or unreadable)."""
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
