"""Recursive-descent parser for the SOQL subset the sandbox serves.

Grammar (keywords case-insensitive):
    query      := SELECT selection FROM name [WHERE condition] [GROUP BY path (, path)*]
                  [ORDER BY order (, order)*] [LIMIT int] [OFFSET int]
    selection  := COUNT ( ) | item (, item)*
    item       := path | (COUNT | MAX | MIN) ( path ) [alias]
    condition  := unary (AND unary)* | unary (OR unary)*     -- mixing AND and OR needs parentheses
    unary      := NOT unary | ( condition ) | path operator value | path [NOT] IN ( value (, value)* )
                | path LIKE value
    order      := path [ASC | DESC] [NULLS (FIRST | LAST)]
"""

from __future__ import annotations

from datetime import date, datetime
from typing import cast

from . import nodes
from .errors import MALFORMED_QUERY, NUMBER_OUTSIDE_VALID_RANGE, SoqlError, unexpected_token
from .lexer import Kind, Token, tokenize

MAX_OFFSET = 2000
_MAX_INT = 2**31 - 1
RESERVED = frozenset(
    {"AND", "ASC", "DESC", "EXCLUDES", "FIRST", "FROM", "GROUP", "HAVING", "IN", "INCLUDES", "LAST", "LIKE"}
    | {"LIMIT", "NOT", "NULL", "NULLS", "OR", "SELECT", "WHERE", "WITH"}
)
_RELATIVE_DATES = ("TODAY", "YESTERDAY", "TOMORROW")
_RELATIVE_DATE_RANGES = ("LAST_N_DAYS", "NEXT_N_DAYS")
_AGGREGATES = ("COUNT", "MAX", "MIN")


