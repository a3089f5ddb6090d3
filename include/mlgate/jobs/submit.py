"""What every spark-submit task of mlgate's DAGs shares (no Airflow, no Spark import:
the DAG files import this at parse time)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlgate.paths import REPO_ROOT

JOBS_DIR = Path(__file__).resolve().parent  # the spark-submit entry points live here
LOG4J_CONFIG = REPO_ROOT / "include" / "spark" / "log4j2.properties"
# The run's day (mlgate.runs.run_ds: the start of its data interval, or the day a retrain
# request names); every DAG with a Spark job has the macros of TEMPLATE_MACROS.
# (an asset-triggered run has no data_interval_start at all in its template context)
DS = (
    "{{ run_ds(data_interval_start if data_interval_start is defined else none, "
    "triggering_asset_events) }}"
)
TRIGGERED_BY = (
    "{{ run_trigger(dag_run.run_type.value, dag_run.triggering_user_name, "
    "triggering_asset_events) }}"
)


def template_macros() -> dict:
    """The macros DS and TRIGGERED_BY call (a DAG's user_defined_macros)."""
    from mlgate.runs import run_ds, run_trigger

    return {"run_ds": run_ds, "run_trigger": run_trigger}


# Settings that follow the data's size (docs/deployment.md, "Sizing"), read when the DAG
# files are parsed: shuffle partitions of every job, and the driver's memory.
SHUFFLE_PARTITIONS_ENV, SHUFFLE_PARTITIONS = "MLGATE_SHUFFLE_PARTITIONS", "8"
DRIVER_MEMORY_ENV, DRIVER_MEMORY = "MLGATE_DRIVER_MEMORY", "4g"


def spark_conf() -> dict[str, str]:
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": os.environ.get(SHUFFLE_PARTITIONS_ENV, SHUFFLE_PARTITIONS),
        # Spark's INFO chatter would drown the job's own messages in the task log.
        "spark.driver.extraJavaOptions": f"-Dlog4j.configurationFile={LOG4J_CONFIG}",
    }


def driver_memory() -> str:
    """spark-submit's --driver-memory: the driver collects the scored holdout and the
    latest day's scores, so it grows with the holdout's rows, not with the window's."""
    return os.environ.get(DRIVER_MEMORY_ENV, DRIVER_MEMORY)


def spark_env() -> dict[str, str]:
    """The Spark driver and its Python workers use the interpreter Airflow runs in."""
    return {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
