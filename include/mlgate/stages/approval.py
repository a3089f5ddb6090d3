"""The approval step (``approval: required``): what the person deciding is shown, and their
answer as the promote task records it.

The DAG's ``approve`` task is Airflow's human-in-the-loop operator: it parks the run until
someone answers in the UI (Required Actions) or over the REST API, or until
``approval_timeout`` passes, which answers ``Reject``. No Airflow here: this module writes
the request's text and reads the answer the operator returns.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import quote

from mlgate.config import PipelineConfig
from mlgate.config.promotion import APPROVE, REJECT
from mlgate.errors import PermanentError
from mlgate.runs import (
    CANDIDATE_FILE,
    DECISION_FILE,
    EVALUATION_FILE,
    TRACKING_FILE,
    read_run_file,
    run_file_of,
)
from mlgate.stages.common import RunOptions, load_gates

COMMENT = "comment"  # the free-text field of the approval form


class ApprovalMissing(RuntimeError, PermanentError):
    """``approval: required`` and the run carries no answer: never promote without one."""


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|")


def approval_request(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict[str, str]:
    """Subject and Markdown body of the approval step: the candidate against the champion,
    every gate, and links to the evidence."""
    day = ds.isoformat()
    decision = read_run_file(cfg.name, day, DECISION_FILE)
    candidate = read_run_file(cfg.name, day, CANDIDATE_FILE)
    evaluation = read_run_file(cfg.name, day, EVALUATION_FILE)
    tracking = run_file_of(cfg.name, day, TRACKING_FILE, opts.airflow_run_id) or {}
    report = load_gates(cfg, ds, opts)
    champion = evaluation.get("champion")
    version = decision["version"]
    metrics = candidate["metrics"]
    lines = [
        f"**{cfg.model_name} version {version}** (trained on {day}, "
        f"{candidate['family']}) passed the gates: {report.summary()}.",
        "",
        f"Triggered by `{opts.triggered_by}`. Champion now: "
        + (f"version {champion['version']}." if champion else "none (first promotion)."),
        "",
        "Holdout of the candidate: "
        + ", ".join(
            f"{name} {_cell(metrics[name])}"
            for name in ("auc_pr", "roc_auc", "precision_at_threshold", "recall_at_threshold")
            if name in metrics
        )
        + ". The champion's values below are on the same rows.",
        "",
        "| gate | mode | verdict | value | champion | threshold | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in report.table():
        verdict = row["verdict"] + (" (overridden)" if row["overridden"] else "")
        lines.append(
            f"| {row['name']} | {row['mode']} | {verdict} | {_cell(row['value'])} | "
            f"{_cell(row['champion_value'])} | {_cell(row['threshold'])} | "
            f"{_cell(row['reason'])} |"
        )
    links = []
    if tracking.get("experiment_id") and tracking.get("run_id"):
        base = cfg.alerts.mlflow_url.rstrip("/")
        links.append(
            f"[MLflow run (plots, model, data checks)]({base}/#/experiments/"
            f"{tracking['experiment_id']}/runs/{tracking['run_id']})"
        )
    links.append(
        f"[this DAG run]({cfg.alerts.airflow_url.rstrip('/')}/dags/{quote(opts.dag_id)}/runs/"
        f"{quote(opts.airflow_run_id, safe='')})"
    )
    lines += [
        "",
        "Evidence: " + " · ".join(links),
        "",
        f"**{APPROVE}** {_what_approve_does(cfg, version, champion)}; **{REJECT}** keeps the "
        f"champion. No answer within {cfg.approval_timeout} rejects. Who answered, when and "
        f"the comment go into the promotion history (`mlgate history --pipeline {cfg.name}`).",
    ]
    subject = f"Promote {cfg.model_name} version {version} ({day})?"
    return {"subject": subject, "body": "\n".join(lines)}


def _what_approve_does(cfg: PipelineConfig, version: str, champion: dict | None) -> str:
    """The alias an approval moves: `champion`, or `canary` when the pipeline rolls out
    (the first model of a pipeline has no champion to be compared with: it is promoted)."""
    if cfg.rollout.mode == "none" or champion is None:
        return f"moves `champion` to version {version}"
    if cfg.rollout.mode == "shadow":
        served = "scores every request in the shadow of the champion"
    else:
        served = f"answers {cfg.rollout.share:.0%} of the entity keys"
    return (
        f"makes version {version} the `canary`: it {served} until the rollout promotes it "
        "or rolls it back"
    )


def approval_of(cfg: PipelineConfig, answer: dict | None) -> dict | None:
    """The answer of the approve task as the history records it (None when the pipeline
    needs no approval): decision, who, when, comment, whether the time ran out."""
    if cfg.approval != "required":
        return None
    if not answer:
        raise ApprovalMissing(
            f"pipeline {cfg.name} requires an approval (approval: required) and this run has "
            "no answer from its approve task: rerun the run's approve task"
        )
    chosen = list(answer.get("chosen_options") or [])
    user = answer.get("responded_by_user") or None
    at = answer.get("responded_at")
    return {
        "decision": "approve" if chosen == [APPROVE] else "reject",
        "by": (user.get("name") or user.get("id")) if isinstance(user, dict) else user,
        "at": at.isoformat() if hasattr(at, "isoformat") else at,
        COMMENT: (answer.get("params_input") or {}).get(COMMENT) or "",
        # the scheduler answers with the default (Reject) and no user when the time ran out
        "timed_out": user is None,
    }


def rejection_reason(cfg: PipelineConfig, approval: dict) -> str:
    if approval["timed_out"]:
        return f"no approval within {cfg.approval_timeout}: rejected"
    comment = f": {approval[COMMENT]}" if approval[COMMENT] else ""
    return f"rejected by {approval['by']} at {approval['at']}{comment}"


__all__ = ["COMMENT", "ApprovalMissing", "approval_of", "approval_request", "rejection_reason"]
