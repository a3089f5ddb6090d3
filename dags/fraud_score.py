"""
### fraud_score: the champion's score of every transaction of the day, written back

Each run covers one data interval (a UTC day). It waits for that day's extract (landed by
`fraud_retrain`'s extract task and checked by its record rules), recomputes the day's
features with the code training uses (`mlgate.ml.features`), scores them with the Spark
model behind the registry alias `champion` (Spark, for volume), and writes the scores
with the model version to `scoring.table` in the source database (or `scoring.target_url`).

| task | what |
|---|---|
| wait_for_extract | sensor: `lake/<events>/ds=<day>/_manifest.json` and the day's quarantine partition exist |
| champion | the version behind `champion` now, pinned for the whole run; skipped when there is none |
| score | spark-submit `score_job.py`: features for the day (lookback days included), champion's scores into `scores/ds=<day>` |
| write_scores | delete the day's rows and insert the new ones in one transaction: a rerun replaces the day |

Idempotent per day; the real-time twin of the same model is `mlgate serve` (ONNX).
Config: `include/config/mlgate.yaml` (`scoring:`), or `$MLGATE_CONFIG`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import CronDataIntervalTimetable, dag, task

from mlgate.config import SCORE_DAG_ID, load_config
from mlgate.jobs.submit import DS, JOBS_DIR, spark_conf, spark_env

CONFIG = load_config()  # a small YAML file: cheap, and a bad config shows as an import error
SPARK_CONF = spark_conf()
SPARK_ENV = spark_env()


@dag(
    dag_id=SCORE_DAG_ID,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2), "owner": "mlgate"},
    tags=["mlgate", "scoring", "fraud"],
    doc_md=__doc__,
)
def fraud_score():
    @task.sensor(poke_interval=300, timeout=12 * 3600, mode="reschedule")
    def wait_for_extract(**context) -> bool:
        """Wait until the day's lake partition has landed and its record check has run."""
        import logging

        from mlgate.stages.score import day_ready

        ready, why = day_ready(load_config(), context["data_interval_start"].date())
        logging.getLogger("mlgate.fraud_score").info(why)
        return ready

    @task
    def champion() -> str:
        """The version behind `champion` now: every later task of the run uses this one."""
        from airflow.sdk.exceptions import AirflowSkipException

        from mlgate.registry import champion_version

        current = champion_version(load_config().model_name)
        if current is None:
            raise AirflowSkipException("no champion yet: nothing to score with")
        return current["version"]

    @task
    def write_scores(**context) -> dict:
        """Replace the day's rows in the scores table (delete + insert, one transaction)."""
        from mlgate.stages.score import write_scores as run_write_scores

        return run_write_scores(load_config(), context["data_interval_start"].date())

    score = SparkSubmitOperator(
        task_id="score",
        doc="Spark job: the day's features (mlgate.ml.features) scored by the pinned champion.",
        conn_id="spark_default",
        application=str(JOBS_DIR / "score_job.py"),
        application_args=[
            "--ds",
            DS,
            "--model-version",
            "{{ ti.xcom_pull(task_ids='champion') }}",
        ],
        conf=SPARK_CONF,
        env_vars=SPARK_ENV,
        driver_memory="4g",
        name="mlgate-score",
    )

    wait_for_extract() >> champion() >> score >> write_scores()


fraud_score()
