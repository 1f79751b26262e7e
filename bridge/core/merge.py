"""Three-way field merge (SPEC §4, R-MERGE), with the description policy (R-DESC); the private policy
(R-PRIV) comes from bridge.core.private.

A field changed on one side since that side's base is copied to the other; changed on both to values that
differ, the later-modified record wins and a tie goes to `tie_winner` (R-MERGE-2). Fields merge one by one,
so an edit to the subject in Salesforce and to the location in Exchange both survive. A base of None (a
pair just adopted, or recovered without the store) counts every field as changed on both sides, so the
newer copy wins where they differ; but an empty description or location is taken as not set, so adoption
fills it from the other side instead of clearing the other side's value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, cast

from bridge.core.fields import DESCRIPTION_LIMIT, LOCATION_LIMIT, SUBJECT_LIMIT, fit_salesforce
from bridge.core.model import (
    SCALAR_FIELDS,
    Content,
    Copy,
    Direction,
    Policy,
    PrivatePolicy,
    Side,
)
from bridge.core.private import MASKED_FIELDS, mask_transition

_LIMITS = {"subject": SUBJECT_LIMIT, "location": LOCATION_LIMIT, "description": DESCRIPTION_LIMIT}
_FILLED_ON_ADOPTION = ("description", "location")  # texts where empty means "not set", not "cleared"


def same_value(name: str, sf_value: object, ex_value: object) -> bool:
    """Equal, or equal once cut to Salesforce's length (a truncated copy is in step)."""
    if sf_value == ex_value:
        return True
    limit = _LIMITS.get(name)
    return limit is not None and isinstance(ex_value, str) and sf_value == ex_value[:limit]


def newer_side(sf: Copy, ex: Copy, policy: Policy) -> Side:
    """R-MERGE-2: the later-modified record; a tie goes to `tie_winner`."""
    if sf.modified == ex.modified:
        return policy.tie_winner
    return Side.SALESFORCE if sf.modified > ex.modified else Side.EXCHANGE


@dataclass(frozen=True, slots=True)
class FieldMerge:
    """Both sides' contents after the merge, and the fields to write to each."""

    sf: Content
    ex: Content
    write_sf: tuple[str, ...]
    write_ex: tuple[str, ...]
    masked: Side | None
    truncated: bool


def _changed(base: Content | None, current: Content, name: str) -> bool:
    return base is None or getattr(base, name) != getattr(current, name)


def merge_fields(
    sf: Copy,
    ex: Copy,
    base_sf: Content | None,
    base_ex: Content | None,
    policy: Policy,
    masked_side: Side | None,
) -> FieldMerge:
    """Merge the scalar fields of a pair (attendees are merged by bridge.core.attendees)."""
    values = {Side.SALESFORCE: dict(_fields(sf.content)), Side.EXCHANGE: dict(_fields(ex.content))}
    writes: dict[Side, list[str]] = {Side.SALESFORCE: [], Side.EXCHANGE: []}
    bases = {Side.SALESFORCE: base_sf, Side.EXCHANGE: base_ex}
    contents = {Side.SALESFORCE: sf.content, Side.EXCHANGE: ex.content}

    def write(target: Side, name: str, value: object) -> None:
        if values[target][name] != value:
            values[target][name] = value
            writes[target].append(name)

    masked_side = mask_transition(contents, bases, policy, masked_side, write)
    for name in SCALAR_FIELDS:
        if masked_side is not None and name in MASKED_FIELDS:
            continue  # R-PRIV-1: the mask never flows back, and the real values never reach the mask
        if name == "private" and policy.private is PrivatePolicy.SKIP:
            continue
        sf_value, ex_value = getattr(sf.content, name), getattr(ex.content, name)
        sf_changed, ex_changed = _changed(base_sf, sf.content, name), _changed(base_ex, ex.content, name)
        adopting = base_sf is None or base_ex is None
        if adopting and name in _FILLED_ON_ADOPTION and bool(sf_value) != bool(ex_value):
            # An empty text on the newer copy is no edit: adoption fills the empty side (R-DESC-1 too).
            filled = Side.SALESFORCE if sf_value else Side.EXCHANGE
            if policy.direction.allows(filled):
                write(filled.other, name, getattr(contents[filled], name))
            continue
        if name == "description" and policy.safe_description:
            continue  # R-DESC-1: copied once, when the pair is created
        winner = _winner(sf, ex, policy, sf_changed, ex_changed, same_value(name, sf_value, ex_value))
        if winner is not None:
            write(winner.other, name, getattr(contents[winner], name))

    new_sf = _with(sf.content, values[Side.SALESFORCE]) if writes[Side.SALESFORCE] else sf.content
    fitted, truncated = fit_salesforce(new_sf)
    return FieldMerge(
        sf=fitted,
        ex=_with(ex.content, values[Side.EXCHANGE]) if writes[Side.EXCHANGE] else ex.content,
        write_sf=tuple(writes[Side.SALESFORCE]),
        write_ex=tuple(writes[Side.EXCHANGE]),
        masked=masked_side,
        truncated=truncated and bool(writes[Side.SALESFORCE]),
    )


def _winner(
    sf: Copy, ex: Copy, policy: Policy, sf_changed: bool, ex_changed: bool, in_step: bool
) -> Side | None:
    """The side whose value of one field is copied to the other, or None when nothing moves."""
    if in_step or not (sf_changed or ex_changed):
        return None
    if policy.direction is not Direction.BOTH:
        # R-SCOPE-2: the destination is a mirror; the source wins and the mirror's edits stay put.
        source = Side.SALESFORCE if policy.direction is Direction.TO_EXCHANGE else Side.EXCHANGE
        source_changed = sf_changed if source is Side.SALESFORCE else ex_changed
        return source if source_changed else None
    if sf_changed and ex_changed:
        return newer_side(sf, ex, policy)
    return Side.SALESFORCE if sf_changed else Side.EXCHANGE


def _with(content: Content, values: dict[str, object]) -> Content:
    return replace(content, **cast(dict[str, Any], values))


def _fields(content: Content) -> list[tuple[str, object]]:
    return [(name, getattr(content, name)) for name in SCALAR_FIELDS]
