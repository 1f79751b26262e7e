"""Steps 3, 5 and 6 of the theory for an active pair whose two copies are at hand: echo, merge, build.

`sync_pair` reads as those steps, one small function each; `bridge.core.plan` has already ruled out a
replay, the lifecycle actions, a shared event, R-SCOPE-8 and the limits (steps 1, 2 and 4).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from bridge.core.attendees import AttendeeMerge, choose_who
from bridge.core.builder import PlanBuilder
from bridge.core.commands import (
    AddAttendeeRelation,
    Changed,
    Plan,
    RemoveAttendeeRelation,
    UpdateAttendeeStatus,
)
from bridge.core.creation import item_issues
from bridge.core.deletion import Action, Outcome, outcome
from bridge.core.fields import (
    EX_EVENT_ID_FIELD,
    SF_ITEM_ID_FIELD,
    SF_UID_FIELD,
    exchange_fields,
    salesforce_fields,
)
from bridge.core.lifecycle import leave_window
from bridge.core.merge import FieldMerge, merge_fields
from bridge.core.model import Attendee, Content, Copy, Kind, PairState, PairStatus, Policy, Side
from bridge.core.people import merge_people
from bridge.core.scope import in_window, kind_of, sends_invitations
from bridge.core.status import Cause, kept

_MUTABLE_KINDS = (Kind.A, Kind.B, Kind.C)  # an appointment becomes a meeting when attendees appear


def sync_pair(
    state: PairState, seen: Changed, sf: Copy, ex: Copy, policy: Policy, now: datetime, resuming: bool
) -> Plan:
    """Merge the two copies of an active pair and build the writes: steps 3, 5 and 6 of the theory, one
    small function each. A merge that leaves the window pauses the pair after syncing (R-DEL-4)."""
    builder = PlanBuilder(policy)
    _keep_category(builder, state, seen, policy, resuming)
    _heal_pairing(builder, seen, sf, ex)
    merged = _merge(state, seen, sf, ex, policy)
    _write_event(builder, state, sf, merged, policy)
    _write_item(builder, ex, merged, policy)
    status, ex_id = _window(builder, state, seen, sf, ex, merged, policy, now)
    commands, event_written, item_written = builder.build(
        sf.id, sf.version or None, ex.id, ex.version or None, sends_invitations(policy, merged.ex)
    )
    new_state = replace(
        state,
        status=status,
        ex_id=ex_id,
        kind=_kind(state, ex, policy),
        base_sf=merged.sf,
        base_ex=merged.ex,
        sf_version=None if event_written else (sf.version or None),
        ex_version=None if item_written or ex_id is None else (ex.version or None),
        masked=merged.fields.masked,
        unresolved=merged.people.unresolved,
        open_issues=builder.open_issues,
        held=(),
        bridge_category=state.bridge_category or policy.sync_category in builder.add_categories,
    )
    return Plan(commands, new_state)


@dataclass(frozen=True, slots=True)
class _Merged:
    """Steps 3 and 5: what each side should hold once the pair is in step again."""

    fields: FieldMerge
    people: AttendeeMerge
    sf: Content
    ex: Content


def _echo_bases(state: PairState, sf: Copy, ex: Copy) -> tuple[Content | None, Content | None]:
    """Step 3, echo: a copy at a version the bridge recorded is its own write coming back (R-MERGE-3), so
    it is its own base and adds no change."""
    base_sf = sf.content if sf.version and sf.version == state.sf_version else state.base_sf
    base_ex = ex.content if ex.version and ex.version == state.ex_version else state.base_ex
    return base_sf, base_ex


def _merge(state: PairState, seen: Changed, sf: Copy, ex: Copy, policy: Policy) -> _Merged:
    """Step 5: fields three-way (R-MERGE, R-PRIV, R-DESC), then attendees asymmetrically (R-ATT)."""
    base_sf, base_ex = _echo_bases(state, sf, ex)
    fields = merge_fields(sf, ex, base_sf, base_ex, policy, state.masked)
    people = merge_people(state, sf, ex, base_sf, base_ex, seen.directory, policy, fields.masked)
    new_sf = _with_attendees(fields.sf, people.sf_attendees)
    return _Merged(fields, people, new_sf, _with_attendees(fields.ex, people.ex_attendees))


def _write_event(builder: PlanBuilder, state: PairState, sf: Copy, merged: _Merged, policy: Policy) -> None:
    """Step 6, Salesforce: the event's changed fields in one write, then its relations."""
    builder.event_fields.update(salesforce_fields(merged.sf, merged.fields.write_sf))
    if merged.fields.masked is Side.SALESFORCE and state.masked is None and sf.who_ids:
        builder.event_fields["WhoId"] = None  # R-PRIV-1: a masked event links no one
    _relations(builder, merged.people, sf, merged.sf.private, policy)


