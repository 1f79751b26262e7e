"""The mass-delete guard (R-DEL-10): a view over one whole pass of one user.

A side that suddenly looks empty (a wrong filter, a lost mailbox permission, a half-restored org) would
otherwise delete the other side's copies one plan at a time. So the runtime collects the plans of a pass
and runs them through `guard_deletions` before executing any.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.core.commands import DELETIONS, Plan, RaiseIssue
from bridge.core.issues import IssueCode, make_issue
from bridge.core.model import Policy


@dataclass(frozen=True, slots=True)
class GuardedPass:
    """Plans to execute now, plans held until an admin confirms, and the issue that says so."""

    execute: tuple[Plan, ...]
    held: tuple[Plan, ...]
    issue: RaiseIssue | None


def _deletes(plan: Plan) -> bool:
    return any(isinstance(command, DELETIONS) for command in plan.commands)


def deletion_count(plans: Sequence[Plan]) -> int:
    return sum(isinstance(command, DELETIONS) for p in plans for command in p.commands)


def guard_deletions(
    plans: Sequence[Plan], pair_count: int, policy: Policy, confirmed: bool = False
) -> GuardedPass:
    """Hold every plan that deletes when the pass would delete more than `mass_delete_min` copies and
    more than `mass_delete_fraction` of the user's `pair_count` pairs, unless `confirmed`.

    Held plans are not executed and their states not stored; plans are deterministic, so after a
    `confirm` the runtime plans the pass again and calls this with `confirmed=True`.
    """
    deletions = deletion_count(plans)
    too_many = deletions > policy.mass_delete_min and deletions > policy.mass_delete_fraction * pair_count
    if confirmed or not too_many:
        return GuardedPass(tuple(plans), (), None)
    held = tuple(p for p in plans if _deletes(p))
    execute = tuple(p for p in plans if not _deletes(p))
    detail = f"{deletions} deletions planned against {pair_count} synced pairs."
    issue = RaiseIssue(make_issue(IssueCode.MASS_DELETE, policy.user_id, None, None, detail))
    return GuardedPass(execute, held, issue)
