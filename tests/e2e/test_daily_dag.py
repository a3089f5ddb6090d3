"""End to end: the real retrain DAGs (Airflow `dags test`, spark-submit, MLflow registry)
on small generated databases: the fraud pipeline run twice for the same day, a bad day, a
dry run, a rollback; then the shop pipeline beside it in the same deployment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlgate.config import PIPELINES_DIR

pytestmark = pytest.mark.e2e

DAY = "2026-10-31"
MLGATE = str(Path(sys.executable).parent / "mlgate")


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    """A fresh state folder, a small demo database and a quicker search grid."""
    from mlgate.local.embedded import embedded_env

    state = tmp_path_factory.mktemp("state")
    config = yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())
    config["training"]["grid"]["random_forest"] = {"numTrees": [30], "maxDepth": [6, 8]}
    config["gates"]["quality"]["floor"] = {"auc_pr": 0.05, "roc_auc": 0.7}
    (state / "pipelines.d").mkdir()
    (state / "pipelines.d" / "fraud.yaml").write_text(yaml.safe_dump(config))
    env = embedded_env(state, base={**os.environ, "MLGATE_SMTP_PORT": str(free_port())})
    env["MLGATE_PIPELINES"] = str(state / "pipelines.d")
    env["MLGATE_PIPELINE"] = "fraud"
    env["MLGATE_SHUFFLE_PARTITIONS"] = "4"
    generated = subprocess.run(
        [
            MLGATE,
            "generate",
            "--days",
            "60",
            "--events",
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


def run_dir(state: Path, day: str) -> Path:
    """The run folder of the fraud pipeline's run for `day`."""
    return state / "pipelines" / "fraud" / "runs" / f"ds={day}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mlgate(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([MLGATE, *args], env=env, capture_output=True, text=True)


def lake_counts(state: Path) -> dict[str, int]:
    counts = {}
    for manifest in sorted((state / "pipelines" / "fraud" / "lake").glob("*/ds=*/_manifest.json")):
        counts[f"{manifest.parent.parent.name}/{manifest.parent.name}"] = json.loads(
            manifest.read_text()
        )["rows"]
    return counts


