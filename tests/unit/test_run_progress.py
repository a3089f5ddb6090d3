"""`mlgate run-day` progress: each task's key figure from its files, the task lines, and
following a DAG run through a metadata DB shaped like Airflow's (no Airflow needed)."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlgate import gates, runs
from mlgate.cli import progress
from mlgate.cli.progress import RunFiles, key_figure, task_line
from mlgate.cli.run import print_failure
from mlgate.config import DataExpectationsGate
from mlgate.gates import GateReport, GateResult
from mlgate.local.dagrun import RunFollower, TaskRun, metadata_db

DAY = date(2026, 10, 31)
T0 = datetime(2026, 12, 3, 8, 54, 45, tzinfo=UTC)


# --- key figures from hand-made run folders -----------------------------------------------


@pytest.fixture
def files(tmp_path) -> RunFiles:
    """Empty folders of one day's run, files counting as written since an hour ago."""
    folders = RunFiles(tmp_path / "runs", tmp_path / "features", tmp_path / "scores")
    for folder in (folders.run_dir, folders.features_dir, folders.scores_dir):
        folder.mkdir()
    return folders.written_since(datetime.now(UTC) - timedelta(hours=1))


def write(path: Path, payload: dict) -> Path:
    path.write_text(json.dumps(payload))
    return path


def gate(name: str, verdict: str, mode: str = "block", overridden: bool = False) -> dict:
    """One gate's entry in gates.json, as GateResult writes it."""
    return GateResult(name, mode, verdict, None, "-", overridden=overridden).to_dict()


def gates_file(files: RunFiles, stage: str, results: list[dict]) -> None:
    write(files.run_dir / "gates.json", {"stage": stage, "results": results})


def test_extract_figure_counts_window_rows_the_days_own_rows_and_partitions(files):
    write(
        files.run_dir / "manifest.json",
        {
            "ds": "2026-10-31",
            "event_rows": 149613,
            "events": [
                {"table": "transactions", "ds": "2026-10-30", "rows": 146028},
                {"table": "transactions", "ds": "2026-10-31", "rows": 3585},
            ],
            "snapshots": [{"table": "chargebacks", "rows": 362}],
            "dimensions": [{"table": "cards"}, {"table": "merchants"}],
        },
    )
    assert progress.figure_extract(files) == (
        "149,613 rows extracted (3,585 on 2026-10-31), 5 partitions"
    )


def test_check_raw_figure_shows_the_bad_record_ratio_and_puts_failed_gates_first(files):
    write(
        files.run_dir / "quarantine.json",
        {"total_rows": 4000, "bad_rows": 1200, "ratio": 0.3, "reasons": {"null:amount": 1200}},
    )
    gates_file(
        files,
        "check_raw",
        [
            gate("reconciliation", "pass"),
            gate("bad_record_ratio", "fail"),
            gate("data_expectations", "fail"),
        ],
    )
    assert progress.figure_check_raw(files) == (
        "bad records 30.00% (1,200 of 4,000); "
        "FAIL: bad_record_ratio, data_expectations; pass: reconciliation"
    )


def test_gate_verdicts_tell_a_blocking_failure_from_a_warning_and_an_override():
    report = {
        "results": [
            gate("quality", "fail", overridden=True),
            gate("shadow", "fail", mode="warn"),
            gate("assertion_set", "pass"),
            gate("training_iterations", "skipped"),
            gate("export_parity", "fail"),
        ]
    }
    assert progress.gate_verdicts(report, progress.MODEL_GATES) == (
        "FAIL: export_parity; fail, overridden: quality; fail, warn only: shadow; "
        "pass: assertion_set; skipped: training_iterations"
    )


def test_features_figure_reads_the_feature_summary_next_to_the_table(files):
    write(
        files.features_dir / "_feature_summary.json",
        {"ds": "2026-10-31", "rows": 133033, "mature_rows": 99498, "mature_positives": 285},
    )
    assert progress.figure_features(files) == (
        "133,033 rows in the feature table, 99,498 with a matured label (285 positive)"
    )


