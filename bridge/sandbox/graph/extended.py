"""Single-value extended properties: Graph ids <-> the EWS ExtendedFieldURI the shared store keys them by.

Graph names a property ``"{type} {guid} Name {name}"``, ``"{type} {guid} Id {number}"`` or ``"{type} {tag}"``;
EWS says ``PropertySetId`` or ``DistinguishedPropertySetId`` with ``PropertyName`` or ``PropertyId``, or
``PropertyTag``.
Both reach the same MAPI named property, so a value written through one protocol reads through the other.
"""

from __future__ import annotations

import re

from ..exchange.model import ExtendedProperty, property_key
from .errors import GraphError

# The well-known property sets EWS names instead of giving their GUIDs.
DISTINGUISHED = {
    "00020329-0000-0000-c000-000000000046": "PublicStrings",
    "00062008-0000-0000-c000-000000000046": "Common",
    "00062002-0000-0000-c000-000000000046": "Appointment",
    "6ed8da90-450b-101b-98da-00aa003f1305": "Meeting",
    "00062004-0000-0000-c000-000000000046": "Address",
    "00062003-0000-0000-c000-000000000046": "Task",
    "00020386-0000-0000-c000-000000000046": "InternetHeaders",
    "00062040-0000-0000-c000-000000000046": "Sharing",
}
_GUID_OF = {name: guid for guid, name in DISTINGUISHED.items()}
TYPES = {
    t.lower(): t
    for t in (
        "String",
        "Integer",
        "Boolean",
        "SystemTime",
        "Double",
        "Currency",
        "Binary",
        "CLSID",
        "Short",
        "Long",
    )
}
_NAMED = re.compile(r"^(\w+)\s+\{?([0-9a-fA-F-]{36})\}?\s+(Name|Id)\s+(.+)$", re.IGNORECASE)
_TAGGED = re.compile(r"^(\w+)\s+(0x[0-9a-fA-F]{1,4})$", re.IGNORECASE)


def _bad_id(prop_id: str) -> GraphError:
    return GraphError(400, "ErrorInvalidProperty", f"The extended property id '{prop_id}' is not valid.")


def uri_for(prop_id: str) -> dict[str, str]:
    """The ExtendedFieldURI for a Graph property id (400 when it is not one of the three forms)."""
    text = prop_id.strip()
    named = _NAMED.match(text)
    if named:
        kind, guid, how, name = named.groups()
        if kind.lower() not in TYPES:
            raise _bad_id(prop_id)
        uri = {"PropertyType": TYPES[kind.lower()]}
        distinguished = DISTINGUISHED.get(guid.lower())
        if distinguished:
            uri["DistinguishedPropertySetId"] = distinguished
        else:
            uri["PropertySetId"] = guid
        if how.lower() == "name":
            uri["PropertyName"] = name
        else:
            uri["PropertyId"] = name
        return uri
    tagged = _TAGGED.match(text)
    if tagged and tagged.group(1).lower() in TYPES:
        return {"PropertyType": TYPES[tagged.group(1).lower()], "PropertyTag": tagged.group(2)}
    raise _bad_id(prop_id)


def key_for(prop_id: str) -> tuple[tuple[str, str], ...]:
    return property_key(uri_for(prop_id))


def graph_id(prop: ExtendedProperty) -> str:
    """How Graph names a stored property (whichever protocol wrote it)."""
    uri = prop.uri
    kind = uri.get("PropertyType", "String")
    if "PropertyTag" in uri:
        tag = uri["PropertyTag"]
        number = int(tag, 0) if tag.lower().startswith("0x") else int(tag)
        return f"{kind} 0x{number:04x}"
    guid = uri.get("PropertySetId") or _GUID_OF.get(uri.get("DistinguishedPropertySetId", ""), "")
    if "PropertyName" in uri:
        return f"{kind} {{{guid.lower()}}} Name {uri['PropertyName']}"
    return f"{kind} {{{guid.lower()}}} Id {uri.get('PropertyId', '')}"
