"""EWS wire basics: namespaces, safe parsing, envelopes, response messages, SOAP faults, value formats.

Every answer carries the same ServerVersionInfo header (exchangelib re-reads it on each response and would
silently switch API versions if it changed). Values follow what exchangelib parses: booleans as
``true``/``false`` and UTC times as ``YYYY-MM-DDTHH:MM:SSZ`` without fractions.
"""

from __future__ import annotations

from contextvars import ContextVar
from datetime import UTC, datetime, tzinfo

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
M_NS = "http://schemas.microsoft.com/exchange/services/2006/messages"
T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
E_NS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP_NS, "m": M_NS, "t": T_NS}

SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "1",
    "MajorBuildNumber": "2507",
    "MinorBuildNumber": "6",
    "Version": "Exchange2016",
}

# No DTDs, no entities, no network: a request can only ever be plain XML.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)

Element = etree._Element

# The zone of the request's TimeZoneContext: how a time written without an offset is read.
REQUEST_ZONE: ContextVar[tzinfo] = ContextVar("REQUEST_ZONE", default=UTC)


class RequestXMLError(ValueError):
    """The request body is not well-formed XML (or carries a DTD); answered as ErrorSchemaValidation."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def m(tag: str) -> str:
    return f"{{{M_NS}}}{tag}"


def t(tag: str) -> str:
    return f"{{{T_NS}}}{tag}"


def parse_request(body: bytes) -> Element:
    """Parse a SOAP request. Raises RequestXMLError for malformed XML or any DOCTYPE."""
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise RequestXMLError(str(exc.msg), line, column) from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise RequestXMLError("DTD is prohibited in this XML document.")
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise RequestXMLError("The root element is not a SOAP Envelope.")
    return root


def sub(parent: Element, tag: str, text: str | None = None, **attrs: str) -> Element:
    """Append a child element (tag already namespaced) with optional text and attributes."""
    child = etree.SubElement(parent, tag, attrib=attrs or None)
    if text is not None:
        child.text = text
    return child


def new_envelope(with_header: bool = True) -> tuple[Element, Element]:
    """An Envelope (with the ServerVersionInfo header) and its Body."""
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap=NSMAP)
    if with_header:
        header = sub(env, f"{{{SOAP_NS}}}Header")
        sub(header, t("ServerVersionInfo"), **SERVER_VERSION)
    body = sub(env, f"{{{SOAP_NS}}}Body")
    return env, body


def serialize(env: Element) -> bytes:
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def serialize_fragment(env: Element) -> bytes:
    """Without an XML declaration: the form of each part of a streaming response."""
    return bytes(etree.tostring(env, encoding="utf-8"))


class Response:
    """Builder for ``m:{Op}Response/m:ResponseMessages/m:{Op}ResponseMessage*``."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.envelope, body = new_envelope()
        response = sub(body, m(f"{operation}Response"))
        self.messages = sub(response, m("ResponseMessages"))

    def success(self) -> Element:
        msg = sub(self.messages, m(f"{self.operation}ResponseMessage"), ResponseClass="Success")
        sub(msg, m("ResponseCode"), "NoError")
        return msg

    def error(self, code: str, text: str) -> Element:
        msg = sub(self.messages, m(f"{self.operation}ResponseMessage"), ResponseClass="Error")
        sub(msg, m("MessageText"), text)
        sub(msg, m("ResponseCode"), code)
        sub(msg, m("DescriptiveLinkKey"), "0")
        return msg

    def to_bytes(self) -> bytes:
        return serialize(self.envelope)


class EWSError(Exception):
    """A per-message error: becomes one ``ResponseClass="Error"`` message with this code and text."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text


def soap_fault(code: str, message: str, values: dict[str, str] | None = None) -> bytes:
    """An HTTP-500 SOAP fault body as Exchange sends it (starts with ``<?xml`` so exchangelib parses it)."""
    env, body = new_envelope(with_header=False)
    fault = sub(body, f"{{{SOAP_NS}}}Fault")
    faultcode = etree.SubElement(fault, "faultcode", nsmap={"a": T_NS})
    faultcode.text = f"a:{code}"
    faultstring = sub(fault, "faultstring", message)
    faultstring.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    detail = sub(fault, "detail")
    etree.SubElement(detail, f"{{{E_NS}}}ResponseCode", nsmap={"e": E_NS}).text = code
    etree.SubElement(detail, f"{{{E_NS}}}Message", nsmap={"e": E_NS}).text = message
    if values:
        xml = sub(detail, t("MessageXml"))
        for name, value in values.items():
            sub(xml, t("Value"), value, Name=name)
    return serialize(env)


# ---- values ------------------------------------------------------------------------------------------------


def fmt_bool(value: bool) -> str:
    return "true" if value else "false"


def parse_bool(text: str | None) -> bool:
    """exchangelib sends ``1``/``0``; other clients ``true``/``false``."""
    value = (text or "").strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise EWSError("ErrorInvalidValueForProperty", f"'{text}' is not a valid boolean.")


def fmt_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime:
    """An xs:dateTime, as aware UTC; a value without an offset is in the request's TimeZoneContext zone."""
    raw = (text or "").strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise EWSError("ErrorInvalidValueForProperty", f"'{raw}' is not a valid date and time.") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=REQUEST_ZONE.get())
    return value.astimezone(UTC).replace(microsecond=0)


def attrs(elem: Element) -> dict[str, str]:
    """An element's attributes as a plain str dict, in document order."""
    return {str(k): str(v) for k, v in elem.attrib.items()}
