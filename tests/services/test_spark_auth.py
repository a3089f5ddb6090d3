"""The local Spark standalone cluster demands its shared secret (spark.authenticate).

A master and one worker are started the way `mlgate services start --spark-cluster` starts
them (same argv, environment and spark-defaults.conf); an application submitted with the
services' configuration runs on the cluster, one submitted without the secret is refused
by the master. No Airflow here; about a minute on a 2-core machine.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgate.local import services
from mlgate.local.services import HOST, Ports
from mlgate.local.spark_cluster import (
    master_argv,
    spark_class,
    spark_master_state,
    worker_argv,
    write_spark_defaults,
)

pytestmark = [pytest.mark.services, pytest.mark.timeout(600)]

APP = """
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.appName(sys.argv[1]).getOrCreate()
print("COUNT", spark.range(1000).selectExpr("sum(id) AS s").first()["s"], flush=True)
spark.stop()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait(what: str, ready, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = ready()
        except OSError:  # not listening yet
            value = None
        if value:
            return value
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


def stop_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while services.pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if services.pid_alive(pid):
        os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    state = tmp_path_factory.mktemp("spark-auth") / "state"
    ports = Ports(spark_master=free_port(), spark_master_ui=free_port())
    ports.spark_worker_ui = free_port()
    base = {k: v for k, v in os.environ.items() if k != "MLGATE_SPARK_SECRET"}
    env = services.services_env(state, ports, spark_cluster=True, tag="spark-auth", base=base)
    env["PYSPARK_PYTHON"] = sys.executable
    services.services_dir(state).mkdir(parents=True, exist_ok=True)
    defaults = write_spark_defaults(state, env)
    master_url = f"spark://{HOST}:{ports.spark_master}"
    ui_url = f"http://{HOST}:{ports.spark_master_ui}"
    pids = [
        services._launch(
            "spark-master", master_argv(HOST, ports.spark_master, ports.spark_master_ui), env, state
        )
    ]
    try:
        wait("the master's status page", lambda: spark_master_state(ui_url))
        work_dir = state / "spark" / "work" / "worker-1"
        work_dir.mkdir(parents=True)
        pids.append(
            services._launch(
                "spark-worker-1",
                worker_argv(HOST, ports.spark_worker_ui, work_dir, master_url),
                env,
                state,
            )
        )
        wait(
            "a registered worker (it holds the secret too)",
            lambda: (spark_master_state(ui_url) or {}).get("aliveworkers", 0) >= 1,
        )
        yield {"state": state, "env": env, "master": master_url, "ui": ui_url, "conf": defaults}
    finally:
        for pid in reversed(pids):
            stop_group(pid)


def submit(cluster, name: str, env: dict, tmp_path: Path) -> subprocess.Popen:
    app = tmp_path / "app.py"
    app.write_text(APP)
    spark_submit = spark_class().parent / "spark-submit"
    return subprocess.Popen(
        [str(spark_submit), "--master", cluster["master"], str(app), name],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def app_names(cluster) -> set[str]:
    master = spark_master_state(cluster["ui"]) or {}
    return {app["name"] for app in master.get("activeapps", []) + master.get("completedapps", [])}


def test_the_secret_is_in_an_owner_only_file(cluster):
    conf = cluster["conf"]
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600
    assert stat.S_IMODE(conf.parent.stat().st_mode) == 0o700
    settings = dict(
        line.split(None, 1) for line in conf.read_text().splitlines() if not line.startswith("#")
    )
    assert settings["spark.authenticate"] == "true"
    secret = (cluster["state"] / "secrets" / "spark-auth-secret").read_text().strip()
    assert settings["spark.authenticate.secret"] == secret


def test_an_application_with_the_secret_runs_on_the_cluster(cluster, tmp_path):
    process = submit(cluster, "with-secret", cluster["env"], tmp_path)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-4000:]
    assert "COUNT 499500" in output
    assert "with-secret" in app_names(cluster)


def test_an_application_without_the_secret_is_refused(cluster, tmp_path):
    """Same master, same app, but a configuration without the secret, as anyone else on
    the machine would have: the master drops the connection, the app never registers."""
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    text = cluster["conf"].read_text()
    (conf_dir / "spark-defaults.conf").write_text(
        "".join(line + "\n" for line in text.splitlines() if "authenticate" not in line)
    )
    env = {**cluster["env"], "SPARK_CONF_DIR": str(conf_dir)}
    process = submit(cluster, "without-secret", env, tmp_path)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Failed to connect to master" in line:
                break
        output = "".join(lines)
        assert "Failed to connect to master" in output, output[-4000:]
        assert "COUNT" not in output
        assert "without-secret" not in app_names(cluster)
    finally:
        stop_group(process.pid)
        process.wait(timeout=30)
