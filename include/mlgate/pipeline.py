"""The work of each non-Spark task of the daily DAG, as plain functions (no Airflow needed).

Tasks exchange files under the state folder, keyed by the run's day `ds` (the start of
its data interval); only small summaries travel through XCom. Gate verdicts accumulate in
runs/ds=<ds>/gates.json as the run goes, and every stage logs them to the run's MLflow run.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from mlgate.config import MlgateConfig
from mlgate.paths import run_dir, table_partition, write_json

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
CHECK_RAW_FILE = "check_raw.json"
CHECK_FEATURES_FILE = "check_features.json"
QUARANTINE_FILE = "quarantine.json"
CANDIDATE_FILE = "candidate.json"
EVALUATION_FILE = "evaluation.json"
GATES_FILE = "gates.json"
TRACKING_FILE = "tracking.json"
DECISION_FILE = "decision.json"
DISAGREEMENTS_FILE = "shadow_top_disagreements.csv"

ENFORCE, DRY_RUN = "enforce", "dry_run"


@dataclass(frozen=True)
class RunOptions:
    """What the DAG run was asked to do (its Params) and who asked."""

    airflow_run_id: str = "manual"
    dag_id: str = "fraud_retrain"
    triggered_by: str = "manual"
    gate_mode: str = ENFORCE
    override_gates: list[str] = field(default_factory=list)
    override_reason: str = ""

    @classmethod
    def from_context(cls, context: dict) -> RunOptions:
        """From an Airflow task context (plain dict access; no Airflow import needed)."""
        params = context.get("params") or {}
        dag_run = context.get("dag_run")
        run_type = getattr(getattr(dag_run, "run_type", None), "value", "manual")
        user = getattr(dag_run, "triggering_user_name", None) or "-"
        return cls(
            airflow_run_id=str(context.get("run_id", "manual")),
            dag_id=getattr(dag_run, "dag_id", None) or "fraud_retrain",
            triggered_by=f"{run_type}:{user}",
            gate_mode=params.get("gate_mode") or ENFORCE,
            override_gates=list(params.get("override_gates") or []),
            override_reason=params.get("override_reason") or "",
        )

    def validate(self, cfg: MlgateConfig) -> None:
        """Reject a bad override request before any work is done."""
        from mlgate.config import GATE_NAMES
        from mlgate.gates import MIN_OVERRIDE_REASON

        if self.gate_mode not in (ENFORCE, DRY_RUN):
            raise ValueError(
                f"gate_mode must be {ENFORCE!r} or {DRY_RUN!r}, not {self.gate_mode!r}"
            )
        unknown = sorted(set(self.override_gates) - set(GATE_NAMES))
        if unknown:
            raise ValueError(f"override_gates names unknown gates {unknown}; known: {GATE_NAMES}")
        if self.override_gates and len(self.override_reason.strip()) < MIN_OVERRIDE_REASON:
            raise ValueError(
                f"overriding {self.override_gates} needs a written override_reason of at least "
                f"{MIN_OVERRIDE_REASON} characters; it is recorded in the history and the email"
            )


class GateFailed(RuntimeError):
    """A blocking gate failed: the run stops and the champion is untouched."""

    def __init__(self, report, stage: str):
        self.report = report
        names = ", ".join(r.name for r in report.blocking())
        super().__init__(f"blocking gate(s) failed at {stage}: {names}\n{report.text_table()}")


def write_run_file(ds: str, name: str, payload: dict) -> None:
    write_json(run_dir(ds) / name, payload)


def read_run_file(ds: str, name: str) -> dict:
    path = run_dir(ds) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: has the task that writes it run for {ds}?")
    return json.loads(path.read_text())


def _run_file_of(ds: str, name: str, opts: RunOptions) -> dict | None:
    """A run file only if it was written by this DAG run (not by an earlier run of the day)."""
    path = run_dir(ds) / name
    if not path.exists():
        return None
    payload = json.loads(path.read_text())
    return payload if payload.get("airflow_run_id") == opts.airflow_run_id else None


# --- tracking: one MLflow run per DAG run -------------------------------------------------


def tracking_run(cfg: MlgateConfig, ds: date, opts: RunOptions) -> str:
    """The MLflow run of this DAG run, created by its first task and reused by the others."""
    existing = _run_file_of(ds.isoformat(), TRACKING_FILE, opts)
    if existing:
        return existing["run_id"]
    from mlgate.registry import configure_mlflow, ensure_experiment, git_commit

    mlflow = configure_mlflow()
    experiment_id = ensure_experiment(cfg.model_name)
    run = mlflow.MlflowClient().create_run(
        experiment_id,
        run_name=f"{cfg.model_name}-{ds.isoformat()}",
        tags={
            "mlgate.ds": ds.isoformat(),
            "mlgate.airflow.dag_id": opts.dag_id,
            "mlgate.airflow.run_id": opts.airflow_run_id,
            "mlgate.triggered_by": opts.triggered_by,
            "mlgate.gate_mode": opts.gate_mode,
            "mlgate.git_commit": git_commit(),
        },
    )
    write_run_file(
        ds.isoformat(),
        TRACKING_FILE,
        {
            "airflow_run_id": opts.airflow_run_id,
            "experiment_id": experiment_id,
            "run_id": run.info.run_id,
        },
    )
    return run.info.run_id


# --- gate bookkeeping ---------------------------------------------------------------------


def load_gates(ds: date, opts: RunOptions):
    from mlgate.gates import GateReport

    saved = _run_file_of(ds.isoformat(), GATES_FILE, opts)
    return GateReport.from_dict(saved) if saved else GateReport(results=[])


def record_gates(cfg: MlgateConfig, ds: date, opts: RunOptions, results: list, stage: str):
    """Merge this stage's verdicts into the run's gate report, apply overrides, log them."""
    report = load_gates(ds, opts)
    by_name = {r.name: r for r in report.results}
    for result in results:
        by_name[result.name] = result
    from mlgate.config import GATE_NAMES
    from mlgate.gates import GateReport

    report = GateReport(results=[by_name[n] for n in GATE_NAMES if n in by_name])
    failed = {r.name for r in report.failed()}
    to_override = [n for n in opts.override_gates if n in failed]
    if to_override:
        report.apply_overrides(to_override, opts.override_reason)
    payload = {
        **report.to_dict(),
        "airflow_run_id": opts.airflow_run_id,
        "stage": stage,
        "gate_mode": opts.gate_mode,
        "configured": cfg.gates.configured(),
        "override_reason": opts.override_reason if opts.override_gates else "",
    }
    write_run_file(ds.isoformat(), GATES_FILE, payload)
    _log_gates_to_mlflow(cfg, ds, opts, report)
    log.info("gates after %s:\n%s", stage, report.text_table())
    return report


def _log_gates_to_mlflow(cfg: MlgateConfig, ds: date, opts: RunOptions, report) -> None:
    from mlgate.registry import configure_mlflow

    client = configure_mlflow().MlflowClient()
    run_id = tracking_run(cfg, ds, opts)
    for name, value in report.metrics().items():
        client.log_metric(run_id, name, value)
    client.log_artifact(run_id, str(run_dir(ds.isoformat()) / GATES_FILE))
    client.set_tag(run_id, "mlgate.gates_passed", str(report.passed))


def enforce(report, opts: RunOptions, stage: str) -> None:
    """Stop the run on a blocking failure, unless this is a dry run (which only reports)."""
    if report.blocking() and opts.gate_mode == ENFORCE:
        raise GateFailed(report, stage)


# --- tasks --------------------------------------------------------------------------------


def extract(cfg: MlgateConfig, ds: date, as_of: datetime, opts: RunOptions) -> dict:
    """Land the run's window in the lake; write and return a short data manifest."""
    from mlgate.extract import extract_for_run

    opts.validate(cfg)
    manifest = extract_for_run(cfg, ds, as_of)
    write_run_file(ds.isoformat(), MANIFEST_FILE, manifest)
    run_id = tracking_run(cfg, ds, opts)
    from mlgate.registry import configure_mlflow

    configure_mlflow().MlflowClient().log_artifact(
        run_id, str(run_dir(ds.isoformat()) / MANIFEST_FILE), artifact_path="data"
    )
    return {
        "ds": manifest["ds"],
        "event_rows": manifest["event_rows"],
        "own_day_rows": manifest["events"][-1]["rows"],
        "partitions": len(manifest["events"]) + len(manifest["snapshots"]),
    }


