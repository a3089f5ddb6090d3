"""The gates task: the model gates from the evaluate job's scores, the candidate registered
and tagged with every verdict, and the decision written for the promote task."""

from __future__ import annotations

import logging
from datetime import date

from mlgate import gates, registry
from mlgate.config import PipelineConfig
from mlgate.runs import (
    ASSERTION_SCORES,
    CANDIDATE_FILE,
    DECISION_FILE,
    DISAGREEMENTS_FILE,
    EVALUATION_FILE,
    HOLDOUT_SCORES,
    PARITY_SCORES,
    RUN_ID_KEY,
    SHADOW_SCORES,
    read_run_file,
    run_file,
    write_run_file,
)
from mlgate.stages.common import RunOptions, enforce, record_gates

log = logging.getLogger(__name__)

EFFORT_PREFIX = "effort_"  # training-effort metrics (mlgate.ml.training.TrainingEffort)


def effort_of(metrics: dict) -> dict[str, float]:
    """The training-effort metrics among a candidate's metrics."""
    return {k: v for k, v in metrics.items() if k.startswith(EFFORT_PREFIX)}


def accepted_efforts(pipeline: str, limit: int) -> list[dict]:
    """Training-effort metrics of the most recent promoted (accepted) runs, oldest first."""
    efforts = [
        e["effort"]
        for e in registry.read_history(pipeline)
        if e.get("action") == "promote" and e.get("effort")
    ]
    return efforts[-limit:]


def model_gate_results(cfg: PipelineConfig, day: str, candidate: dict, evaluation: dict) -> list:
    """Every configured model gate, from the files the evaluate job wrote for `day`."""
    import pandas as pd

    threshold = candidate["operating_threshold"]
    results = []
    g = cfg.gates
    if g.training_iterations is not None:
        history = accepted_efforts(cfg.name, g.training_iterations.history)
        results.append(
            gates.training_iterations(
                g.training_iterations, effort_of(candidate["metrics"]), history
            )
        )
    if g.assertion_set is not None:
        examples = pd.read_parquet(run_file(cfg.name, day, ASSERTION_SCORES))
        results.append(gates.assertion_set(g.assertion_set, examples, threshold))
    has_champion = evaluation.get("champion") is not None
    if g.quality is not None:
        holdout = pd.read_parquet(run_file(cfg.name, day, HOLDOUT_SCORES))
        results.append(
            gates.quality(
                g.quality,
                holdout[cfg.target.name].to_numpy().astype(int),
                holdout["candidate_score"].to_numpy(),
                holdout["champion_score"].to_numpy() if has_champion else None,
                threshold,
                seed=cfg.training.seed,
            )
        )
    if g.shadow is not None:
        shadow_rows = pd.read_parquet(run_file(cfg.name, day, SHADOW_SCORES))
        result, disagreements = gates.shadow(
            g.shadow,
            shadow_rows["candidate_score"].to_numpy(),
            shadow_rows["champion_score"].to_numpy() if has_champion else None,
            threshold,
            shadow_rows.drop(columns=["candidate_score", "champion_score"]),
        )
        results.append(result)
        disagreements.to_csv(run_file(cfg.name, day, DISAGREEMENTS_FILE), index=False)
    if g.export_parity is not None:
        parity = pd.read_parquet(run_file(cfg.name, day, PARITY_SCORES))
        results.append(
            gates.export_parity(
                g.export_parity,
                parity["spark_score"].to_numpy(),
                parity["onnx_score"].to_numpy(),
                threshold,
                keys=parity[cfg.row_key].to_numpy(),
                export_error=evaluation.get("onnx_error"),
            )
        )
    return results


def evaluate_gates(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """Model gates from the evaluate job's scores; register the candidate; record all."""
    day = ds.isoformat()
    candidate = read_run_file(cfg.name, day, CANDIDATE_FILE)
    evaluation = read_run_file(cfg.name, day, EVALUATION_FILE)
    results = model_gate_results(cfg, day, candidate, evaluation)
    report = record_gates(cfg, ds, opts, results, "gates")
    if not cfg.gates.configured():
        log.error("no gate is configured: the candidate can never be promoted")
    version = registry.register_candidate(
        cfg.model_name,
        candidate["model_uri"],
        candidate["run_id"],
        tags={
            "ds": day,
            "family": candidate["family"],
            "onnx": (candidate.get("onnx") or {}).get("model", "none"),
            "gates_passed": report.passed,
            **{
                f"gate.{r.name}": r.verdict + (" (overridden)" if r.overridden else "")
                for r in report.results
            },
        },
    )
    disagreements = run_file(cfg.name, day, DISAGREEMENTS_FILE)
    if disagreements.exists():
        client = registry.configure_mlflow().MlflowClient()
        client.log_artifact(candidate["run_id"], str(disagreements), artifact_path="shadow")
    write_run_file(
        cfg.name,
        day,
        DECISION_FILE,
        {
            RUN_ID_KEY: opts.airflow_run_id,
            "ds": day,
            "version": version,
            "gates_passed": report.passed,
            "champion_compared": evaluation.get("champion"),
            "promoted": False,
            "reasons": [f"{r.name}: {r.reason}" for r in report.blocking()],
        },
    )
    enforce(report, opts, "gates")
    return {"version": version, "passed": report.passed}
