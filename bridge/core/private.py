"""Private items (SPEC §6, R-PRIV), in one place: the mask, when it starts and stops, and what it hides.

Policy `private`: `mask` (default) gives the other side a busy block titled `Private`, private flag set,
no description, location or attendees, and the mask never flows back over the real values (R-PRIV-1);
`skip` leaves private items out unless opted in, and an opted-in one syncs in full without the flag
(R-PRIV-2; R-SCOPE-8 ends a pair whose item turns private); `full` syncs everything with the flag
(R-PRIV-3). Which side holds the mask is kept in `PairState.masked`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from bridge.core.attendees import AttendeeMerge
from bridge.core.fields import fit_salesforce
from bridge.core.model import Content, Copy, PairState, Policy, PrivatePolicy, Response, ShowAs, Side

MASK_SUBJECT = "Private"
MASKED_FIELDS = ("subject", "description", "location", "show_as", "private")


def masked(content: Content) -> Content:
    """R-PRIV-1: a busy block titled `Private`, private flag set, no description, location or attendees."""
    return replace(
        content,
        subject=MASK_SUBJECT,
        description="",
        location="",
        show_as=ShowAs.BUSY,
        private=True,
        attendees=(),
    )


def project(content: Content, target: Side, policy: Policy, mask: bool) -> Content:
    """What the other side's copy of `content` holds when the pair is created. Attendees towards
    Salesforce are added by the attendee merge once resolved, so they start empty here."""
    projected = masked(content) if mask else content
    if policy.private is PrivatePolicy.SKIP:
        projected = replace(projected, private=False)  # R-PRIV-2: opted in, synced without the flag
    if target is Side.EXCHANGE:
        # R-ATT-6: an item created from an event has every attendee Unknown.
        unknown = tuple(replace(a, relation=None, response=Response.UNDECIDED) for a in projected.attendees)
        return replace(projected, attendees=unknown)
    return fit_salesforce(replace(projected, attendees=()))[0]


def mask_target(source: Content, policy: Policy, target: Side) -> Side | None:
    """The side that holds a mask when a pair is created from `source`, if any."""
    return target if source.private and policy.private is PrivatePolicy.MASK else None


def is_mask_of(candidate: Content, real: Content) -> bool:
    """`candidate` holds the mask of the private `real` (R-PRIV-1): what `masked` makes of it, on the
    fields the mask sets, and no attendees."""
    mask = masked(real)
    return (
        real.private
        and not candidate.attendees
        and all(getattr(candidate, name) == getattr(mask, name) for name in MASKED_FIELDS)
    )


def recovered_mask(sf: Content, ex: Content, policy: Policy) -> Side | None:
    """The side holding the mask of a pair recovered from its pairing fields with no bases (R-PAIR-1):
    a pass killed just after it made the masked copy of a private record left no state saying so. A copy
    that is the mask of its private partner is in step with it; taken for a mask, neither the mask nor
    the real values cross over (R-PRIV-1)."""
    if policy.private is not PrivatePolicy.MASK:
        return None
    if is_mask_of(sf, ex):
        return Side.SALESFORCE
    if is_mask_of(ex, sf):
        return Side.EXCHANGE
    return None


def mask_transition(
    contents: dict[Side, Content],
    bases: dict[Side, Content | None],
    policy: Policy,
    masked_side: Side | None,
    write: Callable[[Side, str, object], None],
) -> Side | None:
    """Start masking when one side became private, stop when the private side no longer is. The mask
    never overwrites values the user wrote (R-PRIV-1): adopting a private copy only sets the flag."""
    if policy.private is not PrivatePolicy.MASK:
        return None
    if masked_side is not None:
        real = contents[masked_side.other]
        if real.private:
            return masked_side
        for name in MASKED_FIELDS:  # unmask: the real values reach the former mask
            if name != "description" or not policy.safe_description:
                write(masked_side, name, getattr(real, name))
        return None
    for side in (Side.SALESFORCE, Side.EXCHANGE):
        base = bases[side]
        became_private = contents[side].private and (base is None or not base.private)
        if became_private and not contents[side.other].private and policy.direction.allows(side):
            # An adopted pair (no base) finds real values on the other side too: they are kept, only
            # the private flag is set, and from now on neither side's masked fields reach the other.
            mask = masked(contents[side])
            for name in MASKED_FIELDS if base is not None else ("private",):
                write(side.other, name, getattr(mask, name))
            return side.other
    return None


def mask_people(state: PairState, sf: Copy, ex: Copy, masked_side: Side) -> AttendeeMerge:
    """R-PRIV-1 for attendees: while masked, each side keeps its own; when the mask starts on a pair in
    step, the masked side loses them (Salesforce also refuses a private event linked to Contacts). An
    adopted pair (no base) keeps what the user wrote."""
    starts = state.masked is None and state.base_of(masked_side) is not None
    if not starts:
        return AttendeeMerge(sf.content.attendees, ex.content.attendees, unresolved=state.unresolved)
    if masked_side is Side.SALESFORCE:
        gone = tuple(a.relation.relation_id for a in sf.content.attendees if a.relation is not None)
        return AttendeeMerge((), ex.content.attendees, remove_relations=gone, unresolved=state.unresolved)
    return AttendeeMerge(sf.content.attendees, (), unresolved=state.unresolved)
