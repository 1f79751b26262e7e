"""Building SOQL safely: every value that goes into a query passes through here (R-SEC-4).

Strings are quoted with Salesforce's backslash escapes, so a quote or backslash in an address or subject is
data, never syntax. Record ids are checked to be ids before they are quoted at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime

from bridge.errors import MappingError

# Salesforce's escapes for quoted SOQL strings (SOQL reference, "Quoted String Escape Sequences").
_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
# Keeps a GET query well under URL length limits: 200 quoted 18-character ids are about 4,500 characters.
IN_CHUNK = 200


def quote(value: str) -> str:
    """`value` as a quoted SOQL string literal."""
    return "'" + "".join(_ESCAPES.get(char, char) for char in value) + "'"


def record_id(value: str) -> str:
    """A record id checked to be one (15 or 18 alphanumerics), quoted; MappingError otherwise."""
    if not _ID.match(value):
        raise MappingError(f"{value!r} is not a Salesforce record id")
    return quote(value)


def id_list(ids: Iterable[str]) -> str:
    """`('id1','id2')` for an IN clause."""
    return "(" + ",".join(record_id(i) for i in ids) + ")"


def string_list(values: Iterable[str]) -> str:
    return "(" + ",".join(quote(v) for v in values) + ")"


def datetime_literal(value: datetime) -> str:
    """A dateTime literal (unquoted, UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def chunks(values: Sequence[str], size: int = IN_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
