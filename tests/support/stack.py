"""What the tests of the running services share: free loopback ports and a `Stack` with
the REST client, the state folder and the `mlgate` command of a started stack."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

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

    def __init__(self, services, env: dict, day: date, dag_id: str = DAG_ID):
        from mlgate.local.airflow_api import AirflowClient
        from mlgate.local.services import ADMIN_USER, read_password

        self.services = services
        self.state = Path(services.state)
        self.env = env
        self.day = day
        self.dag_id = dag_id
        self.password = read_password(self.state)
        self.username = ADMIN_USER
        self.client = AirflowClient(services.airflow_url, ADMIN_USER, self.password)

    def mlgate(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([MLGATE, *args], env=self.env, capture_output=True, text=True)

    def history(self) -> list[dict]:
        result = self.mlgate("history", "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def runs(self, dag_id: str | None = None) -> list[dict]:
        dag_id = dag_id or self.dag_id
        status, payload = self.client.get(f"dags/{dag_id}/dagRuns?order_by=run_after&limit=100")
        assert status == 200, payload
        return payload["dag_runs"]

    def wait_for_run(
        self, run_id: str, timeout: float = RUN_TIMEOUT, dag_id: str | None = None
    ) -> dict:
        """Poll the run until it finishes; a failed run fails with its task states and logs."""
        dag_id = dag_id or self.dag_id
        deadline = time.monotonic() + timeout
        while True:
            status, run = self.client.get(f"dags/{dag_id}/dagRuns/{run_id}")
            assert status == 200, run
            if run["state"] == "success":
                return run
            if run["state"] == "failed" or time.monotonic() > deadline:
                pytest.fail(
                    f"run {run_id} is {run['state']} after "
                    f"{timeout - max(0, deadline - time.monotonic()):.0f}s\n"
                    + self.describe_run(run_id, dag_id)
                )
            time.sleep(5)

    def wait_until_idle(self, timeout: float = RUN_TIMEOUT) -> None:
        """Every run so far has finished (successfully)."""
        for run in self.runs():
            if run["state"] not in ("success", "failed"):
                self.wait_for_run(run["dag_run_id"], timeout)

    def wait_for_scheduled_run(self, timeout: float = 120, run_type: str = "scheduled") -> dict:
        """The first run the scheduler made by itself (``run_type``: ``scheduled``, or
        ``asset_triggered`` for a run an asset event started)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            made = [r for r in self.runs() if r["run_type"] == run_type]
            if made:
                return made[0]
            time.sleep(3)
        pytest.fail(f"the scheduler created no {run_type} run within {timeout}s: {self.runs()}")

    def describe_run(self, run_id: str, dag_id: str | None = None) -> str:
        dag_id = dag_id or self.dag_id
        status, payload = self.client.get(f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        lines = []
        for ti in payload.get("task_instances", []) if status == 200 else []:
            lines.append(f"  {ti['task_id']}: {ti['state']}")
            if ti["state"] in ("failed", "up_for_retry", "upstream_failed"):
                logs = sorted(
                    (self.state / "airflow" / "logs").glob(
                        f"dag_id={dag_id}/run_id={run_id}/task_id={ti['task_id']}/*.log"
                    )
                )
                if logs:
                    lines.append(logs[-1].read_text(errors="replace")[-3000:])
        return "\n".join(lines)
