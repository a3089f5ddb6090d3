"""Random event streams for the feature property tests (Spark and online against the
brute-force reference): dense on purpose, see tests/unit/test_feature_properties.py."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from mlgate.config import FeatureSpec
from mlgate.ml.features import HISTORY_COLUMN

T0 = datetime(2024, 3, 30, 23, 55, tzinfo=UTC)  # Paris switches to summer time at 01:00 UTC
SCHEMA = (
    f"key string, entity string, shop string, at timestamp, value double, kind string, "
    f"category string, other string, {HISTORY_COLUMN} boolean"
)

SPEC = FeatureSpec(
    entities={"user": "entity", "shop": "shop"},
    time_zone="Europe/Paris",
    aggregations=[
        {"entity": "user", "op": "count", "windows": ["10s", "1m", "5m"]},
        {"entity": "user", "op": "sum", "column": "value", "windows": ["10s", "2m"]},
        {"entity": "user", "op": "mean", "column": "value", "windows": ["1m"]},
        {"entity": "user", "op": "min", "column": "value", "windows": ["1m"]},
        {"entity": "user", "op": "max", "column": "value", "windows": ["2m"], "default": -1.0},
        {"entity": "user", "op": "stddev", "column": "value", "windows": ["2m"]},
        {"entity": "user", "op": "count_distinct", "column": "category", "windows": ["1m"]},
        {"entity": "user", "op": "last", "column": "category", "windows": ["2m"]},
        {"entity": "user", "op": "last", "column": "value", "windows": ["30s"]},
        {"entity": "user", "op": "seconds_since_last", "windows": ["3m"]},
        {"entity": "user", "op": "ratio_to_mean", "column": "value", "windows": ["2m"]},
        {
            "entity": "user",
            "op": "count",
            "windows": ["1m"],
            "filter": "kind == 'cart'",
            "filter_name": "cart",
        },
        {
            "entity": "user",
            "op": "sum",
            "column": "value",
            "windows": ["2m"],
            "filter": "value > 0 and category in ('a', 'b') or not (kind is not null)",
            "filter_name": "odd",
        },
        {"entity": "shop", "op": "count", "windows": ["1m"]},
        {
            "entity": "shop",
            "op": "count_distinct",
            "column": "entity",
            "windows": ["2m"],
            "filter": "category != 'c'",
            "filter_name": "not_c",
        },
    ],
    novelty=[{"entity": "user", "columns": ["category", "other"], "lookback": "1m"}],
    mismatches=[["category", "other"]],
    time_of_day={"hour": True, "day_of_week": True, "night_hours": [22, 5]},
    categorical=["category"],
    numeric=["value"],
)

rows_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "entity": st.sampled_from(["u1", "u2", "u3", None]),
            "shop": st.sampled_from(["s1", "s2", None]),
            "second": st.integers(0, 400),
            "micro": st.sampled_from([0, 1, 500_000, 999_999]),
            "value": st.one_of(st.none(), st.integers(-5, 20).map(float)),
            "kind": st.sampled_from(["cart", "view", None]),
            "category": st.sampled_from(["a", "b", "c", None]),
            "other": st.sampled_from(["a", "b", None]),
            "history": st.sampled_from([True, True, True, False]),
        }
    ),
    min_size=1,
    max_size=40,
)


def as_rows(drawn: list[dict]) -> list[dict]:
    return [
        {
            "key": f"k{index:03d}",
            "entity": item["entity"],
            "shop": item["shop"],
            "at": T0 + timedelta(seconds=item["second"], microseconds=item["micro"]),
            "value": item["value"],
            "kind": item["kind"],
            "category": item["category"],
            "other": item["other"],
            HISTORY_COLUMN: item["history"],
        }
        for index, item in enumerate(drawn)
    ]


def same(got, expected) -> bool:
    if expected is None or got is None:
        return got is None and expected is None
    if isinstance(expected, float) or isinstance(got, float):
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
    return got == expected
