"""Collects the commands of one plan and puts them in the order the runtime runs them.

All changes to one item become one conditional UpdateItem, and all field changes to one event one
UpdateEvent, so every write is checked against the version the plan started from (R-MERGE-5) and no write
of the plan invalidates the next one.
"""

from __future__ import annotations

from collections.abc import Mapping

from bridge.core.commands import (
    CloseIssue,
    Command,
    RaiseIssue,
    RecordId,
    UpdateEvent,
    UpdateItem,
    frozen_fields,
)
from bridge.core.issues import IssueCode, Severity, make_issue
from bridge.core.model import Policy


class PlanBuilder:
    """A scratch pad for one plan; `build` turns it into the command tuple."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.first: list[Command] = []  # creations
        self.event_fields: dict[str, object] = {}
        self.relations: list[Command] = []
        self.item_fields: dict[str, object] = {}
        self.add_categories: list[str] = []
        self.remove_categories: list[str] = []
        self.last: list[Command] = []  # deletions
        self.issue_commands: list[Command] = []
        self.open_issues: frozenset[IssueCode] = frozenset()

    def categories(
        self, current: frozenset[str], *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
    ) -> None:
        """Add or remove categories the item does not already have or lack (R-CAT-1)."""
        self.add_categories += [c for c in add if c not in current and c not in self.add_categories]
        self.remove_categories += [c for c in remove if c in current and c not in self.remove_categories]

    def issues(
        self,
        already_open: frozenset[IssueCode],
        wanted: Mapping[IssueCode, str],
        sf_id: str | None,
        ex_id: str | None,
        item_categories: frozenset[str] | None,
    ) -> None:
        """Raise the issues whose cause appeared, close those whose cause is gone (R-LIM-1), and keep
        the item's `Sync Error` category in step with the errors (R-CAT-1)."""
        for code in sorted(wanted.keys() - already_open):
            issue = make_issue(code, self.policy.user_id, sf_id, ex_id, wanted[code])
            self.issue_commands.append(RaiseIssue(issue))
        for code in sorted(already_open - wanted.keys()):
            self.issue_commands.append(CloseIssue(code, sf_id, ex_id))
        self.open_issues = frozenset(wanted)
        if item_categories is not None:
            failing = any(code.severity is Severity.ERROR for code in wanted)
            marker = (self.policy.error_category,)
            if failing:
                self.categories(item_categories, add=marker)
            else:
                self.categories(item_categories, remove=marker)

    def build(
        self,
        event_id: RecordId | None,
        event_version: str | None,
        item_id: RecordId | None,
        item_version: str | None,
        send_invitations: bool = False,
    ) -> tuple[tuple[Command, ...], bool, bool]:
        """The commands in running order, and whether the event and the item get written. An id is None
        only where the plan has no such record: then nothing may be written to it."""
        commands: list[Command] = list(self.first)
        event_written = bool(self.event_fields)
        if event_written:
            assert event_id is not None, "event fields planned for a pair without an event"
            commands.append(UpdateEvent(event_id, event_version, frozen_fields(self.event_fields)))
        commands += self.relations
        item_written = bool(self.item_fields or self.add_categories or self.remove_categories)
        if item_written and item_id is not None:
            commands.append(
                UpdateItem(
                    item_id,
                    item_version,
                    frozen_fields(self.item_fields),
                    tuple(self.add_categories),
                    tuple(self.remove_categories),
                    send_invitations,
                )
            )
        commands += self.last
        commands += self.issue_commands
        return tuple(commands), event_written, item_written and item_id is not None
