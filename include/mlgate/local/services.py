"""The real Airflow services on the embedded state: `mlgate services start|stop|status`.

`make airflow` starts, as background processes on loopback only:

- the Airflow api-server (UI and REST API), scheduler (LocalExecutor), dag-processor and
  triggerer, on the state folder's Airflow home, with authentication on (Airflow's simple
  auth manager: user `admin`, password generated into a file under the state folder, or
  taken from `$MLGATE_AIRFLOW_PASSWORD` when you set one);
- the MLflow UI (an `mlflow server` on the embedded tracking DB);
- the local SMTP sink (`python -m mlgate.local.mailsink`) that keeps alert emails as files;
- with `--spark-cluster`, a Spark standalone master and two workers started from the Spark
  distribution inside pyspark, and `spark_default` pointed at the master, so the DAG's
  spark-submit tasks run on the cluster instead of `local[*]`.

Each process gets a pid file and a log under `state/services/`; `services.json` records
what was started and on which ports. `make stop` stops exactly those processes (and the
processes they started, recognised by a tag in their environment), nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlgate.config import (
    ConfigError,
    load_pipeline_file,
    pipeline_names,
    pipeline_path,
    pipelines_dir,
)
from mlgate.credentials import owner_only_dir, write_owner_only
from mlgate.local.airflow_api import (
    AirflowClient,
    airflow_health,
    all_healthy,
)
from mlgate.local.dagfiles import sync_dag_files
from mlgate.local.embedded import embedded_env, migrate_airflow_db, spark_connection
from mlgate.local.mailsink import start_background, stop_background
from mlgate.local.mlflow_server import (
    PASSWORD_SECRET,
    client_env,
    is_local_server,
    server_argv,
    server_env,
)
from mlgate.local.processes import (
    TAG_ENV,
    ServicesError,
    is_ours,
    pid_alive,
    port_open,
    process_start_ticks,
    tagged_pids,
    terminate,
    wait_until,
)
from mlgate.local.spark_cluster import (
    SPARK_DAEMON_MEMORY,
    SPARK_WORKERS,
    master_argv,
    spark_conf_dir,
    spark_master_state,
    worker_argv,
    write_spark_defaults,
)
from mlgate.paths import REPO_ROOT, mail_dir, state_dir

HOST = "127.0.0.1"
ADMIN_USER = "admin"
PASSWORD_ENV = "MLGATE_AIRFLOW_PASSWORD"
SIMPLE_AUTH_MANAGER = (
    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
)


@dataclass
class Ports:
    """Where each service listens (all on 127.0.0.1)."""

    airflow: int = 8080
    mlflow: int = 5000
    smtp: int = 8025
    spark_master: int = 7077
    spark_master_ui: int = 8090  # not 8080: that is Airflow's
    spark_worker_ui: int = 8091  # the first worker; the second gets the next port


@dataclass
class Services:
    """What `start` started: enough for `stop`, `status` and the tests."""

    state: str
    ports: Ports
    spark_cluster: bool
    tag: str
    pids: dict[str, int] = field(default_factory=dict)
    # Kernel start time of each pid: tells our process from a later one that reused the pid.
    start_ticks: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0

    @property
    def airflow_url(self) -> str:
        return f"http://{HOST}:{self.ports.airflow}"

    @property
    def mlflow_url(self) -> str:
        return f"http://{HOST}:{self.ports.mlflow}"

    @property
    def spark_master_url(self) -> str:
        return f"spark://{HOST}:{self.ports.spark_master}"

    @property
    def spark_master_ui_url(self) -> str:
        return f"http://{HOST}:{self.ports.spark_master_ui}"

    def spark_worker_ui_urls(self) -> list[str]:
        return [f"http://{HOST}:{self.ports.spark_worker_ui + i}" for i in range(SPARK_WORKERS)]

    @property
    def password_file(self) -> Path:
        return password_file(Path(self.state))

    @property
    def mlflow_password_file(self) -> Path:
        """Where the MLflow admin's generated password is (unless $MLGATE_MLFLOW_PASSWORD)."""
        return Path(self.state) / "secrets" / PASSWORD_SECRET

    def to_json(self) -> dict:
        return {**asdict(self), "airflow_url": self.airflow_url, "mlflow_url": self.mlflow_url}

    @classmethod
    def from_json(cls, payload: dict) -> Services:
        return cls(
            state=payload["state"],
            ports=Ports(**payload["ports"]),
            spark_cluster=payload["spark_cluster"],
            tag=payload["tag"],
            pids={k: int(v) for k, v in payload.get("pids", {}).items()},
            start_ticks={k: int(v) for k, v in payload.get("start_ticks", {}).items()},
            started_at=payload.get("started_at", 0.0),
        )


