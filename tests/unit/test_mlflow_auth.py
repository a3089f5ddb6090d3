"""MLflow behind its basic-auth app, as `mlgate services` starts it: an anonymous caller on
the same machine can neither create a model nor move an alias; the generated login can; a
rotated password replaces the old one.

Starts one real `mlflow server` on a free loopback port: about 20 s on an idle 2-core
machine, most of it MLflow creating its two databases.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import stat
import time
import urllib.error
import urllib.request

import pytest

from mlgate.local import mlflow_server, services
from mlgate.local.services import HOST, Ports

pytestmark = pytest.mark.timeout(180)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def call(url: str, path: str, payload: dict | None = None, login: tuple[str, str] | None = None):
    """(status, JSON body) of a POST (with payload) or GET to the MLflow REST API."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(f"{url}/api/2.0/mlflow/{path}", data=data)
    request.add_header("Content-Type", "application/json")
    if login:
        token = base64.b64encode(f"{login[0]}:{login[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def wait_for_health(url: str, pid: int, log, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if not services.pid_alive(pid):
            break
        time.sleep(0.5)
    pytest.fail(f"MLflow did not answer on {url}/health:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One MLflow server, launched with the argv and environment `mlgate services` uses."""
    state = tmp_path_factory.mktemp("mlflow-auth") / "state"
    ports = Ports(mlflow=free_port())
    hidden = (mlflow_server.MLFLOW_PASSWORD_ENV, "MLFLOW_TRACKING_USERNAME")
    base = {k: v for k, v in os.environ.items() if k not in hidden}
    env = services.services_env(state, ports, spark_cluster=False, tag="mlflow-auth", base=base)
    services.services_dir(state).mkdir(parents=True, exist_ok=True)
    pid = services._launch(
        "mlflow",
        mlflow_server.server_argv(state, HOST, ports.mlflow),
        mlflow_server.server_env(state, env),
        state,
    )
    url = f"http://{HOST}:{ports.mlflow}"
    try:
        wait_for_health(url, pid, services.logs_dir(state) / "mlflow.log")
        yield state, url, env
    finally:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while services.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if services.pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)


def test_anonymous_calls_are_refused_and_the_generated_login_works(server):
    state, url, env = server
    # Every client the services start carries the login, read from the 0600 secret.
    login = (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"])
    secret = state / "secrets" / mlflow_server.PASSWORD_SECRET
    assert secret.read_text().strip() == login[1]
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600

    status, _ = call(url, "registered-models/create", {"name": "fraud"})
    assert status == 401
    status, body = call(url, "registered-models/create", {"name": "fraud"}, login)
    assert status == 200, body
    source = {"name": "fraud", "source": "s3://mlgate-test/model"}  # a path is not checked
    status, body = call(url, "model-versions/create", source, login)
    assert status == 200, body
    version = body["model_version"]["version"]
    alias = {"name": "fraud", "alias": "champion", "version": version}

    assert call(url, "registered-models/alias", alias)[0] == 401
    assert call(url, "registered-models/alias", alias, ("admin", "not-the-password"))[0] == 401
    assert call(url, "registered-models/get?name=fraud")[0] == 401  # nothing to read either
    assert call(url, "users/create", {"username": "eve", "password": "x" * 20})[0] == 401
    status, body = call(url, "registered-models/alias", alias, login)
    assert status == 200, body
    status, body = call(url, "registered-models/alias?name=fraud&alias=champion", login=login)
    assert status == 200 and body["model_version"]["version"] == version, body


def test_a_rotated_password_replaces_the_old_one(server, monkeypatch):
    """MLflow itself uses the configured password only to create the admin; mlgate brings
    the stored one up to date on every start, so deleting the secret (or setting
    $MLGATE_MLFLOW_PASSWORD) and restarting rotates it. The running server checks the
    database on every call, so the sync done by a start shows here at once."""
    state, url, env = server
    old = env["MLFLOW_TRACKING_PASSWORD"]
    (state / "secrets" / mlflow_server.PASSWORD_SECRET).unlink()  # the rotation
    restarted = mlflow_server.server_env(state, {})
    new = restarted["MLFLOW_AUTH_ADMIN_PASSWORD"]
    assert new != old
    for name in ("MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_ADMIN_USERNAME"):
        monkeypatch.setenv(name, restarted[name])
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", new)
    assert mlflow_server.sync_admin_password() == "rotated"
    assert mlflow_server.sync_admin_password() == "unchanged"

    assert call(url, "registered-models/search", login=("admin", old))[0] == 401
    assert call(url, "registered-models/search", login=("admin", new))[0] == 200
    config = mlflow_server.auth_config_path(state)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert new not in config.read_text() and old not in config.read_text()
    assert "default_permission = NO_PERMISSIONS" in config.read_text()


def test_the_cli_logs_in_only_to_the_services_own_mlflow(tmp_path, monkeypatch):
    """A command pointed at the running services' MLflow gets their login; a command pointed
    at any other server does not (the password must never leave for another host)."""
    monkeypatch.delenv(mlflow_server.MLFLOW_PASSWORD_ENV, raising=False)
    state = tmp_path / "state"
    record = services.Services(
        state=str(state), ports=Ports(mlflow=15123), spark_cluster=False, tag="t"
    )
    services._save_record(record)
    foreign = {"MLFLOW_TRACKING_URI": "http://mlflow.example.org:15123"}
    assert not services.log_in_to_local_mlflow(foreign, state)
    assert "MLFLOW_TRACKING_PASSWORD" not in foreign
    other_port = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    assert not services.log_in_to_local_mlflow(other_port, state)
    ours = {"MLFLOW_TRACKING_URI": "http://localhost:15123"}
    assert services.log_in_to_local_mlflow(ours, state)
    assert ours["MLFLOW_TRACKING_USERNAME"] == "admin"
    secret = (state / "secrets" / mlflow_server.PASSWORD_SECRET).read_text().strip()
    assert ours["MLFLOW_TRACKING_PASSWORD"] == secret
