"""R-MULTI-1 for a single meeting an outside organizer sends to two enrolled people who both accept before the
bridge sees either answer (it is stopped meanwhile): Salesforce should hold one event, owned by one of them,
the other an invitee. Over EWS and Graph (R-GRAPH-1). The bridge claims the meeting's UID for one
recipient's pass at a time (`bridge.runtime.reconcile.MeetingClaims`): the second waits for the first's event
to be stored, then joins it.
"""

from __future__ import annotations

import pytest

from bridge.sandbox.launch import BridgeProcess
from bridge.sandbox.people import wait_until

from . import series_steps as steps
from .conftest import World
from .helpers import sync_now

PROVIDERS = ("ews", "graph")
WAIT_S = 30


@pytest.mark.timeout(300)  # a restart and two sync-now runs, besides the module's sandbox
def test_r_multi_1_two_recipients_accepting_at_once_get_one_event(world: World) -> None:
    subject = "At once: Partner call with Oak Yard"
    start, end = world.slot()
    assert world.bridge.stop() == 0, world.bridge.tail()
    try:
        addresses = [world.user(1)[1], world.user(2)[1]]
        world.sandbox.exchange.deliver_external_meeting(addresses, steps.OUTSIDE, subject, start, end)
        for index in (1, 2):
            found, _ = wait_until(lambda i=index: world.outlook(i).find(subject), timeout=WAIT_S)
            found[0].accept()
    finally:
        world.bridge = BridgeProcess(world.bridge.config, env=world.bridge.env).start()

    def events() -> list[dict[str, object]]:
        return world.desk.query(
            "SELECT Id, OwnerId FROM Event WHERE Subject = {} AND IsChild = false", subject
        )

    wait_until(events, timeout=WAIT_S)
    for index in (1, 2):
        sync_now(world, world.user(index)[1])
    found = events()
    assert len(found) == 1, f"{len(found)} events for one meeting"
    (owner,) = {str(e["OwnerId"]) for e in found}
    (other,) = {world.user(1)[0], world.user(2)[0]} - {owner}
    assert other in world.desk.invitees(str(found[0]["Id"]))
