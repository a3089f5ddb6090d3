"""The real services for `make test-ui`: Airflow (api-server, scheduler, dag-processor,
triggerer), the MLflow UI, the mail sink and a Spark standalone cluster (master + 2 workers),
all started by `mlgate.local.services.start` on a tmp state folder with a small generated
dataset, on free loopback ports, and stopped at the end of the session whatever happens.

The DAG under test is the fraud pipeline's production `fraud_retrain`, unchanged: its start date is
in the past and catchup is off, so once unpaused the scheduler creates the run of the latest
whole day (yesterday, UTC) by itself. The dataset ends yesterday so that run has data.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import yaml

from mlgate.config import PIPELINES_DIR
from support.stack import DAG_ID, MLGATE, Stack, free_port, free_port_pair


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
