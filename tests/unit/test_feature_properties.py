"""Property test: on random event streams, the Spark features equal a brute-force reference.

The reference (tests/support/feature_reference.py) is written apart from the Spark
compiler, from the spec's documented semantics alone. Streams are dense on purpose: a few
entities (and null ones), times within minutes with many rows in the same second and
sub-second parts, windows of seconds to minutes so rows fall on every window edge, nulls
in every column, and query-only rows (an entity target's observations) that must not be
anyone's history.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlgate.config import FeatureSpec
from mlgate.ml.features import HISTORY_COLUMN, compute_features
from support.feature_reference import reference_features

pytestmark = pytest.mark.spark

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


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(drawn=rows_strategy)
def test_spark_features_equal_the_brute_force_reference(spark, drawn):
    rows = as_rows(drawn)
    columns = [field.split()[0] for field in SCHEMA.split(", ")]
    frame = spark.createDataFrame([tuple(r[c] for c in columns) for r in rows], SCHEMA)
    got = {
        r["key"]: r.asDict()
        for r in compute_features(frame, SPEC, time_column="at", row_key="key").collect()
    }
    expected = reference_features(
        rows, SPEC, time_column="at", row_key="key", history=HISTORY_COLUMN
    )
    mismatches = [
        (key, name, got[key][name], value)
        for key, features in expected.items()
        for name, value in features.items()
        if not same(got[key][name], value)
    ]
    assert not mismatches, mismatches[:10]


def test_the_reference_is_not_trivially_equal(spark):
    """The property test would pass vacuously if every feature were empty: a hand-made
    stream where every aggregation sees something."""
    rows = as_rows(
        [
            {"entity": "u1", "shop": "s1", "second": s, "micro": 0, "value": float(s),
             "kind": "cart", "category": "a", "other": "b", "history": True}
            for s in (0, 5, 5, 9)
        ]
    )  # fmt: skip
    expected = reference_features(rows, SPEC, time_column="at", row_key="key")
    last = expected["k003"]  # at 9 s: sees k000 (0 s) and k001, k002 (5 s)
    assert last["user_count_10s"] == 3
    assert last["user_value_sum_10s"] == 10.0
    assert last["user_category_last_2m"] == "a"
    assert last["user_value_last_30s"] == 5.0  # k001 and k002 share a second: k002 wins
    assert last["user_seconds_since_last_3m"] == 4
    assert last["user_cart_count_1m"] == 3


@settings(max_examples=60, deadline=None, derandomize=True)
@given(drawn=rows_strategy)
def test_every_computed_value_lies_in_the_range_the_service_enforces(drawn):
    """The scoring service refuses values outside FeatureSpec.input_ranges: no value the
    features can take (the reference, equal to Spark's above) may fall outside them."""
    rows = as_rows(drawn)
    ranges = SPEC.input_ranges()
    assert {"user_count_10s", "user_seconds_since_last_3m", "hour_of_day"} <= set(ranges)
    computed = reference_features(
        rows, SPEC, time_column="at", row_key="key", history=HISTORY_COLUMN
    )
    for values in computed.values():
        for name, (low, high) in ranges.items():
            value = values[name]
            if value is None:
                continue
            assert low is None or value >= low, (name, value)
            assert high is None or value <= high, (name, value)
