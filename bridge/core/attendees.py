"""Attendees (SPEC §5, R-ATT): deliberately asymmetric.

Salesforce adds reach Exchange; Salesforce removals do not. Exchange adds reach Salesforce when the address
resolves; Exchange removals always do. Answers travel only from Exchange to Salesforce. The merge compares
each side with its own base, as fields do, and returns the operations and the attendee lists both sides
have afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bridge.core.fields import ATTENDEE_LIMIT
from bridge.core.model import Attendee, Directory, Relation, RelationKind, Response

WHO_CONTACT_LIMIT = 50  # Shared Activities: up to 50 contacts, or one lead
_RESOLUTION_ORDER = (RelationKind.USER, RelationKind.CONTACT, RelationKind.LEAD)


def resolve(email: str, directory: Directory) -> Relation | None:
    """R-ATT-8: an address resolves to a User, then a Contact, then a Lead; ties go to the lowest id."""
    found = directory.lookup(email)
    for kind in _RESOLUTION_ORDER:
        matching = sorted((r for r in found if r.kind is kind), key=lambda r: r.relation_id)
        if matching:
            return matching[0]
    return None


def choose_who(attendees: tuple[Attendee, ...], shared_activities: bool) -> tuple[str, ...]:
    """R-ATT-10: the Who relations of an event.

    Without Shared Activities exactly one: Leads first, then Contacts, then records the user owns, then
    address ascending. With it, up to 50 Contacts in that order, or else one Lead: keeping every contact
    keeps the most links.
    """
    candidates = [a for a in attendees if a.relation and a.relation.kind is not RelationKind.USER]

    def rank(attendee: Attendee) -> tuple[bool, bool, str]:
        relation = attendee.relation
        assert relation is not None
        return relation.kind is not RelationKind.LEAD, not relation.owned_by_user, attendee.email

    ordered = sorted(candidates, key=rank)
    if not shared_activities:
        return tuple(a.relation.relation_id for a in ordered[:1] if a.relation)
    contacts = [a for a in ordered if a.relation and a.relation.kind is RelationKind.CONTACT]
    chosen = contacts[:WHO_CONTACT_LIMIT] or ordered[:1]
    return tuple(a.relation.relation_id for a in chosen if a.relation)


@dataclass(frozen=True, slots=True)
class AttendeeMerge:
    """What to do to attendees, and each side's attendees once it is done."""

    sf_attendees: tuple[Attendee, ...]
    ex_attendees: tuple[Attendee, ...]
    add_relations: tuple[Attendee, ...] = ()
    remove_relations: tuple[str, ...] = ()
    status_updates: tuple[tuple[str, Response], ...] = ()
    unresolved: frozenset[str] = frozenset()


def _sorted(attendees: dict[str, Attendee]) -> tuple[Attendee, ...]:
    return tuple(attendees[email] for email in sorted(attendees))


def merge_attendees(
    sf: tuple[Attendee, ...],
    ex: tuple[Attendee, ...],
    base_sf: tuple[Attendee, ...] | None,
    base_ex: tuple[Attendee, ...] | None,
    *,
    to_exchange: bool,
    to_salesforce: bool,
    answers_from_exchange: bool,
    directory: Directory,
    unresolved: frozenset[str],
) -> AttendeeMerge:
    """Three-way attendee merge. A base of None (a pair just adopted) counts everything as added and
    nothing as removed. `answers_from_exchange` is true for the organizer's copy, the one holding the
    attendees' answers (R-ATT-11). Additions stop at Salesforce's 1,000 attendees; the caller reports
    the cut as W-TRUNCATED (R-LIM)."""
    sf_now = {a.email: a for a in sf}
    ex_now = {a.email: a for a in ex}
    sf_base = {a.email: a for a in base_sf or ()}
    ex_base = {a.email: a for a in base_ex or ()}

    new_ex = dict(ex_now)
    if to_exchange:  # R-ATT-1 (added in Salesforce); R-ATT-2: removals in Salesforce stay there
        for email in sf_now.keys() - sf_base.keys() - ex_now.keys():
            new_ex[email] = Attendee(email)  # R-ATT-6: always Unknown, whatever Salesforce says

    new_sf = dict(sf_now)
    adds: list[Attendee] = []
    removes: list[str] = []
    statuses: list[tuple[str, Response]] = []
    still_unresolved: set[str] = set()
    if to_salesforce:
        # Removals first, so that the room they free counts towards the attendee limit.
        if base_ex is not None:  # R-ATT-4: removed in Exchange, removed from the event
            for email in sorted((ex_base.keys() - ex_now.keys()) & sf_now.keys()):
                relation = sf_now[email].relation
                del new_sf[email]
                if relation is not None:
                    removes.append(relation.relation_id)
        # R-ATT-3, with R-ATT-8's retry of addresses that did not resolve before.
        candidates = (ex_now.keys() - ex_base.keys()) | (unresolved & ex_now.keys())
        for email in sorted(candidates - sf_now.keys()):
            if len(new_sf) >= ATTENDEE_LIMIT:
                break  # R-LIM: synced cut to what Salesforce holds; the plan reports W-TRUNCATED
            relation = resolve(email, directory)
            if relation is None:
                still_unresolved.add(email)
                continue
            added = Attendee(email, ex_now[email].response, relation)
            new_sf[email] = added
            adds.append(added)
        if answers_from_exchange:  # R-ATT-5, R-ATT-11
            for email in sorted(ex_now.keys() & sf_now.keys()):
                answer = ex_now[email].response
                before = ex_base.get(email)
                current = sf_now[email]
                if (before is None or before.response != answer) and current.response != answer:
                    new_sf[email] = replace(current, response=answer)
                    if current.relation is not None:
                        statuses.append((current.relation.relation_id, answer))
    return AttendeeMerge(
        sf_attendees=_sorted(new_sf),
        ex_attendees=_sorted(new_ex),
        add_relations=tuple(adds),
        remove_relations=tuple(removes),
        status_updates=tuple(statuses),
        unresolved=frozenset(still_unresolved),
    )