# --- where things are ------------------------------------------------------------------


def services_dir(state: Path) -> Path:
    return Path(state) / "services"


def logs_dir(state: Path) -> Path:
    return services_dir(state) / "logs"


def record_path(state: Path) -> Path:
    return services_dir(state) / "services.json"


def password_file(state: Path) -> Path:
    """Airflow's simple auth manager keeps the generated passwords here (mode 600)."""
    return Path(state) / "airflow" / "simple_auth_manager_passwords.json.generated"


def state_mail_dir(state: Path) -> Path:
    """paths.mail_dir() of the given state folder (which need not be $MLGATE_STATE)."""
    return Path(state) / mail_dir().name


def services_env(
    state: Path, ports: Ports, *, spark_cluster: bool, tag: str, base: dict | None = None
) -> dict[str, str]:
    """`embedded_env` plus what long-running services need: loopback, ports, auth, cluster."""
    base = dict(os.environ if base is None else base)
    base["MLGATE_SMTP_PORT"] = str(ports.smtp)
    env = embedded_env(state, base=base)
    airflow_url = f"http://{HOST}:{ports.airflow}"
    env.update(
        {
            TAG_ENV: tag,
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # Authentication on: users need a password; no all-admins shortcut.
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(password_file(state)),
            # The api-server on loopback; tasks reach its execution API there.
            "AIRFLOW__API__HOST": HOST,
            "AIRFLOW__API__PORT": str(ports.airflow),
            "AIRFLOW__API__BASE_URL": airflow_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{airflow_url}/execution/",
            "AIRFLOW__API__EXPOSE_CONFIG": "False",
            # The MLflow server's login, for every client started here that talks to it.
            **client_env(state, base),
        }
    )
    if spark_cluster:
        env["AIRFLOW_CONN_SPARK_DEFAULT"] = spark_connection(f"spark://{HOST}:{ports.spark_master}")
        # spark-submit reads the executor sizes from here: the DAG stays the same.
        env["SPARK_CONF_DIR"] = str(spark_conf_dir(state))
        env["SPARK_DAEMON_MEMORY"] = SPARK_DAEMON_MEMORY
    return env


def ensure_password_file(state: Path, env: dict | None = None) -> Path:
    """Create the passwords file readable by its owner only.

    With `$MLGATE_AIRFLOW_PASSWORD` set, that is the admin's password; otherwise Airflow
    generates one into the file on first start and keeps it.
    """
    env = os.environ if env is None else env
    path = password_file(state)
    owner_only_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    chosen = env.get(PASSWORD_ENV)
    if chosen:
        if len(chosen) < 8:
            raise ServicesError(f"{PASSWORD_ENV} must have at least 8 characters")
        try:
            passwords = json.loads(path.read_text() or "{}")
        except json.JSONDecodeError:
            passwords = {}
        passwords[ADMIN_USER] = chosen
        write_owner_only(path, json.dumps(passwords) + "\n")
    return path


def prepare_state(state: Path, env: dict) -> None:
    """The state folder owner-only (0700: its databases, logs and secrets are reachable by
    nobody else, whatever the modes inside), its log folder and Airflow's password file."""
    owner_only_dir(state)
    logs_dir(state).mkdir(parents=True, exist_ok=True)
    ensure_password_file(state, env)


