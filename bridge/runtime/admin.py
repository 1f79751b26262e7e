"""A Bridge with the metadata package's parts, as the configuration asks (docs/metadata.md):

- `sync.settings_source = "salesforce"`: the first users are read from Salesforce, and the bridge follows
  the settings object's change events (`bridge.runtime.settings`); each read is stored, so a user enrolled
  at the last read before a stop and not at the first read after it (permission set removed or `Sync
  Enabled` unticked meanwhile) gets the switch-off pass at start (R-DEL-6);
- `sync.issues_to_salesforce`: every issue kept as a `Calbridge_Issue__c` record (`runtime.issues_out`);
- always, when the port can tell who holds a permission set: commands from Salesforce pass the gate
  (`bridge.runtime.gate`);
- always: users with `enabled = false` in calbridge.toml are handed over as switched off, so the bridge
  ends the pairs they still have (R-DEL-6) and leaves them alone after that.
A port without these abilities (the in-memory ones) gets a plain Bridge, unless the configuration asks for
settings from Salesforce, which it then refuses to start with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.config import Config
from bridge.errors import ConfigError
from bridge.ports import MailboxPort, SalesforcePort, Store
from bridge.runtime.engine import Bridge
from bridge.runtime.gate import CommandGate
from bridge.runtime.issues_out import IssueMirror, IssueSignal
from bridge.runtime.settings import SettingsFollower
from bridge.runtime.shared_settings import left_while_stopped, publishing, stored_enrolment
from bridge.runtime.sync import UserBinding


async def build_bridge(
    config: Config,
    salesforce: SalesforcePort,
    exchange: MailboxPort,
    store: Store,
    users: Sequence[UserBinding],
    *,
    running: bool = True,
    **options: Any,
) -> Bridge:
    """The bridge (not started); `users` are the config's, used unless settings come from Salesforce.
    `running=False` (a command's passes in this process): the enrolment reads are not stored, so the next
    start of the bridge still compares with what the bridge itself last read."""
    mirror = None
    if config.sync.issues_to_salesforce:
        mirror = IssueMirror(salesforce, store)  # type: ignore[arg-type]  # checked by the attribute below
        if not hasattr(salesforce, "create_issue"):
            raise ConfigError("sync.issues_to_salesforce", "this Salesforce port cannot write issues")
        store = IssueSignal.wrap(store, mirror.poke)
    follower = None
    off = switched_off(config)
    if config.sync.settings_source == "salesforce":
        read = getattr(salesforce, "read_enrolment", None)
        if read is None:
            raise ConfigError("sync.settings_source", "this Salesforce port cannot read the settings object")
        before = await stored_enrolment(store)  # the running bridge's last read before this start
        follower = SettingsFollower(config, publishing(read, store) if running else read, store)
        enrolled = (await follower.current()).bindings
        users = list(enrolled.values())
        if running:
            off = [*off, *left_while_stopped(config, before, enrolled)]
    bridge = Bridge(salesforce, exchange, store, users, switched_off=off, **options)
    bridge.follower, bridge.mirror = follower, mirror
    holds = getattr(salesforce, "holds", None)
    if holds is not None:
        bridge.gate = CommandGate(holds, bridge.owner_of, store)
    return bridge


def switched_off(config: Config) -> list[UserBinding]:
    """The `[[users]]` entries with `enabled = false`: the bridge ends their pairs once (R-DEL-6)."""
    off = [u for u in config.users if not u.enabled]
    return [UserBinding(u.salesforce_user_id, u.email, config.policy_for(u)) for u in off]


__all__ = ["build_bridge", "switched_off"]
