"""Event ids as Graph shows them, and the immutable ids that survive a move.

The store keys items by EWS ItemId (standard base64). Outlook's REST id is the same bytes with ``-`` for
``/`` and ``_`` for ``+``, so an id read through EWS converts to the Graph one without a lookup. An item that
moves (to Deleted Items, on a decline) gets a new ItemId as in Exchange; ``Prefer: IdType="ImmutableId"``
ids are derived from the item's first id instead, and the book remembers where each one lives now.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from .errors import malformed_id, not_found

_TO_REST = str.maketrans("/+", "-_")
_TO_EWS = str.maketrans("-_", "/+")
_ITEM_TAG = b"\x00\x00\x49"  # the Exchange sandbox's item id prefix (store._ITEM_TAG)
_IMMUTABLE_TAG = b"\x00\x09\x00\x2e"  # what immutable entry ids start with in Outlook's samples ("AAkALg")
_USER_NAMESPACE = uuid.UUID("0b0e6f0c-6d43-4ad3-9a53-0f6f3f1c2b17")


def user_object_id(address: str) -> str:
    """The Entra object id of a mailbox's user: stable for an address across sandbox runs."""
    return str(uuid.uuid5(_USER_NAMESPACE, address.lower()))


def rest_id(ews_id: str) -> str:
    return ews_id.translate(_TO_REST)


def _decode(graph_id: str) -> bytes:
    try:
        return base64.b64decode(graph_id.translate(_TO_EWS), validate=True)
    except (ValueError, TypeError):
        raise malformed_id() from None


class IdBook:
    """Moves seen so far: every id an item ever had -> the item's first id, and first id -> current id."""

    def __init__(self) -> None:
        self.origin: dict[str, str] = {}
        self.current: dict[str, str] = {}

    def moved(self, old_id: str, new_id: str) -> None:
        first = self.origin.get(old_id, old_id)
        self.origin[new_id] = first
        self.current[first] = new_id

    def immutable_id(self, ews_id: str) -> str:
        raw = base64.b64decode(self.origin.get(ews_id, ews_id))
        if len(raw) != 24:
            return rest_id(ews_id)  # an occurrence: its id is its master's and its original start
        return rest_id(base64.b64encode(_IMMUTABLE_TAG + raw[3:] + b"\x00\x00").decode())

    def render(self, ews_id: str, immutable: bool) -> str:
        return self.immutable_id(ews_id) if immutable else rest_id(ews_id)

    def to_ews(self, graph_id: str) -> str:
        """The item's current EWS id for a REST or immutable id; raises 400 for malformed ids."""
        raw = _decode(graph_id)
        if len(raw) == 27 and raw.startswith(_IMMUTABLE_TAG):
            first = base64.b64encode(_ITEM_TAG + raw[4:25]).decode()
            return self.current.get(first, first)
        if (len(raw) == 24 and raw.startswith(_ITEM_TAG)) or len(raw) == 32:
            return graph_id.translate(_TO_EWS)  # an item, or an occurrence of a series
        if len(raw) == 24:
            raise not_found()
        raise malformed_id()

    # ---- persistence -------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {"origin": dict(self.origin)}

    def restore(self, data: dict[str, Any]) -> None:
        for new_id, first in data.get("origin", {}).items():
            self.origin[new_id] = first
            self.current[first] = new_id  # later entries are later moves (dicts keep insertion order)
