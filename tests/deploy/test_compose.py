"""docker-compose.yaml and Dockerfile: the compose file validates with the real `docker
compose` (or Debian's docker-compose) given an .env, holds the whole stack with health
checks and start order, and keeps every secret in .env.

This machine has the docker client but no engine, so nothing is built or started here;
`config` needs no engine. Without a compose tool the test fails (CI installs one: .ci/run).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
SERVICES = {
    "postgres",
    "redis",
    "mailpit",
    "mlflow",
    "spark-master",
    "spark-worker-1",
    "spark-worker-2",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
}
SECRET_KEYS = (
    "POSTGRES_PASSWORD",
    "AIRFLOW_ADMIN_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_FLASK_SECRET_KEY",
    "SPARK_AUTH_SECRET",
    "REDIS_PASSWORD",
    "MLGATE_SERVE_TOKEN",
)


def compose_command() -> list[str]:
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True)
    if plugin and plugin.returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    pytest.fail(
        "neither `docker compose` nor `docker-compose` is installed, so docker-compose.yaml "
        "cannot be validated. Install one (Debian: apt-get install --no-install-recommends "
        "docker-compose); .ci/run does this."
    )


def run_config(env_file: Path, *extra: str, profile: str | None = None):
    # A clean environment: only the env file may supply the stack's variables.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(env_file.parent)}
    profiles = ["--profile", profile] if profile else []
    return subprocess.run(
        [*compose_command(), *profiles, "--env-file", str(env_file), "-f", str(COMPOSE_FILE)]
        + ["config", *extra],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )


@pytest.fixture(scope="module")
def secrets_env(tmp_path_factory):
    values = {key: f"test-{key.lower()}-{secrets.token_hex(6)}" for key in SECRET_KEYS}
    values["POSTGRES_USER"] = "mlgate_test"
    path = tmp_path_factory.mktemp("compose") / "test.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path, values


@pytest.fixture(scope="module")
def rendered(secrets_env):
    path, _ = secrets_env
    result = run_config(path)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_config_validates_with_the_whole_stack(rendered):
    # docker compose v2 leaves out a service of a profile not asked for; Debian's v1 lists it
    assert set(rendered["services"]) - {"scoring"} == SERVICES


def test_missing_secrets_stop_compose_with_a_clear_message(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = run_config(empty)
    assert result.returncode != 0
    assert re.search(r"set \w+ in \.env", result.stderr), result.stderr


def test_secrets_come_only_from_the_env_file(secrets_env, rendered):
    _, values = secrets_env
    committed = COMPOSE_FILE.read_text() + (REPO / "Dockerfile").read_text()
    example = (REPO / ".env.example").read_text()
    for key in SECRET_KEYS:
        assert re.search(rf"^{key}=$", example, re.M), f".env.example must leave {key} empty"
    # In the committed files a secret is only ever a ${VARIABLE} reference.
    for line in committed.splitlines():
        match = re.match(r"\s*-?\s*(\w*(PASSWORD|SECRET|FERNET)\w*)\s*[:=]\s*(\S.*)$", line)
        if match and not match.group(1).endswith("_FILE"):  # a path, not a secret
            assert "${" in match.group(3), f"literal secret in a committed file: {line!r}"
    text = yaml.safe_dump(rendered)
    for key in ("POSTGRES_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET"):
        assert values[key] in text, key  # the value reached the services through .env
    apiserver = rendered["services"]["airflow-apiserver"]["environment"]
    assert apiserver["AIRFLOW__API_AUTH__JWT_SECRET"] == values["AIRFLOW_JWT_SECRET"]
    assert values["POSTGRES_PASSWORD"] in apiserver["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def _depends(service: dict) -> dict[str, str]:
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: "service_started" for name in depends}
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def test_health_checks_and_start_order(rendered):
    services = rendered["services"]
    for name, service in services.items():
        if name != "airflow-init":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("airflow-apiserver", "airflow-dag-processor", "airflow-triggerer"):
        assert _depends(services[name]) == {
            "postgres": "service_healthy",
            "airflow-init": "service_completed_successfully",
        }, name
    scheduler = _depends(services["airflow-scheduler"])
    for needed in ("spark-worker-1", "spark-worker-2", "mlflow", "mailpit", "airflow-apiserver"):
        assert scheduler[needed] == "service_healthy", needed
    assert _depends(services["spark-worker-1"]) == {"spark-master": "service_healthy"}
    assert _depends(services["mlflow"]) == {"postgres": "service_healthy"}


def _published(service: dict) -> list[tuple[str, str]]:
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # compose v2 long syntax
            out.append((port.get("host_ip", ""), str(port.get("published"))))
        else:
            host_ip, published, _ = str(port).rsplit(":", 2)
            out.append((host_ip, published))
    return out


def test_only_loopback_ports_are_published(rendered):
    published = {name: _published(s) for name, s in rendered["services"].items()}
    assert published["airflow-apiserver"] == [("127.0.0.1", "8080")]
    assert published["spark-master"] == [("127.0.0.1", "8090")]
    for name, ports in published.items():
        for host_ip, _ in ports:
            assert host_ip == "127.0.0.1", (name, ports)


def test_spark_cluster_airflow_and_mlflow_share_one_image_and_the_lake(rendered):
    services = rendered["services"]
    image = services["airflow-scheduler"]["image"]
    for name in SERVICES - {"postgres", "mailpit", "redis"}:
        assert services[name]["image"] == image, name
        assert services[name]["build"], name
    for name in ("spark-master", "spark-worker-1", "spark-worker-2"):
        assert services[name]["command"][:1] == ["spark-class"], name
    workers_master = services["spark-worker-1"]["command"][-1]
    conn = services["airflow-scheduler"]["environment"]["AIRFLOW_CONN_SPARK_DEFAULT"]
    assert workers_master == "spark://spark-master:7077" and '"spark://spark-master"' in conn

    def mounts(name):
        return {
            str(v).split(":")[1] if isinstance(v, str) else v["target"]
            for v in services[name].get("volumes", [])
        }

    for name in ("airflow-scheduler", "spark-worker-1", "spark-worker-2", "airflow-init"):
        assert "/opt/mlgate/state" in mounts(name), name


def test_dockerfile_matches_the_lock():
    """The image's Airflow is the lock's, and the lock (with pyspark) is what gets installed."""
    dockerfile = (REPO / "Dockerfile").read_text()
    lock = (REPO / "requirements.txt").read_text()
    base_version = re.search(r"^ARG AIRFLOW_VERSION=(\S+)", dockerfile, re.M).group(1)
    assert f"apache-airflow=={base_version}\n" in lock
    assert re.search(r"^pyspark==4\.", lock, re.M)
    assert "uv pip sync" in dockerfile and "requirements.txt" in dockerfile
    init_sql = (REPO / "deploy" / "postgres" / "init-databases.sh").read_text()
    assert "for db in mlflow source" in init_sql


def test_mlflow_runs_its_basic_auth_app_with_the_password_from_env(secrets_env, rendered):
    """Anonymous calls get 401: the server runs the basic-auth app, its admin's password
    comes from .env (none in a committed file), and the clients log in with it."""
    _, values = secrets_env
    services = rendered["services"]
    mlflow = services["mlflow"]
    command = mlflow["command"]
    assert command[:3] == ["python", "-m", "mlgate.local.mlflow_server"]  # syncs the password
    assert command[command.index("--app-name") + 1] == "basic-auth"
    env = mlflow["environment"]
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"] == values["MLFLOW_ADMIN_PASSWORD"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == values["MLFLOW_FLASK_SECRET_KEY"]
    config_path = env["MLFLOW_AUTH_CONFIG_PATH"]
    assert config_path.startswith("/opt/mlgate/")
    ini = (REPO / config_path.removeprefix("/opt/mlgate/")).read_text()
    assert re.search(r"^default_permission = NO_PERMISSIONS$", ini, re.M)
    assert not re.search(r"^\s*admin_password", ini, re.M)
    auth_db = re.search(r"^database_uri = sqlite:///(/\S+)$", ini, re.M).group(1)
    mounted = {str(v).split(":")[1] for v in mlflow["volumes"] if isinstance(v, str)} | {
        v["target"] for v in mlflow["volumes"] if isinstance(v, dict)
    }
    assert str(Path(auth_db).parent) in mounted  # the users survive a new container
    for name in ("airflow-scheduler", "airflow-apiserver", "airflow-init"):
        client = services[name]["environment"]
        assert client["MLFLOW_TRACKING_USERNAME"] == "admin", name
        assert client["MLFLOW_TRACKING_PASSWORD"] == values["MLFLOW_ADMIN_PASSWORD"], name


def test_spark_master_workers_and_drivers_share_the_authentication_secret(secrets_env, rendered):
    _, values = secrets_env
    services = rendered["services"]
    conf_dir = services["airflow-scheduler"]["environment"]["SPARK_CONF_DIR"]
    for name in ("spark-master", "spark-worker-1", "spark-worker-2", "airflow-init"):
        assert services[name]["environment"]["SPARK_CONF_DIR"] == conf_dir, name
    assert conf_dir.startswith("/opt/mlgate/state/")  # on the shared volume
    assert _depends(services["spark-master"])["airflow-init"] == "service_completed_successfully"
    assert (
        services["airflow-init"]["environment"]["SPARK_AUTH_SECRET"] == values["SPARK_AUTH_SECRET"]
    )
    init = (REPO / "deploy" / "airflow" / "init.sh").read_text()
    assert "spark.authenticate             true" in init
    assert "spark.authenticate.secret      $SPARK_AUTH_SECRET" in init
    # Written while the umask is 077: the file holding the secret is 0600.
    assert init.index("umask 077") < init.index("spark.authenticate") < init.index("umask 022")
    for name in services:
        if name != "airflow-init":
            assert "SPARK_AUTH_SECRET" not in (services[name].get("environment") or {}), name


def test_redis_needs_its_password_and_keeps_every_write(secrets_env, rendered):
    _, values = secrets_env
    redis = rendered["services"]["redis"]
    assert redis["environment"]["REDIS_PASSWORD"] == values["REDIS_PASSWORD"]
    command = " ".join(redis["entrypoint"])
    assert re.search(r'--requirepass "\$\$?REDIS_PASSWORD"', command), command  # v1 keeps $$
    assert "--appendonly yes --appendfsync always" in command
    assert not _published(redis)  # inside the network only


def test_the_scoring_service_reads_the_redis_state_with_the_password_from_env(secrets_env):
    path, values = secrets_env
    result = run_config(path, profile="online")
    assert result.returncode == 0, result.stderr
    scoring = yaml.safe_load(result.stdout)["services"]["scoring"]
    env = scoring["environment"]
    assert env["MLGATE_ONLINE_STATE"] == f"redis://:{values['REDIS_PASSWORD']}@redis:6379/0"
    assert env["MLGATE_SERVE_TOKEN"] == values["MLGATE_SERVE_TOKEN"]
    assert scoring["command"][:2] == ["mlgate", "serve"] and "--online" in scoring["command"]
    assert _published(scoring) == [("127.0.0.1", "8000")]
    assert _depends(scoring) == {"redis": "service_healthy", "mlflow": "service_healthy"}
