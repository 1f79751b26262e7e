"""Crash safety (R-MERGE-4, R-TIME-2): the bridge killed with SIGKILL at random moments while 300 changes flow
on both sides, and restarted each time, ends with both sides as expected: nothing lost, nothing doubled.
A kill right after the masked copy of a private record was made leaves a pair recovered from its pairing
fields that keeps the mask (R-PRIV-1 with R-PAIR-1)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bridge.config import load_config
from bridge.core.model import Side
from bridge.ports import Commit, Intent
from bridge.runtime.records import pair_key
from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import wait_until
from bridge.store import open_store

from .conftest import World

CHANGES_PER_SIDE = 150
KILLS = 3
PROVIDERS = ("ews", "graph")  # Graph's transactionId and delta rounds must survive a kill as EWS's writes do


def test_r_merge_4_sigkill_while_300_changes_flow_loses_nothing_and_doubles_nothing(world: World) -> None:
    owner, address = world.user(1)
    outlook = world.outlook(1)
    base = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=5)
    from_salesforce = [f"sf-{n:03d}" for n in range(CHANGES_PER_SIDE)]
    from_outlook = [f"ex-{n:03d}" for n in range(CHANGES_PER_SIDE)]
    errors: list[BaseException] = []

    def salesforce_side() -> None:
        try:
            for n, subject in enumerate(from_salesforce):
                start = base + timedelta(minutes=30 * n)
                world.desk.create_event(owner, subject, start, start + timedelta(minutes=30))
        except BaseException as error:  # reported by the test thread
            errors.append(error)

    def outlook_side() -> None:
        try:
            for n, subject in enumerate(from_outlook):
                start = base + timedelta(days=1, minutes=30 * n)
                outlook.book(subject, start, start + timedelta(minutes=30))
        except BaseException as error:
            errors.append(error)

    writers = [threading.Thread(target=salesforce_side), threading.Thread(target=outlook_side)]
    for writer in writers:
        writer.start()
    chance = random.Random(20261201)
    for _ in range(KILLS):
        time.sleep(chance.uniform(0.5, 3.0))
        world.bridge.kill()
        world.bridge = BridgeProcess(world.bridge.config).start()
    for writer in writers:
        writer.join()
    assert not errors, errors

    def settled() -> bool:
        events = world.desk.query(
            "SELECT Subject, Exchange_Item_Id__c FROM Event WHERE OwnerId = {} AND IsChild = false", owner
        )
        mine = [e for e in events if e["Subject"][:3] in ("sf-", "ex-")]
        paired = [e for e in mine if e["Exchange_Item_Id__c"]]
        items = [i for i in outlook.account.calendar.all().only("subject") if i.subject[:3] in ("sf-", "ex-")]
        return (
            len(mine) >= 2 * CHANGES_PER_SIDE
            and len(paired) == len(mine)
            and len(items) >= 2 * CHANGES_PER_SIDE
        )

    wait_until(settled, timeout=120, every=1.0)
    events = world.desk.query("SELECT Subject FROM Event WHERE OwnerId = {} AND IsChild = false", owner)
    event_subjects = Counter(e["Subject"] for e in events if e["Subject"][:3] in ("sf-", "ex-"))
    item_subjects = Counter(
        i.subject for i in outlook.account.calendar.all().only("subject") if i.subject[:3] in ("sf-", "ex-")
    )
    expected = Counter(from_salesforce + from_outlook)
    assert event_subjects == expected, "Salesforce lost or doubled events"
    assert item_subjects == expected, f"Exchange lost or doubled items in {address}"


async def _uncommit(config: Path, user_id: str, sf_ids: set[str]) -> None:
    """The store as a kill right after the creates of these pairs leaves it (R-MERGE-4): the pairs never
    committed, each create's intent still pending."""
    store = open_store(load_config(config).store_url)
    try:
        pairs = [p for p in await store.pairs_of(user_id) if p.state.sf_id in sf_ids]
        assert len(pairs) == len(sf_ids), pairs
        for pair in pairs:
            made = Side.SALESFORCE if pair.state.origin is Side.EXCHANGE else Side.EXCHANGE
            what = "CreateEvent" if made is Side.SALESFORCE else "CreateItem"
            await store.record_intent(Intent(user_id, pair_key(pair.state), made, what, uuid.uuid4().hex))
        await store.commit(Commit(user_id, forget=[pair_key(p.state) for p in pairs]))
    finally:
        await store.close()


