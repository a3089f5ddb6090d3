"""The rollout (mlgate.stages.rollout, the promote task in rollout mode) on a real
(SQLite-backed) MLflow registry with the score DAG's files written by hand: a better canary
is promoted, a worse one rolled back, a guardrail breach rolls back at once, an undecided
one waits, and every ending is in the history with its evidence."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlgate import registry, runs
from mlgate.config import RolloutConfig, load_pipeline
from mlgate.paths import features_partition, rollout_dir, scores_partition, write_json
from mlgate.serving.batch import SCORES_META
from mlgate.stages import RunOptions
from mlgate.stages.rollout import RolloutScoresMissing, rollout_day

FIRST = date(2026, 3, 1)
ROWS = 3_000
OPTS = RunOptions(airflow_run_id="rollout-run", dag_id="fraud_rollout")


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    return tmp_path_factory.mktemp("rollout-state")


@pytest.fixture
def cfg(state, tmp_path, monkeypatch):
    """Version 1 champion, version 2 in rollout as canary since FIRST; loose guardrails
    (the labelled tests are about the AUC-PR difference)."""
    monkeypatch.setenv("MLGATE_STATE", str(state))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for folder in ("promotions.jsonl", "scores", "features", "rollout"):
        path = state / "pipelines" / "fraud" / folder
        if path.is_file():
            path.unlink()
        elif path.is_dir():
            import shutil

            shutil.rmtree(path)
    rollout = RolloutConfig(mode="canary", min_agreement=0.0, max_flagged_ratio=1000.0)
    config = load_pipeline("fraud").model_copy(update={"rollout": rollout})
    client = registry.configure_mlflow().MlflowClient()
    if client.search_registered_models(f"name = '{config.model_name}'"):
        client.delete_registered_model(config.model_name)
    client.create_registered_model(config.model_name)
    for n in (1, 2, 3):
        source = tmp_path / f"model-{n}"
        source.mkdir()
        client.create_model_version(config.model_name, source=source.as_uri())
    registry.promote(config.name, config.model_name, "1", expected_champion=None, record={})
    registry.start_canary(
        config.name, config.model_name, "2", record={"ds": FIRST.isoformat(), "by": "r1"}
    )
    return config


def score_day(cfg, day: date, *, canary_strength: float, seed: int, canary="2") -> np.ndarray:
    """The score DAG's output of a day in rollout: champion and canary on the same rows
    (the champion ranks the labels moderately, the canary as ``canary_strength`` says)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(ROWS) < 0.1).astype(int)
    start = datetime.combine(day, datetime.min.time())
    frame = pd.DataFrame(
        {
            cfg.row_key: np.arange(ROWS) + day.toordinal() * 10_000,
            cfg.row_time: [start + timedelta(seconds=20 * i) for i in range(ROWS)],
            "probability": np.clip(0.35 * labels + rng.normal(0.2, 0.15, ROWS), 0, 1),
            "canary_probability": np.clip(
                canary_strength * labels + rng.normal(0.2, 0.15, ROWS), 0, 1
            ),
        }
    )
    folder = scores_partition(cfg.name, day.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "part-0.parquet", index=False)
    meta = {"ds": day.isoformat(), "model_version": "1", "run_id": "r-1", "threshold": 0.5}
    if canary:
        meta.update({"canary_version": canary, "canary_run_id": "r-2", "canary_threshold": 0.5})
    write_json(folder / SCORES_META, meta)
    return labels, frame


