"""The record rules: what every raw row of a day must meet (the cleaning policy).

A row that breaks a rule goes to the day's quarantine with its reasons and never reaches
features or training; the ``bad_record_ratio`` gate judges the share of such rows. The
rules themselves are ``mlgate.ingest.records``; this is what a pipeline declares.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from mlgate.config.base import Name, Strict


def _compiles(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as error:
            raise ValueError(f"regex {value!r} does not compile: {error}") from None
    return value


def _check_column_rule(rule: ColumnRule) -> None:
    if rule.range is None and rule.allowed is None and rule.regex is None:
        raise ValueError(f"rule on {rule.column!r} says nothing: give range, allowed or regex")
    if rule.range is not None and rule.range[0] > rule.range[1]:
        raise ValueError(f"range {list(rule.range)} of {rule.column!r}: low above high")


class ColumnRule(Strict):
    """Rules on one column; a null value breaks only `required` (a null is not out of range)."""

    column: Name
    range: tuple[float, float] | None = Field(None, description="[low, high], both included")
    allowed: list[str | int | float | bool] | None = Field(
        None, min_length=1, description="the only values accepted"
    )
    regex: Annotated[str | None, AfterValidator(_compiles)] = Field(
        None, description="text must match it whole (re.fullmatch)"
    )

    @model_validator(mode="after")
    def _something(self) -> ColumnRule:
        _check_column_rule(self)
        return self


class RecordRules(Strict):
    """Rules on every raw row of the events table. Always checked besides them: the event
    time lies in the day imported (``time_outside_window``) and values parsed
    (``unparsable:<column>``)."""

    required: list[Name] = Field(default=[], description="columns that must not be null")
    rules: list[ColumnRule] = []
    unique_key: bool = Field(True, description="a key seen earlier in the day is a duplicate")

    def columns(self) -> set[str]:
        return set(self.required) | {rule.column for rule in self.rules}
