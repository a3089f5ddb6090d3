"""What every spark-submit task of mlgate's DAGs shares (no Airflow, no Spark import:
the DAG files import this at parse time)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlgate.paths import REPO_ROOT

JOBS_DIR = Path(__file__).resolve().parent  # the spark-submit entry points live here
LOG4J_CONFIG = REPO_ROOT / "include" / "spark" / "log4j2.properties"
DS = "{{ data_interval_start | ds }}"  # the run's day: the start of its data interval


def spark_conf() -> dict[str, str]:
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": os.environ.get("MLGATE_SHUFFLE_PARTITIONS", "8"),
        # Spark's INFO chatter would drown the job's own messages in the task log.
        "spark.driver.extraJavaOptions": f"-Dlog4j.configurationFile={LOG4J_CONFIG}",
    }


def spark_env() -> dict[str, str]:
    """The Spark driver and its Python workers use the interpreter Airflow runs in."""
    return {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
