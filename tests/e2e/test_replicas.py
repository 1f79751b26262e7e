"""Three replicas (issue 10, docs/replicas.md): three `calbridge run` processes over one PostgreSQL database
and one sandbox, users spread over them by leases. Changes on both sides are synced once, each Salesforce
change event is delivered once to the deployment (not once per replica), and when the replica reading the
Salesforce stream is killed (SIGKILL) the others take its users and the stream over within 30 s, with
nothing lost and nothing doubled (R-TIME-2, R-MERGE-4). The replicas take their settings from Salesforce
and keep issues there (issue 9): an admin's change to a user's settings row takes effect on the replica
syncing the user, and an issue raised there is one Calbridge_Issue__c record, not one per replica.

Leases last 6 s here (15 s by default) so the test stays short; the takeover bound scales with them. The
deployment is built once with EWS and once with Graph (R-GRAPH-1; Graph by delta polling): which replica
reads which mailbox follows the leases under either provider.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import Outlook, SalesforceDesk, wait_until
from bridge.sandbox.runner import Sandbox, running_sandbox
from bridge.store.leases import STREAM_KEY

from .conftest import GRAPH_POLLING, use_graph

POSTGRES = os.environ.get("CALBRIDGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REPLICAS = ("r1", "r2", "r3")
USERS = 6
LEASE_S = 6
TAKEOVER_S = 30.0
TOPIC = "/data/EventChangeEvent"
PROVIDERS = ("ews", "graph")


def _sql(database: str | None, query: str) -> list[Any]:
    url = POSTGRES if database is None else POSTGRES.rsplit("/", 1)[0] + "/" + database

    async def run() -> list[Any]:
        connection = await asyncpg.connect(url, timeout=5)
        try:
            return list(await connection.fetch(query))
        finally:
            await connection.close()

    return asyncio.run(run())


@dataclass
class Deployment:
    sandbox: Sandbox
    endpoints: dict[str, Any]
    desk: SalesforceDesk
    database: str
    bridges: dict[str, BridgeProcess]
    provider: str

    def stored_id(self, ews_id: str) -> str:
        """The id the bridge keeps for an item Outlook (EWS) shows as `ews_id` (Graph's immutable id)."""
        return self.sandbox.graph.state.ids.immutable_id(ews_id) if self.provider == "graph" else ews_id

    def user(self, index: int) -> tuple[str, str]:
        user = self.endpoints["users"][index]
        return user["salesforce_user_id"], user["email"]

    def holders(self) -> dict[str, str]:
        """Lease key -> the replica holding it (unexpired leases only)."""
        rows = _sql(self.database, "SELECT key, holder FROM leases WHERE expires_at > now() AND holder <> ''")
        return {row["key"]: row["holder"] for row in rows}

    def counts(self) -> tuple[int, int]:
        """(published, delivered) Event change events since the sandbox started."""
        counts = self.sandbox.salesforce.pubsub.counts()
        return counts["published"].get(TOPIC, 0), counts["delivered"].get(TOPIC, 0)


@pytest.fixture(scope="module", params=PROVIDERS)
def deployment(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    provider = request.param
    root = tmp_path_factory.mktemp(f"e2e-replicas-{provider}")
    database = f"calbridge_replicas_{uuid.uuid4().hex[:12]}"
    try:
        _sql(None, f'CREATE DATABASE "{database}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        pytest.fail(f"PostgreSQL at {POSTGRES} is needed for replicas and cannot be reached: {error!r}")
    url = POSTGRES.replace("postgresql://", "postgresql+asyncpg://", 1).rsplit("/", 1)[0] + "/" + database
    bridges: dict[str, BridgeProcess] = {}
    try:
        with running_sandbox(root / "sandbox", users=USERS) as sandbox:
            for name in REPLICAS:
                config = sandbox.write_bridge_config(root / name)
                if provider == "graph":
                    use_graph(config, sandbox.endpoints()["graph"], GRAPH_POLLING)
                config.write_text(
                    config.read_text()
                    + f'\n[store]\nurl = "{url}"\n'
                    + f'\n[replica]\nenabled = true\nid = "{name}"\nlease_seconds = {LEASE_S}\n'
                    + '\n[sync]\nsettings_source = "salesforce"\nissues_to_salesforce = true\n'
                )
                bridges[name] = BridgeProcess(config).start()
            endpoints = sandbox.endpoints()
            yield Deployment(sandbox, endpoints, SalesforceDesk(endpoints), database, bridges, provider)
            for name, bridge in bridges.items():
                if bridge.process is not None and bridge.process.poll() is None:
                    code = bridge.stop()
                    assert code == 0, f"replica {name} exited with {code}:\n{bridge.tail()}"
    finally:
        _sql(None, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _spread(deployment: Deployment) -> dict[str, str]:
    """Once every user and the stream are held, by every replica between them: lease key -> replica."""
    keys = {deployment.user(i)[0] for i in range(USERS)} | {STREAM_KEY}

    def settled() -> dict[str, str] | None:
        held = deployment.holders()
        return held if keys <= set(held) and set(held.values()) == set(REPLICAS) else None

    return wait_until(settled, timeout=4 * LEASE_S)[0]


def _both_ways(deployment: Deployment, tag: str, users: list[int], at: datetime) -> list[tuple[int, str]]:
    """For each user an event booked in Salesforce and an item in Outlook: (user, subject) of each."""
    made = []
    for n, index in enumerate(users):
        owner, mailbox = deployment.user(index)
        start = at + timedelta(hours=2 * n)
        sf_subject, ex_subject = f"{tag} from Salesforce {index}", f"{tag} from Outlook {index}"
        deployment.desk.create_event(owner, sf_subject, start, start + timedelta(hours=1))
        Outlook(deployment.endpoints, mailbox).book(ex_subject, start, start + timedelta(minutes=30))
        made += [(index, sf_subject), (index, ex_subject)]
    return made


def _synced_once(deployment: Deployment, made: list[tuple[int, str]], timeout: float) -> float:
    """Wait until every change is on the other side; then each subject is exactly one event and one item
    (nothing lost, nothing doubled). Returns the seconds it took."""
    started = time.monotonic()

    def copies(index: int, subject: str) -> tuple[int, int]:
        owner, mailbox = deployment.user(index)
        events = deployment.desk.events_of(owner, subject)
        items = Outlook(deployment.endpoints, mailbox).find(subject)
        return len(events), len(items)

    wait_until(lambda: all(copies(i, s) >= (1, 1) for i, s in made) or None, timeout=timeout, every=0.5)
    took = time.monotonic() - started
    time.sleep(2.0)  # long enough for a second copy to show up, were one on its way
    assert {s: copies(i, s) for i, s in made} == {s: (1, 1) for _, s in made}
    return took


def test_r_time_2_three_replicas_share_the_users_sync_each_change_once_and_survive_a_kill(
    deployment: Deployment,
) -> None:
    held = _spread(deployment)
    victim = held[STREAM_KEY]  # the stream reader: its death must lose no Salesforce change either
    theirs = [i for i in range(USERS) if held[deployment.user(i)[0]] == victim]
    assert theirs, f"the stream holder {victim} holds no user; spread: {held}"
    day = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)

    # Every user, on all three replicas; Salesforce delivers each change event once to the deployment.
    published, delivered = deployment.counts()
    _synced_once(deployment, _both_ways(deployment, "Before", list(range(USERS)), day), timeout=30)
    published, delivered = (a - b for a, b in zip(deployment.counts(), (published, delivered), strict=True))
    assert published > 0 and delivered == published, (published, delivered)

    # The stream holder dies mid-flight; its users' changes made meanwhile reach the other side anyway.
    killed_at = time.monotonic()
    deployment.bridges[victim].kill()
    made = _both_ways(deployment, "During", theirs, day + timedelta(days=1))
    took = _synced_once(deployment, made, timeout=TAKEOVER_S)
    assert time.monotonic() - killed_at - 2.0 < TAKEOVER_S
    after = deployment.holders()
    for index in theirs:
        assert after[deployment.user(index)[0]] in set(REPLICAS) - {victim}
    assert after[STREAM_KEY] != victim
    print(
        f"three replicas: {published} Event change events published, {delivered} delivered; "
        f"{victim}'s {len(theirs)} users synced {took:.1f} s after it was killed"
    )


def test_r_scope_2_an_admins_settings_change_reaches_the_users_replica_and_an_issue_is_one_record(
    deployment: Deployment,
) -> None:
    users = {deployment.user(i)[0]: i for i in range(USERS)}
    live = {n for n, b in deployment.bridges.items() if b.process is not None and b.process.poll() is None}

    def held() -> dict[str, str] | None:
        found = deployment.holders()
        return found if all(found.get(k) in live for k in [*users, STREAM_KEY]) else None

    holders = wait_until(held, timeout=4 * LEASE_S)[0]
    # A user synced by a replica that does not read the Salesforce stream, when there is one: the settings
    # change and the issue then each cross from one replica to another through the store.
    index = next((i for u, i in users.items() if holders[u] != holders[STREAM_KEY]), 0)
    owner, mailbox = deployment.user(index)
    outlook = Outlook(deployment.endpoints, mailbox)

    # The admin widens the person's window in Salesforce (60 days ahead by default): the far event comes.
    far = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=120)
    event_id = deployment.desk.create_event(owner, "Replicas: far ahead", far, far + timedelta(hours=1))
    deployment.desk.sobject("Calbridge_Settings__c").create({"User__c": owner, "Future_Days__c": 200})
    wait_until(lambda: outlook.find("Replicas: far ahead") or None, timeout=4 * LEASE_S)
    # the pairing fields are written back just after the item is made (R-PAIR-1)
    wait_until(lambda: (deployment.desk.event(event_id) or {}).get("Exchange_Item_Id__c"), timeout=10)

    # An item Salesforce cannot hold (R-LIM-2: longer than 14 days) raises E-TOO-LONG on that replica;
    # the replica reading the stream keeps it in Salesforce, once.
    start = far - timedelta(days=20)
    item = outlook.book("Replicas: roadshow", start, start + timedelta(days=15))

    def records() -> list[dict[str, Any]]:
        return deployment.desk.query(
            "SELECT Id, Item_Id__c, Is_Open__c FROM Calbridge_Issue__c WHERE Code__c = {} AND User__c = {}",
            "E-TOO-LONG",
            owner,
        )

    item_id = deployment.stored_id(item.id)
    found = wait_until(lambda: [r for r in records() if r["Item_Id__c"] == item_id] or None, 4 * LEASE_S)[0]
    assert found[0]["Is_Open__c"]
    time.sleep(2 * LEASE_S / 3)  # two lease rounds: every replica would have mirrored it by now
    assert len([r for r in records() if r["Item_Id__c"] == item_id]) == 1


def test_r_multi_1_an_outside_meeting_two_replicas_sync_at_once_is_one_event(deployment: Deployment) -> None:
    """Two enrolled people held by different replicas accept one outside organizer's meeting in the same
    moment: each replica's pass finds no owner in the store, but the meeting is claimed in the store by the
    first (`meeting_claims`), so the other's pass waits, then joins its event. One event, the other person an
    invitee of it; before, each replica made one."""
    users = {deployment.user(i)[0]: i for i in range(USERS)}
    live = {n for n, b in deployment.bridges.items() if b.process is not None and b.process.poll() is None}

    def held() -> dict[str, str] | None:
        found = deployment.holders()
        return found if all(found.get(u) in live for u in users) else None

    holders = wait_until(held, timeout=4 * LEASE_S)[0]
    by_replica: dict[str, int] = {}
    for user_id, index in users.items():
        by_replica.setdefault(holders[user_id], index)
    if len(by_replica) < 2:
        pytest.skip(f"every user is held by one replica: {holders}")
    first, second = sorted(by_replica.values())[:2]
    at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=5)
    subject = "Replicas: partner call"
    addresses = [deployment.user(first)[1], deployment.user(second)[1]]
    deployment.sandbox.exchange.deliver_external_meeting(
        addresses, "host@partner.example", subject, at, at + timedelta(hours=1)
    )
    copies = [
        wait_until(lambda a=a: Outlook(deployment.endpoints, a).find(subject) or None, timeout=30)[0][0]
        for a in addresses
    ]
    threads = [threading.Thread(target=copy.accept) for copy in copies]  # the answers in one moment
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def events() -> list[dict[str, Any]]:
        return deployment.desk.query(
            "SELECT Id, OwnerId FROM Event WHERE Subject = {} AND IsChild = false", subject
        )

    owners = {deployment.user(first)[0], deployment.user(second)[0]}

    def joined() -> list[dict[str, Any]] | None:
        found = events()
        if len(found) != 1:
            return found if len(found) > 1 else None
        invitees = deployment.desk.invitees(str(found[0]["Id"]))
        return found if owners - {found[0]["OwnerId"]} <= set(invitees) else None

    found = wait_until(joined, timeout=30, every=0.5)[0]
    time.sleep(2.0)  # long enough for a second event to show up, were one on its way
    assert len(events()) == 1, f"{len(events())} events for one meeting: {found}"
