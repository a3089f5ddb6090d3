"""The rollout DAG's task: promote the canary, roll it back, or wait another day.

During a rollout (``rollout.mode`` canary or shadow) the score DAG scores every row of the
day with the champion and with the canary (``canary_probability``), so the two are compared
on the same traffic:

- **guardrails**, every day, labels or not (``gates.sequential.Guardrails``): the two decide
  alike on most rows, and the canary flags neither many times more nor many times fewer
  rows; a breach rolls the canary back at once;
- **realised AUC-PR difference**, as each scoring day's labels mature (the labels of the
  newest feature table, as the monitor reads them): the day's difference and its paired
  bootstrap variance (``daily_difference``), combined over the days into a confidence
  sequence valid under daily looks (``decide``): promoted once better than the champion
  (minus ``margin``), rolled back once worse, or after ``max_days`` labelled days without
  proof.

Every day's evidence lands in ``rollout/v<version>/`` and the ending in the promotion
history (the evidence with it). No Airflow here.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict
from datetime import date, timedelta

from mlgate import registry
from mlgate.config import PipelineConfig
from mlgate.errors import PermanentError
from mlgate.gates.sequential import (
    PROMOTE,
    ROLL_BACK,
    DailyDifference,
    Guardrails,
    RolloutRule,
    daily_difference,
    decide,
)
from mlgate.paths import rollout_dir, scores_partition, write_json
from mlgate.serving.batch import CANARY_PROBABILITY, PROBABILITY, SCORES_META
from mlgate.stages.common import RunOptions
from mlgate.stages.monitor import day_labels, labelled_days, labels_source, served_day

log = logging.getLogger("mlgate.rollout")


class RolloutScoresMissing(FileNotFoundError, PermanentError):
    """The day was scored without the canary in rollout: nothing to compare."""


def rule_of(cfg: PipelineConfig) -> RolloutRule:
    r = cfg.rollout
    return RolloutRule(
        alpha=r.alpha, effect=r.effect, margin=r.margin, min_days=r.min_days, max_days=r.max_days
    )


def guardrails_of(cfg: PipelineConfig) -> Guardrails:
    return Guardrails(cfg.rollout.min_agreement, cfg.rollout.max_flagged_ratio)


def rollout_start(cfg: PipelineConfig, version: str) -> dict:
    """The history entry that put ``version`` in rollout."""
    for entry in reversed(registry.read_history(cfg.name)):
        if entry.get("action") == "canary" and entry.get("version") == version:
            return entry
    raise PermanentError(f"no history entry starts the rollout of version {version}")


def paired_scores(cfg: PipelineConfig, day: date, canary: str):
    """(meta, rows with both models' scores) of a scoring day made with ``canary``, or
    (meta, None) when it was not."""
    import pandas as pd

    meta = served_day(cfg, day)
    if meta.get("canary_version") != canary:
        return meta, None
    folder = scores_partition(cfg.name, day.isoformat())
    rows = pd.read_parquet(folder, columns=[cfg.row_key, PROBABILITY, CANARY_PROBABILITY])
    return meta, rows.dropna(subset=[CANARY_PROBABILITY])


def labelled_difference(
    cfg: PipelineConfig, canary: str, day: date, labels_day: date
) -> DailyDifference | None:
    """The day's AUC-PR difference canary − champion on its labelled rows (kept once
    computed), or None when the day has none yet."""
    path = rollout_dir(cfg.name, canary) / f"labelled-ds={day.isoformat()}.json"
    if path.exists():
        return DailyDifference(**json.loads(path.read_text()))
    if not (scores_partition(cfg.name, day.isoformat()) / SCORES_META).exists():
        return None  # a day the score DAG did not run gives no evidence
    _, rows = paired_scores(cfg, day, canary)
    if rows is None:
        return None
    joined = rows.merge(day_labels(cfg, labels_day, day), on=cfg.row_key, how="inner")
    if joined.empty:
        return None
    found = daily_difference(
        day.isoformat(),
        joined[cfg.target.name].to_numpy(),
        joined[CANARY_PROBABILITY].to_numpy(),
        joined[PROBABILITY].to_numpy(),
    )
    write_json(path, asdict(found))
    return found


def _finite(values: dict) -> dict:
    """NaN and infinity as None: a day without a positive has no AUC-PR, and the record
    goes to JSON readers (XCom, the history) that refuse NaN."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in values.items()
    }


def rollout_day(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """Judge the rollout on ``ds``: guardrails on the day, the labelled days so far; promote,
    roll back or continue (history entry with the evidence). Returns the day's record."""
    canary = registry.canary_version(cfg.name)
    if canary is None:
        return {"ds": ds.isoformat(), "action": "none", "reason": "no canary in rollout"}
    start = rollout_start(cfg, canary)
    meta, rows = paired_scores(cfg, ds, canary)
    if rows is None:
        raise RolloutScoresMissing(
            f"the scores of {ds} were made without the canary (version {canary}): rerun "
            f"{cfg.dag_id('score')} for {ds}, then this task"
        )
    guard = guardrails_of(cfg).check(
        rows[PROBABILITY].to_numpy(),
        rows[CANARY_PROBABILITY].to_numpy(),
        float(meta["threshold"]),
        float(meta["canary_threshold"]),
    )
    days: list[DailyDifference] = []
    labels_day = labels_source(cfg, ds)
    if labels_day is not None:
        first, newest = labelled_days(cfg, labels_day)
        day = max(date.fromisoformat(start["ds"]), first)
        while day <= min(newest, ds):
            found = labelled_difference(cfg, canary, day, labels_day)
            if found is not None:
                days.append(found)
            day += timedelta(days=1)
    decision = decide(days, rule_of(cfg), breached=guard["breached"])
    record = {
        "ds": ds.isoformat(),
        "canary": canary,
        "champion": meta["model_version"],
        "started": start["ds"],
        "mode": cfg.rollout.mode,
        "guardrails": guard,
        "labelled_days": [_finite(asdict(d)) for d in days],
        "evidence": _finite(asdict(decision.evidence)) if decision.evidence else None,
        "action": decision.action,
        "reason": decision.reason,
    }
    write_json(rollout_dir(cfg.name, canary) / f"decision-ds={ds.isoformat()}.json", record)
    if decision.action in (PROMOTE, ROLL_BACK):
        entry = registry.end_rollout(
            cfg.name,
            cfg.model_name,
            promote=decision.action == PROMOTE,
            record={
                "by": opts.airflow_run_id,
                "triggered_by": opts.triggered_by,
                "ds": ds.isoformat(),
                "reason": decision.reason,
                "rollout": {k: record[k] for k in ("started", "mode", "guardrails", "evidence")},
                "labelled_days": len(days),
            },
        )
        record["history"] = entry["action"]
    log.info("rollout of version %s on %s: %s (%s)", canary, ds, decision.action, decision.reason)
    return record


__all__ = ["RolloutScoresMissing", "labelled_difference", "rollout_day"]
