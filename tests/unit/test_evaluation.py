"""What the train job's evaluation keeps of the rows it scores (no Spark session needed)."""

from __future__ import annotations

import pytest

from mlgate.config import load_pipeline
from mlgate.jobs.evaluation import shadow_columns


@pytest.mark.parametrize(
    ("pipeline", "columns", "kept"),
    [
        # The shop's observation rows: region is an entity's key and a categorical input.
        (
            "shop",
            ["visitor_id", "occurred_at", "observation_id", "segment", "region", "day_of_week"],
            ["observation_id", "occurred_at", "visitor_id", "region", "segment"],
        ),
        # Fraud's transactions: the event key, its time, the card, the categorical inputs.
        (
            "fraud",
            ["transaction_id", "created_at", "card_id", "merchant_category", "channel", "amount"],
            [
                "transaction_id",
                "created_at",
                "card_id",
                "merchant_category",
                "channel",
                "card_type",
            ],
        ),
    ],
)
def test_shadow_scores_keep_key_time_entities_and_categorical_inputs_once(pipeline, columns, kept):
    assert shadow_columns(load_pipeline(pipeline), columns) == kept


# --- the gates task: the train job's results, the run's overrides, no score file read -----


@pytest.fixture
def gates_task(tmp_path, monkeypatch):
    """The gates task of one run with the train job's files written by hand; MLflow and the
    registry replaced by recorders; reading a Parquet file is an error."""
    import pandas as pd

    from mlgate import runs
    from mlgate.gates import GateResult
    from mlgate.stages import common, evaluate

    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))

    def no_parquet(*args, **kwargs):
        raise AssertionError("the gates task read a score file")

    monkeypatch.setattr(pd, "read_parquet", no_parquet)
    monkeypatch.setattr(common, "_log_gates_to_mlflow", lambda *args: None)
    registered = {}

    def register_candidate(model_name, model_uri, run_id, tags):
        registered.update(tags)
        return "7"

    monkeypatch.setattr(evaluate.registry, "register_candidate", register_candidate)
    cfg = load_pipeline("fraud")
    day = "2026-10-31"
    runs.write_run_file(
        cfg.name,
        day,
        runs.CANDIDATE_FILE,
        {"run_id": "r1", "model_uri": "runs:/r1/model", "family": "random_forest"},
    )
    runs.write_run_file(cfg.name, day, runs.EVALUATION_FILE, {"champion": {"version": "6"}})
    quality = GateResult("quality", "block", "fail", 0.2, "auc_pr >= 0.3", reason="floor")
    shadow = GateResult("shadow", "block", "pass", 0.01, "psi <= 0.2", reason="ok")
    runs.write_run_file(
        cfg.name,
        day,
        runs.MODEL_GATES_FILE,
        {runs.RUN_ID_KEY: "run-a", "results": [quality.to_dict(), shadow.to_dict()]},
    )
    return cfg, registered


def test_the_gates_task_overrides_the_train_jobs_failed_gate_as_asked_at_trigger_time(
    gates_task,
):
    from datetime import date

    from mlgate import runs
    from mlgate.stages import RunOptions, evaluate

    cfg, registered = gates_task
    opts = RunOptions(
        airflow_run_id="run-a", override_gates=["quality"], override_reason="known holiday dip"
    )
    assert evaluate.evaluate_gates(cfg, date(2026, 10, 31), opts) == {
        "version": "7",
        "passed": True,
    }
    report = runs.read_run_file(cfg.name, "2026-10-31", runs.GATES_FILE)
    quality = next(r for r in report["results"] if r["name"] == "quality")
    assert quality["overridden"] and quality["override_reason"] == "known holiday dip"
    assert registered["gate.quality"] == "fail (overridden)"
    assert registered["gate.shadow"] == "pass"
    decision = runs.read_run_file(cfg.name, "2026-10-31", runs.DECISION_FILE)
    assert decision["gates_passed"] and decision["version"] == "7"


def test_the_gates_task_blocks_on_the_train_jobs_failed_gate_without_an_override(gates_task):
    from datetime import date

    from mlgate.stages import GateFailed, RunOptions, evaluate

    cfg, registered = gates_task
    with pytest.raises(GateFailed, match="quality"):
        evaluate.evaluate_gates(cfg, date(2026, 10, 31), RunOptions(airflow_run_id="run-a"))
    assert registered["gate.quality"] == "fail"


def test_the_gates_task_refuses_model_gates_another_run_computed(gates_task):
    from datetime import date

    from mlgate.stages import RunOptions, evaluate

    cfg, _ = gates_task
    with pytest.raises(FileNotFoundError, match="train task of this run"):
        evaluate.evaluate_gates(cfg, date(2026, 10, 31), RunOptions(airflow_run_id="run-b"))