def test_check_features_figure_gives_the_label_rate_of_data_expectations(files):
    expectations = gates.data_expectations(
        DataExpectationsGate(raw_suite="raw", features_suite="features"),
        [{"suite": "features", "rows": 133033, "evaluated": 69, "success": True, "failed": []}],
        label_rate=0.00286,
        volume=3585,
        volume_history=[3400] * 7,
    )
    gates_file(files, "check_features", [gate("reconciliation", "pass"), expectations.to_dict()])
    assert progress.figure_check_features(files) == (
        "label rate 0.29% (accepted 0.05% to 2.00%); pass: data_expectations"
    )


def test_train_figure_gives_the_candidates_holdout_auc_pr_and_roc_auc(files):
    write(
        files.run_dir / "candidate.json",
        {
            "family": "random_forest",
            "holdout_rows": 23442,
            "metrics": {"auc_pr": 0.38152, "roc_auc": 0.93708, "holdout_rows": 23442.0},
        },
    )
    assert progress.figure_train(files) == (
        "holdout AUC-PR 0.382, ROC AUC 0.937 (random_forest, 23,442 holdout rows)"
    )


@pytest.mark.parametrize(
    ("champion", "said"),
    [
        ({"version": "3", "run_id": "abc"}, "compared with champion version 3"),
        (None, "no champion yet to compare with"),
    ],
)
def test_train_figure_names_the_champion_its_evaluation_compared_with(files, champion, said):
    write(
        files.run_dir / "candidate.json",
        {"family": "gbt", "holdout_rows": 23442, "metrics": {"auc_pr": 0.5, "roc_auc": 0.9}},
    )
    write(files.run_dir / "evaluation.json", {"holdout_rows": 23442, "champion": champion})
    assert progress.figure_train(files) == (
        f"holdout AUC-PR 0.500, ROC AUC 0.900 (gbt, 23,442 holdout rows); {said}"
    )


def test_gates_figure_lists_the_model_gates_only_with_the_registered_version(files):
    gates_file(
        files,
        "gates",
        [
            gate("reconciliation", "pass"),
            gate("bad_record_ratio", "pass"),
            gate("training_iterations", "skipped"),
            gate("quality", "fail"),
            gate("export_parity", "pass"),
        ],
    )
    write(files.run_dir / "decision.json", {"version": "4", "promoted": False})
    assert progress.figure_gates(files) == (
        "version 4 registered; FAIL: quality; pass: export_parity; skipped: training_iterations"
    )


@pytest.mark.parametrize(
    ("decision", "said"),
    [
        ({"version": "2", "promoted": True, "reasons": []}, "version 2 promoted to champion"),
        (
            {"version": "5", "promoted": False, "reasons": ["dry run: nothing promoted"]},
            "version 5 NOT promoted: dry run: nothing promoted",
        ),
    ],
)
def test_promote_figure_says_promoted_or_why_not(files, decision, said):
    write(files.run_dir / "decision.json", decision)
    assert progress.figure_promote(files) == said


def test_score_figure_gives_rows_version_and_flagged(files):
    write(
        files.scores_dir / "_scores.json",
        {"rows": 3585, "flagged": 12, "model_version": "2", "threshold": 0.5},
    )
    assert progress.figure_score(files) == (
        "3,585 rows scored by version 2, 12 flagged (probability >= 0.5)"
    )


def test_a_file_left_by_an_earlier_run_of_the_day_is_not_this_tasks_figure(files):
    path = write(files.run_dir / "decision.json", {"version": "1", "promoted": True})
    an_hour_before_the_task = (files.since - timedelta(hours=1)).timestamp()
    os.utime(path, (an_hour_before_the_task, an_hour_before_the_task))
    assert progress.figure_promote(files) is None


def test_key_figure_of_a_file_of_unexpected_shape_is_none_not_an_error(files):
    write(files.run_dir / "candidate.json", {"metrics": "not a mapping"})
    task = TaskRun("train", "success", 1, 0, start=files.since, end=datetime.now(UTC))
    assert key_figure(task, files) is None


def test_key_figure_reads_only_files_written_since_the_task_started(files):
    path = write(files.run_dir / "decision.json", {"version": "7", "promoted": True})
    written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    before = TaskRun("promote", "success", 1, 0, start=written - timedelta(seconds=30))
    after = TaskRun("promote", "success", 1, 0, start=written + timedelta(minutes=5))
    assert key_figure(before, files) == "version 7 promoted to champion"
    assert key_figure(after, files) is None


