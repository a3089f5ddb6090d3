"""Failures that say why: which errors a retry cannot fix, what a failed task records, and
the one line `mlgate run-day` ends a failed run with."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from mlgate import runs
from mlgate.checks.expectations import SuiteSpecError
from mlgate.cli.progress import DagRunResult
from mlgate.cli.run import failure_line
from mlgate.config import ConfigError
from mlgate.config.expr import ExpressionError
from mlgate.errors import PermanentError, is_permanent
from mlgate.gates import GateReport, GateResult
from mlgate.ingest.lake import ExtractError, SourceMismatchError, rejected_by_source
from mlgate.jobs.common import JobInputError
from mlgate.ledger import AliasesMovedError, LedgerError
from mlgate.ml.assertions import AssertionSetError
from mlgate.registry import PromotionError
from mlgate.stages import GateFailed, RunOptions
from mlgate.window import DayNotEnded

DAY = date(2026, 10, 31)
INCLUDE = Path(__file__).resolve().parents[2] / "include"


def gate_failure() -> GateFailed:
    report = GateReport([GateResult("bad_record_ratio", "block", "fail", 0.3, "<= 0.0100")])
    return GateFailed(report, "check_raw")


# --- which errors a retry cannot fix ------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("pipeline fraud: training.family: unknown"),
        ExpressionError("filter: unknown column"),
        SuiteSpecError("suite file missing"),
        AssertionSetError("example 3 has no expected"),
        SourceMismatchError("table 'transactions' is not in the source"),
        PromotionError("the champion moved while version 3 was evaluated"),
        JobInputError("the training rows hold only one class"),
        DayNotEnded("the day 2026-12-31 has not ended yet"),
        AliasesMovedError("the aliases of fraud_detector were moved outside mlgate"),
        LedgerError("line 3 of promotions.jsonl is not JSON"),
        gate_failure(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_a_retry_repeats_are_permanent(error):
    assert is_permanent(error)


@pytest.mark.parametrize(
    "error",
    [
        OSError("No space left on device"),
        TimeoutError("timed out"),
        ExtractError("the free-form query failed: database is locked"),
        RuntimeError("Spark job killed"),
        ValueError("something unexpected"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_a_retry_may_fix_are_not_permanent(error):
    assert not is_permanent(error)


def test_an_error_raised_from_a_permanent_one_is_permanent():
    try:
        try:
            raise ConfigError("bad config")
        except ConfigError as cause:
            raise RuntimeError("while loading the pipeline") from cause
    except RuntimeError as error:
        assert is_permanent(error)


def test_bad_run_options_are_permanent():
    with pytest.raises(PermanentError, match="override_reason"):
        RunOptions(override_gates=["quality"], override_reason="too short").validate()


def test_the_source_rejecting_a_query_is_told_from_a_busy_database(tmp_path):
    """Both are sqlite3.OperationalError; only the first fails the same way on a retry."""
    db = tmp_path / "source.db"
    engine = sa.create_engine(f"sqlite:///{db}", connect_args={"timeout": 0})
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE transactions (id INTEGER)"))
    with pytest.raises(sa.exc.DBAPIError) as unknown_column:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT no_such_column FROM transactions"))
    assert rejected_by_source(unknown_column.value)

    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(sa.exc.DBAPIError) as locked:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT id FROM transactions"))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert "locked" in str(locked.value)
    assert not rejected_by_source(locked.value)


# --- what a failed task records -----------------------------------------------------------


def test_a_spark_job_records_why_it_failed_and_that_a_retry_cannot_help(tmp_path):
    """The entry point of a job (run_job) as spark-submit runs it: a separate Python."""
    script = tmp_path / "job.py"
    script.write_text(
        "from mlgate.jobs.common import JobInputError, run_job\n"
        "def main():\n"
        "    raise JobInputError('the training rows hold only one class; check the labels')\n"
        "run_job(main, 'train')\n"
    )
    args = ["--ds", DAY.isoformat(), "--pipeline", "fraud", "--dag-run-id", "manual__1"]
    done = subprocess.run(
        [sys.executable, str(script), *args, "--state", str(tmp_path / "state")],
        env={"PYTHONPATH": str(INCLUDE), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    failure = (tmp_path / "state" / "pipelines" / "fraud" / "runs" / f"ds={DAY}").joinpath(
        runs.FAILURE_FILE
    )
    payload = json.loads(failure.read_text())
    assert payload == {
        "airflow_run_id": "manual__1",
        "task": "train",
        "error": "JobInputError",
        "message": "the training rows hold only one class; check the labels",
        "permanent": True,
    }


# --- the last line of a failed run --------------------------------------------------------


@pytest.fixture
def pipeline(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    return SimpleNamespace(name="fraud", model_name="fraud_detector")


def result(run_id: str | None = "manual__this", failed_task: str | None = None) -> DagRunResult:
    return DagRunResult(1, Path("/state/logs/run.log"), run_id, datetime.now(UTC), failed_task)


def test_a_permanent_failure_ends_with_its_reason_and_no_retry_advice(pipeline):
    runs.write_failure(
        "fraud",
        DAY.isoformat(),
        "extract",
        SourceMismatchError("the source rejects the free-form query: no such column: t.x\nmore"),
        "manual__this",
    )
    line = failure_line(pipeline, DAY, result())
    assert line == (
        "extract failed: the source rejects the free-form query: no such column: t.x — "
        "retrying cannot help; once fixed, run again: "
        "mlgate run-day --pipeline fraud --date 2026-10-31"
    )


def test_a_failed_gate_ends_with_the_gate_and_how_to_let_it_through(pipeline):
    runs.write_failure("fraud", DAY.isoformat(), "check_raw", gate_failure(), "manual__this")
    line = failure_line(pipeline, DAY, result())
    assert line.startswith(
        "check_raw failed: blocking gate(s) failed at check_raw: bad_record_ratio"
    )
    assert "--override GATE --reason TEXT" in line and "\n" not in line


def test_a_transient_failure_says_it_was_retried_and_where_its_output_is(pipeline):
    runs.write_failure(
        "fraud", DAY.isoformat(), "features", OSError("No space left on device"), "manual__this"
    )
    line = failure_line(pipeline, DAY, result())
    assert line.startswith("features failed: No space left on device — retried without success")
    assert "/state/logs/run.log" in line


def test_an_earlier_runs_failure_is_not_this_runs_reason(pipeline):
    runs.write_failure("fraud", DAY.isoformat(), "extract", OSError("old"), "manual__earlier")
    line = failure_line(pipeline, DAY, result(failed_task="train"))
    assert line.startswith("train failed without recording a reason (killed, or out of memory?)")
    assert "old" not in line


def test_a_run_that_never_began_says_so(pipeline):
    line = failure_line(pipeline, DAY, result(run_id=None))
    assert line.startswith("Airflow stopped before the run began")


def test_a_task_that_failed_once_then_passed_is_not_the_reason_a_later_task_failed(pipeline):
    runs.write_failure(
        "fraud", DAY.isoformat(), "extract", OSError("database is locked"), "manual__this"
    )
    line = failure_line(pipeline, DAY, result(failed_task="train"))
    assert line.startswith("train failed without recording a reason")


def test_a_new_try_forgets_its_own_runs_failure_never_another_runs(pipeline):
    runs.write_failure("fraud", DAY.isoformat(), "train", OSError("lost"), "manual__retrain")
    runs.clear_failure("fraud", DAY.isoformat(), "scheduled__score")
    assert runs.run_file_of("fraud", DAY.isoformat(), runs.FAILURE_FILE, "manual__retrain")
    runs.clear_failure("fraud", DAY.isoformat(), "manual__retrain")
    assert not runs.run_file("fraud", DAY.isoformat(), runs.FAILURE_FILE).exists()
