"""The attendees of a pair in step (SPEC §5, R-ATT), with R-ATT-7 and the private mask on top."""

from __future__ import annotations

from bridge.core.attendees import AttendeeMerge, merge_attendees
from bridge.core.model import Content, Copy, Directory, PairState, Policy, Side
from bridge.core.private import mask_people


def merge_people(
    state: PairState,
    sf: Copy,
    ex: Copy,
    base_sf: Content | None,
    base_ex: Content | None,
    directory: Directory,
    policy: Policy,
    masked: Side | None,
) -> AttendeeMerge:
    """Attendees follow R-ATT-1..4 for the life of the pair, or only once when `continuous_attendees` is
    off (R-ATT-7); a masked pair keeps them to the real side (R-PRIV-1)."""
    if masked is not None:
        return mask_people(state, sf, ex, masked)
    unmasked = state.masked is not None  # the former mask gets the real attendees
    sf_base = base_sf.attendees if base_sf is not None and not unmasked else None
    ex_base = base_ex.attendees if base_ex is not None and not unmasked else None
    first_time = sf_base is None or ex_base is None
    if not (policy.continuous_attendees or first_time):
        return AttendeeMerge(sf.content.attendees, ex.content.attendees, unresolved=state.unresolved)
    return merge_attendees(
        sf.content.attendees,
        ex.content.attendees,
        sf_base,
        ex_base,
        to_exchange=policy.direction.allows(Side.SALESFORCE),
        to_salesforce=policy.direction.allows(Side.EXCHANGE),
        answers_from_exchange=ex.organizer is None,
        directory=directory,
        unresolved=state.unresolved,
    )
