"""HTML to plain text, for Exchange bodies going to Salesforce's plain-text Description (SPEC §1)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements that start a new line in the text; their content is a block of its own.
_BLOCKS = frozenset(
    {"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol"}
)
# Elements whose content is never shown to a reader.
_HIDDEN = frozenset({"script", "style", "head", "title"})


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden_depth += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            # Source line breaks inside HTML text are just spaces to a reader.
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """The text a reader sees in `markup`: tags dropped, entities decoded, one line per block, no
    leading or trailing blank lines, at most one empty line in a row."""
    collector = _TextCollector()
    collector.feed(markup)
    collector.close()
    lines = [line.strip() for line in "".join(collector.parts).replace("\xa0", " ").split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
