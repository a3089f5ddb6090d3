"""mlgate.local.services without starting Airflow: the environment it gives the services, the
password file, port checks, and that `stop` ends every process it started (and only those)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgate.local import embedded, mlflow_server, processes, services, spark_cluster
from mlgate.local.processes import ServicesError
from mlgate.local.services import Ports, Services

MLGATE = str(Path(sys.executable).parent / "mlgate")


@pytest.fixture
def ports():
    return Ports(airflow=18180, mlflow=15100, smtp=18125, spark_master=17177, spark_master_ui=18190)


def test_services_env_is_loopback_with_authentication(tmp_path, ports):
    env = services.services_env(tmp_path, ports, spark_cluster=False, tag="t1", base={})
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:18180"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18180/execution/"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(
        tmp_path / "airflow" / "simple_auth_manager_passwords.json.generated"
    )
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    assert json.loads(env["AIRFLOW_CONN_SMTP_DEFAULT"])["port"] == 18125
    assert json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])["host"] == "local[*]"
    assert "SPARK_CONF_DIR" not in env
    assert env[processes.TAG_ENV] == "t1"
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")  # embedded_env's layout
    # MLflow's login for every client the services start (tasks, spark-submit, CLI)
    assert env["MLFLOW_TRACKING_USERNAME"] == "admin"
    secret = tmp_path / "secrets" / mlflow_server.PASSWORD_SECRET
    assert env["MLFLOW_TRACKING_PASSWORD"] == secret.read_text().strip()
    chosen = {mlflow_server.MLFLOW_PASSWORD_ENV: "an operator's own password"}
    env = services.services_env(tmp_path, ports, spark_cluster=False, tag="t1", base=chosen)
    assert env["MLFLOW_TRACKING_PASSWORD"] == "an operator's own password"


def test_spark_cluster_points_spark_default_at_the_master(tmp_path, ports):
    env = services.services_env(tmp_path, ports, spark_cluster=True, tag="t2", base={})
    conn = json.loads(env["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert (conn["host"], conn["port"]) == ("spark://127.0.0.1", 17177)
    assert conn["extra"]["deploy-mode"] == "client"
    assert env["SPARK_CONF_DIR"] == str(tmp_path / "spark" / "conf")
    defaults = services.write_spark_defaults(tmp_path).read_text()
    settings = dict(
        line.split(None, 1) for line in defaults.splitlines() if line and not line.startswith("#")
    )
    assert settings["spark.executor.memory"] == "1g"
    assert settings["spark.cores.max"] == "2"  # one core on each of the two workers
    assert settings["spark.master.rest.enabled"] == "false"
    # Master, workers and apps share one secret: a connection without it is refused.
    assert settings["spark.authenticate"] == "true"
    secret = (tmp_path / "secrets" / spark_cluster.SPARK_SECRET).read_text().strip()
    assert settings["spark.authenticate.secret"] == secret
    assert settings["spark.ui.killEnabled"] == "false"


def test_run_day_sends_spark_jobs_to_the_master_named_in_mlgate_spark_master(tmp_path):
    """`make bench-scale SPARK=cluster` points embedded run-day at its own standalone master."""
    base = {"JAVA_HOME": "/jdk", embedded.SPARK_MASTER_ENV: "spark://127.0.0.1:17077"}
    conn = json.loads(embedded.embedded_env(tmp_path, base=base)["AIRFLOW_CONN_SPARK_DEFAULT"])
    assert (conn["host"], conn["port"]) == ("spark://127.0.0.1", 17077)
    assert conn["extra"]["deploy-mode"] == "client"
    local = embedded.embedded_env(tmp_path, base={"JAVA_HOME": "/jdk"})
    assert json.loads(local["AIRFLOW_CONN_SPARK_DEFAULT"])["host"] == "local[*]"
    with pytest.raises(ValueError, match="spark://HOST:PORT"):
        embedded.spark_connection("spark://no-port")


def test_state_folder_and_every_secret_are_readable_by_their_owner_only(tmp_path, ports):
    """What `start` writes before any service runs: a state folder others cannot enter,
    0700 folders and 0600 files for every password, key and secret-holding config."""
    previous = os.umask(0o022)  # a usual umask: without care, files would be 0644
    try:
        state = tmp_path / "state"
        state.mkdir(mode=0o755)
        env = services.services_env(state, ports, spark_cluster=True, tag="m", base={})
        services.prepare_state(state, env)
        spark_defaults = spark_cluster.write_spark_defaults(state, env)
        mlflow_server.server_env(state, env)
    finally:
        os.umask(previous)

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    for folder in (state, state / "secrets", state / "airflow", state / "mlflow"):
        assert mode(folder) == 0o700, folder
    assert mode(spark_defaults.parent) == 0o700
    secrets = sorted((state / "secrets").iterdir())
    assert {p.name for p in secrets} >= {"mlflow-admin-password", "spark-auth-secret"}
    private_files = [
        *secrets,
        services.password_file(state),
        spark_defaults,
        mlflow_server.auth_config_path(state),
    ]
    for path in private_files:
        assert mode(path) == 0o600, path


def test_spark_class_comes_from_the_pyspark_package():
    launcher = spark_cluster.spark_class()
    assert launcher.name == "spark-class" and os.access(launcher, os.X_OK)
    assert "pyspark" in launcher.parts


def test_password_file_is_private_and_takes_a_chosen_password(tmp_path):
    path = services.ensure_password_file(tmp_path, env={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == ""  # Airflow generates the password on first start
    services.ensure_password_file(tmp_path, env={services.PASSWORD_ENV: "my own secret"})
    assert json.loads(path.read_text()) == {"admin": "my own secret"}
    assert services.read_password(tmp_path) == "my own secret"
    with pytest.raises(ServicesError, match="at least 8"):
        services.ensure_password_file(tmp_path, env={services.PASSWORD_ENV: "short"})


def test_read_password_says_where_it_looked(tmp_path):
    with pytest.raises(ServicesError, match="simple_auth_manager_passwords"):
        services.read_password(tmp_path)


def test_busy_port_is_named(ports):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        ports.mlflow = sock.getsockname()[1]
        with pytest.raises(ServicesError, match=rf"MLflow 127.0.0.1:{ports.mlflow}"):
            services._check_ports_free(ports, spark_cluster=False)


def test_same_port_twice_is_refused(ports):
    ports.mlflow = ports.airflow
    with pytest.raises(ServicesError, match="same port"):
        services._check_ports_free(ports, spark_cluster=False)


def test_status_and_stop_with_nothing_running(tmp_path):
    assert services.status(tmp_path) == {"running": False, "services": {}}
    messages = []
    assert services.stop(tmp_path, echo=messages.append) == {"stopped": [], "survivors": []}
    assert "nothing was running" in messages[0]
    result = subprocess.run(
        [MLGATE, "services", "status"],
        env={**os.environ, "MLGATE_STATE": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 3 and "no services recorded" in result.stdout


def test_stop_ends_the_process_and_what_it_started_only(tmp_path):
    """A recorded service whose child left its process group is still stopped (by tag);
    an unrelated process is left alone."""
    tag = "unit-test-tag"
    env = {**os.environ, processes.TAG_ENV: tag}
    services.services_dir(tmp_path).mkdir(parents=True)
    child_pid_file = tmp_path / "child.pid"
    code = (
        "import subprocess, sys, time, pathlib;"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
        " start_new_session=True);"
        f"pathlib.Path({str(child_pid_file)!r}).write_text(str(p.pid));"
        "time.sleep(120)"
    )
    pid = services._launch("airflow-scheduler", [sys.executable, "-c", code], env, tmp_path)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        deadline = time.monotonic() + 20
        while not child_pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        child = int(child_pid_file.read_text())
        assert set(services.tagged_pids(tag)) >= {pid, child}
        record = Services(state=str(tmp_path), ports=Ports(), spark_cluster=False, tag=tag)
        record.pids["airflow-scheduler"] = pid
        services._save_record(record)

        report = services.stop(tmp_path, echo=lambda *_: None)
        assert report["stopped"] == ["airflow-scheduler"] and not report["survivors"]
        assert not services.pid_alive(pid) and not services.pid_alive(child)
        assert services.tagged_pids(tag) == []
        assert bystander.poll() is None  # not ours: untouched
        assert not services.record_path(tmp_path).exists()
        assert (services.logs_dir(tmp_path) / "airflow-scheduler.log").exists()
    finally:
        bystander.kill()
        bystander.wait()
        for leftover in services.tagged_pids(tag):
            os.kill(leftover, 9)


def test_describe_names_urls_and_where_the_password_is(tmp_path, ports):
    record = Services(state=str(tmp_path), ports=ports, spark_cluster=True, tag="x")
    from mlgate.cli.services import describe

    text = describe(record)
    assert "http://127.0.0.1:18180" in text and "http://127.0.0.1:15100" in text
    assert "simple_auth_manager_passwords.json.generated" in text
    assert "secrets/mlflow-admin-password" in text
    assert "spark://127.0.0.1:17177" in text
    assert "make stop" in text


def test_stop_recognises_a_renamed_process_by_its_start_time(tmp_path):
    """Airflow renames its processes (setproctitle), which blanks /proc/<pid>/environ: the
    recorded start time still identifies them; a recycled pid would not match it."""
    services.services_dir(tmp_path).mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != processes.TAG_ENV}  # no tag to find
    pid = services._launch(
        "airflow-api-server", [sys.executable, "-c", "import time; time.sleep(120)"], env, tmp_path
    )
    try:
        ticks = processes.process_start_ticks(pid)
        assert ticks and not processes.is_ours(pid, "some-tag")
        assert not processes.is_ours(pid, "some-tag", ticks + 1)  # another process, same pid
        record = Services(state=str(tmp_path), ports=Ports(), spark_cluster=False, tag="some-tag")
        record.pids["airflow-api-server"] = pid
        record.start_ticks["airflow-api-server"] = ticks
        services._save_record(record)
        assert services.status(tmp_path)["services"]["airflow-api-server"]["alive"] is True
        report = services.stop(tmp_path, echo=lambda *_: None)
        assert report["stopped"] == ["airflow-api-server"]
        assert not services.pid_alive(pid)
    finally:
        if services.pid_alive(pid):
            os.kill(pid, 9)