def read_password(state: Path) -> str:
    try:
        return json.loads(password_file(state).read_text())[ADMIN_USER]
    except (OSError, ValueError, KeyError):
        raise ServicesError(
            f"no password for {ADMIN_USER!r} in {password_file(state)} "
            "(the api-server writes it on its first start)"
        ) from None


def log_in_to_local_mlflow(environ: dict, state: Path | None = None) -> bool:
    """Give a command pointed at these services' MLflow (MLFLOW_TRACKING_URI) their login.

    Only the recorded server on loopback gets it: the password is never sent elsewhere.
    A login already in the environment is left as it is.
    """
    record = load_record(Path(state) if state else state_dir())
    uri = environ.get("MLFLOW_TRACKING_URI", "")
    if record is None or environ.get("MLFLOW_TRACKING_USERNAME"):
        return False
    if not is_local_server(uri, record.ports.mlflow):
        return False
    environ.update(client_env(Path(record.state), environ))
    return True


# --- processes -------------------------------------------------------------------------


def _launch(name: str, argv: list[str], env: dict, state: Path) -> int:
    log_path = logs_dir(state) / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:
        log_file.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log_file.flush()
        process = subprocess.Popen(
            argv,
            env=env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
            close_fds=True,
        )
    (services_dir(state) / f"{name}.pid").write_text(f"{process.pid}\n")
    return process.pid


def _wait(what: str, ready, *, timeout: float, state: Path, name: str, pid: int | None = None):
    """Poll `ready()` until it returns a true value; fail with the service log's tail."""
    return wait_until(
        what, ready, timeout=timeout, name=name, log=logs_dir(state) / f"{name}.log", pid=pid
    )


def _check_ports_free(ports: Ports, spark_cluster: bool) -> None:
    wanted = {"Airflow": ports.airflow, "MLflow": ports.mlflow, "SMTP sink": ports.smtp}
    if spark_cluster:
        wanted["Spark master"] = ports.spark_master
        wanted["Spark master UI"] = ports.spark_master_ui
        for i in range(SPARK_WORKERS):
            wanted[f"Spark worker {i + 1} UI"] = ports.spark_worker_ui + i
    if len(set(wanted.values())) != len(wanted):
        raise ServicesError(f"two services were given the same port: {wanted}")
    busy = {name: port for name, port in wanted.items() if port_open(HOST, port)}
    if busy:
        listing = ", ".join(f"{name} {HOST}:{port}" for name, port in busy.items())
        raise ServicesError(
            f"port(s) already in use: {listing}. Stop what runs there (make stop, if it is "
            "mlgate) or choose other ports (mlgate services start --help)."
        )


def load_record(state: Path) -> Services | None:
    try:
        return Services.from_json(json.loads(record_path(state).read_text()))
    except (OSError, ValueError, KeyError):
        return None


def _save_record(services: Services) -> None:
    path = record_path(Path(services.state))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(services.to_json(), indent=2))


