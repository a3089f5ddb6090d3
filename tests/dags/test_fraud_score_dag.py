"""The batch scoring DAG: its shape, and that parsing it stays cheap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    from mlgate.local.dagfiles import sync_dag_files

    sync_dag_files()
    bag = DagBag(dag_folder=str(REPO / "dags" / "pipelines" / "fraud.py"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags["fraud_score"]


def test_fraud_score_waits_scores_and_writes_in_order(dag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    order = ["wait_for_extract", "champion", "score", "write_scores"]
    for upstream, downstream in zip(order, order[1:]):
        assert dag.get_task(upstream).downstream_task_ids == {downstream}
    assert isinstance(dag.get_task("score"), SparkSubmitOperator)
    assert "--model-version" in dag.get_task("score").application_args
    sensor = dag.get_task("wait_for_extract")
    assert sensor.mode == "reschedule"  # a waiting sensor holds no worker slot
    assert dag.catchup is False and dag.max_active_runs == 1
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # daily intervals
    assert {"scoring", "fraud"} <= set(dag.tags)
    assert dag.default_args["retries"] >= 2


def test_parsing_fraud_score_does_not_import_heavy_libraries(dag):
    code = (
        f"import runpy, sys; sys.path[:0] = [{str(REPO / 'dags')!r}, {str(REPO / 'plugins')!r}]; "
        "runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('pyspark', 'mlflow', 'pandas', 'onnxruntime', 'sklearn')"
        " if m in sys.modules]; print('HEAVY:' + ','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "dags" / "pipelines" / "fraud.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    heavy = [line for line in out.stdout.splitlines() if line.startswith("HEAVY:")]
    assert heavy == ["HEAVY:"], out.stdout
