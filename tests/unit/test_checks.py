"""Data checks (mlgate.checks) on tiny frames vs include/gx/fraud/raw_transactions.json.

The clean frame has 6 rows, two per channel; device_id is set only for ecom. Every failing
case changes one or two cells, so the expected counts are worked out by hand: one bad value
out of 6 rows is "1 of 6 values (16.67%)".
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from mlgate.checks import expectations as checks
from mlgate.checks.expectations import (
    SUITES_DIR,
    CheckReport,
    FailedExpectation,
    SuiteSpecError,
    load_suite_spec,
    run_suite,
)

SUITE = SUITES_DIR / "fraud" / "raw_transactions.json"
N = 6
COLUMNS = [
    "transaction_id",
    "card_id",
    "merchant_id",
    "amount",
    "currency",
    "country",
    "channel",
    "device_id",
    "created_at",
]


def clean_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "transaction_id": pd.Series([101, 102, 103, 104, 105, 106], dtype="int64"),
            "card_id": pd.Series([1, 1, 2, 2, 3, 3], dtype="int64"),
            "merchant_id": pd.Series([10, 11, 10, 12, 13, 10], dtype="int64"),
            # the range ends 0.01 and 50000 are inside: between is inclusive
            "amount": [0.01, 25.50, 100.00, 49.99, 50000.0, 7.25],
            "currency": ["USD", "EUR", "GBP", "USD", "CHF", "EUR"],
            "country": ["US", "DE", "GB", "US", "CH", "FR"],
            "channel": ["pos", "ecom", "atm", "pos", "ecom", "atm"],
            "device_id": [None, "dev-a", None, None, "dev-b", None],
            "created_at": pd.to_datetime(
                [
                    "2024-03-01 00:00:00",
                    "2024-03-01 01:30:00",
                    "2024-03-01 08:00:00",
                    "2024-03-01 12:00:00",
                    "2024-03-01 18:45:10",
                    "2024-03-01 23:59:59",
                ]
            ),
        }
    )


def failures(report: CheckReport) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in report.failed}


def only_failure(report: CheckReport) -> FailedExpectation:
    assert len(report.failed) == 1, report.summary()
    return report.failed[0]


@pytest.fixture(scope="module")
def n_expectations() -> int:
    return len(load_suite_spec(SUITE)["expectations"])


# --------------------------------------------------------------------------- passing


def test_clean_frame_passes(n_expectations):
    df = clean_frame()
    before = df.copy()
    report = run_suite(df, SUITE)
    assert report.success, report.summary()
    assert report.failed == []
    assert report.suite == "raw_transactions"
    assert report.rows == N
    assert report.evaluated == n_expectations
    assert "passed" in report.summary()
    pd.testing.assert_frame_equal(df, before)  # the input is never modified


def test_suite_file_covers_the_agreed_checks(n_expectations):
    spec = load_suite_spec("fraud/raw_transactions")  # a name resolves under SUITES_DIR
    assert spec["name"] == "raw_transactions"
    got = {(e["type"], e["kwargs"].get("column")) for e in spec["expectations"]}
    for column in COLUMNS:
        assert ("expect_column_to_exist", column) in got
        if column != "device_id":
            assert ("expect_column_values_to_not_be_null", column) in got
    assert ("expect_column_values_to_not_be_null", "device_id") not in got
    assert ("expect_column_values_to_be_unique", "transaction_id") in got
    assert ("expect_table_row_count_to_be_between", None) in got
    # 9 exist + 8 not-null + unique + between + in_set + 2 regex + row count
    assert n_expectations == 23


def test_decimal_amounts_pass():
    df = clean_frame()
    df["amount"] = [Decimal(f"{x:.2f}") for x in df["amount"]]
    report = run_suite(df, SUITE)
    assert report.success, report.summary()
    assert isinstance(df["amount"].iloc[0], Decimal)  # converted on a copy only


def test_decimal_amount_out_of_range_fails():
    df = clean_frame()
    df["amount"] = [Decimal(f"{x:.2f}") for x in df["amount"]]
    df.loc[2, "amount"] = Decimal("0.00")
    failed = only_failure(run_suite(df, SUITE))
    assert (failed.expectation, failed.column) == ("expect_column_values_to_be_between", "amount")
    assert failed.examples == [0.0]


# --------------------------------------------------------------------------- failing


def test_null_amount():
    df = clean_frame()
    df.loc[1, "amount"] = None
    report = run_suite(df, SUITE)
    assert not report.success
    # the range check skips nulls, so only the not-null check fails
    failed = only_failure(report)
    assert failed.expectation == "expect_column_values_to_not_be_null"
    assert failed.column == "amount"
    assert failed.observed.startswith("1 of 6 values (16.67%) unexpected"), failed.observed
    assert failed.examples == []
    assert "amount" in report.summary()


def test_channel_outside_domain():
    df = clean_frame()
    df.loc[3, "channel"] = "web"
    failed = only_failure(run_suite(df, SUITE))
    assert (failed.expectation, failed.column) == ("expect_column_values_to_be_in_set", "channel")
    assert failed.examples == ["web"]
    assert failed.observed.startswith("1 of 6 values")


def test_duplicate_transaction_id():
    df = clean_frame()
    df.loc[4, "transaction_id"] = 102  # rows 1 and 4 now share an id: both are unexpected
    failed = only_failure(run_suite(df, SUITE))
    assert failed.expectation == "expect_column_values_to_be_unique"
    assert failed.column == "transaction_id"
    assert failed.observed.startswith("2 of 6 values (33.33%) unexpected"), failed.observed
    assert failed.examples == [102]  # distinct values only


def test_amount_out_of_range():
    df = clean_frame()
    df.loc[0, "amount"] = 0.0  # just below 0.01
    df.loc[4, "amount"] = 50000.01  # just above 50000
    failed = only_failure(run_suite(df, SUITE))
    assert (failed.expectation, failed.column) == ("expect_column_values_to_be_between", "amount")
    assert failed.observed.startswith("2 of 6 values (33.33%) unexpected"), failed.observed
    assert sorted(failed.examples) == [0.0, 50000.01]


@pytest.mark.parametrize(
    ("column", "value"),
    [("country", "usa"), ("country", "us"), ("currency", "US"), ("currency", "usd")],
)
def test_country_and_currency_shape(column, value):
    df = clean_frame()
    df.loc[2, column] = value
    failed = only_failure(run_suite(df, SUITE))
    assert (failed.expectation, failed.column) == ("expect_column_values_to_match_regex", column)
    assert failed.examples == [value]


def test_empty_frame_fails_row_count():
    df = clean_frame().iloc[0:0]
    report = run_suite(df, SUITE)
    assert report.rows == 0
    # every column check passes vacuously on 0 rows; only the row count catches it
    failed = only_failure(report)
    assert failed.expectation == "expect_table_row_count_to_be_between"
    assert failed.column is None
    assert "observed 0" in failed.observed
    assert "(table)" in report.summary()


def test_missing_column_is_reported_not_raised():
    df = clean_frame().drop(columns=["currency"])
    report = run_suite(df, SUITE)
    assert failures(report) == {
        ("expect_column_to_exist", "currency"),
        ("expect_column_values_to_not_be_null", "currency"),
        ("expect_column_values_to_match_regex", "currency"),
    }
    assert all(f.column == "currency" for f in report.failed)
    assert report.failed[0].expectation == "expect_column_to_exist"  # suite order
    assert "not found" in report.failed[0].observed


def test_several_failures_in_one_report():
    df = clean_frame()
    df.loc[1, "amount"] = None
    df.loc[3, "channel"] = "web"
    report = run_suite(df, SUITE)
    assert failures(report) == {
        ("expect_column_values_to_not_be_null", "amount"),
        ("expect_column_values_to_be_in_set", "channel"),
    }
    data = report.to_dict()
    assert json.loads(json.dumps(data)) == data  # plain JSON
    assert data["success"] is False
    assert data["failed"][1]["examples"] == ["web"]


def test_failed_summary_names_the_failed_column():
    df = clean_frame()
    df.loc[3, "channel"] = "web"
    report = run_suite(df, SUITE)
    message = report.summary()
    assert not report.success
    assert "FAILED" in message and "channel" in message
    assert "expect_column_values_to_be_in_set" in message
    assert "'web'" in message
    assert failures(report) == {("expect_column_values_to_be_in_set", "channel")}


# --------------------------------------------------------------------------- suite files


def write_suite(tmp_path: Path, expectations, **extra) -> Path:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps({"name": "t", "expectations": expectations, **extra}))
    return path


def test_unknown_expectation_type_is_a_clear_error(tmp_path):
    path = write_suite(
        tmp_path,
        [
            {"type": "expect_column_to_exist", "kwargs": {"column": "amount"}},
            {"type": "expect_column_values_to_be_postive", "kwargs": {"column": "amount"}},
        ],
    )
    with pytest.raises(SuiteSpecError) as caught:
        load_suite_spec(path)
    message = str(caught.value)
    assert str(path) in message
    assert "expect_column_values_to_be_postive" in message
    assert "expectations[1]" in message
    assert "unknown expectation type" in message
    with pytest.raises(SuiteSpecError, match="expect_column_values_to_be_postive"):
        run_suite(clean_frame(), path)


def test_bad_kwargs_is_a_clear_error(tmp_path):
    path = write_suite(
        tmp_path,
        [{"type": "expect_column_values_to_be_between", "kwargs": {"colum": "amount"}}],
    )
    with pytest.raises(SuiteSpecError, match=r"expectations\[0\].*bad kwargs"):
        load_suite_spec(path)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"name": "t", "expectations": []}', "non-empty list"),
        ('{"expectations": [{"type": "expect_column_to_exist"}]}', "'name'"),
        ('{"name": "t", "expectation": []}', "unknown top-level key"),
        ('{"name": "t", "expectations": [{"typ": "x"}]}', "unknown key"),
        (
            '{"name": "t", "expectations": [{"type": "expect_column_to_exist", "kwargs": []}]}',
            "'kwargs' must be an object",
        ),
    ],
)
def test_malformed_suite_files(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SuiteSpecError) as caught:
        load_suite_spec(path)
    assert needle in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_suite_file(tmp_path):
    with pytest.raises(SuiteSpecError, match="cannot read"):
        load_suite_spec(tmp_path / "nope.json")


def test_importing_checks_does_not_import_gx():
    code = "import sys, mlgate.checks.expectations; print('great_expectations' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(Path(checks.__file__).resolve().parents[1])},
    )
    assert out.stdout.strip() == "False"


def test_every_joined_column_gets_a_not_null_check_and_its_declared_values():
    from mlgate.checks.derived import joined_column_expectations
    from mlgate.config import load_pipeline

    entries = joined_column_expectations(load_pipeline("fraud"))
    # merchants (category, country), cards (type, customer), customers (home country), in
    # join order; the category and the card type have declared value sets
    checked = [(e["type"], e["kwargs"]["column"]) for e in entries]
    assert checked == [
        ("expect_column_values_to_not_be_null", "merchant_category"),
        ("expect_column_values_to_be_in_set", "merchant_category"),
        ("expect_column_values_to_not_be_null", "merchant_country"),
        ("expect_column_values_to_not_be_null", "card_type"),
        ("expect_column_values_to_be_in_set", "card_type"),
        ("expect_column_values_to_not_be_null", "customer_id"),
        ("expect_column_values_to_not_be_null", "home_country"),
    ]
    assert entries[0]["kwargs"] == {"column": "merchant_category", "mostly": 0.99}
    assert (
        entries[0]["notes"]
        == "joined from merchants on merchant_id: rows without a match get nulls"
    )
    assert entries[4]["kwargs"] == {
        "column": "card_type",
        "value_set": ["credit", "debit", "prepaid"],
    }


def test_joined_column_checks_find_a_join_that_brought_nothing():
    from mlgate.checks.derived import joined_column_expectations
    from mlgate.config import load_pipeline

    cfg = load_pipeline("fraud")
    table = pd.DataFrame(
        {
            "merchant_category": ["grocery"] * 199 + [None],  # 0.5% null: within 99%
            "merchant_country": ["US"] * 200,
            "card_type": ["debit"] * 100 + ["credit"] * 100,
            "customer_id": range(200),
            "home_country": ["US"] * 200,
        }
    )
    extra = joined_column_expectations(cfg)
    suite = SUITES_DIR / "fraud" / "features.json"
    clean = run_suite(table, suite, extra=extra)
    assert [f.column for f in clean.failed if f.column in table.columns] == []
    broken = table.assign(merchant_category=None, card_type=["debit"] * 199 + ["gold"])
    failed = {
        (f.expectation, f.column)
        for f in run_suite(broken, suite, extra=extra).failed
        if f.column in table.columns
    }
    assert failed == {
        ("expect_column_values_to_not_be_null", "merchant_category"),
        ("expect_column_values_to_be_in_set", "card_type"),
    }
    # and the tolerance is the config's: 1 null in 200 fails at 100%
    strict = cfg.gates.data_expectations.model_copy(update={"joined_not_null": 1.0})
    strict_cfg = cfg.model_copy(
        update={"gates": cfg.gates.model_copy(update={"data_expectations": strict})}
    )
    failed = run_suite(table, suite, extra=joined_column_expectations(strict_cfg)).failed
    assert [(f.expectation, f.column) for f in failed if f.column in table.columns] == [
        ("expect_column_values_to_not_be_null", "merchant_category")
    ]
