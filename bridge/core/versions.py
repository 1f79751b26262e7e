"""Salesforce versions: a modification stamp and a digest of what the bridge read.

Salesforce stamps (LastModifiedDate, SystemModstamp) are exact to the second, and adding an invitee does not
touch the Event's stamp, so a stamp alone would make two different states of one event look alike: a second
edit within the same second, or an invitee added, would pass for a replay (R-MERGE-4) and be lost. A version
is therefore `<stamp>#<digest>`; the stamp part is what a conditional write checks (`If-Unmodified-Since`,
R-MERGE-5).
"""

from __future__ import annotations

import hashlib

from bridge.core.model import Copy

VERSION_DIGEST_MARK = "#"


def salesforce_version(stamp: str, copy: Copy) -> str:
    """An event's version: its modification stamp, then `#` and a digest of what the bridge read."""
    read = (copy.content, copy.paired_id, copy.uid, copy.owner_id, copy.who_ids, copy.is_child)
    return f"{stamp}{VERSION_DIGEST_MARK}{hashlib.blake2b(repr(read).encode(), digest_size=8).hexdigest()}"


def version_stamp(version: str) -> str:
    """The modification stamp inside a Salesforce version (the whole text when it has no digest)."""
    return version.partition(VERSION_DIGEST_MARK)[0]