def _write_item(builder: PlanBuilder, ex: Copy, merged: _Merged, policy: Policy) -> None:
    """Step 6, Exchange: the item's changed fields, attendees included when they differ."""
    names = merged.fields.write_ex + (("attendees",) if merged.ex.attendees != ex.content.attendees else ())
    builder.item_fields.update(exchange_fields(merged.ex, names, policy))


def _window(
    builder: PlanBuilder,
    state: PairState,
    seen: Changed,
    sf: Copy,
    ex: Copy,
    merged: _Merged,
    policy: Policy,
    now: datetime,
) -> tuple[PairStatus, str | None]:
    """The pair's standing issues (R-LIM-1), unless the merge moved it out of the window: then it pauses
    as R-DEL-4 says. Returns the status and the item id to keep."""
    wanted = (
        item_issues(ex, merged.people.unresolved, merged.fields.masked)
        if policy.direction.allows(Side.EXCHANGE)
        else {}
    )
    item_categories = seen.ex.categories if seen.ex is not None else None
    status, ex_id = state.status, state.ex_id
    if not (in_window(merged.sf.when, policy, now) or in_window(merged.ex.when, policy, now)):
        wanted, status = {}, kept(state.status, Cause.LEAVE)
        if leave_window(builder, state, ex, item_categories):
            ex_id = None
    builder.issues(state.open_issues, wanted, sf.id, ex.id, item_categories)
    return status, ex_id


def _kind(state: PairState, ex: Copy, policy: Policy) -> Kind:
    """An appointment becomes a meeting when attendees appear; a meeting's organizer never changes."""
    if state.kind in _MUTABLE_KINDS:
        return kind_of(state.origin, ex, state.organizer_user_id, policy)
    return state.kind


def _keep_category(
    builder: PlanBuilder, state: PairState, seen: Changed, policy: Policy, resuming: bool
) -> None:
    """R-DEL-1: the `Salesforce` category taken off is put back; a pair resuming in the window gets back
    the category it lost on leaving (R-DEL-4), whichever side brought it back."""
    if seen.ex is not None and policy.sync_category not in seen.ex.categories:
        cell = outcome(Action.CATEGORY_REMOVED, state.kind, policy, state.owns_event)
        if cell is Outcome.RESTORE_CATEGORY:
            builder.categories(seen.ex.categories, add=(policy.sync_category,))
    elif seen.ex is None and resuming:
        builder.categories(frozenset(), add=(policy.sync_category,))


def _with_attendees(content: Content, attendees: tuple[Attendee, ...]) -> Content:
    return content if content.attendees == attendees else replace(content, attendees=attendees)


def _relations(builder: PlanBuilder, people: AttendeeMerge, sf: Copy, private: bool, policy: Policy) -> None:
    """The relation commands of an attendee merge, and a Who for an event that has none (R-ATT-10)."""
    for added in people.add_relations:
        assert added.relation is not None
        builder.relations.append(AddAttendeeRelation(sf.id, added.relation.relation_id, added.response))
    for relation_id in people.remove_relations:
        builder.relations.append(RemoveAttendeeRelation(sf.id, relation_id))
    for relation_id, status in people.status_updates:
        builder.relations.append(UpdateAttendeeStatus(sf.id, relation_id, status))
    # R-ATT-10: a Who only where the user set none; Salesforce links no Contact or Lead to a private event.
    if people.add_relations and not sf.who_ids and not private:
        who = choose_who(people.sf_attendees, policy.shared_activities)
        if who:
            builder.event_fields["WhoId"] = who[0]
            if policy.shared_activities and len(who) > 1:
                builder.event_fields["EventWhoIds"] = list(who)


def _heal_pairing(builder: PlanBuilder, seen: Changed, sf: Copy, ex: Copy) -> None:
    """R-PAIR-1: a copy read without the other's id (adopted, or edited by hand) gets it back."""
    if seen.sf is not None and (seen.sf.paired_id != ex.id or (ex.uid and seen.sf.uid != ex.uid)):
        builder.event_fields.update({SF_ITEM_ID_FIELD: ex.id, SF_UID_FIELD: ex.uid or ""})
    if seen.ex is not None and seen.ex.paired_id != sf.id:
        builder.item_fields[EX_EVENT_ID_FIELD] = sf.id