def parse(query: str) -> nodes.Query:
    """The syntax tree of `query`; raises SoqlError(MALFORMED_QUERY) where Salesforce would."""
    return _Parser(query).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # -- token helpers -------------------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not Kind.EOF:
            self.index += 1
        return token

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.current
        return unexpected_token(self.text, token.position, token.text)

    def keyword(self, *words: str) -> Token:
        if not self.current.is_keyword(*words):
            raise self.unexpected()
        return self.advance()

    def accept_keyword(self, *words: str) -> Token | None:
        return self.advance() if self.current.is_keyword(*words) else None

    def expect(self, kind: Kind) -> Token:
        if self.current.kind is not kind:
            raise self.unexpected()
        return self.advance()

    def integer(self) -> Token:
        token = self.expect(Kind.NUMBER)
        if not isinstance(token.value, int) or token.text.startswith(("+", "-")):
            raise self.unexpected(token)
        if token.value > _MAX_INT:
            raise SoqlError(MALFORMED_QUERY, f"numeric value out of range: {token.text}")
        return token

    # -- clauses -------------------------------------------------------------------------------------------

    def query(self) -> nodes.Query:
        self.keyword("SELECT")
        fields, aggregates, count_only = self.selection()
        self.keyword("FROM")
        sobject = self.expect(Kind.IDENT)
        if "." in sobject.text:
            raise self.unexpected(sobject)
        where = self.condition() if self.accept_keyword("WHERE") else None
        group_by: list[nodes.FieldPath] = []
        if self.accept_keyword("GROUP"):
            self.keyword("BY")
            group_by.append(self.path())
            while self.current.kind is Kind.COMMA:
                self.advance()
                group_by.append(self.path())
        order_by: list[nodes.OrderItem] = []
        if self.accept_keyword("ORDER"):
            self.keyword("BY")
            order_by.append(self.order_item())
            while self.current.kind is Kind.COMMA:
                self.advance()
                order_by.append(self.order_item())
        limit = cast(int, self.integer().value) if self.accept_keyword("LIMIT") else None
        offset: int | None = None
        if self.accept_keyword("OFFSET"):
            offset = cast(int, self.integer().value)
            if offset > MAX_OFFSET:
                raise SoqlError(NUMBER_OUTSIDE_VALID_RANGE, f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        if self.current.kind is not Kind.EOF:
            raise self.unexpected()
        return nodes.Query(
            tuple(fields),
            count_only,
            sobject.text,
            sobject.position,
            where,
            tuple(order_by),
            limit,
            offset,
            tuple(aggregates),
            tuple(group_by),
        )

    def selection(self) -> tuple[list[nodes.FieldPath], list[nodes.Aggregate], bool]:
        if (
            self.current.is_keyword("COUNT")
            and self.tokens[self.index + 1].kind is Kind.LPAREN
            and self.tokens[self.index + 2].kind is Kind.RPAREN
        ):
            self.advance()
            self.advance()
            self.expect(Kind.RPAREN)
            if self.current.kind is Kind.COMMA:
                raise self.unexpected()
            return [], [], True
        fields: list[nodes.FieldPath] = []
        aggregates: list[nodes.Aggregate] = []
        while True:
            if self.current.is_keyword(*_AGGREGATES) and self.tokens[self.index + 1].kind is Kind.LPAREN:
                aggregates.append(self.aggregate())
            else:
                fields.append(self.path())
            if self.current.kind is not Kind.COMMA:
                return fields, aggregates, False
            self.advance()

    def aggregate(self) -> nodes.Aggregate:
        function = self.advance()
        self.expect(Kind.LPAREN)
        field = self.path()
        self.expect(Kind.RPAREN)
        alias: str | None = None
        if self.current.kind is Kind.IDENT and self.current.text.upper() not in RESERVED:
            if "." in self.current.text:
                raise self.unexpected()
            alias = self.advance().text
        name = cast(nodes.AggregateName, function.text.upper())
        return nodes.Aggregate(name, field, alias, function.position)

    def path(self) -> nodes.FieldPath:
        token = self.current
        if token.kind is not Kind.IDENT or token.text.upper() in RESERVED:
            raise self.unexpected()
        self.advance()
        return nodes.FieldPath(tuple(token.text.split(".")), token.position)

    def order_item(self) -> nodes.OrderItem:
        field = self.path()
        direction = self.accept_keyword("ASC", "DESC")
        descending = direction is not None and direction.text.upper() == "DESC"
        nulls_first = not descending
        if self.accept_keyword("NULLS"):
            nulls_first = self.keyword("FIRST", "LAST").text.upper() == "FIRST"
        return nodes.OrderItem(field, descending, nulls_first)

    # -- WHERE ---------------------------------------------------------------------------------------------

    def condition(self) -> nodes.Condition:
        first = self.unary()
        if not self.current.is_keyword("AND", "OR"):
            return first
        joiner = self.current.text.upper()
        other = "OR" if joiner == "AND" else "AND"
        operands = [first]
        while self.accept_keyword(joiner):
            operands.append(self.unary())
        if self.current.is_keyword(other):
            raise self.unexpected()
        return nodes.And(tuple(operands)) if joiner == "AND" else nodes.Or(tuple(operands))

    def unary(self) -> nodes.Condition:
        if self.accept_keyword("NOT"):
            return nodes.Not(self.unary())
        if self.current.kind is Kind.LPAREN:
            self.advance()
            inner = self.condition()
            self.expect(Kind.RPAREN)
            return inner
        field = self.path()
        operator = self.current
        if operator.kind is Kind.OPERATOR:
            self.advance()
            symbol = "!=" if operator.text == "<>" else operator.text
            return nodes.Comparison(field, cast(nodes.Operator, symbol), self.value(), operator.position)
        if operator.is_keyword("LIKE"):
            self.advance()
            return nodes.Like(field, self.value(), operator.position)
        negated = bool(self.accept_keyword("NOT"))
        if self.current.is_keyword("IN"):
            self.advance()
            self.expect(Kind.LPAREN)
            values = [self.value()]
            while self.current.kind is Kind.COMMA:
                self.advance()
                values.append(self.value())
            self.expect(Kind.RPAREN)
            return nodes.InList(field, tuple(values), negated, operator.position)
        raise self.unexpected()

    def value(self) -> nodes.Value:
        token = self.advance()
        position = token.position
        match token.kind:
            case Kind.STRING:
                return nodes.StringValue(cast(str, token.value), token.like_regex or "", position)
            case Kind.NUMBER:
                return nodes.NumberValue(cast(int | float, token.value), position)
            case Kind.DATE:
                return nodes.DateValue(cast(date, token.value), position)
            case Kind.DATETIME:
                return nodes.DateTimeValue(cast(datetime, token.value), position)
            case Kind.IDENT:
                word = token.text.upper()
                if word in ("TRUE", "FALSE"):
                    return nodes.BooleanValue(word == "TRUE", position)
                if word == "NULL":
                    return nodes.NullValue(position)
                if word in _RELATIVE_DATES:
                    return nodes.RelativeDate(cast(nodes.RelativeDateName, word), 1, position)
                if word in _RELATIVE_DATE_RANGES:
                    self.expect(Kind.COLON)
                    days = cast(int, self.integer().value)
                    return nodes.RelativeDate(cast(nodes.RelativeDateName, word), days, position)
        raise self.unexpected(token)