def label_days(cfg, today: date, days: dict) -> None:
    parts = [
        pd.DataFrame(
            {
                cfg.row_key: frame[cfg.row_key],
                cfg.row_time: frame[cfg.row_time],
                cfg.target.name: labels,
                "label_mature": True,
            }
        )
        for labels, frame in days.values()
    ]
    folder = features_partition(cfg.name, today.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(parts).to_parquet(folder / "part-0.parquet", index=False)


def run_rollout(cfg, canary_strength: float, labelled: int) -> dict:
    """``labelled`` scoring days whose labels matured, then the decision of the day after."""
    delay = cfg.window_spec().label_delay.days
    days = {
        FIRST + timedelta(days=i): score_day(
            cfg, FIRST + timedelta(days=i), canary_strength=canary_strength, seed=i
        )
        for i in range(labelled)
    }
    today = FIRST + timedelta(days=labelled - 1 + delay + 1)
    label_days(cfg, today, days)
    score_day(cfg, today, canary_strength=canary_strength, seed=99)
    return rollout_day(cfg, today, OPTS)


def aliases(cfg) -> dict:
    client = registry.configure_mlflow().MlflowClient()
    return {a: str(v) for a, v in client.get_registered_model(cfg.model_name).aliases.items()}


def test_a_canary_better_on_the_labelled_days_is_promoted_with_its_evidence(cfg):
    record = run_rollout(cfg, canary_strength=0.7, labelled=4)
    assert record["action"] == "promote"
    assert len(record["labelled_days"]) == 4
    assert record["evidence"]["lower"] > 0  # the whole interval above the champion
    assert aliases(cfg) == {"champion": "2", "previous": "1"}
    entry = registry.read_history(cfg.name)[-1]
    assert (entry["action"], entry["version"], entry["previous"]) == ("promote", "2", "1")
    assert entry["rollout"]["evidence"] == record["evidence"]
    assert entry["reason"].startswith("better than the champion: difference +")
    assert (rollout_dir(cfg.name, "2") / f"decision-ds={record['ds']}.json").exists()


def test_a_worse_canary_is_rolled_back_and_the_champion_never_changes(cfg):
    record = run_rollout(cfg, canary_strength=0.05, labelled=4)
    assert record["action"] == "roll_back"
    assert record["reason"].startswith("worse than the champion")
    assert aliases(cfg) == {"champion": "1"}
    entry = registry.read_history(cfg.name)[-1]
    assert (entry["action"], entry["version"]) == ("canary_rollback", "2")
    assert [e["action"] for e in registry.read_history(cfg.name)] == [
        "promote",
        "canary",
        "canary_rollback",
    ]


def test_before_min_days_of_labels_the_canary_waits_and_nothing_moves(cfg):
    record = run_rollout(cfg, canary_strength=0.7, labelled=2)
    assert record["action"] == "continue"
    assert record["reason"] == "undecided after 2 labelled days"
    assert aliases(cfg) == {"champion": "1", "canary": "2"}


def test_a_guardrail_breach_rolls_back_at_once_without_any_label(cfg):
    strict = cfg.model_copy(update={"rollout": RolloutConfig(mode="canary")})
    labels, frame = score_day(strict, FIRST, canary_strength=0.7, seed=1)
    folder = scores_partition(cfg.name, FIRST.isoformat())
    frame["canary_probability"] = 0.9  # the canary flags every row
    frame.to_parquet(folder / "part-0.parquet", index=False)
    record = rollout_day(strict, FIRST, OPTS)
    assert record["action"] == "roll_back"
    assert record["labelled_days"] == []
    assert "guardrail breached: the two models decide alike on" in record["reason"]
    assert f"the canary flags {ROWS} rows" in record["reason"]
    assert aliases(cfg) == {"champion": "1"}


def test_a_day_scored_without_the_canary_says_to_rerun_the_score_dag(cfg):
    score_day(cfg, FIRST, canary_strength=0.7, seed=1, canary=None)
    with pytest.raises(RolloutScoresMissing, match="rerun fraud_score for 2026-03-01"):
        rollout_day(cfg, FIRST, OPTS)


def test_without_a_canary_there_is_nothing_to_decide(cfg):
    registry.end_rollout(cfg.name, cfg.model_name, promote=False, record={"reason": "by hand"})
    assert rollout_day(cfg, FIRST, OPTS)["action"] == "none"


def test_the_promote_task_in_rollout_mode_starts_a_canary_and_a_second_candidate_waits(cfg):
    from mlgate.gates import GateReport, GateResult
    from mlgate.stages.promote import promote

    registry.end_rollout(cfg.name, cfg.model_name, promote=False, record={"reason": "reset"})
    day = "2026-03-05"
    report = GateReport(results=[GateResult("quality", "block", "pass", 0.6, ">= 0.5")])
    runs.write_run_file(cfg.name, day, runs.GATES_FILE, {**report.to_dict(), runs.RUN_ID_KEY: "r"})
    candidate = {"run_id": "r-3", "family": "gbt", "window": {}, "metrics": {"auc_pr": 0.6}}
    runs.write_run_file(cfg.name, day, runs.CANDIDATE_FILE, candidate)
    runs.write_run_file(cfg.name, day, runs.EVALUATION_FILE, {"champion": {"version": "1"}})

    def decide(version: str) -> dict:
        runs.write_run_file(
            cfg.name,
            day,
            runs.DECISION_FILE,
            {runs.RUN_ID_KEY: "r", "ds": day, "version": version, "promoted": False, "reasons": []},
        )
        return promote(cfg, date(2026, 3, 5), RunOptions(airflow_run_id="r"))

    started = decide("3")
    assert started["canary"] is True and started["promoted"] is False
    assert aliases(cfg) == {"champion": "1", "canary": "3"}
    entry = registry.read_history(cfg.name)[-1]
    assert (entry["action"], entry["mode"], entry["share"]) == ("canary", "canary", 0.2)
    # with approval required too, a waiting candidate needs no answer: nobody was asked
    needs_approval = cfg.model_copy(update={"approval": "required"})
    runs.write_run_file(
        cfg.name,
        day,
        runs.DECISION_FILE,
        {runs.RUN_ID_KEY: "r", "ds": day, "version": "2", "promoted": False, "reasons": []},
    )
    waiting = promote(needs_approval, date(2026, 3, 5), RunOptions(airflow_run_id="r"))
    assert waiting["reasons"] == [
        "version 3 is in rollout: one rollout at a time; version 2 waits (a later run's "
        "candidate can follow)"
    ]
    assert aliases(cfg) == {"champion": "1", "canary": "3"}


def test_the_rollback_email_says_why_and_that_the_champion_stays(cfg):
    from mlgate.alerts import rollout_alert

    record = run_rollout(cfg, canary_strength=0.05, labelled=4)
    message = rollout_alert(
        {"recipients": ["ops@example.com"]}, cfg.model_name, pipeline=cfg.name, record=record
    )
    assert message["Subject"] == (
        f"[mlgate] fraud_detector: canary version 2 rolled back on {record['ds']}"
    )
    text = message.get_body(("plain",)).get_content()
    assert record["reason"] in text
    assert "The champion stays version 1; nothing else changed." in text
    assert "over 4 labelled days" in text


def test_the_first_candidate_of_a_pipeline_in_rollout_mode_is_promoted_at_once(cfg):
    from mlgate.gates import GateReport, GateResult
    from mlgate.stages.promote import promote

    client = registry.configure_mlflow().MlflowClient()
    client.delete_registered_model(cfg.model_name)
    client.create_registered_model(cfg.model_name)
    client.create_model_version(cfg.model_name, source="file:///nowhere")
    from mlgate.paths import promotion_history_path

    promotion_history_path(cfg.name).unlink()
    day = "2026-03-06"
    report = GateReport(results=[GateResult("quality", "block", "pass", 0.6, ">= 0.5")])
    runs.write_run_file(cfg.name, day, runs.GATES_FILE, {**report.to_dict(), runs.RUN_ID_KEY: "r"})
    candidate = {"run_id": "r-1", "family": "gbt", "window": {}, "metrics": {"auc_pr": 0.6}}
    runs.write_run_file(cfg.name, day, runs.CANDIDATE_FILE, candidate)
    runs.write_run_file(cfg.name, day, runs.EVALUATION_FILE, {"champion": None})
    runs.write_run_file(
        cfg.name,
        day,
        runs.DECISION_FILE,
        {runs.RUN_ID_KEY: "r", "ds": day, "version": "1", "promoted": False, "reasons": []},
    )
    decision = promote(cfg, date(2026, 3, 6), RunOptions(airflow_run_id="r"))
    assert decision["promoted"] is True
    assert aliases(cfg) == {"champion": "1"}
    assert [e["action"] for e in registry.read_history(cfg.name)] == ["promote"]


def test_a_labelled_day_without_a_positive_gives_no_evidence_and_a_record_json_accepts(cfg):
    import json

    delay = cfg.window_spec().label_delay.days
    labels, frame = score_day(cfg, FIRST, canary_strength=0.7, seed=3)
    today = FIRST + timedelta(days=delay + 1)
    label_days(cfg, today, {FIRST: (labels * 0, frame)})  # no positive matured yet
    score_day(cfg, today, canary_strength=0.7, seed=4)
    record = rollout_day(cfg, today, OPTS)
    assert record["action"] == "continue"
    (day,) = record["labelled_days"]
    assert (day["positives"], day["difference"], day["variance"]) == (0, None, None)
    json.dumps(record, allow_nan=False)  # what Airflow's XCom and the history need
