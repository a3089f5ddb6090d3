"""What every stage of a DAG run shares: its options, its MLflow run, its gate report.

Gate verdicts accumulate in ``runs/ds=<ds>/gates.json`` as the run goes (``record_gates``),
each stage logs them to the DAG run's one MLflow run (``tracking_run``), and ``enforce``
stops the run on a blocking failure unless it is a dry run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

from mlgate.config import GATE_NAMES, PipelineConfig
from mlgate.errors import PermanentError
from mlgate.gates import MIN_OVERRIDE_REASON, GateReport, GateResult
from mlgate.runs import (
    GATES_FILE,
    RUN_ID_KEY,
    TAG_GATE_MODE,
    TAG_GATES_PASSED,
    TRACKING_FILE,
    lineage_tags,
    run_file,
    run_file_of,
    run_trigger,
    write_run_file,
)

log = logging.getLogger(__name__)

ENFORCE, DRY_RUN = "enforce", "dry_run"
GATE_MODES = (ENFORCE, DRY_RUN)


class RunOptionsError(ValueError, PermanentError):
    """The run was asked for something it cannot do (a bad Param); the message says what."""


@dataclass(frozen=True)
class RunOptions:
    """What the DAG run was asked to do (its Params) and who asked."""

    airflow_run_id: str = "manual"
    dag_id: str = "manual"
    triggered_by: str = "manual"
    gate_mode: str = ENFORCE
    override_gates: list[str] = field(default_factory=list)
    override_reason: str = ""
    approval: dict | None = None  # the approve task's answer (approval: required)

    @classmethod
    def from_context(cls, context: dict) -> RunOptions:
        """From an Airflow task context (plain dict access; no Airflow import needed)."""
        params = context.get("params") or {}
        dag_run = context.get("dag_run")
        run_type = getattr(getattr(dag_run, "run_type", None), "value", "manual")
        user = getattr(dag_run, "triggering_user_name", None)
        return cls(
            airflow_run_id=str(context.get("run_id", "manual")),
            dag_id=getattr(dag_run, "dag_id", None) or "manual",
            triggered_by=run_trigger(run_type, user, context.get("triggering_asset_events")),
            gate_mode=params.get("gate_mode") or ENFORCE,
            override_gates=list(params.get("override_gates") or []),
            override_reason=params.get("override_reason") or "",
        )

    def validate(self) -> None:
        """Reject a bad override request before any work is done."""
        if self.gate_mode not in GATE_MODES:
            raise RunOptionsError(
                f"gate_mode must be {ENFORCE!r} or {DRY_RUN!r}, not {self.gate_mode!r}"
            )
        unknown = sorted(set(self.override_gates) - set(GATE_NAMES))
        if unknown:
            raise RunOptionsError(
                f"override_gates names unknown gates {unknown}; known: {GATE_NAMES}"
            )
        if self.override_gates and len(self.override_reason.strip()) < MIN_OVERRIDE_REASON:
            raise RunOptionsError(
                f"overriding {self.override_gates} needs a written override_reason of at least "
                f"{MIN_OVERRIDE_REASON} characters; it is recorded in the history and the email"
            )


class GateFailed(RuntimeError, PermanentError):
    """A blocking gate failed: the run stops and the champion is untouched."""

    def __init__(self, report: GateReport, stage: str):
        self.report = report
        names = ", ".join(r.name for r in report.blocking())
        super().__init__(f"blocking gate(s) failed at {stage}: {names}\n{report.text_table()}")


# --- tracking: one MLflow run per DAG run -------------------------------------------------


def tracking_run(cfg: PipelineConfig, ds: date, opts: RunOptions) -> str:
    """The MLflow run of this DAG run, created by its first task and reused by the others."""
    existing = run_file_of(cfg.name, ds.isoformat(), TRACKING_FILE, opts.airflow_run_id)
    if existing:
        return existing["run_id"]
    from mlgate.registry import configure_mlflow, ensure_experiment, fail_interrupted_runs

    mlflow = configure_mlflow()
    experiment_id = ensure_experiment(cfg.model_name)
    run = mlflow.MlflowClient().create_run(
        experiment_id,
        run_name=f"{cfg.model_name}-{ds.isoformat()}",
        tags={
            **lineage_tags(
                cfg.name, ds.isoformat(), opts.dag_id, opts.airflow_run_id, opts.triggered_by
            ),
            TAG_GATE_MODE: opts.gate_mode,
        },
    )
    interrupted = fail_interrupted_runs(
        experiment_id, f"run {run.info.run_id} (Airflow run {opts.airflow_run_id})"
    )
    if interrupted:
        log.warning("marked FAILED the runs their killed owners left RUNNING: %s", interrupted)
    write_run_file(
        cfg.name,
        ds.isoformat(),
        TRACKING_FILE,
        {
            RUN_ID_KEY: opts.airflow_run_id,
            "experiment_id": experiment_id,
            "run_id": run.info.run_id,
        },
    )
    return run.info.run_id


def log_run_artifact(cfg: PipelineConfig, ds: date, opts: RunOptions, name: str, folder=None):
    """Log one file of the run folder to the DAG run's MLflow run."""
    from mlgate.registry import configure_mlflow

    client = configure_mlflow().MlflowClient()
    client.log_artifact(
        tracking_run(cfg, ds, opts),
        str(run_file(cfg.name, ds.isoformat(), name)),
        artifact_path=folder,
    )