# --- the lines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.46, "0.5s"), (18.48, "18.5s"), (86.3, "1m 26s"), (3725, "1h 02m")],
)
def test_durations_read_as_seconds_minutes_or_hours(seconds, text):
    assert progress.format_duration(seconds) == text


def test_task_line_aligns_name_status_duration_then_the_figure():
    task = TaskRun("train", "success", 1, 0, start=T0, end=T0 + timedelta(seconds=187.8))
    assert task_line(task, "holdout AUC-PR 0.382", T0, name_width=14) == (
        "  train           success   3m 08s  holdout AUC-PR 0.382"
    )


def test_a_task_that_never_ran_gets_a_line_without_duration_or_figure():
    task = TaskRun("promote", "upstream_failed", start=T0, end=T0)
    assert task_line(task, None, T0, name_width=7) == "  promote  upstream_failed        -"


def test_a_retried_task_says_which_try_ended():
    task = TaskRun("extract", "up_for_retry", 1, 2, start=T0, end=T0 + timedelta(seconds=3))
    assert "up_for_retry (try 1 of 3)" in task_line(task, None, T0, name_width=7)


def test_progress_text_names_the_running_task_its_elapsed_time_and_the_step():
    tasks = [
        TaskRun("extract", "success", 1, 2, start=T0, end=T0 + timedelta(seconds=18)),
        TaskRun("check_raw", "success", 1, 0, start=T0, end=T0 + timedelta(seconds=26)),
        TaskRun("features", "running", 1, 2, start=T0 + timedelta(seconds=27)),
        TaskRun("train", None),
    ]
    now = T0 + timedelta(seconds=69.6)
    assert progress.running_text(tasks, now, since_start=75.2) == (
        "features 42s  (task 3 of 4; 1m 15s since the start)"
    )


def test_progress_text_before_between_and_after_the_tasks_says_what_it_waits_for():
    assert progress.running_text([], T0, since_start=4.7) == "starting Airflow (4s)"
    extract = TaskRun("extract", "success", 1, 2, start=T0, end=T0 + timedelta(seconds=18))
    assert progress.running_text([extract, TaskRun("check_raw", None)], T0, 19) == (
        "next task (1 of 2 ended; 19s since the start)"
    )
    assert progress.running_text([extract], T0, 75) == "finishing the run (1m 15s since the start)"


