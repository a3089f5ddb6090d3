"""The promote task: move `champion` to the candidate when every blocking gate passed."""

from __future__ import annotations

import logging
from datetime import date

from mlgate import registry
from mlgate.config import PipelineConfig
from mlgate.gates import effort_of
from mlgate.runs import (
    CANDIDATE_FILE,
    DECISION_FILE,
    EVALUATION_FILE,
    read_run_file,
    write_run_file,
)
from mlgate.stages.approval import approval_of, rejection_reason
from mlgate.stages.common import DRY_RUN, RunOptions, load_gates

log = logging.getLogger(__name__)


def promote(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """Move `champion` to the candidate if every blocking gate passed (never in a dry run)
    and, with ``approval: required``, a person approved it; a rejection is recorded too.
    With a rollout (``rollout.mode``), the candidate becomes `canary` instead."""
    day = ds.isoformat()
    decision = read_run_file(cfg.name, day, DECISION_FILE)
    report = load_gates(cfg, ds, opts)
    candidate = read_run_file(cfg.name, day, CANDIDATE_FILE)
    evaluation = read_run_file(cfg.name, day, EVALUATION_FILE)
    record = {
        "by": opts.airflow_run_id,
        "triggered_by": opts.triggered_by,
        "ds": day,
        "run_id": candidate["run_id"],
        "data_window": candidate["window"],
        "metrics": {k: candidate["metrics"].get(k) for k in ("auc_pr", "roc_auc")},
        "effort": effort_of(candidate["metrics"]),
        "gates": report.table(),
        "overrides": [r.name for r in report.results if r.overridden],
        "override_reason": opts.override_reason if opts.override_gates else "",
    }
    if opts.gate_mode == DRY_RUN:
        decision["reasons"] = ["dry run: gates evaluated and reported, nothing promoted"]
    elif not report.passed:
        decision["reasons"] = decision["reasons"] or ["no gate was evaluated: never promoted"]
    elif waiting := _rollout_in_progress(cfg, decision["version"]):
        decision["reasons"] = [waiting]  # asked no one either: the approval step skipped
        log.info(waiting)
    elif (approval := approval_of(cfg, opts.approval)) and approval["decision"] != "approve":
        reason = rejection_reason(cfg, approval)
        registry.record_rejection(
            cfg.name, cfg.model_name, decision["version"], record={**record, "approval": approval}
        )
        decision.update({"reasons": [reason], "approval": approval})
        log.info("version %s of %s not promoted: %s", decision["version"], cfg.model_name, reason)
    elif cfg.rollout.mode != "none":
        if approval is not None:
            record["approval"] = approval
        decision.update(_start_rollout(cfg, decision["version"], record))
    else:
        champion = evaluation.get("champion")
        if approval is not None:
            record["approval"] = approval
        entry = registry.promote(
            cfg.name,
            cfg.model_name,
            decision["version"],
            expected_champion=champion["version"] if champion else None,
            record=record,
        )
        decision.update({"promoted": True, "promoted_at": entry["at"], "reasons": []})
        if approval is not None:
            decision["approval"] = approval
        log.info("version %s is now the champion of %s", decision["version"], cfg.model_name)
    write_run_file(cfg.name, day, DECISION_FILE, decision)
    return decision


def _start_rollout(cfg: PipelineConfig, version: str, record: dict) -> dict:
    """The candidate becomes `canary` (the rollout DAG decides from here). The first
    candidate of a pipeline has no champion to be compared with: promoted at once."""
    if registry.champion_version(cfg.model_name) is None:  # nothing to compare a canary with
        entry = registry.promote(
            cfg.name, cfg.model_name, version, expected_champion=None, record=record
        )
        log.info("version %s is the first champion of %s", version, cfg.model_name)
        return {"promoted": True, "promoted_at": entry["at"], "reasons": []}
    entry = registry.start_canary(
        cfg.name,
        cfg.model_name,
        version,
        record={**record, "mode": cfg.rollout.mode, "share": cfg.rollout.share},
    )
    log.info("version %s of %s is now in rollout (%s)", version, cfg.model_name, cfg.rollout.mode)
    return {"canary": True, "canary_at": entry["at"], "reasons": []}


def _rollout_in_progress(cfg: PipelineConfig, version: str) -> str | None:
    """Why the candidate waits: another version is in rollout (one at a time), or None."""
    if cfg.rollout.mode == "none":
        return None
    in_rollout = registry.canary_version(cfg.name)
    if in_rollout in (None, version):
        return None
    return (
        f"version {in_rollout} is in rollout: one rollout at a time; version {version} "
        "waits (a later run's candidate can follow)"
    )
