"""Salesforce record ids: 15-character case-sensitive ids and their 18-character case-safe form.

An id is the object's 3-character key prefix, a 2-character instance code, a reserved character and a
9-character base-62 serial. The 18-character form appends three checksum characters, one per 5-character
chunk, each encoding which characters of that chunk are upper-case letters.
"""

from __future__ import annotations

import re
import string

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM_ALPHABET = string.ascii_uppercase + "012345"
_ID_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[A-Z0-5]{3})?$")
INSTANCE_CODE = "5g"


def checksum_suffix(id15: str) -> str:
    """The three characters that make a 15-character id case-safe."""
    suffix = ""
    for chunk_start in range(0, 15, 5):
        bits = 0
        for position, char in enumerate(id15[chunk_start : chunk_start + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def make_id(key_prefix: str, serial: int) -> str:
    """The 18-character id of the `serial`-th record created with this key prefix."""
    digits = ""
    for _ in range(9):
        serial, remainder = divmod(serial, 62)
        digits = _BASE62[remainder] + digits
    id15 = f"{key_prefix}{INSTANCE_CODE}0{digits}"
    return id15 + checksum_suffix(id15)


def normalize(value: str) -> str | None:
    """The 18-character form of a 15- or 18-character id, or None when `value` is not id-shaped
    (an 18-character id whose suffix does not match its body is not an id either)."""
    if not _ID_SHAPE.match(value):
        return None
    id15 = value[:15]
    expected = id15 + checksum_suffix(id15)
    if len(value) == 18 and value != expected:
        return None
    return expected
