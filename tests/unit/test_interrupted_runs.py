"""An MLflow run whose owner was killed mid-way is marked FAILED by the next run, on a real
SQLite-backed MLflow under a temporary state folder; a run whose owner lives is untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from mlgate import runs
from mlgate.config import load_pipeline
from mlgate.registry import configure_mlflow
from mlgate.stages import RunOptions
from mlgate.stages.common import tracking_run

INCLUDE = Path(__file__).resolve().parents[2] / "include"

# Starts the DAG run's MLflow run the way the extract task does, says its id, then waits.
OWNER = """
import sys
from datetime import date
from mlgate.config import load_pipeline
from mlgate.stages import RunOptions
from mlgate.stages.common import tracking_run
run_id = tracking_run(load_pipeline("fraud"), date.fromisoformat(sys.argv[1]),
                      RunOptions(airflow_run_id=sys.argv[2]))
print(run_id, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(runs.OWNER_ENV, raising=False)
    return tmp_path


def start_owner(state: Path, day: str, airflow_run_id: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "MLGATE_STATE": str(state), "PYTHONPATH": str(INCLUDE)}
    env.pop(runs.OWNER_ENV, None)
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER, day, airflow_run_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    run_id = owner.stdout.readline().strip()
    assert run_id, "the owner process did not start its MLflow run"
    return owner, run_id


def test_a_run_left_running_by_a_killed_owner_is_failed_by_the_next_run(state, monkeypatch):
    cfg = load_pipeline("fraud")
    # a live owner: a command that started the DAG run and still runs (as `mlgate run-day`
    # owns the runs its `airflow dags test` starts, through MLGATE_RUN_OWNER)
    command = subprocess.Popen(["sleep", "300"])
    try:
        monkeypatch.setenv(runs.OWNER_ENV, runs.process_identity(command.pid))
        alive_run = tracking_run(cfg, date(2026, 10, 30), RunOptions(airflow_run_id="manual__live"))
        monkeypatch.delenv(runs.OWNER_ENV)
        killed, orphan = start_owner(state, "2026-10-29", "manual__killed")
        killed.kill()
        killed.wait()

        next_run = tracking_run(cfg, date(2026, 10, 31), RunOptions(airflow_run_id="manual__next"))
        client = configure_mlflow().MlflowClient()
        failed = client.get_run(orphan)
        assert failed.info.status == "FAILED"
        why = failed.data.tags[runs.TAG_INTERRUPTED]
        assert f"found by run {next_run} (Airflow run manual__next)" in why
        assert f":{killed.pid}:" in why  # names the owner that is gone
        untouched = client.get_run(alive_run)
        assert untouched.info.status == "RUNNING"
        assert runs.TAG_INTERRUPTED not in untouched.data.tags
        assert client.get_run(next_run).info.status == "RUNNING"
    finally:
        command.kill()
        command.wait()


def test_an_owner_on_another_host_or_of_unknown_format_is_never_judged_gone():
    assert not runs.owner_gone("another-host.example:1:1")
    assert not runs.owner_gone("not an owner")
    assert not runs.owner_gone(runs.process_identity())  # this very process