def start(
    state: Path | None = None,
    ports: Ports | None = None,
    *,
    spark_cluster: bool = False,
    timeout: float = 300.0,
    base_env: dict | None = None,
    echo=print,
) -> Services:
    """Start every service and wait until each answers; on any failure stop them all."""
    state = Path(state) if state else state_dir()
    ports = ports or Ports()
    previous = load_record(state)
    if previous and any(
        pid_alive(pid) and is_ours(pid, previous.tag, previous.start_ticks.get(name))
        for name, pid in previous.pids.items()
    ):
        raise ServicesError(
            f"services are already running on {state} (pids {sorted(previous.pids.values())}); "
            "`make stop` (mlgate services stop) first"
        )
    _check_ports_free(ports, spark_cluster)

    services = Services(
        state=str(state),
        ports=ports,
        spark_cluster=spark_cluster,
        tag=secrets.token_hex(8),
        started_at=time.time(),
    )
    env = services_env(state, ports, spark_cluster=spark_cluster, tag=services.tag, base=base_env)
    prepare_state(state, env)
    echo(f"migrating the Airflow metadata DB in {env['AIRFLOW_HOME']}")
    sync_dag_files(pipelines=pipelines_dir(env))
    migrate_airflow_db(env)
    _save_record(services)  # before the first process, so `stop` finds what was started

    def launched(name: str, argv: list[str], process_env: dict | None = None) -> int:
        pid = _launch(name, argv, process_env or env, state)
        services.pids[name] = pid
        services.start_ticks[name] = process_start_ticks(pid) or 0
        _save_record(services)
        return pid

    bin_dir = Path(sys.executable).parent
    try:
        sink_pid = start_background(
            state_mail_dir(state), HOST, ports.smtp, services_dir(state) / "mailsink.pid"
        )
        services.pids["mailsink"] = sink_pid
        services.start_ticks["mailsink"] = process_start_ticks(sink_pid) or 0
        _save_record(services)

        if spark_cluster:
            _start_spark_cluster(services, state, launched, timeout, env)

        # MLflow's basic-auth app; only this process gets the admin password to set up.
        mlflow_pid = launched(
            "mlflow", server_argv(state, HOST, ports.mlflow), server_env(state, env)
        )

        airflow = str(bin_dir / "airflow")
        launched("airflow-dag-processor", [airflow, "dag-processor"])
        # Task logs are read from this machine's disk: no log server ports are needed.
        launched("airflow-scheduler", [airflow, "scheduler", "--skip-serve-logs"])
        launched("airflow-triggerer", [airflow, "triggerer", "--skip-serve-logs"])
        api_pid = launched(
            "airflow-api-server",
            [airflow, "api-server", "--host", HOST, "--port", str(ports.airflow), "--workers", "1"],
        )
        echo(f"waiting for Airflow on {services.airflow_url} (up to {timeout:.0f}s)")
        _wait(
            "healthy Airflow (api-server, scheduler, dag-processor, triggerer)",
            lambda: all_healthy(airflow_health(services.airflow_url)),
            timeout=timeout,
            state=state,
            name="airflow-api-server",
            pid=api_pid,
        )
        _wait(
            "answer on the MLflow port",
            lambda: port_open(HOST, ports.mlflow),
            timeout=timeout,
            state=state,
            name="mlflow",
            pid=mlflow_pid,
        )
        _wait_for_dags(services, state, timeout, pipelines_dir(env))
    except BaseException:
        report = stop(state, echo=lambda *_: None, strict=False)
        if report["survivors"]:
            echo(f"could not stop {report['survivors']}")
        raise
    return services


def _start_spark_cluster(
    services: Services, state: Path, launched, timeout: float, env: dict
) -> None:
    ports = services.ports
    write_spark_defaults(state, env)
    master = launched("spark-master", master_argv(HOST, ports.spark_master, ports.spark_master_ui))
    _wait(
        "master status page",
        lambda: spark_master_state(services.spark_master_ui_url),
        timeout=timeout,
        state=state,
        name="spark-master",
        pid=master,
    )
    for i in range(SPARK_WORKERS):
        work_dir = state / "spark" / "work" / f"worker-{i + 1}"
        work_dir.mkdir(parents=True, exist_ok=True)
        launched(
            f"spark-worker-{i + 1}",
            worker_argv(HOST, ports.spark_worker_ui + i, work_dir, services.spark_master_url),
        )
    _wait(
        f"{SPARK_WORKERS} alive workers registered",
        lambda: (
            (spark_master_state(services.spark_master_ui_url) or {}).get("aliveworkers", 0)
            >= SPARK_WORKERS
        ),
        timeout=timeout,
        state=state,
        name="spark-master",
        pid=master,
    )


