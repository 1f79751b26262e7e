"""The ``Prefer`` request header: ``IdType="ImmutableId"``, ``outlook.timezone``,
``outlook.body-content-type``, ``odata.maxpagesize`` and ``return=minimal``; several per header,
comma-separated, over one or more headers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Preferences:
    immutable_ids: bool = False
    timezone: str | None = None
    body_type: str | None = None  # "text" or "html"
    max_page_size: int | None = None
    return_minimal: bool = False

    def applied(self) -> list[str]:
        """What goes back in ``Preference-Applied`` (Graph echoes the ones it honoured)."""
        out: list[str] = []
        if self.immutable_ids:
            out.append('IdType="ImmutableId"')
        if self.timezone:
            out.append(f'outlook.timezone="{self.timezone}"')
        if self.body_type:
            out.append(f'outlook.body-content-type="{self.body_type}"')
        if self.max_page_size:
            out.append(f"odata.maxpagesize={self.max_page_size}")
        return out


def _split(value: str) -> Iterable[str]:
    part: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            yield "".join(part).strip()
            part = []
        else:
            part.append(char)
    yield "".join(part).strip()


def parse_prefer(headers: Iterable[str]) -> Preferences:
    values: dict[str, str] = {}
    for header in headers:
        for token in _split(header):
            name, _, value = token.partition("=")
            values[name.strip().lower()] = value.strip().strip('"')
    page: int | None = None
    if "odata.maxpagesize" in values:
        try:
            page = max(1, int(values["odata.maxpagesize"]))
        except ValueError:
            page = None
    body = values.get("outlook.body-content-type", "").lower() or None
    return Preferences(
        immutable_ids=values.get("idtype", "").lower() == "immutableid",
        timezone=values.get("outlook.timezone") or None,
        body_type=body if body in ("text", "html") else None,
        max_page_size=page,
        return_minimal=values.get("return", "").lower() == "minimal",
    )