def recent_volumes(cfg: MlgateConfig, ds: date) -> list[int]:
    """Row counts of the days before `ds` in the lake (for the volume band)."""
    from mlgate.extract import partition_rows

    days = cfg.gates.data_expectations.volume_history_days if cfg.gates.data_expectations else 7
    counts = []
    for offset in range(1, days + 1):
        rows = partition_rows(cfg.source.events.table, (ds - timedelta(days=offset)).isoformat())
        if rows:  # a missing or empty earlier day is no baseline
            counts.append(rows)
    return counts


def _suite_path(name: str):
    from mlgate.checks import SUITES_DIR

    return SUITES_DIR / f"{name}.json"


def check_raw(cfg: MlgateConfig, ds: date, opts: RunOptions) -> dict:
    """Record rules + quarantine (bad_record_ratio) and the raw suite + volume band."""
    import pandas as pd

    from mlgate import gates
    from mlgate.checks import run_suite
    from mlgate.records import quarantine_day

    results = []
    own_rows = None
    if cfg.gates.reconciliation is not None:  # source window vs lake partition (issue 4)
        from mlgate.extract import reconcile_day

        results.append(reconcile_day(cfg, ds))
    if cfg.gates.bad_record_ratio is not None:
        quarantine = quarantine_day(cfg, ds)
        write_run_file(ds.isoformat(), QUARANTINE_FILE, quarantine.to_dict())
        own_rows = quarantine.total_rows
        results.append(
            gates.bad_record_ratio(
                cfg.gates.bad_record_ratio,
                quarantine.total_rows,
                quarantine.bad_rows,
                quarantine.reasons,
            )
        )
    expectations = cfg.gates.data_expectations
    if expectations is not None:
        frame = pd.read_parquet(table_partition(cfg.source.events.table, ds.isoformat()))
        own_rows = len(frame)
        report = run_suite(frame, _suite_path(expectations.raw_suite)).to_dict()
        write_run_file(ds.isoformat(), CHECK_RAW_FILE, report)
        results.append(
            gates.data_expectations(
                expectations,
                [report],
                label_rate=None,
                volume=own_rows,
                volume_history=recent_volumes(cfg, ds),
            )
        )
    report = record_gates(cfg, ds, opts, results, "check_raw")
    enforce(report, opts, "check_raw")
    return {"rows": own_rows, "gates": {r.name: r.verdict for r in report.results}}


