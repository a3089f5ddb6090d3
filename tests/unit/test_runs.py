"""The run folder (mlgate.runs): one DAG run's files, told apart from an earlier run's."""

from __future__ import annotations

import json

import pytest

from mlgate import runs


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    return tmp_path


def test_a_file_is_read_back_whole(state):
    runs.write_run_file(
        "fraud", "2026-10-31", runs.DECISION_FILE, {"airflow_run_id": "r1", "version": "3"}
    )
    assert runs.read_run_file("fraud", "2026-10-31", runs.DECISION_FILE)["version"] == "3"
    assert (state / "pipelines" / "fraud" / "runs" / "ds=2026-10-31" / "decision.json").exists()
    assert not list(
        (state / "pipelines" / "fraud" / "runs" / "ds=2026-10-31").glob(".*")
    )  # no temporary file left


def test_a_missing_file_names_the_task_that_should_have_written_it():
    with pytest.raises(FileNotFoundError, match="has the task that writes it run for 2026-10-31"):
        runs.read_run_file("fraud", "2026-10-31", runs.CANDIDATE_FILE)


def test_a_file_of_another_run_of_the_same_day_is_not_this_runs(state):
    runs.write_run_file(
        "fraud", "2026-10-31", runs.GATES_FILE, {"airflow_run_id": "earlier", "x": 1}
    )
    assert runs.run_file_of("fraud", "2026-10-31", runs.GATES_FILE, "earlier") == {
        "airflow_run_id": "earlier",
        "x": 1,
    }
    assert runs.run_file_of("fraud", "2026-10-31", runs.GATES_FILE, "this-run") is None


def test_a_file_without_a_run_id_missing_or_unreadable_is_nobodys(state):
    folder = state / "pipelines" / "fraud" / "runs" / "ds=2026-10-31"
    folder.mkdir(parents=True)
    (folder / runs.GATES_FILE).write_text(json.dumps({"results": []}))
    (folder / runs.TRACKING_FILE).write_text("{not json")
    assert runs.run_file_of("fraud", "2026-10-31", runs.GATES_FILE, "r1") is None
    assert runs.run_file_of("fraud", "2026-10-31", runs.TRACKING_FILE, "r1") is None
    assert runs.run_file_of("fraud", "2026-10-31", runs.DECISION_FILE, "r1") is None


def test_lineage_tags_tie_a_run_to_its_dag_run_and_commit():
    tags = runs.lineage_tags("fraud", "2026-10-31", "fraud_retrain", "manual__1", "manual:admin")
    assert tags[runs.TAG_PIPELINE] == "fraud"
    assert tags[runs.TAG_DS] == "2026-10-31"
    assert tags[runs.TAG_DAG_ID] == "fraud_retrain"
    assert tags[runs.TAG_AIRFLOW_RUN_ID] == "manual__1"
    assert tags[runs.TAG_TRIGGERED_BY] == "manual:admin"
    commit = tags[runs.TAG_GIT_COMMIT]
    assert commit == "unknown" or len(commit) == 40
    assert all(name.startswith(runs.TAG_PREFIX) for name in tags)


def event(**extra):
    from types import SimpleNamespace

    return SimpleNamespace(extra=extra)


def test_a_scheduled_or_manual_run_covers_its_data_intervals_day():
    from datetime import UTC, date, datetime

    start = datetime(2026, 5, 6, tzinfo=UTC)
    asked = {"fraud_retrain_request": [event(ds="2026-01-01", reason="drift")]}
    assert runs.run_day(start, asked) == date(2026, 5, 6)  # the interval wins
    assert runs.run_ds(start) == "2026-05-06"
    assert runs.run_trigger("manual", "alice") == "manual:alice"
    assert runs.run_trigger("scheduled", None, {}) == "scheduled:-"


def test_a_run_the_monitor_started_covers_the_newest_day_it_asked_for():
    from datetime import date

    asked = {
        "fraud_retrain_request": [
            event(ds="2026-05-04", reason="drift on 3 days in a row"),
            event(ds="2026-05-07", reason="drift on 6 days in a row"),
            event(ds="2026-05-05", reason="late"),
            event(note="an event of another kind"),
        ]
    }
    assert runs.run_day(None, asked) == date(2026, 5, 7)
    assert runs.run_trigger("asset_triggered", None, asked) == (
        "asset_triggered:monitor of 2026-05-07: drift on 6 days in a row"
    )


def test_a_run_with_neither_interval_nor_request_says_how_to_give_it_a_day():
    with pytest.raises(ValueError, match="no data interval and no retrain request"):
        runs.run_day(None, {"other": [event(note="x")]})
    with pytest.raises(ValueError, match="mlgate run-day --date DAY"):
        runs.context_day({"data_interval_start": None})
