"""The local Spark standalone cluster of `mlgate services start --spark-cluster`.

A master and two small workers started from the Spark distribution that the pyspark
package ships (``spark-class``), sized to fit next to Airflow on a 2-core laptop; the
DAG's spark-submit tasks reach it through ``spark_default`` and ``SPARK_CONF_DIR``.
"""

from __future__ import annotations

from pathlib import Path

from mlgate.credentials import ensure_secret, owner_only_dir, write_owner_only
from mlgate.local.airflow_api import http_json
from mlgate.local.processes import ServicesError

SPARK_WORKERS = 2
# A small cluster that fits next to Airflow on a 2-core laptop: one core per worker, and
# executors small enough that both workers can host one.
SPARK_WORKER_CORES = 1
SPARK_WORKER_MEMORY = "1536m"
SPARK_EXECUTOR_MEMORY = "1g"
SPARK_DAEMON_MEMORY = "512m"
# The shared secret of master, workers and every application (spark.authenticate).
SPARK_SECRET = "spark-auth-secret"
SPARK_SECRET_ENV = "MLGATE_SPARK_SECRET"


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


def write_spark_defaults(state: Path, environ=None) -> Path:
    """spark-defaults.conf of the local standalone cluster: read by the master, the workers
    and spark-submit alike (SPARK_CONF_DIR), so all hold the same shared secret. It holds a
    secret, so it is written 0600 in a 0700 folder."""
    path = owner_only_dir(spark_conf_dir(state)) / "spark-defaults.conf"
    secret = ensure_secret(SPARK_SECRET, env_var=SPARK_SECRET_ENV, environ=environ, state=state)
    settings = {
        # Every RPC connection (app to master, worker to master, executors) must prove it
        # knows the secret; the worker hands it to its executors in their environment.
        "spark.authenticate": "true",
        "spark.authenticate.secret": secret,
        # The master's and workers' web UIs stay readable (status only): no kill buttons.
        "spark.ui.killEnabled": "false",
        "spark.executor.memory": SPARK_EXECUTOR_MEMORY,
        "spark.executor.cores": str(SPARK_WORKER_CORES),
        "spark.cores.max": str(SPARK_WORKERS * SPARK_WORKER_CORES),
        # The master reads this file too: no REST submission server on a fixed port.
        "spark.master.rest.enabled": "false",
    }
    return write_owner_only(
        path,
        "# Written by `mlgate services start --spark-cluster`: the local standalone cluster.\n"
        + "".join(f"{key} {value}\n" for key, value in settings.items()),
    )


def master_argv(host: str, port: int, ui_port: int) -> list[str]:
    """The standalone master on `host:port`, its status page on `ui_port`."""
    return [
        str(spark_class()),
        "org.apache.spark.deploy.master.Master",
        "--host",
        host,
        "--port",
        str(port),
        "--webui-port",
        str(ui_port),
    ]


def worker_argv(host: str, ui_port: int, work_dir: Path, master_url: str) -> list[str]:
    """One small worker (SPARK_WORKER_CORES, SPARK_WORKER_MEMORY) of the master `master_url`."""
    return [
        str(spark_class()),
        "org.apache.spark.deploy.worker.Worker",
        "--host",
        host,
        "--cores",
        str(SPARK_WORKER_CORES),
        "--memory",
        SPARK_WORKER_MEMORY,
        "--webui-port",
        str(ui_port),
        "--work-dir",
        str(work_dir),
        master_url,
    ]


def spark_master_state(ui_url: str) -> dict | None:
    status, payload = http_json(f"{ui_url}/json", timeout=5)
    return payload if status == 200 and isinstance(payload, dict) else None


# --- start / stop / status ---------------------------------------------------------------
