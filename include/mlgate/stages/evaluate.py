"""The gates task: the model gates the train job computed, with the run's overrides and gate
mode applied; the candidate registered and tagged with every verdict, and the decision
written for the promote task. It reads small JSON files only, never the score files."""

from __future__ import annotations

import logging
from datetime import date

from mlgate import registry
from mlgate.config import PipelineConfig
from mlgate.gates import GateResult
from mlgate.runs import (
    CANDIDATE_FILE,
    DECISION_FILE,
    DISAGREEMENTS_FILE,
    EVALUATION_FILE,
    MODEL_GATES_FILE,
    RUN_ID_KEY,
    read_run_file,
    run_file,
    run_file_of,
    write_run_file,
)
from mlgate.stages.common import RunOptions, enforce, record_gates

log = logging.getLogger(__name__)


def read_model_gates(cfg: PipelineConfig, day: str, opts: RunOptions) -> list[GateResult]:
    """The model gates the train job of this DAG run computed (before any override)."""
    computed = run_file_of(cfg.name, day, MODEL_GATES_FILE, opts.airflow_run_id)
    if computed is None:
        raise FileNotFoundError(
            f"{run_file(cfg.name, day, MODEL_GATES_FILE)} is missing or was written by another "
            f"run than {opts.airflow_run_id}: the train task of this run computes the model "
            "gates; rerun it (it writes the file when it ends)"
        )
    return [GateResult.from_dict(r) for r in computed["results"]]


def evaluate_gates(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """Record the model gates the train job computed (overrides applied), register the
    candidate tagged with every verdict, write the decision; stop on a blocking failure."""
    day = ds.isoformat()
    candidate = read_run_file(cfg.name, day, CANDIDATE_FILE)
    evaluation = read_run_file(cfg.name, day, EVALUATION_FILE)
    results = read_model_gates(cfg, day, opts)
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