# --- gate bookkeeping ---------------------------------------------------------------------


def load_gates(cfg: PipelineConfig, ds: date, opts: RunOptions) -> GateReport:
    """The gate report this DAG run has written so far (empty before its first stage)."""
    saved = run_file_of(cfg.name, ds.isoformat(), GATES_FILE, opts.airflow_run_id)
    return GateReport.from_dict(saved) if saved else GateReport(results=[])


def record_gates(
    cfg: PipelineConfig, ds: date, opts: RunOptions, results: list[GateResult], stage: str
) -> GateReport:
    """Merge this stage's verdicts into the run's gate report, apply overrides, log them."""
    report = load_gates(cfg, ds, opts)
    by_name = {r.name: r for r in report.results}
    for result in results:
        by_name[result.name] = result
    report = GateReport(results=[by_name[n] for n in GATE_NAMES if n in by_name])
    failed = {r.name for r in report.failed()}
    to_override = [n for n in opts.override_gates if n in failed]
    if to_override:
        report.apply_overrides(to_override, opts.override_reason)
    payload = {
        **report.to_dict(),
        RUN_ID_KEY: opts.airflow_run_id,
        "stage": stage,
        "gate_mode": opts.gate_mode,
        "configured": cfg.gates.configured(),
        "override_reason": opts.override_reason if opts.override_gates else "",
        "data_window": cfg.window_spec().data_window(ds),
    }
    write_run_file(cfg.name, ds.isoformat(), GATES_FILE, payload)
    _log_gates_to_mlflow(cfg, ds, opts, report)
    log.info("gates after %s:\n%s", stage, report.text_table())
    return report


def _log_gates_to_mlflow(cfg: PipelineConfig, ds: date, opts: RunOptions, report) -> None:
    from mlgate.registry import configure_mlflow

    client = configure_mlflow().MlflowClient()
    run_id = tracking_run(cfg, ds, opts)
    for name, value in report.metrics().items():
        client.log_metric(run_id, name, value)
    client.log_artifact(run_id, str(run_file(cfg.name, ds.isoformat(), GATES_FILE)))
    client.set_tag(run_id, TAG_GATES_PASSED, str(report.passed))


def enforce(report: GateReport, opts: RunOptions, stage: str) -> None:
    """Stop the run on a blocking failure, unless this is a dry run (which only reports)."""
    if report.blocking() and opts.gate_mode == ENFORCE:
        raise GateFailed(report, stage)
