"""The bitmap strings of `changedFields`, `nulledFields` and `diffFields` in Pub/Sub change events.

Element 0 is `0x` plus upper-case hex of whole bytes (some published decoders only read upper-case digits and
byte pairs); bit i stands for field i of the event schema's top-level fields, field 0 being the header.
Salesforce objects here have no compound fields, so the `<pos>-0x..` elements never occur.
"""

from __future__ import annotations

from collections.abc import Iterable


def encode_bitmap(positions: Iterable[int]) -> list[str]:
    """The bitmap list for these field positions; an empty list when there are none."""
    value = 0
    for position in positions:
        if position < 0:
            raise ValueError(f"field position {position} is negative")
        value |= 1 << position
    if value == 0:
        return []
    width = (value.bit_length() + 7) // 8
    return ["0x" + value.to_bytes(width, "big").hex().upper()]


def decode_bitmap(element: str) -> list[int]:
    """Field positions set in one `0x...` element (the inverse of encode_bitmap)."""
    if not element.startswith("0x"):
        raise ValueError(f"not a hex bitmap: {element!r}")
    value = int(element[2:], 16)
    return [i for i in range(value.bit_length()) if value >> i & 1]