def check_features(cfg: MlgateConfig, ds: date, opts: RunOptions) -> dict:
    """The feature-table suite and the label rate, folded into data_expectations."""
    expectations = cfg.gates.data_expectations
    if expectations is None:
        return {"gates": {}}
    import pandas as pd

    from mlgate import gates
    from mlgate.checks import run_suite
    from mlgate.paths import features_partition

    frame = pd.read_parquet(features_partition(ds.isoformat()))
    features_report = run_suite(frame, _suite_path(expectations.features_suite)).to_dict()
    write_run_file(ds.isoformat(), CHECK_FEATURES_FILE, features_report)
    mature = frame[frame["label_mature"]]
    label_rate = float(mature[cfg.label.name].mean()) if len(mature) else None
    raw_path = run_dir(ds.isoformat()) / CHECK_RAW_FILE
    reports = [json.loads(raw_path.read_text())] if raw_path.exists() else []
    from mlgate.extract import partition_rows

    own_rows = partition_rows(cfg.source.events.table, ds.isoformat())
    result = gates.data_expectations(
        expectations,
        [*reports, features_report],
        label_rate=label_rate if len(mature) else 0.0,
        volume=own_rows,
        volume_history=recent_volumes(cfg, ds),
    )
    report = record_gates(cfg, ds, opts, [result], "check_features")
    enforce(report, opts, "check_features")
    return {"label_rate": label_rate, "gates": {r.name: r.verdict for r in report.results}}


def accepted_efforts(limit: int) -> list[dict]:
    """Training-effort metrics of the most recent promoted (accepted) runs, oldest first."""
    from mlgate.registry import read_history

    efforts = [
        e["effort"] for e in read_history() if e.get("action") == "promote" and e.get("effort")
    ]
    return efforts[-limit:]


