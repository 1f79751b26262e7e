"""Crash safety (R-MERGE-4, R-TIME-2): the bridge killed with SIGKILL at random moments while 300 changes flow
on both sides, and restarted each time, ends with both sides as expected: nothing lost, nothing doubled."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import wait_until

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
