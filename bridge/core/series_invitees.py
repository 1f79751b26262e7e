"""The invitees of an Outlook series on its Lightning rows (R-REC-7 with SPEC §5): the series is one unit,
so each attendee of the master is an invitee (EventRelation) of every row of the Lightning series.

As for a single event (bridge.core.attendees), the rules are asymmetric and three-way: an attendee added in
Outlook since the series' Exchange base is added to every row where the address resolves (R-ATT-3, R-ATT-8:
a User, then a Contact, then a Lead), one removed in Outlook leaves every row whatever its status
(R-ATT-4), and the answers the master holds become the rows' statuses (R-ATT-5, R-ATT-11). What a
Salesforce user changed on a row is not undone: only Outlook's changes since the base are written. With
`continuous_attendees` off they are written once, when the series is created (R-ATT-7). The user is the
organiser, never an invitee of their own series.

Rows the bridge makes anew for a series it had rows of (the series rebuilt for a new pattern, R-REC-5; an
occurrence split out, R-REC-3) carry the invitees the old rows had, not every attendee again: an attendee
of the base who was an invitee of none of the old rows was taken off there (by a Salesforce user, R-ATT-2;
or the bridge, for an enrolled recipient who left the series, R-MULTI-4 with R-DEL-2/3) and stays off
(`taken_off`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from bridge.core.attendees import resolve
from bridge.core.commands import AddAttendeeRelation, Command, RemoveAttendeeRelation, UpdateAttendeeStatus
from bridge.core.fields import SF_STATUS
from bridge.core.model import Attendee, Directory, Policy, Side
from bridge.core.series import Series, SeriesState

# A row's invitees as read: relation id -> Salesforce status ("New", "Accepted", "Declined").
RowInvitees = Mapping[str, Mapping[str, str]]


def series_invitee_writes(
    base: Sequence[Attendee] | None,
    current: Sequence[Attendee],
    rows: RowInvitees,
    directory: Directory,
    policy: Policy,
    left: Collection[str] = (),
) -> list[Command]:
    """The relation writes that carry the master's attendee changes since `base` (None: the rows were
    just made, so every attendee is new but those `left`, lower-case addresses from `taken_off`) to every
    row of `rows`."""
    if base is not None and not policy.continuous_attendees:
        return []
    own = policy.user_email.lower()
    before = {a.email.lower(): a for a in base or ()}
    now = {a.email.lower(): a for a in current if a.email.lower() != own and a.email.lower() not in left}
    commands: list[Command] = []
    for row_id, held in sorted(rows.items()):
        for email, attendee in sorted(now.items()):
            relation = resolve(email, directory)
            if relation is None or relation.relation_id == policy.user_id:
                continue  # unresolved: an info entry of the pair road's kind, not an error (R-ATT-8)
            status = held.get(relation.relation_id)
            answer = attendee.response
            if status is None:
                if email not in before:  # added in Outlook (R-ATT-3); a Salesforce removal stays
                    commands.append(AddAttendeeRelation(row_id, relation.relation_id, answer))
            elif status != SF_STATUS[answer] and _answered(before.get(email), attendee):
                # R-ATT-5/11: Outlook's answer, once it changed; a status set in Salesforce meanwhile stays
                commands.append(UpdateAttendeeStatus(row_id, relation.relation_id, answer))
        for email in sorted(before.keys() - now.keys() - {own}):
            relation = resolve(email, directory)
            if relation is not None and relation.relation_id in held:  # removed in Outlook (R-ATT-4)
                commands.append(RemoveAttendeeRelation(row_id, relation.relation_id))
    return commands


def _answered(before: Attendee | None, now: Attendee) -> bool:
    """Whether Outlook's answer changed since the base (R-ATT-11)."""
    return before is None or before.response != now.response


def taken_off(state: SeriesState | None, old: Series | None) -> frozenset[str]:
    """The attendees of the series' Exchange base (lower-case addresses) who were an invitee of none of the
    Lightning rows `state` held, as `old` (the series read before the plan) shows them: kept off the rows
    made anew (see the module doc). Nothing for a series the state held no row of."""
    if state is None or state.base_ex is None or old is None or old.side is not Side.SALESFORCE:
        return frozenset()
    rows = {p.sf_id for p in state.occurrences if p.sf_id and not p.split}
    held = [o for o in old.occurrences if o.id in rows]
    if not held:
        return frozenset()
    invited = {a.email.lower() for o in held for a in o.content.attendees}
    return frozenset(a.email.lower() for a in state.base_ex.attendees) - invited