def evaluate_gates(cfg: MlgateConfig, ds: date, opts: RunOptions) -> dict:
    """Model gates from the evaluate job's scores; register the candidate; record all."""
    import pandas as pd

    from mlgate import gates, registry
    from mlgate.jobs.evaluate_job import ASSERTION_SCORES, HOLDOUT_SCORES, SHADOW_SCORES

    day = ds.isoformat()
    out = run_dir(day)
    candidate = read_run_file(day, CANDIDATE_FILE)
    evaluation = read_run_file(day, EVALUATION_FILE)
    threshold = cfg.training.operating_threshold
    effort = {k: v for k, v in candidate["metrics"].items() if k.startswith("effort_")}
    results = []
    g = cfg.gates
    if g.training_iterations is not None:
        history = accepted_efforts(g.training_iterations.history)
        results.append(gates.training_iterations(g.training_iterations, effort, history))
    if g.assertion_set is not None:
        examples = pd.read_parquet(out / ASSERTION_SCORES)
        results.append(gates.assertion_set(g.assertion_set, examples, threshold))
    holdout = pd.read_parquet(out / HOLDOUT_SCORES)
    has_champion = evaluation.get("champion") is not None
    if g.quality is not None:
        results.append(
            gates.quality(
                g.quality,
                holdout[cfg.label.name].to_numpy().astype(int),
                holdout["candidate_score"].to_numpy(),
                holdout["champion_score"].to_numpy() if has_champion else None,
                threshold,
                seed=cfg.training.seed,
            )
        )
    if g.shadow is not None:
        shadow_rows = pd.read_parquet(out / SHADOW_SCORES)
        result, disagreements = gates.shadow(
            g.shadow,
            shadow_rows["candidate_score"].to_numpy(),
            shadow_rows["champion_score"].to_numpy() if has_champion else None,
            threshold,
            shadow_rows.drop(columns=["candidate_score", "champion_score"]),
        )
        results.append(result)
        disagreements.to_csv(out / DISAGREEMENTS_FILE, index=False)
    if g.export_parity is not None:
        from mlgate.jobs.evaluate_job import PARITY_SCORES

        if (out / PARITY_SCORES).exists():
            parity = pd.read_parquet(out / PARITY_SCORES)
            results.append(
                gates.export_parity(
                    g.export_parity,
                    parity["spark_score"].to_numpy(),
                    parity["onnx_score"].to_numpy(),
                    threshold,
                    keys=parity[cfg.source.events.key].to_numpy(),
                    export_error=evaluation.get("onnx_error"),
                )
            )
        else:  # an evaluate job from before the twin existed
            results.append(
                gates.export_parity(
                    g.export_parity, [], None, threshold, export_error="no parity scores"
                )
            )

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
    client = registry.configure_mlflow().MlflowClient()
    if (out / DISAGREEMENTS_FILE).exists():
        client.log_artifact(
            candidate["run_id"], str(out / DISAGREEMENTS_FILE), artifact_path="shadow"
        )
    write_run_file(
        day,
        DECISION_FILE,
        {
            "airflow_run_id": opts.airflow_run_id,
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


def promote(cfg: MlgateConfig, ds: date, opts: RunOptions) -> dict:
    """Move `champion` to the candidate if every blocking gate passed (never in a dry run)."""
    from mlgate import registry

    day = ds.isoformat()
    decision = read_run_file(day, DECISION_FILE)
    report = load_gates(ds, opts)
    candidate = read_run_file(day, CANDIDATE_FILE)
    evaluation = read_run_file(day, EVALUATION_FILE)
    if opts.gate_mode == DRY_RUN:
        decision["reasons"] = ["dry run: gates evaluated and reported, nothing promoted"]
    elif not report.passed:
        decision["reasons"] = decision["reasons"] or ["no gate was evaluated: never promoted"]
    else:
        champion = evaluation.get("champion")
        entry = registry.promote(
            cfg.model_name,
            decision["version"],
            expected_champion=champion["version"] if champion else None,
            record={
                "by": opts.airflow_run_id,
                "triggered_by": opts.triggered_by,
                "ds": day,
                "run_id": candidate["run_id"],
                "data_window": candidate["window"],
                "metrics": {k: candidate["metrics"].get(k) for k in ("auc_pr", "roc_auc")},
                "effort": {
                    k: v for k, v in candidate["metrics"].items() if k.startswith("effort_")
                },
                "gates": report.table(),
                "overrides": [r.name for r in report.results if r.overridden],
                "override_reason": opts.override_reason if opts.override_gates else "",
            },
        )
        decision.update({"promoted": True, "promoted_at": entry["at"], "reasons": []})
        log.info("version %s is now the champion of %s", decision["version"], cfg.model_name)
    write_run_file(day, DECISION_FILE, decision)
    return decision
