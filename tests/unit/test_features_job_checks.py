"""The checks the features job runs on Spark: the raw suite on the run day's partition
(a failure rejects the day) and the label statistics of the written feature table."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from mlgate.config import load_pipeline
from mlgate.ingest import status
from mlgate.jobs.features_job import check_raw_partition, label_stats
from mlgate.paths import table_partition
from mlgate.runs import CHECK_RAW_FILE, RUN_ID_KEY, read_run_file

DS = date(2026, 10, 31)
CFG = load_pipeline("fraud")


def raw_day(amounts: list[float]) -> pd.DataFrame:
    """A day of the fraud lake as the extract writes it, one row per amount."""
    n = len(amounts)
    return pd.DataFrame(
        {
            "transaction_id": pd.Series(range(1, n + 1), dtype="int64"),
            "card_id": pd.Series([1] * n, dtype="int64"),
            "merchant_id": pd.Series([2] * n, dtype="int64"),
            "amount": amounts,
            "currency": ["USD"] * n,
            "country": ["US"] * n,
            "channel": ["pos"] * n,
            "device_id": [None] * n,
            "created_at": pd.date_range("2026-10-31", periods=n, freq="h"),
        }
    )


@pytest.fixture
def lake_day(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))

    def write(amounts: list[float]) -> None:
        folder = table_partition(CFG.name, CFG.source.events.table, DS.isoformat())
        folder.mkdir(parents=True, exist_ok=True)
        # microseconds, as the extract writes them (Spark reads no nanosecond timestamps)
        raw_day(amounts).to_parquet(folder / "part-0.parquet", index=False, coerce_timestamps="us")

    return write


def test_a_raw_suite_failure_rejects_the_day_with_the_failed_expectation(spark, lake_day):
    lake_day([10.0, -5.0, 12.5])
    decider = status.Decider(CFG.name, DS.isoformat(), "run-1")
    report = check_raw_partition(spark, CFG, DS, decider, override_gates=[])
    assert not report["success"] and report["rows"] == 3
    assert read_run_file(CFG.name, DS.isoformat(), CHECK_RAW_FILE)[RUN_ID_KEY] == "run-1"
    entry = status.read_statuses(CFG.name, CFG.source.events.table)[DS.isoformat()]
    assert entry["status"] == status.REJECTED and entry["airflow_run_id"] == "run-1"
    assert entry["reason"] == (
        "data_expectations: raw_transactions: amount expect_column_values_to_be_between "
        "(1 of 3 values (33.33%) unexpected)"
    )


def test_a_day_check_raw_rejected_keeps_that_reason_too(spark, lake_day):
    lake_day([10.0, -5.0])
    decider = status.Decider(CFG.name, DS.isoformat(), "run-1")
    table = CFG.source.events.table
    status.set_status(CFG.name, table, [DS], status.REJECTED, decider, reason="volume: low")
    check_raw_partition(spark, CFG, DS, decider, override_gates=[])
    reason = status.read_statuses(CFG.name, table)[DS.isoformat()]["reason"]
    assert reason.startswith("volume: low; data_expectations: raw_transactions: amount")


def test_a_clean_or_overridden_raw_suite_leaves_the_days_status_alone(spark, lake_day):
    decider = status.Decider(CFG.name, DS.isoformat(), "run-1")
    table = CFG.source.events.table
    lake_day([10.0, 12.5])
    assert check_raw_partition(spark, CFG, DS, decider, override_gates=[])["success"]
    assert status.status_of(CFG.name, table, DS) == status.PENDING
    lake_day([10.0, -5.0])  # overwrites the day's file with a failing one
    report = check_raw_partition(spark, CFG, DS, decider, override_gates=["data_expectations"])
    assert not report["success"]
    assert status.status_of(CFG.name, table, DS) == status.PENDING


def test_label_stats_count_positives_per_matured_day_and_a_day_without_rows_is_zero(spark):
    # run of 10-31: the newest matured days are 10-19 .. 10-21
    rows = [
        (datetime(2026, 10, 18, 10), 1, True),
        (datetime(2026, 10, 19, 0), 1, True),
        (datetime(2026, 10, 19, 23, 59, 59), 1, True),
        (datetime(2026, 10, 19, 12), 0, True),
        (datetime(2026, 10, 20, 8), 0, True),
        (datetime(2026, 10, 21, 8), 1, False),  # not mature: neither counted nor in the rate
    ]
    table = spark.createDataFrame(rows, "created_at timestamp, is_fraud int, label_mature boolean")
    stats = label_stats(CFG, table, DS)
    assert stats == {
        "mature_rows": 5,
        "label_rate": pytest.approx(3 / 5, abs=1e-12),
        "labels_by_day": {"2026-10-19": 2, "2026-10-20": 0, "2026-10-21": 0},
    }
    expectations = CFG.gates.data_expectations.model_copy(update={"label_freshness_days": 0})
    off = CFG.model_copy(
        update={"gates": CFG.gates.model_copy(update={"data_expectations": expectations})}
    )
    assert label_stats(off, table, DS)["labels_by_day"] is None
    none_mature = label_stats(CFG, table.where("not label_mature"), DS)
    assert none_mature["mature_rows"] == 0 and none_mature["label_rate"] is None
