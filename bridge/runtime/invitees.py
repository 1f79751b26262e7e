"""Invitees: attendee addresses resolved for a plan (R-ATT-8), and the invitee writes (EventRelation rows)
of a plan, with what each changes in the stored record and the state.

An invitee written leaves the Event's own stamp alone, so the version a read will give is known without
reading (R-MERGE-3); the stored record gets the row the bridge added, so the next change event applies onto
it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from bridge.core.commands import AddAttendeeRelation, Command, RemoveAttendeeRelation, UpdateAttendeeStatus
from bridge.core.fields import SF_STATUS
from bridge.core.model import Copy, Directory, PairState, Relation, Side
from bridge.ports import EventRecord, SalesforcePort
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


async def resolve_attendees(
    salesforce: SalesforcePort,
    copies: Iterable[Copy],
    events: Iterable[EventRecord | None] = (),
    known: Directory | None = None,
) -> Directory:
    """Every attendee address of the Exchange copies, resolved (R-ATT-8), added to `known` (what the pass
    resolved already). An address `known` holds (resolved or not) is not asked again; one that `events`
    (the pairs' events) already relate is taken from that relation; only the others are asked of
    Salesforce, in one call. So edits to a meeting whose attendees resolved cost no lookup, and a re-plan
    after a lost race looks up exactly the attendees added since the pass began."""
    known = known or Directory()
    asked_before = {email.lower() for email, _ in known.entries}
    emails = sorted(
        {
            a.email
            for c in copies
            if c.side is Side.EXCHANGE
            for a in c.content.attendees
            if a.email.lower() not in asked_before
        }
    )
    if not emails:
        return known
    related: dict[str, list[Relation]] = {}
    for event in events:
        for row in event.relations if event is not None else ():
            if row.email:
                found = related.setdefault(row.email.lower(), [])
                if all(r.relation_id != row.relation_id for r in found):
                    found.append(Relation(row.relation_id, row.kind, row.owned_by_user))
    asked = [e for e in emails if e.lower() not in related]
    resolved = await salesforce.resolve(asked) if asked else Directory()
    added = tuple(
        (e, tuple(related[e.lower()]) if e.lower() in related else resolved.lookup(e)) for e in emails
    )
    return Directory(known.entries + added)


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
