"""Realised performance: how a served model did on the rows it scored, once their labels
matured, next to what its holdout promised.

Per scoring day and model version: AUC-PR and ROC AUC with percentile intervals from a
bootstrap of the day's rows (positives and negatives resampled apart, as the quality gate
does), and precision and recall at the operating threshold with Wilson score intervals.
A metric falls short of its promise only when its whole interval lies below the holdout's
value minus ``tolerance``: a day of 40 positives whose AUC-PR is 0.05 under the holdout's
is noise, a month of them is not (the monitor asks for N such days in a row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from mlgate.gates.metrics import average_precision, paired_bootstrap, roc_auc

RANKING = ("auc_pr", "roc_auc")  # bootstrapped
AT_THRESHOLD = ("precision_at_threshold", "recall_at_threshold")  # Wilson intervals


@dataclass(frozen=True)
class Interval:
    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class RealisedDay:
    """One scoring day of one model version, its labels matured."""

    day: str
    model_version: str
    rows: int
    positives: int
    metrics: dict[str, Interval]  # the metrics the day's rows can give
    short: list[str]  # the metrics whose interval lies below the promise


def wilson(successes: int, trials: int, confidence: float) -> Interval | None:
    """The Wilson score interval of a proportion (None without trials)."""
    if trials == 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    share = successes / trials
    centre = (share + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z
        / (1 + z * z / trials)
        * math.sqrt(share * (1 - share) / trials + z * z / (4 * trials * trials))
    )
    # the ends are within [0, 1] exactly; rounding can overshoot by one unit (9 of 9 at 95%)
    return Interval(share, max(0.0, centre - half), min(1.0, centre + half))


def _bootstrapped(labels, scores, confidence: float, samples: int, seed: int) -> dict:
    """AUC-PR and ROC AUC with percentile intervals over stratified resamples (the quality
    gate's ``paired_bootstrap``, one model: the same seed gives both metrics the same rows)."""
    tail = (1 - confidence) / 2 * 100
    intervals = {}
    for name, measure in (("auc_pr", average_precision), ("roc_auc", roc_auc)):
        draws = paired_bootstrap(
            labels, scores, scores, lambda y, s, _, m=measure: m(y, s), samples, seed
        )
        intervals[name] = Interval(
            measure(labels, scores),
            float(np.percentile(draws, tail)),
            float(np.percentile(draws, 100 - tail)),
        )
    return intervals


def realised_day(
    day: str,
    model_version: str,
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    promised: dict[str, float],
    *,
    confidence: float = 0.95,
    tolerance: float = 0.0,
    samples: int = 300,
    seed: int = 0,
) -> RealisedDay:
    """A day's realised metrics and those that fell short of ``promised`` (the holdout's
    values by metric name; a metric it has no value for is never short)."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    positives = int(labels.sum())
    metrics: dict[str, Interval] = {}
    if 0 < positives < len(labels):
        metrics.update(_bootstrapped(labels, scores, confidence, samples, seed))
    decided = scores >= threshold
    true_positives = int(np.sum(decided & (labels == 1)))
    trials = {"precision_at_threshold": int(decided.sum()), "recall_at_threshold": positives}
    for name in AT_THRESHOLD:
        found = wilson(true_positives, trials[name], confidence)
        if found is not None:
            metrics[name] = found
    short = [
        name
        for name, interval in metrics.items()
        if name in promised and interval.upper < promised[name] - tolerance
    ]
    return RealisedDay(day, model_version, len(labels), positives, metrics, short)


__all__ = ["AT_THRESHOLD", "RANKING", "Interval", "RealisedDay", "realised_day", "wilson"]
