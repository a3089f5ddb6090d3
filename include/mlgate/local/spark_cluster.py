"""The local Spark standalone cluster of `mlgate services start --spark-cluster`.

A master and two small workers started from the Spark distribution that the pyspark
package ships (``spark-class``), sized to fit next to Airflow on a 2-core laptop; the
DAG's spark-submit tasks reach it through ``spark_default`` and ``SPARK_CONF_DIR``.
"""

from __future__ import annotations

from pathlib import Path

from mlgate.local.airflow_api import http_json
from mlgate.local.processes import ServicesError

SPARK_WORKERS = 2
# A small cluster that fits next to Airflow on a 2-core laptop: one core per worker, and
# executors small enough that both workers can host one.
SPARK_WORKER_CORES = 1
SPARK_WORKER_MEMORY = "1536m"
SPARK_EXECUTOR_MEMORY = "1g"
SPARK_DAEMON_MEMORY = "512m"


def spark_conf_dir(state: Path) -> Path:
    return Path(state) / "spark" / "conf"


def spark_class() -> Path:
    """`spark-class` of the Spark distribution that the pyspark package ships."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.origin:
        raise ServicesError("pyspark is not installed in this environment (make install)")
    path = Path(spec.origin).parent / "bin" / "spark-class"
    if not path.exists():
        raise ServicesError(f"{path} is missing: the pyspark package has no Spark launcher")
    return path


# --- environment -----------------------------------------------------------------------


def write_spark_defaults(state: Path) -> Path:
    """spark-defaults.conf for jobs submitted to the local standalone cluster."""
    conf_dir = spark_conf_dir(state)
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / "spark-defaults.conf"
    settings = {
        "spark.executor.memory": SPARK_EXECUTOR_MEMORY,
        "spark.executor.cores": str(SPARK_WORKER_CORES),
        "spark.cores.max": str(SPARK_WORKERS * SPARK_WORKER_CORES),
        # The master reads this file too: no REST submission server on a fixed port.
        "spark.master.rest.enabled": "false",
    }
    path.write_text(
        "# Written by `mlgate services start --spark-cluster`: the local standalone cluster.\n"
        + "".join(f"{key} {value}\n" for key, value in settings.items())
    )
    return path


def spark_master_state(ui_url: str) -> dict | None:
    status, payload = http_json(f"{ui_url}/json", timeout=5)
    return payload if status == 200 and isinstance(payload, dict) else None


# --- start / stop / status ---------------------------------------------------------------
