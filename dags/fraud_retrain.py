"""
### fraud_retrain: daily retraining of the fraud model, promoted only on evidence

Each run covers one data interval (a UTC day) and is reproducible from that date alone:

1. **extract**: the day's transactions (plus any missing day of the training window) from
   the source database into the Parquet lake, one partition per day, replaced atomically;
   label and dimension snapshots as of the end of the interval.
2. **check_raw**: the Great Expectations suite `include/gx/raw_transactions.json` on the day.
3. **features**: spark-submit job, per-card windowed aggregates from strictly earlier rows.
4. **train**: spark-submit job, Spark ML pipeline with a seeded search, scored on a
   time-gapped holdout; everything logged to MLflow.
5. **register_and_promote**: registers the model version and moves the `champion` alias
   to it only when it meets the configured quality floor.

Config: `include/config/mlgate.yaml` (or `$MLGATE_CONFIG`). Spark runs wherever the
`spark_default` connection points (`local[*]` in the embedded default).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from mlgate.config import MODEL_FAMILIES

JOBS_DIR = Path(__file__).resolve().parents[1] / "include" / "mlgate" / "jobs"
DS = "{{ data_interval_start | ds }}"
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": os.environ.get("MLGATE_SHUFFLE_PARTITIONS", "8"),
}
# The Spark driver and its Python workers use the interpreter Airflow runs in (same packages).
SPARK_ENV = {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}


@dag(
    dag_id="fraud_retrain",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2), "owner": "mlgate"},
    tags=["mlgate", "training", "fraud"],
    doc_md=__doc__,
    params={
        "model_family": Param(
            None,
            type=["null", "string"],
            enum=[None, *MODEL_FAMILIES],
            description="Model family for this run; empty means training.family from the config.",
        ),
    },
)
def fraud_retrain():
    @task
    def extract(data_interval_start=None, data_interval_end=None) -> dict:
        """Import the run's window from the source DB into the lake; returns a short manifest."""
        from mlgate.config import load_config
        from mlgate.pipeline import extract as run_extract

        as_of = data_interval_end.replace(tzinfo=None)
        return run_extract(load_config(), data_interval_start.date(), as_of)

    @task
    def check_raw(manifest: dict) -> dict:
        """Validate the day's raw extract against its Great Expectations suite."""
        from datetime import date

        from mlgate.config import load_config
        from mlgate.pipeline import check_raw as run_check_raw

        return run_check_raw(load_config(), date.fromisoformat(manifest["ds"]))

    features = SparkSubmitOperator(
        task_id="features",
        doc="Spark job: per-card windowed features and matured labels for the run's window.",
        conn_id="spark_default",
        application=str(JOBS_DIR / "features_job.py"),
        application_args=["--ds", DS],
        conf=SPARK_CONF,
        env_vars=SPARK_ENV,
        driver_memory="4g",
        name="mlgate-features",
    )

    train = SparkSubmitOperator(
        task_id="train",
        doc="Spark job: seeded search, time-gapped holdout, everything logged to MLflow.",
        conn_id="spark_default",
        application=str(JOBS_DIR / "train_job.py"),
        application_args=[
            "--ds", DS,
            "--family", "{{ params.model_family or '' }}",
            "--dag-id", "{{ dag.dag_id }}",
            "--dag-run-id", "{{ run_id }}",
            "--triggered-by", "{{ dag_run.run_type.value }}:{{ dag_run.triggering_user_name or '-' }}",
        ],
        conf=SPARK_CONF,
        env_vars=SPARK_ENV,
        driver_memory="4g",
        name="mlgate-train",
    )

    @task
    def register_and_promote(data_interval_start=None, run_id=None) -> dict:
        """Register the candidate; move `champion` to it if it meets the quality floor."""
        from mlgate.config import load_config
        from mlgate.pipeline import register_and_promote as run_register

        return run_register(load_config(), data_interval_start.date(), promoted_by=run_id)

    manifest = extract()
    check_raw(manifest) >> features >> train >> register_and_promote()


fraud_retrain()
