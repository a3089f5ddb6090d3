"""Suite entries the pipeline's config implies (no suite file holds them): the checks of
the columns a dimension join brings onto the feature table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlgate.config import PipelineConfig


def joined_column_expectations(cfg: PipelineConfig) -> list[dict]:
    """Suite entries for every column a dimension join brings onto the feature table.

    Each gets a not-null check that tolerates ``gates.data_expectations.joined_not_null``
    (GX's ``mostly``; a key missing from the dimension leaves its columns null), plus the
    value set, range or regex the dimension declares for it (``source.dimensions[].rules``).
    A join that silently brings nothing (a renamed key, an empty snapshot) fails here
    instead of training a model on a column of nulls.
    """
    expectations = cfg.gates.data_expectations
    mostly = expectations.joined_not_null if expectations is not None else 1.0
    rules = {
        (dimension.table, rule.column): rule
        for dimension in cfg.source.dimensions
        for rule in dimension.rules
    }
    entries: list[dict] = []
    for join in cfg.feature_table_joins():
        for column in join.columns:
            why = f"joined from {join.table} on {join.key}"
            entries.append(
                {
                    "type": "expect_column_values_to_not_be_null",
                    "kwargs": {"column": column, "mostly": mostly},
                    "notes": f"{why}: rows without a match get nulls",
                }
            )
            rule = rules.get((join.table, column))
            if rule is None:
                continue
            declared = f"{why}: the values {join.table} declares (source.dimensions rules)"
            if rule.allowed is not None:
                entries.append(
                    {
                        "type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": column, "value_set": list(rule.allowed)},
                        "notes": declared,
                    }
                )
            if rule.range is not None:
                low, high = rule.range
                entries.append(
                    {
                        "type": "expect_column_values_to_be_between",
                        "kwargs": {"column": column, "min_value": low, "max_value": high},
                        "notes": declared,
                    }
                )
            if rule.regex is not None:
                entries.append(
                    {
                        "type": "expect_column_values_to_match_regex",
                        "kwargs": {"column": column, "regex": f"^(?:{rule.regex})$"},
                        "notes": declared,
                    }
                )
    return entries
