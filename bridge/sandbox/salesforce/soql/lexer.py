"""SOQL text to tokens. Keywords are not told apart here: SOQL keywords double as field names (`Type`),
so the parser decides from context, case-insensitively."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import Enum

from .errors import MALFORMED_QUERY, at_position


class Kind(Enum):
    IDENT = "identifier"  # a name or dotted path: Subject, Who.Name, TODAY, LAST_N_DAYS
    STRING = "string"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    OPERATOR = "operator"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    COLON = ":"
    EOF = "<EOF>"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str  # as written in the query
    position: int  # 0-based offset into the query
    value: object = None  # decoded literal: str, int, float, date or datetime
    like_regex: str | None = None  # for strings: the LIKE pattern as a regular expression

    def is_keyword(self, *words: str) -> bool:
        return self.kind is Kind.IDENT and self.text.upper() in words


_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_TIME = re.compile(r"T(\d{2}):(\d{2}):(\d{2})(\.\d+)?", re.ASCII)
_ZONE = re.compile(r"Z|([+-])(\d{2}):?(\d{2})", re.ASCII)
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_SINGLE = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA, ":": Kind.COLON}
# A run of string characters that are neither the closing quote nor an escape, read in one step.
_PLAIN_RUN = re.compile(r"[^'\\]+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def tokenize(query: str) -> list[Token]:
    """All tokens of `query`, ending with an EOF token; raises SoqlError(MALFORMED_QUERY) on bad input."""
    tokens: list[Token] = []
    position = 0
    length = len(query)
    while True:
        while position < length and query[position].isspace():
            position += 1
        if position >= length:
            tokens.append(Token(Kind.EOF, "<EOF>", length))
            return tokens
        char = query[position]
        if char == "'":
            token = _string(query, position)
        elif char.isdigit() and (dated := _DATE.match(query, position)):
            token = _temporal(query, position, dated)
        elif (char.isdigit() or char in "+-.") and (number := _NUMBER.match(query, position)):
            token = _number(number)
        elif identifier := _IDENT.match(query, position):
            token = Token(Kind.IDENT, identifier.group(), position)
        elif char in _SINGLE:
            token = Token(_SINGLE[char], char, position)
        else:
            operator = next((op for op in _OPERATORS if query.startswith(op, position)), None)
            if operator is None:
                raise _no_viable_alternative(query, position, char)
            token = Token(Kind.OPERATOR, operator, position)
        tokens.append(token)
        position += len(token.text)


def _no_viable_alternative(query: str, position: int, char: str) -> Exception:
    message = f"line 1:{position} no viable alternative at character '{char}'"
    return at_position(query, position, MALFORMED_QUERY, message)


def _string(query: str, start: int) -> Token:
    """A quoted literal with Salesforce's backslash escapes; `\\%` and `\\_` are literal only in LIKE."""
    end = query.find("'", start + 1)
    if end > 0 and query.find("\\", start + 1, end) < 0:  # no escapes: the common case, ids and names
        plain = query[start + 1 : end]
        return Token(Kind.STRING, query[start : end + 1], start, plain, _like_regex(plain))
    value: list[str] = []
    regex: list[str] = []
    position = start + 1
    while position < len(query):
        char = query[position]
        if char == "'":
            text = query[start : position + 1]
            return Token(Kind.STRING, text, start, "".join(value), "".join(regex))
        if char == "\\":
            escape = query[position + 1 : position + 2]
            if escape in _ESCAPES:
                value.append(_ESCAPES[escape])
                regex.append(re.escape(_ESCAPES[escape]))
            elif escape in ("%", "_"):
                value.append("\\" + escape)
                regex.append(re.escape(escape))
            elif escape == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", query[position + 2 : position + 6]):
                decoded = chr(int(query[position + 2 : position + 6], 16))
                value.append(decoded)
                regex.append(re.escape(decoded))
                position += 4
            else:
                literal = query[start : query.find("'", position + 2) + 1 or len(query)]
                message = (
                    f"Invalid string literal {literal}. "
                    f"Illegal character sequence '\\{escape}' in string literal."
                )
                raise at_position(query, start, MALFORMED_QUERY, message)
            position += 2
            continue
        run = _PLAIN_RUN.match(query, position)
        assert run is not None  # `char` is neither a quote nor a backslash
        plain = run.group()
        value.append(plain)
        regex.append(_like_regex(plain))
        position = run.end()
    raise at_position(
        query, len(query), MALFORMED_QUERY, f"line 1:{len(query)} mismatched character '<EOF>' expecting '''"
    )


def _like_regex(plain: str) -> str:
    """Unescaped literal text as a LIKE regular expression: `%` any run, `_` any one character. re.escape
    leaves both alone, so they are still the wildcards after it."""
    return re.escape(plain).replace("%", ".*").replace("_", ".")


def _number(match: re.Match[str]) -> Token:
    text = match.group()
    value: int | float = float(text) if "." in text else int(text)
    return Token(Kind.NUMBER, text, match.start(), value)


def _temporal(query: str, start: int, dated: re.Match[str]) -> Token:
    """`2026-11-21` or `2026-11-21T10:00:00[.fff](Z|+hh:mm)`; a datetime needs its zone, as in SOQL."""
    end = dated.end()
    clock = _TIME.match(query, end)
    if clock is None:
        try:
            day = date(int(dated[1]), int(dated[2]), int(dated[3]))
        except ValueError:
            raise at_position(query, start, MALFORMED_QUERY, f"Invalid date: {dated.group()}") from None
        return Token(Kind.DATE, dated.group(), start, day)
    zone = _ZONE.match(query, clock.end())
    if zone is None:
        offending = query[clock.end()] if clock.end() < len(query) else "<EOF>"
        raise _no_viable_alternative(query, clock.end(), offending)
    text = query[start : zone.end()]
    try:
        offset = timedelta(0)
        if zone.group() != "Z":
            offset = timedelta(hours=int(zone[2]), minutes=int(zone[3])) * (1 if zone[1] == "+" else -1)
        fraction = clock[4] or ".0"
        moment = datetime(
            int(dated[1]),
            int(dated[2]),
            int(dated[3]),
            int(clock[1]),
            int(clock[2]),
            int(clock[3]),
            min(999_999, round(float("0" + fraction) * 1_000_000)),
            tzinfo=timezone(offset),
        )
    except ValueError:
        raise at_position(query, start, MALFORMED_QUERY, f"Invalid datetime: {text}") from None
    return Token(Kind.DATETIME, text, start, moment.astimezone(UTC))
