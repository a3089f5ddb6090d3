"""Gates on the candidate model: effort, curated examples, quality, behaviour, export."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlgate.gates.metrics import decision_cost, holdout_metrics, paired_bootstrap, psi
from mlgate.gates.metrics import metric as metric_value
from mlgate.gates.verdict import NO_CHAMPION, GateResult, plain, skipped

if TYPE_CHECKING:
    from mlgate.config import (
        AssertionSetGate,
        ExportParityGate,
        QualityGate,
        ShadowGate,
        TrainingIterationsGate,
    )


def training_iterations(
    cfg: TrainingIterationsGate,
    candidate: dict[str, float],
    history: list[dict[str, float]],
) -> GateResult:
    """Training effort (trees, nodes, depth, iterations) vs the last accepted runs.

    For each effort key found in the candidate and in the last ``cfg.history`` entries of
    ``history`` (oldest first): band = median +- tolerance * |median|. Outside the band in
    either direction fails (a sudden easy fit often means a column of zeros; a spike means
    noise). value = the largest relative deviation |candidate - median| / |median| (the
    denominator is 1 when the median is 0).
    """
    name = "training_iterations"
    recent = list(history or [])[-cfg.history :]
    threshold = f"within ±{cfg.tolerance:.0%} of median of last {cfg.history} accepted runs"
    if not recent:
        return skipped(name, cfg.mode, "no accepted run to compare with yet", threshold)
    per_key: dict[str, dict] = {}
    failures: list[str] = []
    worst = 0.0
    for key, value in sorted(candidate.items()):
        past = [float(h[key]) for h in recent if h.get(key) is not None]
        if value is None or not past:
            continue
        value = float(value)
        median = float(np.median(past))
        spread = cfg.tolerance * abs(median)
        low, high = median - spread, median + spread
        deviation = abs(value - median) / (abs(median) if median else 1.0)
        ok = low <= value <= high
        per_key[key] = {
            "candidate": value,
            "median": median,
            "low": low,
            "high": high,
            "deviation": deviation,
            "runs": len(past),
            "ok": ok,
        }
        worst = max(worst, deviation)
        if not ok:
            direction = "below" if value < low else "above"
            failures.append(
                f"{key} {value:g} {direction} [{low:g}, {high:g}] "
                f"(median {median:g} of {len(past)} accepted runs)"
            )
    if not per_key:
        return skipped(
            name,
            cfg.mode,
            f"no effort metric in common with the accepted runs (candidate has "
            f"{sorted(candidate)}; model family changed?)",
            threshold,
        )
    details = {"keys": per_key, "history_runs": len(recent)}
    if failures:
        reason = "training effort changed: " + "; ".join(failures)
        return GateResult(name, cfg.mode, "fail", worst, threshold, reason=reason, details=details)
    reason = "; ".join(
        f"{k} {d['candidate']:g} in [{d['low']:g}, {d['high']:g}]" for k, d in per_key.items()
    )
    return GateResult(name, cfg.mode, "pass", worst, threshold, reason=reason, details=details)


# --------------------------------------------------------------------------- assertion set


def assertion_set(cfg: AssertionSetGate, examples: pd.DataFrame, threshold: float) -> GateResult:
    """Every curated example must be decided as expected (score >= threshold means 1).

    A missing (NaN) score counts as a miss. An empty set fails.
    """
    name = "assertion_set"
    needed = ["id", "expected", "score", "description"]
    missing_columns = [c for c in needed if c not in examples.columns]
    if missing_columns:
        raise ValueError(f"assertion examples lack columns {missing_columns}")
    total = len(examples)
    text = f"100% of {total}"
    if total == 0:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            text,
            reason=f"assertion set is empty ({cfg.path})",
            details={"path": cfg.path},
        )
    scores = pd.to_numeric(examples["score"], errors="coerce").to_numpy(dtype=float)
    expected = examples["expected"].astype(int).to_numpy()
    decided = np.where(np.isnan(scores), -1, (scores >= threshold).astype(int))
    hit = decided == expected
    missed = [
        {
            "id": plain(row["id"]),
            "expected": int(row["expected"]),
            "score": plain(score),
            "description": str(row["description"]),
        }
        for (_, row), score, ok in zip(examples.iterrows(), scores, hit)
        if not ok
    ]
    share = float(hit.mean())
    details = {
        "path": cfg.path,
        "total": total,
        "correct": int(hit.sum()),
        "operating_threshold": threshold,
        "missed": missed,
    }
    if missed:
        listed = "; ".join(
            f"{m['id']} (expected {m['expected']}, score "
            f"{'missing' if m['score'] is None else format(m['score'], '.4f')}: "
            f"{m['description']})"
            for m in missed
        )
        reason = f"{len(missed)} of {total} assertion examples missed at {threshold:g}: {listed}"
        return GateResult(name, cfg.mode, "fail", share, text, reason=reason, details=details)
    reason = f"all {total} assertion examples decided as expected at {threshold:g}"
    return GateResult(name, cfg.mode, "pass", share, text, reason=reason, details=details)


# --------------------------------------------------------------------------- quality


def _all_metrics(
    labels: np.ndarray, scores: np.ndarray, threshold: float, cfg: QualityGate
) -> dict[str, float]:
    metrics = dict(holdout_metrics(labels, scores, threshold))
    metrics["cost"] = decision_cost(
        labels, scores, threshold, cfg.cost_false_negative, cfg.cost_false_positive
    )
    return metrics


def quality(
    cfg: QualityGate,
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    threshold: float,
    *,
    seed: int = 0,
) -> GateResult:
    """Holdout quality: (a) floors, (b) not significantly worse than the champion on the same
    holdout, (c) not suspiciously better than the champion (leakage), (d) no metric above
    its ceiling (leakage; checked with or without a champion, so on the first run too).

    ``diff`` is oriented so that positive means "the candidate is better": candidate -
    champion for auc_pr / roc_auc / recall, champion - candidate for cost (lower is better);
    max_drop and max_jump are in the metric's own units (for cost: cost per row).
    (b) fails when the upper bound of the paired bootstrap interval of diff is below
    -max_drop; (c) fails when the point diff is above max_jump; (d) fails when a metric is
    above its ceiling (equal passes).
    """
    name = "quality"
    metric = cfg.compare_metric
    labels = np.asarray(labels).astype(int)
    candidate = np.asarray(candidate, dtype=float)
    if len(candidate) != len(labels):
        raise ValueError(f"{len(candidate)} candidate scores for {len(labels)} labels")
    if champion is not None:
        champion = np.asarray(champion, dtype=float)
        if len(champion) != len(labels):
            raise ValueError(f"{len(champion)} champion scores for {len(labels)} labels")
    floor_text = ", ".join(f"{k} >= {v:.4f}" for k, v in cfg.floor.items())
    floor_text += "; " + ", ".join(f"{k} <= {v:.4f}" for k, v in cfg.ceiling.items())
    lower = " (lower is better)" if metric == "cost" else ""
    threshold_text = (
        f"{floor_text}; vs champion {metric}{lower}: drop <= {cfg.max_drop:.4f} beyond the "
        f"{cfg.confidence:.0%} interval, gain <= {cfg.max_jump:.4f}"
    )
    positives = int(labels.sum())
    if positives == 0 or positives == len(labels):
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold_text,
            reason=(
                f"holdout has {positives} positives among {len(labels)} rows: ranking metrics "
                "are undefined; widen training.holdout_days or check the labels"
            ),
            details={"holdout_rows": len(labels), "holdout_positives": positives},
        )
    if not np.isfinite(candidate).all():
        raise ValueError("candidate scores contain NaN or infinite values")

    cand = _all_metrics(labels, candidate, threshold, cfg)
    failures: list[str] = []
    floor_failures = {}
    for key, floor in cfg.floor.items():
        if cand[key] < floor:
            floor_failures[key] = {"value": cand[key], "floor": floor}
            failures.append(f"floor: {key} {cand[key]:.4f} < {floor:.4f}")
    ceiling_failures = {}
    for key, ceiling in cfg.ceiling.items():
        if cand[key] > ceiling:
            ceiling_failures[key] = {"value": cand[key], "ceiling": ceiling}
            failures.append(
                f"too good to be true: {key} {cand[key]:.4f} above the ceiling {ceiling:.4f}; "
                "suspect leakage (a feature that sees the label or the future), verify "
                "before overriding"
            )
    details: dict[str, Any] = {
        "compare_metric": metric,
        "candidate": cand,
        "floor": dict(cfg.floor),
        "floor_failures": floor_failures,
        "ceiling": dict(cfg.ceiling),
        "ceiling_failures": ceiling_failures,
        "operating_threshold": threshold,
    }
    value = cand[metric]
    champion_value = None
    notes: list[str] = []

    if champion is None:
        details["champion"] = NO_CHAMPION
        notes.append(f"champion comparisons skipped: {NO_CHAMPION}")
    else:
        if not np.isfinite(champion).all():
            raise ValueError("champion scores contain NaN or infinite values")
        champ = _all_metrics(labels, champion, threshold, cfg)
        champion_value = champ[metric]
        sign = -1.0 if metric == "cost" else 1.0

        def gain(y, a, b):
            return sign * (
                metric_value(metric, y, a, threshold, cfg)
                - metric_value(metric, y, b, threshold, cfg)
            )

        diff = sign * (value - champion_value)
        diffs = paired_bootstrap(labels, candidate, champion, gain, cfg.bootstrap_samples, seed)
        alpha = (1 - cfg.confidence) / 2
        low, high = (float(x) for x in np.quantile(diffs, [alpha, 1 - alpha]))
        details.update(
            champion=champ,
            diff=diff,
            diff_direction=(
                "champion - candidate (cost: lower is better)"
                if metric == "cost"
                else "candidate - champion"
            ),
            interval=[low, high],
            confidence=cfg.confidence,
            bootstrap_samples=cfg.bootstrap_samples,
            seed=seed,
        )
        interval = f"{cfg.confidence:.0%} interval [{low:+.4f}, {high:+.4f}]"
        worse, jump = high < -cfg.max_drop, diff > cfg.max_jump
        details.update(significantly_worse=worse, suspicious_jump=jump)
        if worse:
            failures.append(
                f"significantly worse than the champion: {metric} gain {diff:+.4f}, "
                f"{interval} entirely below -{cfg.max_drop:.4f}"
            )
        if jump:
            failures.append(
                f"too good to be true: {metric} gain {diff:+.4f} over the champion exceeds "
                f"max_jump {cfg.max_jump:.4f}; suspect leakage (a feature that sees the label "
                "or the future), verify before overriding"
            )
        if not (worse or jump):
            notes.append(f"{metric} gain vs champion {diff:+.4f}, {interval}")

    headline = f"{metric} {value:.4f}" + (
        f" vs champion {champion_value:.4f}" if champion_value is not None else ""
    )
    if failures:
        reason = "; ".join([*failures, headline, *notes])
        verdict = "fail"
    else:
        reason = "; ".join([headline, "floors met", *notes])
        verdict = "pass"
    return GateResult(
        name,
        cfg.mode,
        verdict,
        value,
        threshold_text,
        champion_value=champion_value,
        reason=reason,
        details=details,
    )


# --------------------------------------------------------------------------- shadow


def shadow(
    cfg: ShadowGate,
    candidate: np.ndarray,
    champion: np.ndarray | None,
    threshold: float,
    rows: pd.DataFrame | None = None,
) -> tuple[GateResult, pd.DataFrame]:
    """Champion and candidate score the same traffic: PSI of scores and decision flips.

    PSI uses 10 bins on the champion's score deciles (see ``psi``); the flip rate is the
    share of rows whose decision (score >= threshold) differs. Also returns the
    ``cfg.top_disagreements`` rows with the largest |candidate - champion|: the rows'
    columns (if given) plus candidate_score, champion_score, abs_diff, keeping their index.
    """
    name = "shadow"
    threshold_text = f"psi <= {cfg.max_psi:.4f}, flip rate <= {cfg.max_flip_rate:.4f}"
    empty = pd.DataFrame(columns=["candidate_score", "champion_score", "abs_diff"])
    if champion is None:
        return skipped(name, cfg.mode, NO_CHAMPION, threshold_text, champion=NO_CHAMPION), empty
    candidate = np.asarray(candidate, dtype=float)
    champion = np.asarray(champion, dtype=float)
    if len(candidate) != len(champion):
        raise ValueError(f"{len(candidate)} candidate scores vs {len(champion)} champion scores")
    if rows is not None and len(rows) != len(candidate):
        raise ValueError(f"{len(rows)} rows for {len(candidate)} scores")
    n = len(candidate)
    if n == 0:
        result = GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold_text,
            reason="no traffic scored: nothing to compare the models on",
            details={"rows": 0},
        )
        return result, empty

    value = psi(champion, candidate, bins=10)
    flips = int(np.sum((candidate >= threshold) != (champion >= threshold)))
    flip_rate = flips / n
    base = rows.copy() if rows is not None else pd.DataFrame(index=pd.RangeIndex(n))
    base["candidate_score"] = candidate
    base["champion_score"] = champion
    base["abs_diff"] = np.abs(candidate - champion)
    order = np.argsort(-base["abs_diff"].to_numpy(), kind="mergesort")[: cfg.top_disagreements]
    top = base.iloc[order]

    details = {
        "psi": value,
        "flip_rate": flip_rate,
        "flips": flips,
        "rows": n,
        "operating_threshold": threshold,
        "mean_abs_diff": float(base["abs_diff"].mean()),
        "max_abs_diff": float(base["abs_diff"].max()),
    }
    measured = f"psi {value:.4f}, {flips} of {n} decisions flipped ({flip_rate:.2%})"
    failures = []
    if value > cfg.max_psi:
        failures.append(f"score distribution shifted: psi {value:.4f} > {cfg.max_psi:.4f}")
    if flip_rate > cfg.max_flip_rate:
        failures.append(
            f"decisions changed: flip rate {flip_rate:.2%} > {cfg.max_flip_rate:.2%} "
            f"({flips} of {n}); see the top disagreements"
        )
    if failures:
        result = GateResult(
            name,
            cfg.mode,
            "fail",
            value,
            threshold_text,
            reason="; ".join(failures),
            details=details,
        )
    else:
        result = GateResult(
            name, cfg.mode, "pass", value, threshold_text, reason=measured, details=details
        )
    return result, top


def export_parity(
    cfg: ExportParityGate,
    spark_scores: np.ndarray,
    portable_scores: np.ndarray | None,
    threshold: float,
    keys: np.ndarray | None = None,
    export_error: str | None = None,
    worst: int = 5,
) -> GateResult:
    """The portable (ONNX) export must reproduce Spark's probabilities on the same rows.

    Value: max |spark - portable| over every row (a row where both are NaN agrees, one NaN
    is a difference of infinity). Fails when it exceeds ``cfg.max_abs_diff``, when any
    decision (score >= threshold) differs, when there are no rows, or when there is no
    portable model (``export_error`` says why). Details list the ``worst`` rows.
    """
    name = "export_parity"
    threshold_text = f"max |Δp| <= {cfg.max_abs_diff:g}, every decision agrees"
    if portable_scores is None or export_error:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold_text,
            reason=f"no portable model to compare: {export_error or 'no ONNX scores'}",
            details={"export_error": export_error},
        )
    spark_scores = np.asarray(spark_scores, dtype=float)
    portable_scores = np.asarray(portable_scores, dtype=float)
    if len(spark_scores) != len(portable_scores):
        raise ValueError(f"{len(spark_scores)} Spark scores vs {len(portable_scores)} ONNX scores")
    n = len(spark_scores)
    if n == 0:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            None,
            threshold_text,
            reason="no holdout rows scored: parity not shown",
            details={"rows": 0},
        )
    both_nan = np.isnan(spark_scores) & np.isnan(portable_scores)
    diff = np.where(both_nan, 0.0, np.abs(spark_scores - portable_scores))
    diff = np.where(np.isnan(diff), np.inf, diff)
    flips_mask = (spark_scores >= threshold) != (portable_scores >= threshold)
    flips = int(np.sum(flips_mask))
    value = float(diff.max())
    order = np.argsort(-diff, kind="mergesort")[:worst]
    details = {
        "rows": n,
        "max_abs_diff": value,
        "mean_abs_diff": float(diff.mean()) if math.isfinite(value) else None,
        "decision_flips": flips,
        "operating_threshold": threshold,
        "worst_rows": [
            {
                "key": plain(keys[i]) if keys is not None else int(i),
                "spark": plain(spark_scores[i]),
                "onnx": plain(portable_scores[i]),
            }
            for i in order
        ],
    }
    measured = f"max |Δp| {value:.3g} over {n} rows, {flips} decision(s) differ"
    failures = []
    if value > cfg.max_abs_diff:
        failures.append(f"probabilities differ: max |Δp| {value:.3g} > {cfg.max_abs_diff:g}")
    if flips:
        failures.append(f"{flips} of {n} decisions at threshold {threshold} differ")
    if failures:
        return GateResult(
            name,
            cfg.mode,
            "fail",
            value,
            threshold_text,
            reason="; ".join(failures) + " (the ONNX export is not faithful: see details)",
            details=details,
        )
    return GateResult(
        name, cfg.mode, "pass", value, threshold_text, reason=measured, details=details
    )
