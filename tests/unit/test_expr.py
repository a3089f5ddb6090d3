"""The filter language of the pipeline config: parsing, its errors, three-valued logic."""

from __future__ import annotations

import pytest

from mlgate.config.expr import (
    And,
    Column,
    Compare,
    ExpressionError,
    In,
    IsNull,
    Literal,
    Not,
    Or,
    parse_filter,
)


def test_precedence_is_not_then_and_then_or():
    tree = parse_filter("a == 1 or not b < 2 and c in ('x', 'y')").tree
    assert tree == Or(
        (
            Compare("==", Column("a"), Literal(1)),
            And(
                (
                    Not(Compare("<", Column("b"), Literal(2))),
                    In(Column("c"), (Literal("x"), Literal("y"))),
                )
            ),
        )
    )


def test_literals_keywords_and_parentheses():
    tree = parse_filter('(flag == TRUE) AND (x is not null) and y not in (1.5, -2, "q")').tree
    assert tree == And(
        (
            Compare("==", Column("flag"), Literal(True)),
            IsNull(Column("x"), negated=True),
            In(Column("y"), (Literal(1.5), Literal(-2), Literal("q")), negated=True),
        )
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status = 'paid'", r"at 7: '=' is not a comparison; use '=='"),
        ("status == null", "null is not a value to compare with"),
        ("status == 'paid", "not closed"),
        ("status", "expected a comparison"),
        ("status in ('a', b)", "not the column 'b'"),
        ("(a == 1", r"expected '\)'"),
        ("a == 1 b == 2", "unexpected 'b'"),
        ("a not == 1", "expected 'in' after 'not'"),
        ("a is 1", "expected 'null' after 'is'"),
        ("a == 1; drop table x", "unexpected character ';'"),
        ("", "non-empty"),
    ],
)
def test_mistakes_say_where_and_what(text, message):
    with pytest.raises(ExpressionError, match=message):
        parse_filter(text)


def test_unknown_columns_are_named_when_the_columns_are_known():
    with pytest.raises(ExpressionError, match=r"unknown column\(s\) \['colour'\]"):
        parse_filter("colour == 'red' and size > 2", columns={"size", "kind"})
    assert parse_filter("size > 2", columns={"size"}).columns() == {"size"}


@pytest.mark.parametrize(
    ("text", "row", "value"),
    [
        ("a > 1", {"a": 2}, True),
        ("a > 1", {"a": None}, None),  # unknown
        ("not a > 1", {"a": None}, None),  # not unknown is unknown
        ("a > 1 and b == 1", {"a": None, "b": 2}, False),  # unknown and false
        ("a > 1 and b == 1", {"a": None, "b": 1}, None),
        ("a > 1 or b == 1", {"a": None, "b": 1}, True),  # unknown or true
        ("a > 1 or b == 1", {"a": None, "b": 2}, None),
        ("a in (1, 2)", {"a": None}, None),
        ("a not in (1, 2)", {"a": 3}, True),
        ("a is null", {"a": None}, True),
        ("a is not null", {}, False),  # a missing column is null
        ("1 < a", {"a": 2}, True),
    ],
)
def test_evaluation_follows_sql_three_valued_logic(text, row, value):
    from mlgate.config.expr import evaluate

    parsed = parse_filter(text)
    assert evaluate(parsed.tree, row) is value
    assert parsed.evaluate(row) is (value is True)  # only true passes a filter
