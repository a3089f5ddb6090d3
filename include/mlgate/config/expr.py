"""Row filters of the pipeline config: a small expression language, parsed and validated.

Filters say which rows an aggregation or a label counts (``event_type == 'cart'``,
``status in ('paid', 'shipped') and amount > 0``). They are parsed here into a tree of
plain objects; each engine compiles the tree (Spark: ``mlgate.ml.features``; plain Python:
``evaluate``). Nothing is ever handed to SQL or to Python's ``eval``.

Grammar (keywords are case-insensitive)::

    expr       := or
    or         := and ('or' and)*
    and        := not ('and' not)*
    not        := 'not' not | primary
    primary    := '(' expr ')' | comparison
    comparison := operand op operand
                | operand ['not'] 'in' '(' literal (',' literal)* ')'
                | operand 'is' ['not'] 'null'
    op         := '==' | '!=' | '<' | '<=' | '>' | '>='
    operand    := column | literal
    literal    := number | 'text' | "text" | true | false

Nulls follow SQL's three-valued logic in every engine: a comparison with a null operand is
unknown, ``not unknown`` is unknown, ``unknown and false`` is false, ``unknown or true`` is
true, and a row passes a filter only when the filter is true. ``is null`` / ``is not null``
test for nulls; ``== null`` is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mlgate.errors import PermanentError

COMPARISONS = ("==", "!=", "<=", ">=", "<", ">")
KEYWORDS = {"and", "or", "not", "in", "is", "null", "true", "false"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
MAX_LENGTH = 2000


class ExpressionError(ValueError, PermanentError):
    """A filter that does not parse or names an unknown column; the message says where."""


# --- the tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str


@dataclass(frozen=True)
class Literal:
    value: bool | int | float | str


@dataclass(frozen=True)
class Compare:
    op: str
    left: Column | Literal
    right: Column | Literal


@dataclass(frozen=True)
class In:
    operand: Column | Literal
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class IsNull:
    operand: Column | Literal
    negated: bool = False


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


@dataclass(frozen=True)
class Not:
    item: object


Node = Compare | In | IsNull | And | Or | Not


@dataclass(frozen=True)
class Filter:
    """A parsed filter: its text (as written in the config) and its tree."""

    text: str
    tree: Node

    def columns(self) -> set[str]:
        return columns_of(self.tree)

    def evaluate(self, row: Mapping) -> bool:
        """True when the row passes (three-valued logic: unknown does not pass)."""
        return evaluate(self.tree, row) is True


def columns_of(node) -> set[str]:
    if isinstance(node, Column):
        return {node.name}
    if isinstance(node, Literal):
        return set()
    if isinstance(node, Compare):
        return columns_of(node.left) | columns_of(node.right)
    if isinstance(node, In | IsNull):
        return columns_of(node.operand)
    if isinstance(node, And | Or):
        return set().union(*(columns_of(item) for item in node.items))
    if isinstance(node, Not):
        return columns_of(node.item)
    raise TypeError(f"not a filter node: {node!r}")


# --- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "name", "keyword", "number", "string", "op", "(", ")", ",", "end"
    value: object
    position: int


def _tokens(text: str) -> list[_Token]:
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in "(),":
            out.append(_Token(char, char, i))
            i += 1
            continue
        two = text[i : i + 2]
        if two in ("==", "!=", "<=", ">="):
            out.append(_Token("op", two, i))
            i += 2
            continue
        if char in "<>":
            out.append(_Token("op", char, i))
            i += 1
            continue
        if char == "=":
            raise ExpressionError(f"at {i}: '=' is not a comparison; use '=='")
        if char in "'\"":
            end = text.find(char, i + 1)
            if end < 0:
                raise ExpressionError(f"at {i}: the text starting here is not closed with {char}")
            out.append(_Token("string", text[i + 1 : end], i))
            i = end + 1
            continue
        number = _NUMBER.match(text, i)
        if number and (char.isdigit() or char in "-."):
            literal = number.group(0)
            is_float = any(c in literal for c in ".eE")
            out.append(_Token("number", float(literal) if is_float else int(literal), i))
            i = number.end()
            continue
        name = _IDENTIFIER.match(text, i)
        if name:
            word = name.group(0)
            kind = "keyword" if word.lower() in KEYWORDS else "name"
            out.append(_Token(kind, word.lower() if kind == "keyword" else word, i))
            i = name.end()
            continue
        raise ExpressionError(f"at {i}: unexpected character {char!r}")
    out.append(_Token("end", None, len(text)))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def keyword(self, word: str) -> bool:
        token = self.peek()
        if token.kind == "keyword" and token.value == word:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, what: str) -> _Token:
        token = self.take()
        if token.kind != kind:
            raise ExpressionError(
                f"at {token.position}: expected {what}, found {self._show(token)}"
            )
        return token

    @staticmethod
    def _show(token: _Token) -> str:
        return "the end" if token.kind == "end" else repr(token.value)

    def parse(self) -> Node:
        tree = self.or_()
        token = self.peek()
        if token.kind != "end":
            raise ExpressionError(f"at {token.position}: unexpected {self._show(token)}")
        return tree

    def or_(self) -> Node:
        items = [self.and_()]
        while self.keyword("or"):
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.keyword("and"):
            items.append(self.not_())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> Node:
        if self.keyword("not"):
            return Not(self.not_())
        return self.primary()

    def primary(self) -> Node:
        if self.peek().kind == "(":
            self.take()
            tree = self.or_()
            self.expect(")", "')'")
            return tree
        return self.comparison()

    def operand(self) -> Column | Literal:
        token = self.take()
        if token.kind == "name":
            return Column(token.value)
        if token.kind in ("number", "string"):
            return Literal(token.value)
        if token.kind == "keyword" and token.value in ("true", "false"):
            return Literal(token.value == "true")
        if token.kind == "keyword" and token.value == "null":
            raise ExpressionError(
                f"at {token.position}: null is not a value to compare with; "
                "use 'column is null' or 'column is not null'"
            )
        raise ExpressionError(
            f"at {token.position}: expected a column or a value, found {self._show(token)}"
        )

    def literal(self) -> Literal:
        operand = self.operand()
        if not isinstance(operand, Literal):
            raise ExpressionError(f"'in' takes a list of values, not the column {operand.name!r}")
        return operand

    def comparison(self) -> Node:
        left = self.operand()
        token = self.peek()
        if token.kind == "op":
            self.take()
            return Compare(token.value, left, self.operand())
        negated = self.keyword("not")
        if self.keyword("in"):
            self.expect("(", "'(' after 'in'")
            values = [self.literal()]
            while self.peek().kind == ",":
                self.take()
                values.append(self.literal())
            self.expect(")", "')' closing the list")
            return In(left, tuple(values), negated)
        if negated:
            raise ExpressionError(f"at {self.peek().position}: expected 'in' after 'not'")
        if self.keyword("is"):
            negated = self.keyword("not")
            if not self.keyword("null"):
                raise ExpressionError(f"at {self.peek().position}: expected 'null' after 'is'")
            return IsNull(left, negated)
        raise ExpressionError(
            f"at {token.position}: expected a comparison (==, !=, <, <=, >, >=, in, is null) "
            f"after {left.name if isinstance(left, Column) else repr(left.value)!r}, "
            f"found {self._show(token)}"
        )


def parse_filter(text: str, columns: set[str] | None = None) -> Filter:
    """Parse a filter; with `columns`, every column it names must be one of them."""
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("a filter must be a non-empty text")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"a filter is at most {MAX_LENGTH} characters")
    tree = _Parser(text).parse()
    if columns is not None:
        unknown = sorted(columns_of(tree) - set(columns))
        if unknown:
            raise ExpressionError(
                f"unknown column(s) {unknown} in filter {text!r}; known: {sorted(columns)}"
            )
    return Filter(text, tree)


# --- plain-Python evaluation (three-valued) ------------------------------------------------


def _value(operand, row: Mapping):
    return row.get(operand.name) if isinstance(operand, Column) else operand.value


def _compare(op: str, left, right) -> bool | None:
    if left is None or right is None:
        return None
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


def evaluate(node, row: Mapping) -> bool | None:
    """The filter's value on one row: True, False or None (unknown), as SQL has it."""
    if isinstance(node, Compare):
        return _compare(node.op, _value(node.left, row), _value(node.right, row))
    if isinstance(node, In):
        value = _value(node.operand, row)
        if value is None:
            return None
        found = any(value == literal.value for literal in node.values)
        return (not found) if node.negated else found
    if isinstance(node, IsNull):
        missing = _value(node.operand, row) is None
        return (not missing) if node.negated else missing
    if isinstance(node, Not):
        inner = evaluate(node.item, row)
        return None if inner is None else not inner
    if isinstance(node, And):
        values = [evaluate(item, row) for item in node.items]
        if any(v is False for v in values):
            return False
        return None if any(v is None for v in values) else True
    if isinstance(node, Or):
        values = [evaluate(item, row) for item in node.items]
        if any(v is True for v in values):
            return True
        return None if any(v is None for v in values) else False
    raise TypeError(f"not a filter node: {node!r}")