def _wait_for_dags(services: Services, state: Path, timeout: float, pipelines: Path) -> None:
    """The DAG processor has parsed the retrain DAG of every pipeline that loads; an import
    error of such a pipeline's DAG file is reported here. A broken pipeline file breaks
    only its own DAGs: it is reported, and the others start."""
    client = AirflowClient(services.airflow_url, ADMIN_USER, read_password(state))
    good, broken = [], []
    for name in pipeline_names(pipelines):
        try:
            good.append(load_pipeline_file(pipeline_path(name, pipelines)).dag_id("retrain"))
        except ConfigError as error:
            broken.append(name)
            print(f"pipeline {name} is broken, its DAGs show an import error:\n{error}")

    def parsed():
        waiting = [dag_id for dag_id in good if client.get(f"dags/{dag_id}")[0] != 200]
        if not waiting:
            return True
        status, errors = client.get("importErrors")
        ours = [
            e
            for e in (errors.get("import_errors") or [] if status == 200 else [])
            if Path(e["filename"]).stem not in broken
        ]
        if ours:
            raise ServicesError(
                "DAG import errors:\n"
                + "\n".join(f"{e['filename']}: {e['stack_trace'][-2000:]}" for e in ours)
            )
        return False

    _wait(
        f"the retrain DAGs {good} parsed",
        parsed,
        timeout=timeout,
        state=state,
        name="airflow-dag-processor",
    )


STOP_ORDER = (
    "airflow-scheduler",
    "airflow-triggerer",
    "airflow-dag-processor",
    "airflow-api-server",
    "mlflow",
    "spark-worker-1",
    "spark-worker-2",
    "spark-master",
)


def stop(state: Path | None = None, *, echo=print, strict: bool = True) -> dict:
    """Stop what `start` recorded for this state folder; returns {"stopped", "survivors"}.

    With `strict`, processes that survive SIGKILL raise ServicesError.
    """
    state = Path(state) if state else state_dir()
    record = load_record(state)
    stopped, survivors = [], []
    if record is not None:
        for name in STOP_ORDER:
            pid = record.pids.get(name)
            if pid is None:
                continue
            if pid_alive(pid) and is_ours(pid, record.tag, record.start_ticks.get(name)):
                left = terminate([pid], wait_seconds=30 if name.startswith("airflow") else 15)
                (survivors if left else stopped).append(name)
            (services_dir(state) / f"{name}.pid").unlink(missing_ok=True)
        # Whatever they started (task processes, spark-submit, executors) carries the tag.
        leftovers = tagged_pids(record.tag)
        if leftovers:
            survivors += [f"pid {pid}" for pid in terminate(leftovers, wait_seconds=10)]
    sink_pidfile = services_dir(state) / "mailsink.pid"
    if sink_pidfile.exists() and stop_background(sink_pidfile):
        stopped.append("mailsink")
    record_path(state).unlink(missing_ok=True)
    if stopped:
        echo(f"stopped: {', '.join(stopped)}")
    else:
        echo(f"nothing was running on {state}")
    if survivors and strict:
        raise ServicesError(f"still running after SIGKILL: {survivors}")
    return {"stopped": stopped, "survivors": survivors}


def status(state: Path | None = None) -> dict:
    """Each recorded service: pid, alive, and whether its port answers."""
    state = Path(state) if state else state_dir()
    record = load_record(state)
    if record is None:
        return {"running": False, "services": {}}
    ports = record.ports
    service_ports = {
        "mailsink": ports.smtp,
        "mlflow": ports.mlflow,
        "airflow-api-server": ports.airflow,
        "spark-master": ports.spark_master,
    }
    for i in range(SPARK_WORKERS):
        service_ports[f"spark-worker-{i + 1}"] = ports.spark_worker_ui + i
    report = {}
    for name, pid in record.pids.items():
        port = service_ports.get(name)
        report[name] = {
            "pid": pid,
            "alive": pid_alive(pid) and is_ours(pid, record.tag, record.start_ticks.get(name)),
            "port": port,
            "answers": port_open(HOST, port) if port else None,
        }
    health = airflow_health(record.airflow_url) if port_open(HOST, ports.airflow) else None
    return {
        "running": any(entry["alive"] for entry in report.values()),
        "services": report,
        "airflow_health": health,
        "record": record.to_json(),
    }
