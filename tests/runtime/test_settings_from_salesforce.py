"""Enrolment and policies from Salesforce (issue 9): `resolve` over Salesforce's answer and the config, and
the command gate over the memory store. The admin story end to end is tests/e2e/test_admin.py."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from bridge.config import Config
from bridge.core.model import Direction, Filter, PrivatePolicy
from bridge.ports import BridgeCommand, CommandKind, StreamPosition
from bridge.runtime.admin import build_bridge
from bridge.runtime.gate import CommandGate
from bridge.runtime.memory import MemoryMailbox, MemorySalesforce
from bridge.runtime.settings import ORG, resolve, row_policy
from bridge.runtime.shared_settings import enrolment_to_text, left_while_stopped
from bridge.salesforce.settings import Enrolment
from bridge.store.memory import MemoryStore

ANN, BOB, CAT = "005000000000001AAA", "005000000000002AAA", "005000000000003AAA"


def _config(**values: Any) -> Config:
    return Config(
        salesforce={"instance_url": "https://acme.my.salesforce.com", "client_id": "app"},
        exchange={"ews_url": "https://mail.acme.test/EWS/Exchange.asmx", "username": "svc@acme.test"},
        **values,
    )


def _enrolment(rows: list[dict[str, Any]], assigned: Collection[str] = (ANN, BOB)) -> Enrolment:
    users = {u: {"Email": f"{u[-4:]}@Acme.test", "IsActive": True} for u in (ANN, BOB, CAT)}
    return Enrolment(frozenset(assigned), tuple(rows), users)


def test_r_scope_2_a_user_row_wins_over_the_org_row_which_wins_over_the_config() -> None:
    config = _config(policy={"direction": "to_salesforce", "past_days": 10, "private": "full"})
    rows = [
        {"Id": "a0A1", "User__c": None, "Direction__c": "both", "Past_Days__c": 20.0},
        {"Id": "a0A2", "User__c": ANN, "Direction__c": "to_exchange", "Sync_Enabled__c": True},
    ]
    found = resolve(config, _enrolment(rows))
    ann, bob = found.bindings[ANN].policy, found.bindings[BOB].policy
    assert ann.direction is Direction.TO_EXCHANGE and bob.direction is Direction.BOTH
    assert ann.past_days == bob.past_days == 20  # a blank field falls back to the org row
    assert ann.private is bob.private is PrivatePolicy.FULL  # and a field blank there to calbridge.toml
    assert found.bindings[ANN].mailbox == "1aaa@acme.test"  # the User's Email when the config names none
    assert not found.problems


def test_observe_mode_follows_the_settings_rows_org_then_user() -> None:
    """Issue 9's observe mode: the org row turns it on for every user, a user's row can turn it off."""
    rows = [
        {"Id": "a0A1", "User__c": None, "Observe__c": "on"},
        {"Id": "a0A2", "User__c": BOB, "Observe__c": "off", "Sync_Enabled__c": True},
    ]
    found = resolve(_config(), _enrolment(rows))
    assert found.bindings[ANN].observe and not found.bindings[BOB].observe
    assert not found.problems


def test_r_del_6_who_syncs_holds_calbridge_user_and_is_not_switched_off() -> None:
    config = _config(users=[{"email": "bob@mail.acme.test", "salesforce_user_id": BOB}])
    rows = [{"Id": "a0A2", "User__c": ANN, "Sync_Enabled__c": False}]
    found = resolve(config, _enrolment(rows, assigned=(ANN, BOB)))
    assert set(found.bindings) == {BOB}  # Ann is switched off; Cat holds no Calbridge User
    assert found.bindings[BOB].mailbox == "bob@mail.acme.test"  # the [[users]] entry names the mailbox
    off = _config(users=[{"email": "bob@mail.acme.test", "salesforce_user_id": BOB, "enabled": False}])
    assert set(resolve(off, _enrolment([], assigned=(BOB,))).bindings) == set()


def test_r_del_6_users_enrolled_before_a_stop_and_not_after_it_are_switched_off_at_start() -> None:
    config = _config()
    rows = [{"Id": "a0A2", "User__c": BOB, "Direction__c": "to_exchange", "Sync_Enabled__c": True}]
    stored = enrolment_to_text(_enrolment(rows, assigned=(ANN, BOB, CAT)))
    # Meanwhile Ann lost Calbridge User and Bob's row was unticked; Cat still syncs.
    now = resolve(config, _enrolment([{**rows[0], "Sync_Enabled__c": False}], assigned=(BOB, CAT)))
    gone = left_while_stopped(config, stored, now.bindings)
    assert [b.user_id for b in gone] == [ANN, BOB]
    assert gone[1].policy.direction is Direction.TO_EXCHANGE  # the policy they synced under
    assert left_while_stopped(config, None, now.bindings) == []  # nothing stored: a first start
    assert left_while_stopped(config, '{"v": 0}', now.bindings) == []  # unreadable: logged, not guessed


class _Enrolling(MemorySalesforce):
    """The memory Salesforce port with an enrolment to read."""

    def __init__(self, assigned: set[str]) -> None:
        super().__init__()
        self.assigned = assigned

    async def read_enrolment(self) -> Enrolment:
        return _enrolment([], assigned=self.assigned)


async def test_r_del_6_the_bridge_compares_with_its_own_last_read_not_a_commands() -> None:
    config = _config(sync={"settings_source": "salesforce"})
    sf, ex, store = _Enrolling({ANN, BOB}), MemoryMailbox(), MemoryStore()
    await build_bridge(config, sf, ex, store, [])  # a bridge runs: its read is stored
    sf.assigned = {BOB}  # Ann leaves while the bridge is stopped...
    command = await build_bridge(config, sf, ex, store, [], running=False)  # ...and a backfill runs
    assert set(command.users) == {BOB} and command.switched_off == {}
    bridge = await build_bridge(config, sf, ex, store, [])  # the bridge starts again
    assert set(bridge.users) == {BOB} and set(bridge.switched_off) == {ANN}
    assert bridge.switched_off[ANN].mailbox == "1aaa@acme.test"


def test_r_lim_1_rows_that_do_not_read_are_reported_and_never_guessed() -> None:
    values, problems = row_policy(
        {
            "Direction__c": "sideways",
            "Past_Days__c": 900.0,
            "Safe_Description__c": "off",
            "Filter_To_Exchange__c": "meetings",
        }
    )
    assert values == {"safe_description": False, "filter_to_exchange": Filter.MEETINGS}
    assert len(problems) == 2 and "Direction__c" in problems[0] and "Past_Days__c" in problems[1]
    rows = [
        {"Id": "a0A1", "User__c": ANN, "Direction__c": "to_exchange"},
        {"Id": "a0A2", "User__c": ANN, "Direction__c": "to_salesforce"},
        {"Id": "a0A3", "User__c": None, "Blocked_Categories__c": "Personal\n\nPrivate\n"},
    ]
    found = resolve(_config(), _enrolment(rows))
    assert found.bindings[ANN].policy.direction is Direction.BOTH  # neither of two rows is used
    assert "a0A1, a0A2" in found.problems[ANN][0]
    assert found.bindings[BOB].policy.blocked_categories == frozenset({"Personal", "Private"})
    assert ORG not in found.problems


def _command(
    kind: CommandKind, user: str | None, sender: str | None, event: str | None = None
) -> BridgeCommand:
    return BridgeCommand(kind, user, event, sender, StreamPosition("sf:/event/Calbridge_Command__e", "01"))


async def test_r_time_5_a_command_is_acted_on_only_from_the_user_or_an_admin() -> None:
    store = MemoryStore()
    admins = {CAT}
    asked: list[str] = []

    async def holds(user_id: str, sets: Collection[str]) -> bool:
        asked.append(user_id)
        return user_id in admins and "Calbridge_Admin" in sets

    async def owner(event_id: str) -> str | None:
        return ANN if event_id == "00U000000000001AAA" else None

    gate = CommandGate(holds, owner, store, clock=lambda: datetime(2026, 1, 5, tzinfo=UTC))
    assert await gate.allows(_command(CommandKind.SYNC_NOW, ANN, ANN))
    assert await gate.allows(_command(CommandKind.SYNC_NOW, None, ANN, "00U000000000001AAA"))
    assert asked == []  # a user commanding for themselves costs no query
    assert not await gate.allows(_command(CommandKind.CONFIRM, ANN, BOB))
    [issue] = await store.issues(ANN)
    assert issue.code == "W-COMMAND-REFUSED" and BOB in issue.message and "confirm" in issue.message
    assert not await gate.allows(_command(CommandKind.BACKFILL, ANN, None))
    assert await gate.allows(_command(CommandKind.CONFIRM, ANN, CAT))  # an admin's confirm
    assert await store.issues(ANN) == []  # a command accepted for the user closes the refusal
    assert await gate.allows(_command(CommandKind.CONFIRM, ANN, CAT))
    assert asked.count(CAT) == 1  # remembered for a while
