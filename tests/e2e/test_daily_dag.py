"""End to end: the real fraud_retrain DAG (Airflow `dags test`, spark-submit, MLflow registry)
on a small generated database, run twice for the same day."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlgate.config import DEFAULT_CONFIG_PATH

pytestmark = pytest.mark.e2e

DAY = "2026-10-31"
MLGATE = str(Path(sys.executable).parent / "mlgate")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A fresh state folder, a small demo database and a quicker search grid."""
    from mlgate.embedded import embedded_env

    state = tmp_path_factory.mktemp("state")
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["training"]["grid"]["random_forest"] = {"numTrees": [30], "maxDepth": [6, 8]}
    config["gates"]["quality"]["floor"] = {"auc_pr": 0.05, "roc_auc": 0.7}
    config_path = state / "config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = embedded_env(state, base={**os.environ, "MLGATE_SMTP_PORT": str(free_port())})
    env["MLGATE_CONFIG"] = str(config_path)
    env["MLGATE_SHUFFLE_PARTITIONS"] = "4"
    generated = subprocess.run(
        [
            MLGATE,
            "generate",
            "--days",
            "60",
            "--transactions",
            "150000",
            "--end-date",
            DAY,
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert generated.returncode == 0, generated.stderr
    return state, env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mlgate(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([MLGATE, *args], env=env, capture_output=True, text=True)


def lake_counts(state: Path) -> dict[str, int]:
    counts = {}
    for manifest in sorted((state / "lake").glob("*/ds=*/_manifest.json")):
        counts[f"{manifest.parent.parent.name}/{manifest.parent.name}"] = json.loads(
            manifest.read_text()
        )["rows"]
    return counts


def parquet_rows(state: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {
        f"{part.parent.name}/{part.name}": pq.ParquetDataset(part).read().num_rows
        for part in sorted((state / "lake").glob("*/ds=*"))
    }


def test_daily_run_promotes_a_champion_that_learned_something(embedded):
    state, env = embedded
    run = subprocess.run(
        [MLGATE, "run-day", "--date", DAY], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    assert "promoted to champion" in run.stdout

    champion = mlgate(env, "champion", "--json")
    assert champion.returncode == 0, champion.stderr
    info = json.loads(champion.stdout)
    for key in ("model_name", "version", "run_id", "metrics", "promoted_at", "tracking_uri"):
        assert info[key], key
    assert info["version"] == "1"
    assert info["trained_for_ds"] == DAY
    metrics = info["metrics"]
    # The model must beat the base rate by far: AUC-PR of a random scorer is the fraud rate.
    assert metrics["holdout_positives"] >= 10
    assert metrics["auc_pr"] > 5 * metrics["holdout_positive_rate"], metrics
    assert metrics["roc_auc"] > 0.8, metrics

    import mlflow

    mlflow.set_tracking_uri(info["tracking_uri"])
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(info["run_id"])}
    assert {"plots", "config.yaml", "data", "model_debug_string.txt"} <= artifacts, artifacts
    plots = {a.path for a in mlflow.MlflowClient().list_artifacts(info["run_id"], "plots")}
    assert {
        "plots/roc_curve.png",
        "plots/pr_curve.png",
        "plots/score_distribution.png",
        "plots/feature_importances.png",
    } <= plots
    data = {a.path for a in mlflow.MlflowClient().list_artifacts(info["run_id"], "data")}
    assert "data/manifest.json" in data
    manifest = json.loads(
        Path(
            mlflow.artifacts.download_artifacts(
                run_id=info["run_id"], artifact_path="data/manifest.json"
            )
        ).read_text()
    )
    assert manifest["ds"] == DAY and manifest["event_rows"] > 0
    # The registered champion is the Spark model logged by the train job.
    model = mlflow.models.get_model_info(f"models:/{info['model_name']}@champion")
    assert "spark" in model.flavors
    assert model.run_id == info["run_id"]


def test_rerun_of_the_same_day_keeps_the_lake_counts(embedded):
    state, env = embedded
    before_manifest, before_files = lake_counts(state), parquet_rows(state)
    assert before_manifest and before_manifest == before_files
    run = subprocess.run(
        [MLGATE, "run-day", "--date", DAY], env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    assert lake_counts(state) == before_manifest
    assert parquet_rows(state) == before_files
    info = json.loads(mlgate(env, "champion", "--json").stdout)
    assert info["version"] == "2"  # a new candidate, registered and promoted again


def test_rerun_compared_with_the_champion_on_every_gate(embedded):
    state, env = embedded
    gates = json.loads((state / "runs" / f"ds={DAY}" / "gates.json").read_text())
    verdicts = {g["name"]: g["verdict"] for g in gates["results"]}
    assert verdicts == {
        "reconciliation": "pass",
        "bad_record_ratio": "pass",
        "data_expectations": "pass",
        "training_iterations": "pass",
        "assertion_set": "pass",
        "quality": "pass",
        "shadow": "pass",
    }, gates["results"]
    quality = next(g for g in gates["results"] if g["name"] == "quality")
    assert quality["champion_value"] is not None  # compared with version 1 on the same holdout
    history = json.loads(mlgate(env, "history", "--json").stdout)
    assert [e["version"] for e in history] == ["1", "2"]
    assert history[1]["previous"] == "1" and history[1]["gates"]


BAD_DAY = "2026-11-01"


def test_bad_day_is_stopped_at_the_gates(embedded):
    import pyarrow.parquet as pq

    from mlgate.mailsink import read_messages

    state, env = embedded
    before = json.loads(mlgate(env, "champion", "--json").stdout)["version"]
    injected = mlgate(env, "inject-fault", "--date", BAD_DAY, "--kind", "null_amounts")
    assert injected.returncode == 0, injected.stderr
    run = mlgate(env, "run-day", "--date", BAD_DAY)
    assert run.returncode != 0, run.stdout[-3000:]
    assert "bad_record_ratio" in run.stderr

    gates = json.loads((state / "runs" / f"ds={BAD_DAY}" / "gates.json").read_text())
    assert gates["stage"] == "check_raw"
    failed = {g["name"] for g in gates["results"] if g["verdict"] == "fail"}
    assert "bad_record_ratio" in failed
    assert not (state / "runs" / f"ds={BAD_DAY}" / "candidate.json").exists()  # never trained

    assert json.loads(mlgate(env, "champion", "--json").stdout)["version"] == before

    quarantine = pq.read_table(state / "lake" / "quarantine" / "transactions" / f"ds={BAD_DAY}")
    reasons = quarantine.column("reason").to_pylist()
    assert len(reasons) > 100 and all("null:amount" in r for r in reasons)

    messages = read_messages(state / "mail")
    assert messages, "no alert email reached the SMTP sink"
    alert = messages[-1]
    assert "bad_record_ratio" in alert["subject"] and BAD_DAY in alert["subject"]
    html = alert.get_body(("html",)).get_content()
    text = alert.get_body(("plain",)).get_content()
    assert "bad_record_ratio" in html and "bad_record_ratio" in text


def test_rollback_through_the_dag_then_the_cli(embedded):
    from mlgate.embedded import run_airflow

    state, env = embedded
    assert json.loads(mlgate(env, "champion", "--json").stdout)["version"] == "2"
    reason = "v2 rolled back in the e2e test: checking the rollback DAG"
    run = run_airflow(
        ["dags", "test", "fraud_rollback", "--conf", json.dumps({"reason": reason})],
        env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert json.loads(mlgate(env, "champion", "--json").stdout)["version"] == "1"
    last = json.loads(mlgate(env, "history", "--json").stdout)[-1]
    assert (last["action"], last["version"], last["previous"]) == ("rollback", "1", "2")
    assert last["reason"] == reason

    # v1 was the first champion: there is nothing further back, and the CLI says so.
    again = mlgate(env, "rollback", "--reason", "and once more, to see the refusal")
    assert again.returncode == 2 and "nothing to roll back to" in again.stderr
    assert json.loads(mlgate(env, "champion", "--json").stdout)["version"] == "1"
