"""What the org tells the event bus after each committed transaction.

The org (REST writes) produces `RecordChange`s; the Pub/Sub half turns them into Avro change events with
bitmaps and replay ids. This module is the whole contract between the two halves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

ChangeType = Literal["CREATE", "UPDATE", "DELETE", "UNDELETE"]


@dataclass(frozen=True)
class RecordChange:
    """One record's change in one committed transaction.

    `values` is the record after the change (before it, for DELETE) as the org stores it: Python values
    (aware UTC datetime, date, bool, int, float, str) with every field of the sObject present (None when
    empty). `changed` names the fields an UPDATE changed (LastModifiedDate included, as Salesforce does);
    `nulled` the changed ones now null; `diff` long-text fields Salesforce would send as a diff.
    """

    entity: str
    change_type: ChangeType
    record_id: str
    values: Mapping[str, Any]
    changed: frozenset[str] = frozenset()
    nulled: frozenset[str] = frozenset()
    diff: frozenset[str] = frozenset()
    # `com/salesforce/api/rest/<version>` plus `;client=<id>` when the writer sent Sforce-Call-Options.
    origin: str = ""
    transaction_key: str = ""
    sequence: int = 1
    commit_timestamp_ms: int = 0
    commit_number: int = 0
    commit_user: str = ""


class ChangeSink(Protocol):
    """Receives every committed transaction, in commit order, from the org."""

    def publish_transaction(self, changes: Sequence[RecordChange]) -> None: ...
