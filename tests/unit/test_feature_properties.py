"""Property test: on random event streams, the Spark features equal a brute-force reference.

The reference (tests/support/feature_reference.py) is written apart from the Spark
compiler, from the spec's documented semantics alone. Streams are dense on purpose: a few
entities (and null ones), times within minutes with many rows in the same second and
sub-second parts, windows of seconds to minutes so rows fall on every window edge, nulls
in every column, and query-only rows (an entity target's observations) that must not be
anyone's history.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from mlgate.ml.features import HISTORY_COLUMN, compute_features
from support.feature_reference import reference_features
from support.feature_streams import SCHEMA, SPEC, as_rows, rows_strategy, same

pytestmark = pytest.mark.spark


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
