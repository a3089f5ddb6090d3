"""The real services for `make test-ui`: Airflow (api-server, scheduler, dag-processor,
triggerer), the MLflow UI, the mail sink and a Spark standalone cluster (master + 2 workers),
all started by `mlgate.local.services.start` on a tmp state folder with a small generated
dataset, on free loopback ports, and stopped at the end of the session whatever happens.

The DAG under test is the fraud pipeline's production `fraud_retrain`, unchanged: its start date is
in the past and catchup is off, so once unpaused the scheduler creates the run of the latest
whole day (yesterday, UTC) by itself. The dataset ends yesterday so that run has data.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from mlgate.config import PIPELINES_DIR

MLGATE = str(Path(sys.executable).parent / "mlgate")
DAG_ID = "fraud_retrain"
# One DAG run on the small dataset takes about 2-3 minutes on an idle 2-core machine (7 on
# a busy one); runs queue behind each other (max_active_runs=1), so a wait may include the
# run ahead. Below pytest's per-test timeout (pyproject.toml).
RUN_TIMEOUT = 1200


def free_port(avoid: set[int]) -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid and port + 1 not in avoid and port < 65000:
            return port


def free_port_pair(avoid: set[int]) -> int:
    """A port p with p and p + 1 both free (the two Spark worker UIs)."""
    for _ in range(50):
        port = free_port(avoid)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports on 127.0.0.1")


def interval_day(run: dict) -> date:
    """The UTC day a fraud_retrain run covers (its data interval start)."""
    return date.fromisoformat(run["data_interval_start"][:10])


class Stack:
    """What the tests need to reach the running services."""

    def __init__(self, services, env: dict, day: date):
        from mlgate.local.airflow_api import AirflowClient
        from mlgate.local.services import ADMIN_USER, read_password

        self.services = services
        self.state = Path(services.state)
        self.env = env
        self.day = day
        self.password = read_password(self.state)
        self.username = ADMIN_USER
        self.client = AirflowClient(services.airflow_url, ADMIN_USER, self.password)

    def mlgate(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([MLGATE, *args], env=self.env, capture_output=True, text=True)

    def history(self) -> list[dict]:
        result = self.mlgate("history", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def runs(self) -> list[dict]:
        status, payload = self.client.get(f"dags/{DAG_ID}/dagRuns?order_by=run_after&limit=100")
        assert status == 200, payload
        return payload["dag_runs"]

    def wait_for_run(self, run_id: str, timeout: float = RUN_TIMEOUT) -> dict:
        """Poll the run until it finishes; a failed run fails with its task states and logs."""
        deadline = time.monotonic() + timeout
        while True:
            status, run = self.client.get(f"dags/{DAG_ID}/dagRuns/{run_id}")
            assert status == 200, run
            if run["state"] == "success":
                return run
            if run["state"] == "failed" or time.monotonic() > deadline:
                pytest.fail(
                    f"run {run_id} is {run['state']} after "
                    f"{timeout - max(0, deadline - time.monotonic()):.0f}s\n"
                    + self.describe_run(run_id)
                )
            time.sleep(5)

    def wait_until_idle(self, timeout: float = RUN_TIMEOUT) -> None:
        """Every run so far has finished (successfully)."""
        for run in self.runs():
            if run["state"] not in ("success", "failed"):
                self.wait_for_run(run["dag_run_id"], timeout)

    def wait_for_scheduled_run(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            scheduled = [r for r in self.runs() if r["run_type"] == "scheduled"]
            if scheduled:
                return scheduled[0]
            time.sleep(3)
        pytest.fail(f"the scheduler created no scheduled run within {timeout}s: {self.runs()}")

    def describe_run(self, run_id: str) -> str:
        status, payload = self.client.get(f"dags/{DAG_ID}/dagRuns/{run_id}/taskInstances")
        lines = []
        for ti in payload.get("task_instances", []) if status == 200 else []:
            lines.append(f"  {ti['task_id']}: {ti['state']}")
            if ti["state"] in ("failed", "up_for_retry", "upstream_failed"):
                logs = sorted(
                    (self.state / "airflow" / "logs").glob(
                        f"dag_id={DAG_ID}/run_id={run_id}/task_id={ti['task_id']}/*.log"
                    )
                )
                if logs:
                    lines.append(logs[-1].read_text(errors="replace")[-3000:])
        return "\n".join(lines)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """Every service up on a tmp state with yesterday's data; stopped at the end."""
    from mlgate.local.services import Ports, start, stop

    state = tmp_path_factory.mktemp("services-state")
    # The scheduler's run covers the latest whole UTC day: yesterday. The data runs through
    # today as well, so a session that crosses midnight UTC still finds its day's data.
    day = datetime.now(UTC).date() - timedelta(days=1)
    config = yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())
    config["training"]["grid"]["random_forest"] = {"numTrees": [30], "maxDepth": [8]}
    config["gates"]["quality"]["floor"] = {"auc_pr": 0.05, "roc_auc": 0.7}
    (state / "pipelines.d").mkdir()
    (state / "pipelines.d" / "fraud.yaml").write_text(yaml.safe_dump(config))
    base = {
        **os.environ,
        "MLGATE_STATE": str(state),
        "MLGATE_PIPELINES": str(state / "pipelines.d"),
        "MLGATE_PIPELINE": "fraud",
        "MLGATE_SHUFFLE_PARTITIONS": "4",
    }
    base.pop("MLGATE_AIRFLOW_PASSWORD", None)  # the test uses the generated password
    generated = subprocess.run(
        [MLGATE, "generate", "--days", "61", "--transactions", "150000"]
        + ["--end-date", (day + timedelta(days=1)).isoformat(), "--quiet"],
        env=base,
        capture_output=True,
        text=True,
    )
    assert generated.returncode == 0, generated.stderr

    used: set[int] = set()
    ports = Ports()
    for name in ("airflow", "mlflow", "smtp", "spark_master", "spark_master_ui"):
        port = free_port(used)
        used.add(port)
        setattr(ports, name, port)
    ports.spark_worker_ui = free_port_pair(used)

    started = time.monotonic()
    try:
        services = start(state, ports, spark_cluster=True, timeout=300, base_env=base)
        print(f"services up in {time.monotonic() - started:.0f}s", file=sys.stderr)
        yield Stack(services, base, day)
    finally:
        report = stop(state, echo=lambda *_: None, strict=False)
        assert not report["survivors"], f"processes survived `stop`: {report['survivors']}"


@pytest.fixture(scope="session")
def unpaused(stack) -> Stack:
    """fraud_retrain unpaused through the REST API, as the trigger form's checkbox does.

    From here on the scheduler owns the daily schedule: it creates yesterday's run itself.
    """
    status, dag = stack.client.request("PATCH", f"dags/{DAG_ID}", {"is_paused": False})
    assert status == 200 and dag["is_paused"] is False, dag
    return stack
