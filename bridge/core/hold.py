"""Limits that stop a pair (SPEC §11, R-LIM-2): nothing is written for it, nothing edited meanwhile is lost.

While a limit holds, the state keeps the bases and versions of the last merge (the invariant: a recorded
version means the base is that copy), and a copy read meanwhile is kept aside as `Held`: it stands in for
its side when that side is not read again, so its edits reach the merge once the cause is gone. A limit is
judged only on a fresh read of the item: a side not read keeps the issue open.
"""

from __future__ import annotations

from dataclasses import replace

from bridge.core.builder import PlanBuilder
from bridge.core.commands import Changed, Plan
from bridge.core.issues import HOLDING, IssueCode
from bridge.core.model import Held, PairState, Policy, Side
from bridge.core.scope import limit_issue
from bridge.core.zones import zone


def holding_limit(state: PairState, seen: Changed, policy: Policy) -> IssueCode | None:
    """The limit that stops the pair now, if any."""
    if zone(policy.mailbox_time_zone) is None:
        return IssueCode.TIMEZONE
    if seen.ex is None:  # a cause seen before stays until a fresh read shows it gone
        return min(state.open_issues & HOLDING, default=None)
    if not policy.direction.allows(Side.EXCHANGE):
        return None  # the limits are Salesforce's; a mirror of Salesforce never writes there
    return limit_issue(seen.ex, policy)


def hold(state: PairState, seen: Changed, limit: IssueCode, policy: Policy) -> Plan:
    """Raise the limit, keep the item's `Sync Error` in step (R-CAT-1), write nothing else."""
    wanted = {code: "" for code in state.open_issues if code not in HOLDING or seen.ex is None}
    wanted[limit] = ""
    builder = PlanBuilder(policy)
    item_categories = seen.ex.categories if seen.ex is not None else None
    builder.issues(state.open_issues, wanted, state.sf_id, state.ex_id, item_categories)
    item_version = seen.ex.version if seen.ex is not None else state.ex_version
    commands, _, _ = builder.build(state.sf_id, None, state.ex_id, item_version)
    read = {copy.side: copy for copy in (seen.sf, seen.ex) if copy is not None}
    held = tuple(
        Held(copy.side, copy.version, copy.modified, copy.content)
        for copy in read.values()
        if copy.version != state.version_of(copy.side)
    ) + tuple(kept for kept in state.held if kept.side not in read)
    return Plan(commands, replace(state, open_issues=builder.open_issues, held=held))