def test_the_full_log_goes_under_the_state_folder_named_by_command_pipeline_day_time(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    path = progress.run_log_path("run-day", "fraud", DAY, at=T0)
    assert path == tmp_path / "logs" / "run-day-fraud-2026-10-31-20261203T085445Z.log"


def test_the_end_of_the_log_is_its_last_lines_and_nothing_when_it_is_missing(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("".join(f"line {n}\n" for n in range(1, 51)))
    assert progress.log_tail(log, lines=3) == ["line 48", "line 49", "line 50"]
    assert progress.log_tail(tmp_path / "missing.log") == []


# --- following a run in a metadata DB shaped like Airflow's ------------------------------

LOGICAL = datetime(2026, 11, 1, tzinfo=UTC)
DAG = "fraud_retrain"


def stamp(moment: datetime | None) -> str | None:
    """How Airflow's UtcDateTime columns look in SQLite: naive UTC text."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ") if moment else None


class MetadataDB:
    """The dag_run and task_instance columns the follower reads, nothing more."""

    def __init__(self, path: Path):
        self.path = path
        with sqlite3.connect(path) as conn:
            conn.executescript(
                """
                CREATE TABLE dag_run (id INTEGER PRIMARY KEY, dag_id TEXT, run_id TEXT,
                    logical_date TIMESTAMP, run_after TIMESTAMP, state TEXT);
                CREATE TABLE task_instance (id TEXT PRIMARY KEY, task_id TEXT, dag_id TEXT,
                    run_id TEXT, map_index INTEGER DEFAULT -1, start_date TIMESTAMP,
                    end_date TIMESTAMP, state TEXT, try_number INTEGER, max_tries INTEGER);
                """
            )

    def add_run(self, run_id: str, run_after: datetime, tasks: list[str], dag_id: str = DAG):
        with sqlite3.connect(self.path) as conn:
            conn.execute(
                "INSERT INTO dag_run (dag_id, run_id, logical_date, run_after, state) "
                "VALUES (?, ?, ?, ?, 'running')",
                (dag_id, run_id, stamp(LOGICAL), stamp(run_after)),
            )
            conn.executemany(
                "INSERT INTO task_instance (id, task_id, dag_id, run_id, try_number, max_tries) "
                "VALUES (?, ?, ?, ?, 0, 0)",
                [(f"{run_id}/{task}", task, dag_id, run_id) for task in tasks],
            )

    def set_task(self, run_id: str, task: str, state: str, start=None, end=None, try_number=1):
        with sqlite3.connect(self.path) as conn:
            conn.execute(
                "UPDATE task_instance SET state = ?, start_date = ?, end_date = ?, "
                "try_number = ? WHERE id = ?",
                (state, stamp(start), stamp(end), try_number, f"{run_id}/{task}"),
            )


@pytest.fixture
def db(tmp_path) -> MetadataDB:
    return MetadataDB(tmp_path / "airflow.db")


def test_the_metadata_db_is_followed_only_when_it_is_sqlite(tmp_path):
    sqlite_env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db"}
    postgres_env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://a@b/airflow"}
    assert metadata_db(sqlite_env) == tmp_path / "airflow.db"
    assert metadata_db(postgres_env) is None


def test_before_the_db_or_the_run_exists_there_are_no_tasks_yet(tmp_path):
    follower = RunFollower(tmp_path / "airflow.db", DAG, LOGICAL, started=T0)
    assert follower.poll() == []
    MetadataDB(tmp_path / "airflow.db")
    assert follower.poll() == []


def test_the_earlier_run_of_the_same_day_is_not_mistaken_for_the_new_one(db):
    db.add_run("manual__earlier", T0 - timedelta(hours=2), ["extract"])
    db.set_task("manual__earlier", "extract", "success", T0 - timedelta(hours=2), T0)
    follower = RunFollower(db.path, DAG, LOGICAL, started=T0 + timedelta(minutes=1))
    assert follower.poll() == []  # `dags test` has not created its run yet
    db.add_run("manual__new", T0 + timedelta(minutes=1, seconds=2), ["extract"])
    tasks = follower.poll()
    assert [(t.task_id, t.state) for t in tasks] == [("extract", None)]
    assert follower.run_id == "manual__new"


def test_another_dag_or_logical_date_is_not_followed(db):
    db.add_run("manual__score", T0 + timedelta(seconds=5), ["score"], dag_id="fraud_score")
    follower = RunFollower(db.path, DAG, LOGICAL + timedelta(days=1), started=T0)
    db.add_run("manual__other_day", T0 + timedelta(seconds=5), ["extract"])
    assert follower.poll() == []


def test_each_ended_try_is_reported_once_in_the_order_the_tries_ended(db):
    follower = RunFollower(db.path, DAG, LOGICAL, started=T0)
    db.add_run("manual__run", T0 + timedelta(seconds=1), ["extract", "check_raw", "features"])
    db.set_task("manual__run", "extract", "running", T0)
    assert follower.newly_ended(follower.poll()) == []

    db.set_task("manual__run", "extract", "up_for_retry", T0, T0 + timedelta(seconds=5))
    ended = follower.newly_ended(follower.poll())
    assert [(t.task_id, t.state, t.try_number) for t in ended] == [("extract", "up_for_retry", 1)]
    assert follower.newly_ended(follower.poll()) == []  # the same try is not reported twice

    start = T0 + timedelta(minutes=2)
    db.set_task("manual__run", "extract", "success", start, start + timedelta(seconds=9), 2)
    db.set_task(
        "manual__run",
        "check_raw",
        "failed",
        start + timedelta(seconds=10),
        start + timedelta(seconds=14),
    )
    db.set_task(
        "manual__run", "features", "upstream_failed", None, start + timedelta(seconds=15), 0
    )
    ended = follower.newly_ended(follower.poll())
    assert [(t.task_id, t.state) for t in ended] == [
        ("extract", "success"),
        ("check_raw", "failed"),
        ("features", "upstream_failed"),
    ]
    assert ended[0].seconds(T0) == pytest.approx(9.0)


def test_a_busy_metadata_db_gives_no_snapshot_instead_of_an_error(db):
    db.add_run("manual__run", T0 + timedelta(seconds=1), ["extract"])
    follower = RunFollower(db.path, DAG, LOGICAL, started=T0)
    assert follower.poll() is not None
    writer = sqlite3.connect(db.path, isolation_level=None)
    writer.execute("BEGIN EXCLUSIVE")
    try:
        assert follower.poll() is None
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert follower.poll() is not None


class ScriptedProcess:
    """Stands for `airflow dags test`: each poll() moves the run one step, then exits."""

    def __init__(self, steps, code: int):
        self.steps = list(steps)
        self.code = code

    def poll(self):
        if self.steps:
            self.steps.pop(0)()
            return None
        return self.code


def test_following_a_run_prints_one_line_per_task_as_it_ends_and_returns_the_exit_code(db, files):
    follower = RunFollower(db.path, DAG, LOGICAL, started=T0)
    start = datetime.now(UTC)
    # an earlier run's decision: promote never ran this time, so it is not its figure
    write(files.run_dir / "decision.json", {"version": "3", "promoted": True})

    def run_created():
        db.add_run("manual__run", T0 + timedelta(seconds=1), ["check_raw", "promote"])

    def check_raw_fails():
        gates_file(files, "check_raw", [gate("bad_record_ratio", "fail")])
        db.set_task("manual__run", "check_raw", "failed", start, start + timedelta(seconds=4))

    def promote_cannot_run():
        db.set_task("manual__run", "promote", "upstream_failed", None, start, 0)

    out = io.StringIO()
    code = progress.follow_run(
        ScriptedProcess([run_created, check_raw_fails, promote_cannot_run], code=1),
        follower,
        files,
        progress.TaskDisplay(out),
        poll_seconds=0,
    )
    assert code == 1
    assert out.getvalue().splitlines() == [
        "  check_raw  failed      4.0s  FAIL: bad_record_ratio",
        "  promote    upstream_failed        -",
    ]


# --- the failure summary: this run's gates and email only -------------------------------


@pytest.fixture
def failed_day(tmp_path, monkeypatch):
    """A state folder whose run folder and mail folder hold an earlier run's files."""
    import mlgate.registry

    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    monkeypatch.setattr(mlgate.registry, "champion_version", lambda name: {"version": "2"})
    report = GateReport([GateResult("bad_record_ratio", "block", "fail", 0.3, "<= 0.0100")])
    runs.write_run_file(
        "fraud",
        DAY.isoformat(),
        runs.GATES_FILE,
        {**report.to_dict(), "airflow_run_id": "manual__earlier", "stage": "check_raw"},
    )
    (tmp_path / "mail").mkdir()
    earlier_mail = tmp_path / "mail" / "20261203T080000Z-000001.eml"
    earlier_mail.write_text("Subject: earlier")
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(earlier_mail, (an_hour_ago, an_hour_ago))
    return SimpleNamespace(name="fraud", model_name="fraud_detector")


def test_a_failure_before_the_run_began_shows_no_gate_table_or_email_of_an_earlier_run(
    failed_day, tmp_path, capsys
):
    result = progress.DagRunResult(1, tmp_path / "run.log", None, datetime.now(UTC))
    print_failure(failed_day, DAY, result)
    err = capsys.readouterr().err
    assert "FAILED (exit 1)" in err and "champion: version 2" in err
    assert "bad_record_ratio" not in err and "alert email" not in err
    assert f"full Airflow and Spark output: {tmp_path / 'run.log'}" in err


def test_a_run_stopped_by_a_gate_shows_its_gate_table_and_its_email(failed_day, tmp_path, capsys):
    started = datetime.now(UTC) - timedelta(seconds=5)
    runs.write_run_file(
        "fraud",
        DAY.isoformat(),
        runs.GATES_FILE,
        {
            **GateReport([GateResult("quality", "block", "fail", 0.1, ">= 0.3")]).to_dict(),
            "airflow_run_id": "manual__this",
            "stage": "gates",
        },
    )
    mail = tmp_path / "mail" / "20261203T090000Z-000001.eml"
    mail.write_text("Subject: this run")
    result = progress.DagRunResult(1, None, "manual__this", started)
    print_failure(failed_day, DAY, result)
    err = capsys.readouterr().err
    assert "stopped at stage gates by gate(s): quality" in err
    assert f"alert email: {mail}" in err
    assert "bad_record_ratio" not in err
