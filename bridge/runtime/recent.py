"""The events this bridge has just created, and whose.

A Salesforce change event can overtake the pass that caused it: a user deletes an event the bridge created
a moment ago, and the DELETE arrives before that pass has committed the pair. A deletion carries no owner
and the record can no longer be read, so the router would find nobody to give it to and the deletion would
be lost. The executor notes each event it creates here; the router asks when the store does not know the
record yet. Kept bounded: once the pair is committed, the store answers.
"""

from __future__ import annotations

from collections import OrderedDict


class RecentOwners:
    """Record id -> enrolled user id for the newest `size` records created."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._owners: OrderedDict[str, str] = OrderedDict()

    def note(self, record_id: str, user_id: str) -> None:
        self._owners[record_id] = user_id
        self._owners.move_to_end(record_id)
        while len(self._owners) > self.size:
            self._owners.popitem(last=False)

    def get(self, record_id: str) -> str | None:
        return self._owners.get(record_id)
