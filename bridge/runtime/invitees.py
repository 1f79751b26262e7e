"""Invitee writes (EventRelation rows) of a plan: what each changes in the stored record and the state.

An invitee written leaves the Event's own stamp alone, so the version a read will give is known without
reading (R-MERGE-3); the stored record gets the row the bridge added, so the next change event applies onto
it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from bridge.core.commands import AddAttendeeRelation, Command, RemoveAttendeeRelation, UpdateAttendeeStatus
from bridge.core.fields import SF_STATUS
from bridge.core.model import Directory, PairState, Relation, Side
from bridge.ports import EventRecord
from bridge.runtime import records

if TYPE_CHECKING:
    from bridge.runtime.executor import Executed, UserContext


def after_relations(state: PairState | None, event_id: str, event: EventRecord | None) -> PairState | None:
    """An invitee written leaves the Event's stamp alone, so the version a read will give is known here:
    recorded, so the write is not taken for a change when it is read back (R-MERGE-3). When an Event write
    of the same plan still waits for its echo (no version recorded), the echo brings it."""
    version = records.event_version(event) if event is not None else None
    if state is None or version is None or state.sf_version is None:
        return state
    return state.after_write(Side.SALESFORCE, event_id, version)


def emails_by_relation(directory: Directory | None) -> dict[str, tuple[str, Relation]]:
    if directory is None:
        return {}
    return {
        relation.relation_id: (email, relation) for email, found in directory.entries for relation in found
    }


InviteeWrite = AddAttendeeRelation | UpdateAttendeeStatus | RemoveAttendeeRelation
INVITEE_WRITES = (AddAttendeeRelation, UpdateAttendeeStatus, RemoveAttendeeRelation)


def relation_status(event: EventRecord | None, relation_id: str) -> str | None:
    """The invitee's status on the record as last known (None: not an invitee, or not known)."""
    if event is None:
        return None
    return next((r.status for r in event.relations if r.relation_id == relation_id), None)


def relation_run(commands: list[Command]) -> list[InviteeWrite]:
    """The invitee writes at the head of `commands`, up to the first command of another kind."""
    run: list[InviteeWrite] = []
    for command in commands:
        if not isinstance(command, INVITEE_WRITES):
            break
        run.append(command)
    return run


def relation_effect(
    command: InviteeWrite,
    event_id: str,
    state: PairState | None,
    done: Executed,
    ctx: UserContext,
    emails: Mapping[str, tuple[str, Relation]],
) -> PairState | None:
    """What an invitee write changes in the stored record and the state, once Salesforce took it."""
    done.writes.append((Side.SALESFORCE, event_id))
    if isinstance(command, AddAttendeeRelation):
        done.event = relation_added(done.event, command, ctx, emails)
    elif done.event is not None:
        if isinstance(command, UpdateAttendeeStatus):
            rows = tuple(
                replace(r, status=SF_STATUS[command.status]) if r.relation_id == command.relation_id else r
                for r in done.event.relations
            )
        else:
            rows = tuple(r for r in done.event.relations if r.relation_id != command.relation_id)
        done.event = records.with_relations(done.event, rows)
    return after_relations(state, event_id, done.event)


def relation_added(
    event: EventRecord | None,
    command: AddAttendeeRelation,
    ctx: UserContext,
    people: Mapping[str, tuple[str, Relation]],
) -> EventRecord | None:
    """The stored record with the relation the bridge added, so the next change event applies onto it."""
    if event is None:
        return None
    if command.relation_id == ctx.user_id:
        row = records.user_relation(ctx.user_id, ctx.policy.user_email, SF_STATUS[command.status])
    elif command.relation_id in people:
        email, relation = people[command.relation_id]
        row = records.relation_row(relation, email, SF_STATUS[command.status])
    else:
        return None  # unknown person: the next change re-reads the event
    rows = (*(r for r in event.relations if r.relation_id != command.relation_id), row)
    return records.with_relations(event, rows)
