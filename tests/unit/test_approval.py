"""The approval step (approval: required) as the promote task records it, on a real
(SQLite-backed) MLflow registry: approved moves the champion and says who and when,
rejected or unanswered keeps it and says so in the history; never without an answer."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from mlgate import registry, runs
from mlgate.config import load_pipeline
from mlgate.gates import GateReport, GateResult
from mlgate.stages import RunOptions
from mlgate.stages.approval import ApprovalMissing, approval_request
from mlgate.stages.promote import promote

DAY = date(2026, 10, 31)
RUN = "scheduled__2026-10-31"


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    return tmp_path_factory.mktemp("approval-state")


@pytest.fixture
def run(state, tmp_path, monkeypatch):
    """A registered model whose version 1 is champion, version 2 the candidate of a run
    that passed every gate (its run files written by hand)."""
    monkeypatch.setenv("MLGATE_STATE", str(state))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = load_pipeline("fraud").model_copy(update={"approval": "required"})
    (state / "pipelines" / "fraud" / "promotions.jsonl").unlink(missing_ok=True)
    client = registry.configure_mlflow().MlflowClient()
    if client.search_registered_models(f"name = '{cfg.model_name}'"):
        client.delete_registered_model(cfg.model_name)
    client.create_registered_model(cfg.model_name)
    for n in (1, 2):
        source = tmp_path / f"model-{n}"
        source.mkdir()
        client.create_model_version(cfg.model_name, source=source.as_uri())
    registry.promote(cfg.name, cfg.model_name, "1", expected_champion=None, record={"by": "r0"})
    day = DAY.isoformat()
    quality = GateResult("quality", "block", "pass", 0.61, "auc_pr >= champion - 0.01", 0.6)
    report = GateReport(results=[quality])
    runs.write_run_file(cfg.name, day, runs.GATES_FILE, {**report.to_dict(), runs.RUN_ID_KEY: RUN})
    runs.write_run_file(
        cfg.name,
        day,
        runs.DECISION_FILE,
        {runs.RUN_ID_KEY: RUN, "ds": day, "version": "2", "promoted": False, "reasons": []},
    )
    runs.write_run_file(
        cfg.name,
        day,
        runs.CANDIDATE_FILE,
        {
            "run_id": "run-of-2",
            "family": "random_forest",
            "window": {"train_start": "2026-09-21"},
            "metrics": {"auc_pr": 0.61, "roc_auc": 0.95},
        },
    )
    runs.write_run_file(cfg.name, day, runs.EVALUATION_FILE, {"champion": {"version": "1"}})
    runs.write_run_file(
        cfg.name,
        day,
        runs.TRACKING_FILE,
        {runs.RUN_ID_KEY: RUN, "experiment_id": "3", "run_id": "run-of-2"},
    )
    return cfg


def answer(chosen: str, user: str | None, comment: str = "") -> dict:
    """What Airflow's human-in-the-loop operator returns (its XCom)."""
    return {
        "chosen_options": [chosen],
        "params_input": {"comment": comment},
        "responded_at": datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
        "responded_by_user": {"id": user, "name": user} if user else None,
    }


def options(approval) -> RunOptions:
    return RunOptions(airflow_run_id=RUN, dag_id="fraud_retrain", approval=approval)


def test_an_approved_candidate_becomes_champion_with_who_and_when_recorded(run):
    decision = promote(run, DAY, options(answer("Approve", "alice", "looked at the PR curve")))
    assert decision["promoted"] is True
    assert registry.champion_version(run.model_name)["version"] == "2"
    entry = registry.read_history(run.name)[-1]
    assert entry["action"] == "promote" and entry["version"] == "2"
    assert entry["approval"] == {
        "decision": "approve",
        "by": "alice",
        "at": "2026-11-01T09:30:00+00:00",
        "comment": "looked at the PR curve",
        "timed_out": False,
    }


def test_a_rejected_candidate_leaves_the_champion_and_the_rejection_in_the_history(run):
    decision = promote(run, DAY, options(answer("Reject", "bob", "holiday data")))
    assert decision["promoted"] is False
    assert decision["reasons"] == ["rejected by bob at 2026-11-01T09:30:00+00:00: holiday data"]
    assert registry.champion_version(run.model_name)["version"] == "1"
    entry = registry.read_history(run.name)[-1]
    assert (entry["action"], entry["version"], entry["approval"]["by"]) == ("reject", "2", "bob")
    assert entry["gates"][0]["name"] == "quality"  # the evidence the person saw
    # a rerun of the task records nothing twice
    promote(run, DAY, options(answer("Reject", "bob", "holiday data")))
    assert [e["action"] for e in registry.read_history(run.name)] == ["promote", "reject"]


def test_no_answer_in_time_rejects_and_says_so(run):
    decision = promote(run, DAY, options(answer("Reject", None)))
    assert decision["reasons"] == ["no approval within 24h: rejected"]
    assert decision["approval"]["timed_out"] is True
    assert registry.champion_version(run.model_name)["version"] == "1"


def test_a_pipeline_that_requires_approval_never_promotes_without_an_answer(run):
    with pytest.raises(ApprovalMissing, match="approval: required"):
        promote(run, DAY, options(None))
    assert registry.champion_version(run.model_name)["version"] == "1"


def test_the_request_shows_the_gates_the_champion_and_links_to_the_evidence(run):
    request = approval_request(run, DAY, options(None))
    assert request["subject"] == "Promote fraud_detector version 2 (2026-10-31)?"
    body = request["body"]
    assert "| quality | block | pass | 0.61 | 0.6 | auc_pr >= champion - 0.01 |" in body
    assert "Champion now: version 1." in body
    assert f"{run.alerts.mlflow_url}/#/experiments/3/runs/run-of-2" in body
    assert f"{run.alerts.airflow_url}/dags/fraud_retrain/runs/scheduled__2026-10-31" in body
    assert "No answer within 24h rejects" in body
    assert "**Approve** moves `champion` to version 2" in body


def test_the_request_of_a_rollout_pipeline_says_approval_makes_a_canary(run):
    from mlgate.config.promotion import RolloutConfig

    canary = run.model_copy(update={"rollout": RolloutConfig(mode="canary", share=0.2)})
    body = approval_request(canary, DAY, options(None))["body"]
    assert "**Approve** makes version 2 the `canary`: it answers 20% of the entity keys" in body
    assert "moves `champion`" not in body
    shadow = run.model_copy(update={"rollout": RolloutConfig(mode="shadow")})
    body = approval_request(shadow, DAY, options(None))["body"]
    assert "it scores every request in the shadow of the champion" in body


def test_history_shows_who_approved_and_who_rejected(run, capsys):
    from mlgate.cli import main

    promote(run, DAY, options(answer("Reject", "bob", "holiday data")))
    assert main(["history", "--pipeline", "fraud"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "reject    v2 ds 2026-10-31" in last
    assert last.endswith("rejected by bob at 2026-11-01T09:30:00+00:00: holiday data")
