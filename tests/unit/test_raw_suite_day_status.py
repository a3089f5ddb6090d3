"""The run day's partition status after the features job's raw suite
(features_job.settle_run_day): decided under the status lock, kept in the manifest."""

from __future__ import annotations

from datetime import date

import pytest

from mlgate.config import load_pipeline
from mlgate.gates import GateResult
from mlgate.ingest.status import (
    ACCEPTED,
    REJECTED,
    Decider,
    read_statuses,
    record_lake_days,
    set_status,
)
from mlgate.jobs.features_job import settle_run_day
from mlgate.runs import MANIFEST_FILE, read_run_file, write_run_file

DAY = date(2026, 10, 31)
SUITE_FAILS = GateResult(
    "data_expectations",
    "block",
    "fail",
    1.0,
    "no failed expectation",
    reason="raw_transactions: channel expect_column_values_to_be_in_set (200 unexpected)",
)


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    cfg = load_pipeline("fraud")
    window = cfg.window_spec().extract_days(DAY)
    this_run = Decider(cfg.name, DAY.isoformat(), "run-a")
    set_status(cfg.name, cfg.source.events.table, window, ACCEPTED, this_run, reason="ok")
    write_run_file(cfg.name, DAY.isoformat(), MANIFEST_FILE, {"airflow_run_id": "run-a"})
    record_lake_days(cfg, DAY, judged=[{"ds": "2026-10-01"}])
    return cfg


def status(cfg) -> dict:
    return read_statuses(cfg.name, cfg.source.events.table)[DAY.isoformat()]


def lake_days(cfg) -> dict:
    return read_run_file(cfg.name, DAY.isoformat(), MANIFEST_FILE)["lake_days"]


def test_a_failed_raw_suite_rejects_the_day_and_the_manifest_says_it_is_left_out(cfg):
    read_before = lake_days(cfg)["read"]
    settle_run_day(cfg, DAY, Decider(cfg.name, DAY.isoformat(), "run-a"), SUITE_FAILS, [])
    assert status(cfg)["status"] == REJECTED
    assert status(cfg)["reason"] == f"data_expectations: {SUITE_FAILS.reason}"
    days = lake_days(cfg)
    assert days["read"] == read_before - 1
    assert [s["ds"] for s in days["skipped"]] == [DAY.isoformat()]
    assert days["judged_by_this_run"] == [{"ds": "2026-10-01"}]  # check_raw's list is kept


def test_a_retry_does_not_repeat_the_reason_and_check_raws_reason_is_kept(cfg):
    run_a = Decider(cfg.name, DAY.isoformat(), "run-a")
    table = cfg.source.events.table
    set_status(cfg.name, table, [DAY], REJECTED, run_a, reason="bad_record_ratio: 9% > 1%")
    settle_run_day(cfg, DAY, run_a, SUITE_FAILS, [])
    settle_run_day(cfg, DAY, run_a, SUITE_FAILS, [])  # the task's retry
    assert status(cfg)["reason"] == (
        f"bad_record_ratio: 9% > 1%; data_expectations: {SUITE_FAILS.reason}"
    )


def test_another_runs_rejection_is_not_taken_as_this_runs_reason(cfg):
    table = cfg.source.events.table
    old = Decider(cfg.name, DAY.isoformat(), "run-old")
    set_status(cfg.name, table, [DAY], REJECTED, old, reason="bad_record_ratio: 9% > 1%")
    settle_run_day(cfg, DAY, Decider(cfg.name, DAY.isoformat(), "run-b"), SUITE_FAILS, [])
    assert status(cfg)["reason"] == f"data_expectations: {SUITE_FAILS.reason}"
    assert status(cfg)["airflow_run_id"] == "run-b"


def test_an_overridden_suite_accepts_again_a_day_only_this_runs_suite_rejected(cfg):
    run_a = Decider(cfg.name, DAY.isoformat(), "run-a")
    settle_run_day(cfg, DAY, run_a, SUITE_FAILS, [])
    settle_run_day(cfg, DAY, run_a, SUITE_FAILS, ["data_expectations"])  # features rerun
    assert status(cfg)["status"] == ACCEPTED
    assert "overridden" in status(cfg)["reason"]
    assert lake_days(cfg)["skipped"] == []


def test_an_override_of_the_suite_leaves_a_day_check_raw_rejected_for_another_gate(cfg):
    run_a = Decider(cfg.name, DAY.isoformat(), "run-a")
    table = cfg.source.events.table
    set_status(cfg.name, table, [DAY], REJECTED, run_a, reason="bad_record_ratio: 9% > 1%")
    settle_run_day(cfg, DAY, run_a, SUITE_FAILS, ["data_expectations"])
    assert (status(cfg)["status"], status(cfg)["reason"]) == (
        REJECTED,
        "bad_record_ratio: 9% > 1%",
    )


def test_a_passing_suite_changes_nothing(cfg):
    before = status(cfg)
    passing = GateResult("data_expectations", "block", "pass", 0.0, "none", reason="ok")
    settle_run_day(cfg, DAY, Decider(cfg.name, DAY.isoformat(), "run-a"), passing, [])
    assert status(cfg) == before
