"""The DAG's task wrapper: an error no retry can fix fails the task at once (Airflow's
AirflowFailException skips the retries); any other error keeps them. Either way the task
records why it failed for `mlgate run-day`."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from mlgate import runs
from mlgate.config import ConfigError

DAY = datetime(2026, 10, 31, tzinfo=UTC)


@pytest.fixture
def context(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    return {
        "data_interval_start": DAY,
        "run_id": "manual__this",
        "ti": SimpleNamespace(task_id="extract"),
    }


def failing(error):
    def work():
        raise error

    return work


def test_a_permanent_error_fails_the_task_without_retries(context):
    from airflow.sdk.exceptions import AirflowFailException

    from mlgate_pipeline_dags import _fail_as_task

    with pytest.raises(AirflowFailException, match="unknown model family"):
        _fail_as_task("fraud", context, failing(ConfigError("unknown model family 'gbm'")))
    recorded = runs.run_file_of("fraud", "2026-10-31", runs.FAILURE_FILE, "manual__this")
    assert recorded["task"] == "extract" and recorded["permanent"] is True


def test_a_transient_error_is_raised_as_it_is_so_airflow_retries_it(context):
    from airflow.sdk.exceptions import AirflowFailException

    from mlgate_pipeline_dags import _fail_as_task

    with pytest.raises(OSError, match="database is locked") as raised:
        _fail_as_task("fraud", context, failing(OSError("database is locked")))
    assert not isinstance(raised.value, AirflowFailException)
    recorded = runs.run_file_of("fraud", "2026-10-31", runs.FAILURE_FILE, "manual__this")
    assert recorded["error"] == "OSError" and recorded["permanent"] is False


def test_a_task_that_succeeds_returns_its_result(context):
    from mlgate_pipeline_dags import _fail_as_task

    assert _fail_as_task("fraud", context, lambda: {"rows": 3}) == {"rows": 3}


@pytest.mark.spark
def test_a_spark_job_that_records_a_permanent_error_fails_without_retries(
    context, tmp_path, monkeypatch
):
    """The real spark-submit of a job whose input cannot give a model (JobInputError)."""
    import os
    import sys

    monkeypatch.setenv("AIRFLOW_CONN_SPARK_DEFAULT", '{"conn_type": "spark", "host": "local[1]"}')
    bin_dir = os.path.dirname(sys.executable)  # spark-submit of the pyspark package
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")

    from airflow.sdk.exceptions import AirflowFailException

    from mlgate_pipeline_dags import PipelineSparkSubmitOperator

    job = tmp_path / "job.py"
    job.write_text(
        "from mlgate.jobs.common import JobInputError, run_job\n"
        "def main():\n"
        "    raise JobInputError('the training rows hold only one class; are labels arriving?')\n"
        "run_job(main, 'train')\n"
    )
    operator = PipelineSparkSubmitOperator(
        pipeline="fraud",
        task_id="train",
        conn_id="spark_default",
        application=str(job),
        application_args=["--ds", "2026-10-31", "--pipeline", "fraud"]
        + ["--dag-run-id", "manual__this"],
        env_vars={"PYSPARK_PYTHON": sys.executable, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    with pytest.raises(AirflowFailException, match="only one class"):
        operator.execute(context)
