"""Pairing (SPEC §3, R-PAIR) and who owns a meeting shared by enrolled users (SPEC §10, R-MULTI).

`match_unpaired` looks at every unpaired copy of one user at once, because adoption is a property of the
whole set: a key shared by two candidates on either side adopts none of them (R-PAIR-3). The pairing
fields stored on the copies come first (R-PAIR-1), so losing the store never creates a duplicate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bridge.core.model import AllDay, Content, Copy, Timed

AdoptionKey = tuple[str, datetime | date, datetime | date]


def adoption_key(copy: Copy | Content) -> AdoptionKey:
    """R-PAIR-2: trimmed subject, and start and end in UTC to the minute (all-day: the dates)."""
    found = copy.content if isinstance(copy, Copy) else copy
    when = found.when
    subject = found.subject.strip()
    if isinstance(when, Timed):
        return subject, when.start.replace(second=0), when.end.replace(second=0)
    assert isinstance(when, AllDay)
    return subject, when.first, when.end


@dataclass(frozen=True, slots=True)
class Matching:
    """Unpaired copies sorted out: pairs to adopt or recover, copies left single, duplicates, and events
    that look like an item already joined to another user's event (left alone)."""

    pairs: tuple[tuple[Copy, Copy], ...]
    singles: tuple[Copy, ...]
    duplicates: tuple[Copy, ...]
    look_alikes: tuple[Copy, ...] = ()


def match_unpaired(events: Sequence[Copy], items: Sequence[Copy], joined: Sequence[Content] = ()) -> Matching:
    """Pair unpaired events and items of one user: first by the ids stored on them (R-PAIR-1), then by
    adoption key (R-PAIR-2). Copies sharing a key with another copy of the same side are duplicates and
    neither adopted nor created (R-PAIR-3); a key both sides have once is a pair.

    `joined` holds the content of this user's items that joined another user's event (R-PAIR-5): the UID
    made them that meeting, so an event of this user with the same key is their twin, which R-PAIR-2
    neither adopts nor creates from. Such events are `look_alikes`: an item created for one would show the
    meeting twice in the mailbox.

    A copy that names a partner which is not among the copies given is left single; the planner
    creates nothing for it (its partner may be out of sight, not gone). Salesforce's child events (an
    invitee's copy of another event) are never synced (R-SCOPE-7): they are left single, to be skipped."""
    items_by_id = {item.id: item for item in items}
    pairs: list[tuple[Copy, Copy]] = []
    taken: set[str] = set()
    candidates = [event for event in events if not event.is_child]
    for event in candidates:
        item = items_by_id.get(event.paired_id or "")
        if item is None:
            item = next((i for i in items if i.paired_id == event.id), None)
        if item is not None and item.id not in taken:
            pairs.append((event, item))
            taken.update((event.id, item.id))

    def free(copies: Iterable[Copy]) -> list[Copy]:
        return [c for c in copies if c.id not in taken and c.paired_id is None]

    joined_keys = {adoption_key(content) for content in joined}
    look_alikes = [e for e in free(candidates) if adoption_key(e) in joined_keys]
    taken.update(e.id for e in look_alikes)
    event_keys = _by_key(free(candidates))
    item_keys = _by_key(free(items))
    duplicates: list[Copy] = []
    for key in sorted(event_keys.keys() | item_keys.keys(), key=repr):
        found_events, found_items = event_keys.get(key, []), item_keys.get(key, [])
        if len(found_events) > 1 or len(found_items) > 1:
            duplicates.extend(found_events + found_items)
            taken.update(c.id for c in found_events + found_items)
        elif found_events and found_items:
            pairs.append((found_events[0], found_items[0]))
            taken.update((found_events[0].id, found_items[0].id))
    singles = tuple(c for c in (*events, *items) if c.id not in taken)
    return Matching(tuple(pairs), singles, tuple(duplicates), tuple(look_alikes))


def _by_key(copies: Iterable[Copy]) -> dict[AdoptionKey, list[Copy]]:
    found: dict[AdoptionKey, list[Copy]] = defaultdict(list)
    for copy in copies:
        found[adoption_key(copy)].append(copy)
    return found


def meeting_owner(
    organizer: str | None, enrolled: Mapping[str, str], attendees_in_sync_order: Sequence[str]
) -> str | None:
    """R-MULTI-1: the enrolled user whose copy owns a meeting's event: the organizer when enrolled,
    otherwise the first enrolled attendee to sync. `enrolled` maps lower-case addresses to user ids."""
    if organizer is not None and organizer.lower() in enrolled:
        return enrolled[organizer.lower()]
    for address in attendees_in_sync_order:
        if address.lower() in enrolled:
            return enrolled[address.lower()]
    return None
