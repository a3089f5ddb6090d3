"""A suite run on a Spark DataFrame reports what the same suite reports on pandas.

The same Parquet file is read by pandas and by Spark (as the lake is read by both) and
validated with one suite whose expectations fail in every way the suites of include/gx can
fail: nulls, out of range, not in a set, a regex, uniqueness, a standard deviation, a
proportion of unique values, a column pair, the row count, a missing column.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlgate.checks.expectations import run_suite

SUITE = {
    "name": "parity",
    "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 100}},
        {"type": "expect_column_to_exist", "kwargs": {"column": "missing_column"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "score"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "created_at"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "amount", "min_value": 0.01, "max_value": 100},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "channel", "value_set": ["pos", "ecom"]},
        },
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "country", "regex": "^[A-Z]{2}$"},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "transaction_id"}},
        {
            "type": "expect_column_stdev_to_be_between",
            "kwargs": {"column": "score", "min_value": 0, "max_value": 0.1},
        },
        {
            "type": "expect_column_proportion_of_unique_values_to_be_between",
            "kwargs": {"column": "channel", "min_value": 0.9},
        },
        {
            "type": "expect_column_pair_values_a_to_be_greater_than_b",
            "kwargs": {"column_A": "high", "column_B": "low", "or_equal": True},
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "amount", "mostly": 0.99},
        },
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "low", "max_value": 5}},
    ],
}


def table() -> pa.Table:
    """12 rows with a decimal amount, naive timestamps, a NaN and a null among the scores."""
    return pa.table(
        {
            "transaction_id": pa.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 12], pa.int64()),
            "amount": pa.array(
                [Decimal(v) for v in ("1.50", "0.00", "99.99", "250.00", "3.10", "4.20")]
                + [None, Decimal("5.55"), Decimal("6.60"), Decimal("7.70"), Decimal("8.80")]
                + [Decimal("100.00")],
                pa.decimal128(12, 2),
            ),
            "channel": ["pos", "ecom", "atm", "pos", "ecom", "pos"] * 2,
            "country": ["US", "DE", "gb", "US", "CHE", "FR", "US", "DE", "GB", "US", "CH", "F1"],
            "score": pa.array(
                [0.1, 0.9, float("nan"), 0.5, None, 0.3, 0.2, 0.8, 0.7, 0.6, 0.4, 0.05]
            ),
            "high": pa.array([5, 6, 7, 8, 9, 10, 1, 2, 3, 4, 5, 6], pa.int64()),
            "low": pa.array([1, 2, 3, 9, 4, 5, 2, 1, 1, 1, 5, 7], pa.int64()),
            "created_at": pa.array(
                pd.to_datetime(["2026-10-01 00:00:00", None] + ["2026-10-01 12:30:00"] * 10),
                pa.timestamp("us"),
            ),
        }
    )


@pytest.fixture(scope="module")
def parquet_and_suite(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity")
    pq.write_table(table(), folder / "part.parquet")
    (folder / "suite.json").write_text(json.dumps(SUITE))
    return folder / "part.parquet", folder / "suite.json"


def _split_figures(text: str) -> tuple[str, list[float]]:
    """An observed text without its numbers, and the numbers (compared within 1e-9)."""
    import re

    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]
    return re.sub(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", "#", text), numbers


def test_a_suite_on_spark_reports_what_it_reports_on_pandas(spark, parquet_and_suite):
    path, suite = parquet_and_suite
    on_pandas = run_suite(pd.read_parquet(path), suite).to_dict()
    on_spark = run_suite(spark.read.parquet(str(path)), suite).to_dict()

    # the frame fails every expectation of the suite: the comparison covers each kind
    assert len(on_pandas["failed"]) == len(SUITE["expectations"])
    assert {k: v for k, v in on_spark.items() if k != "failed"} == {
        k: v for k, v in on_pandas.items() if k != "failed"
    }
    assert on_spark["rows"] == 12
    for spark_failed, pandas_failed in zip(on_spark["failed"], on_pandas["failed"], strict=True):
        assert spark_failed["expectation"] == pandas_failed["expectation"]
        assert spark_failed["column"] == pandas_failed["column"]
        assert spark_failed["examples"] == pandas_failed["examples"], spark_failed
        text_spark, figures_spark = _split_figures(spark_failed["observed"])
        text_pandas, figures_pandas = _split_figures(pandas_failed["observed"])
        assert text_spark == text_pandas
        assert figures_spark == pytest.approx(figures_pandas, abs=1e-9, rel=0)


def test_a_nan_counts_as_a_null_on_spark_as_on_pandas(spark, parquet_and_suite):
    path, suite = parquet_and_suite
    failed = {
        f.column: f.observed
        for f in run_suite(spark.read.parquet(str(path)), suite).failed
        if f.expectation == "expect_column_values_to_not_be_null"
    }
    # one NaN and one null among 12 scores: both are missing
    assert failed["score"] == "2 of 12 values (16.67%) unexpected"


def test_a_clean_spark_frame_passes_and_nothing_stays_cached(spark, tmp_path):
    frame = spark.createDataFrame([(i, float(i)) for i in range(5)], "id long, value double")
    suite = tmp_path / "ok.json"
    suite.write_text(
        json.dumps(
            {
                "name": "ok",
                "expectations": [
                    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "value"}},
                    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
                ],
            }
        )
    )
    report = run_suite(frame, suite)
    assert report.success and report.rows == 5 and report.evaluated == 2
    assert not frame.is_cached
    assert not spark.sparkContext._jsc.getPersistentRDDs()