def parquet_rows(state: Path) -> dict[str, int]:
    import pyarrow.parquet as pq

    return {
        f"{part.parent.name}/{part.name}": pq.ParquetDataset(part).read().num_rows
        for part in sorted((state / "pipelines" / "fraud" / "lake").glob("*/ds=*"))
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
    gates = json.loads((run_dir(state, DAY) / "gates.json").read_text())
    verdicts = {g["name"]: g["verdict"] for g in gates["results"]}
    assert verdicts == {
        "reconciliation": "pass",
        "bad_record_ratio": "pass",
        "data_expectations": "pass",
        "training_iterations": "pass",
        "assertion_set": "pass",
        "quality": "pass",
        "shadow": "pass",
        "export_parity": "pass",
        "online_parity": "pass",  # raw events through the online state = the Spark features
    }, gates["results"]
    online = next(g for g in gates["results"] if g["name"] == "online_parity")
    assert online["details"]["rows"] > 0 and online["details"]["decision_flips"] == 0
    quality = next(g for g in gates["results"] if g["name"] == "quality")
    assert quality["champion_value"] is not None  # compared with version 1 on the same holdout
    history = json.loads(mlgate(env, "history", "--json").stdout)
    assert [e["version"] for e in history] == ["1", "2"]
    assert history[1]["previous"] == "1" and history[1]["gates"]


# --- the portable twin, the scoring service and batch scoring (issue 6) -------------------


def test_champion_carries_its_onnx_twin_and_passed_export_parity(embedded):
    import mlflow

    state, env = embedded
    info = json.loads(mlgate(env, "champion", "--json").stdout)
    mlflow.set_tracking_uri(info["tracking_uri"])
    onnx = {a.path for a in mlflow.MlflowClient().list_artifacts(info["run_id"], "onnx")}
    assert onnx == {"onnx/model.onnx", "onnx/spec.json"}
    spec = mlflow.artifacts.load_dict(f"{info['artifact_uri']}/onnx/spec.json")
    assert spec["operating_threshold"] == 0.5 and spec["family"] == "random_forest"
    assert {"amount", "channel"} <= set(spec["numeric"]) | set(spec["categorical"])
    gates = json.loads((run_dir(state, DAY) / "gates.json").read_text())
    parity = next(g for g in gates["results"] if g["name"] == "export_parity")
    holdout = json.loads((run_dir(state, DAY) / "evaluation.json").read_text())
    # the whole holdout was scored by both, and they agree far below the 1e-5 bound
    assert parity["details"]["rows"] == holdout["holdout_rows"] > 1000
    assert parity["value"] <= 1e-9 and parity["details"]["decision_flips"] == 0


def holdout_sample(state: Path, n: int = 200):
    """n holdout rows (half random, half the highest scored) with their model inputs and the
    Spark scores of the champion (v2, candidate_score) and of v1 (champion_score)."""
    import pandas as pd

    scores = pd.read_parquet(run_dir(state, DAY) / "holdout_scores.parquet")
    top = scores.nlargest(n // 2, "candidate_score")
    rest = scores.drop(top.index).sample(n - len(top), random_state=7)
    sample = pd.concat([top, rest])
    features = pd.read_parquet(state / "pipelines" / "fraud" / "features" / f"ds={DAY}")
    return sample.merge(features, on=["transaction_id"], suffixes=("", "_f"), validate="1:1")


def request_rows(sample, spec: dict) -> list[dict]:
    rows = []
    for record in sample.to_dict("records"):
        row = {name: float(record[name]) for name in spec["numeric"]}
        row.update({name: str(record[name]) for name in spec["categorical"]})
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def service(embedded):
    """`mlgate serve` as its own process on a free port, polling the registry every second;
    its bearer token generated on this first start under the state folder."""
    import time

    import httpx

    state, env = embedded
    port = free_port()
    log = open(state / "serve.log", "w")  # closed after the process ends
    process = subprocess.Popen(
        [MLGATE, "serve", "--port", str(port), "--poll-seconds", "1", "--log-level", "warning"],
        env={k: v for k, v in env.items() if k != "MLGATE_SERVE_TOKEN"},  # generate it
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (state / "serve.log").read_text()
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    else:
        process.kill()
        pytest.fail("mlgate serve did not become healthy: " + (state / "serve.log").read_text())
    token_file = state / "secrets" / "serve-token"
    token = token_file.read_text().strip()
    said = (state / "serve.log").read_text()
    assert f"the file {token_file} (generated now)" in said and token not in said
    assert httpx.post(f"{base}/score", json={}, timeout=10).status_code == 401
    with httpx.Client(
        base_url=base, timeout=10, headers={"authorization": f"Bearer {token}"}
    ) as client:
        yield client, process
    process.terminate()
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught
    assert process.wait(timeout=30) in (0, -15)
    log.close()


def test_service_scores_holdout_rows_like_spark_over_http(embedded, service):
    import numpy as np

    state, _ = embedded
    client, _ = service
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["model_version"] == "2"
    spec = client.get("/model").json()
    sample = holdout_sample(state)
    rows = request_rows(sample, spec)
    spark = sample["candidate_score"].to_numpy()
    assert (spark >= 0.5).any() and (spark < 0.5).any()  # both decisions are exercised

    one_by_one = []
    for row in rows[:60]:
        answer = client.post("/score", json=row)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["model_version"] == "2" and body["threshold"] == 0.5
        assert body["decision"] == (body["probability"] >= 0.5)
        one_by_one.append(body["probability"])
    assert np.max(np.abs(np.array(one_by_one) - spark[:60])) <= 1e-5

    batch = client.post("/score", json=rows)
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    online = np.array([r["probability"] for r in results])
    assert len(online) == len(spark)
    assert np.max(np.abs(online - spark)) <= 1e-5
    assert [r["decision"] for r in results] == list(spark >= 0.5)


def test_service_rejects_bad_input_with_a_422_naming_the_field(embedded, service):
    state, _ = embedded
    client, _ = service
    spec = client.get("/model").json()
    row = request_rows(holdout_sample(state, 2), spec)[0]
    missing = {k: v for k, v in row.items() if k != "amount"}
    answer = client.post("/score", json=missing)
    assert answer.status_code == 422
    assert answer.json()["problems"] == [
        {"field": "amount", "problem": "Field required", "type": "missing"}
    ]
    answer = client.post("/score", json=[row, {**row, "channel": 3}])
    assert answer.status_code == 422
    (problem,) = answer.json()["problems"]
    assert problem["field"] == "channel" and problem["row"] == 1
    # a count below 0 is outside the feature spec's range of the field
    answer = client.post("/score", json={**row, "card_count_1h": -1.0})
    assert answer.status_code == 422
    assert [p["field"] for p in answer.json()["problems"]] == ["card_count_1h"]
    json_type = {"content-type": "application/json"}
    assert client.post("/score", content=b"{not json", headers=json_type).status_code == 400
    for body in (b"null", b"[]", b'"amount"'):
        assert client.post("/score", content=body, headers=json_type).status_code == 422, body


def test_service_switches_to_a_new_champion_without_dropping_requests(embedded, service):
    import threading
    import time

    import mlflow
    import numpy as np

    state, env = embedded
    client, _ = service
    info = json.loads(mlgate(env, "champion", "--json").stdout)
    mlflow.set_tracking_uri(info["tracking_uri"])
    registry = mlflow.MlflowClient()
    spec = client.get("/model").json()
    sample = holdout_sample(state, 100)
    rows = request_rows(sample, spec)
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def hammer():
        import httpx

        with httpx.Client(base_url=str(client.base_url), timeout=10, headers=client.headers) as own:
            while not stop.is_set():
                answer = own.post("/score", json=rows[len(seen) % len(rows)])
                seen.append((answer.status_code, answer.json().get("model_version")))

    worker = threading.Thread(target=hammer)
    worker.start()
    try:
        time.sleep(0.5)
        # another model becomes champion (version 1, also with its twin): moved by hand in
        # the registry, the service keeps version 2 until an operator accepts the move
        registry.set_registered_model_alias(info["model_name"], "champion", "1")
        time.sleep(1.5)  # more than one poll
        assert client.get("/health").json()["model_version"] == "2"
        accept = mlgate(env, "aliases", "--accept", "--reason", "e2e: switch the service to v1")
        assert accept.returncode == 0, accept.stderr
        deadline = time.monotonic() + 60
        while client.get("/health").json()["model_version"] != "1":
            assert time.monotonic() < deadline, "the service never switched to version 1"
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(timeout=30)
    versions = [v for _, v in seen]
    assert {code for code, _ in seen} == {200}, "a request failed during the switch"
    assert versions[0] == "2" and versions[-1] == "1"
    assert versions == sorted(versions, key=lambda v: v == "1")  # one switch, never back
    # version 1's answers are version 1's Spark scores (champion_score of the same holdout)
    results = client.post("/score", json=rows).json()
    assert results["model_version"] == "1"
    online = np.array([r["probability"] for r in results["results"]])
    assert np.max(np.abs(online - sample["champion_score"].to_numpy())) <= 1e-5

    registry.set_registered_model_alias(info["model_name"], "champion", "2")
    accept = mlgate(env, "aliases", "--accept", "--reason", "e2e: switch the service back to v2")
    assert accept.returncode == 0, accept.stderr
    reload = client.post("/reload").json()
    assert reload["version"] == "2"
    assert client.get("/health").json()["model_version"] == "2"
    metrics = client.get("/metrics").text
    assert "mlgate_serve_model_version 2.0" in metrics
    assert 'mlgate_serve_model_reloads_total{result="loaded"} 3.0' in metrics
    assert 'mlgate_serve_requests_total{endpoint="/score",status="200"}' in metrics
    assert "mlgate_serve_request_seconds_bucket" in metrics
    assert "mlgate_serve_score_count" in metrics


def test_fraud_score_dag_writes_the_champions_scores_of_the_day(embedded, monkeypatch):
    import numpy as np
    import pandas as pd
    import sqlalchemy as sa

    from mlgate.config import load_pipeline
    from mlgate.stages.score import write_scores

    state, env = embedded
    run = mlgate(env, "score-day", "--date", DAY)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "version 2" in run.stdout

    monkeypatch.setenv("MLGATE_STATE", env["MLGATE_STATE"])
    monkeypatch.setenv("MLGATE_PIPELINES", env["MLGATE_PIPELINES"])
    cfg = load_pipeline("fraud")
    engine = sa.create_engine(cfg.scores_url())
    query = f"SELECT * FROM {cfg.scores_table} WHERE score_day = '{DAY}'"
    with engine.connect() as conn:
        written = pd.read_sql(sa.text(query), conn)
    # Spark scores of the day's traffic by the same version, with the features of the
    # training pipeline (the train job's shadow scores): batch scoring must match them.
    shadow = pd.read_parquet(run_dir(state, DAY) / "shadow_scores.parquet")
    assert len(written) == len(shadow) > 100
    both = written.merge(shadow, on="transaction_id", validate="1:1")
    assert len(both) == len(shadow)
    assert np.max(np.abs(both["probability"] - both["candidate_score"])) <= 1e-9
    assert set(written["model_version"]) == {"2"}
    assert (written["decision"] == (written["probability"] >= 0.5).astype(int)).all()

    again = write_scores(cfg, pd.Timestamp(DAY).date())  # the write task, rerun
    with engine.connect() as conn:
        count = conn.execute(sa.text(f"SELECT COUNT(*) FROM {cfg.scoring.table}")).scalar()
    engine.dispose()
    assert again["rows"] == count == len(shadow)  # replaced, not appended


BAD_DAY = "2026-11-01"


def test_bad_day_is_stopped_at_the_gates(embedded):
    import pyarrow.parquet as pq

    from mlgate.local.mailsink import read_messages

    state, env = embedded
    before = json.loads(mlgate(env, "champion", "--json").stdout)["version"]
    injected = mlgate(env, "inject-fault", "--date", BAD_DAY, "--kind", "null_values")
    assert injected.returncode == 0, injected.stderr
    run = mlgate(env, "run-day", "--date", BAD_DAY)
    assert run.returncode != 0, run.stdout[-3000:]
    assert "bad_record_ratio" in run.stderr

    gates = json.loads((run_dir(state, BAD_DAY) / "gates.json").read_text())
    assert gates["stage"] == "check_raw"
    failed = {g["name"] for g in gates["results"] if g["verdict"] == "fail"}
    assert "bad_record_ratio" in failed
    assert not (run_dir(state, BAD_DAY) / "candidate.json").exists()  # never trained

    assert json.loads(mlgate(env, "champion", "--json").stdout)["version"] == before

    quarantine = pq.read_table(
        state / "pipelines" / "fraud" / "lake" / "quarantine" / "transactions" / f"ds={BAD_DAY}"
    )
    reasons = quarantine.column("reason").to_pylist()
    assert len(reasons) > 100 and all("null:amount" in r for r in reasons)

    messages = read_messages(state / "mail")
    assert messages, "no alert email reached the SMTP sink"
    alert = messages[-1]
    assert "bad_record_ratio" in alert["subject"] and BAD_DAY in alert["subject"]
    html = alert.get_body(("html",)).get_content()
    text = alert.get_body(("plain",)).get_content()
    assert "bad_record_ratio" in html and "bad_record_ratio" in text


def test_dry_run_with_overrides_evaluates_everything_and_promotes_nothing(embedded):
    from mlgate.local.mailsink import read_messages

    state, env = embedded
    mails_before = len(read_messages(state / "mail"))
    reason = "feed fix is deployed tomorrow; fraud ops reviewed the quarantine"
    run = mlgate(
        env,
        "run-day",
        "--date",
        BAD_DAY,
        "--gate-mode",
        "dry_run",
        "--override",
        "bad_record_ratio",
        "--reason",
        reason,
        "--family",  # the trigger form's model family: the third family, end to end
        "logistic_regression",
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    gates = json.loads((run_dir(state, BAD_DAY) / "gates.json").read_text())
    by_name = {g["name"]: g for g in gates["results"]}
    # Every configured gate was evaluated, although some failed on the way.
    assert set(by_name) == set(gates["configured"]) and len(by_name) >= 8
    assert by_name["bad_record_ratio"]["overridden"] is True
    assert by_name["bad_record_ratio"]["override_reason"] == reason
    assert by_name["data_expectations"]["verdict"] == "fail"
    assert by_name["data_expectations"]["overridden"] is False
    decision = json.loads((run_dir(state, BAD_DAY) / "decision.json").read_text())
    assert decision["promoted"] is False and "dry run" in decision["reasons"][0]
    # logistic regression trained, exported to ONNX and scored the holdout like Spark
    candidate = json.loads((run_dir(state, BAD_DAY) / "candidate.json").read_text())
    assert candidate["family"] == "logistic_regression"
    assert by_name["export_parity"]["verdict"] == "pass", by_name["export_parity"]
    assert json.loads(mlgate(env, "champion", "--json").stdout)["version"] == "2"
    mails = read_messages(state / "mail")
    assert len(mails) == mails_before + 1
    text = mails[-1].get_body(("plain",)).get_content()
    assert "data_expectations" in text and reason in text


def test_rollback_through_the_dag_then_the_cli(embedded):
    from mlgate.local.embedded import run_airflow

    state, env = embedded
    assert json.loads(mlgate(env, "champion", "--json").stdout)["version"] == "2"
    reason = "v2 rolled back in the e2e test: checking the rollback DAG"
    run = run_airflow(  # the DAG files were written by the run-day commands before
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


SHOP_EVENTS = "100000"


def test_a_second_pipeline_promotes_its_own_champion_beside_the_first(embedded):
    """The shop demo (an entity target, SCD2 visitors, GBT) in the same deployment as
    fraud: its own DAGs, model, lake and history; fraud's champion is left alone."""
    from mlgate.local.embedded import run_airflow

    state, env = embedded
    fraud_before = json.loads(mlgate(env, "champion", "--json").stdout)
    shop = yaml.safe_load((PIPELINES_DIR / "shop.yaml").read_text())
    shop["training"]["grid"]["gbt"] = {"maxIter": [20], "maxDepth": [3]}
    shop["gates"]["quality"]["floor"] = {"auc_pr": 0.1, "roc_auc": 0.65}
    (state / "pipelines.d" / "shop.yaml").write_text(yaml.safe_dump(shop))
    generated = mlgate(
        env, "generate", "--pipeline", "shop", "--days", "45", "--events", SHOP_EVENTS,
        "--end-date", DAY, "--quiet",
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr

    listed = mlgate(env, "pipelines", "list")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["fraud", "shop"]

    run = mlgate(env, "run-day", "--pipeline", "shop", "--date", DAY)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    assert "promoted to champion" in run.stdout

    champion = json.loads(mlgate(env, "champion", "--pipeline", "shop", "--json").stdout)
    assert (champion["model_name"], champion["version"]) == ("shop_purchase_propensity", "1")
    assert champion["metrics"]["auc_pr"] > 1.5 * champion["metrics"]["holdout_positive_rate"]
    gates = json.loads(
        (state / "pipelines" / "shop" / "runs" / f"ds={DAY}" / "gates.json").read_text()
    )
    by_name = {g["name"]: g for g in gates["results"]}
    assert by_name["export_parity"]["verdict"] == "pass"  # gradient-boosted trees, as ONNX
    assert by_name["assertion_set"]["verdict"] == "pass"
    # page events replayed through the online state, each visitor scored at midnight from it
    online = by_name["online_parity"]
    assert online["verdict"] == "pass", online
    assert online["details"]["rows"] > 0 and online["details"]["decision_flips"] == 0

    # fraud's champion, history and lake are untouched by the shop run
    assert (
        json.loads(mlgate(env, "champion", "--json").stdout)["version"] == fraud_before["version"]
    )
    assert (state / "pipelines" / "shop" / "lake" / "page_events").is_dir()
    assert not (state / "pipelines" / "fraud" / "lake" / "page_events").exists()

    # Airflow sees eight DAGs: four per pipeline
    dags = run_airflow(["dags", "list", "--output", "json"], env, capture_output=True, text=True)
    assert dags.returncode == 0, dags.stderr[-3000:]
    # Airflow may log a warning line (e.g. no graphviz) before the JSON list
    listing = next(line for line in dags.stdout.splitlines() if line.startswith("["))
    dag_ids = sorted(d["dag_id"] for d in json.loads(listing))
    assert dag_ids == [
        "fraud_monitor", "fraud_retrain", "fraud_rollback", "fraud_score",
        "shop_monitor", "shop_retrain", "shop_rollback", "shop_score",
    ]  # fmt: skip