async def _masked_sides(config: Path, user_id: str, sf_ids: set[str]) -> dict[str, Side | None]:
    store = open_store(load_config(config).store_url)
    try:
        return {
            p.state.sf_id: p.state.masked for p in await store.pairs_of(user_id) if p.state.sf_id in sf_ids
        }
    finally:
        await store.close()


def test_r_priv_1_a_pair_recovered_after_a_kill_right_after_its_masked_copy_keeps_the_mask(
    world: World,
) -> None:
    """A private Outlook item masked into Salesforce and a private Salesforce event masked into Outlook; the
    bridge killed just after making the masked copies, before their pairs were stored (the store as the kill
    leaves it: no pairs, the creates' intents pending). The event is moved while the bridge is down, so the
    real record is the newer copy of one pair and the mask of the other. The restarted bridge recovers both
    pairs from their pairing fields (R-PAIR-1) and keeps the masks (R-PRIV-1): the mask is not written over
    the real subject, the real subject does not reach the masked copy; only the move crosses."""
    owner, _ = world.user(0)
    outlook = world.outlook(0)
    start, end = world.slot()
    item = outlook.book(
        "Crash: biopsy results",
        start,
        end,
        sensitivity="Private",
        location="Clinic 3",
        body="Bring the scans",
    )
    event_id = world.desk.create_event(
        owner,
        "Crash: severance talk",
        start + timedelta(hours=1),
        end + timedelta(hours=1),
        IsPrivate=True,
        Location="HR office",
        Description="Numbers",
    )

    def masked_event() -> str | None:
        rows = world.desk.query(
            "SELECT Id FROM Event WHERE Exchange_Item_Id__c = {}", world.stored_id(item.id)
        )
        return rows[0]["Id"] if rows else None

    def masked_item_id() -> str | None:
        stored = (world.desk.event(event_id) or {}).get("Exchange_Item_Id__c")
        return world.ews_id(stored) if stored else None

    (mask_event_id, mask_item_id), _ = wait_until(
        lambda: (e, i) if (e := masked_event()) and (i := masked_item_id()) else None, timeout=60
    )
    ids = {mask_event_id, event_id}
    wait_until(lambda: len(asyncio.run(_masked_sides(world.bridge.config, owner, ids))) == 2, timeout=30)
    world.bridge.kill()
    asyncio.run(_uncommit(world.bridge.config, owner, ids))
    moved = start + timedelta(hours=2)
    world.desk.move_event(event_id, moved, moved + timedelta(hours=1))
    world.bridge = BridgeProcess(world.bridge.config, env=world.bridge.env).start()

    def recovered() -> dict[str, Side | None] | None:
        found = asyncio.run(_masked_sides(world.bridge.config, owner, ids))
        return found if len(found) == 2 else None

    masks, _ = wait_until(recovered, timeout=60)
    real_item = outlook.by_id(item.id)
    assert (real_item.subject, real_item.location) == ("Crash: biopsy results", "Clinic 3")
    assert real_item.sensitivity == "Private"
    mask_event = world.desk.event(mask_event_id) or {}
    assert (mask_event["Subject"], mask_event["IsPrivate"]) == ("Private", True)
    assert not mask_event["Location"] and not mask_event["Description"]
    real_event = world.desk.event(event_id) or {}
    assert (real_event["Subject"], real_event["Location"]) == ("Crash: severance talk", "HR office")
    mask_item = outlook.by_id(mask_item_id)
    assert (mask_item.subject, mask_item.sensitivity) == ("Private", "Private")
    assert not mask_item.location and not mask_item.body
    assert mask_item.start == moved, "the move made while the bridge was down did not reach the masked item"
    assert masks == {mask_event_id: Side.SALESFORCE, event_id: Side.EXCHANGE}
