"""The metrics the gates judge and training logs (numpy only): one definition of each.

``holdout_metrics`` is what the train job logs for a candidate and what the quality gate
compares; ``metric`` computes one of them fast inside the paired bootstrap. Average
precision and ROC AUC follow scikit-learn's definitions (the unit tests compare them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mlgate.config import QualityGate

PSI_EPSILON = 1e-4  # floor for an empty bin's share, so that log(share) stays finite


def holdout_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Ranking and decision metrics of scores against 0/1 labels."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=float)
    positives = int(labels.sum())
    decided = scores >= threshold
    true_positives = int((decided & (labels == 1)).sum())
    metrics = {
        "holdout_rows": float(len(labels)),
        "holdout_positives": float(positives),
        "holdout_positive_rate": float(positives / len(labels)) if len(labels) else 0.0,
        "precision_at_threshold": true_positives / int(decided.sum()) if decided.any() else 0.0,
        "recall_at_threshold": true_positives / positives if positives else 0.0,
        "flagged_rate": float(decided.mean()) if len(labels) else 0.0,
    }
    if 0 < positives < len(labels):
        metrics["auc_pr"] = average_precision(labels, scores)
        metrics["roc_auc"] = roc_auc(labels, scores)
    return metrics


def _curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative true / false positives at each distinct score, highest score first."""
    order = np.argsort(-scores, kind="mergesort")
    ordered, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    return np.cumsum(y)[last], np.cumsum(1 - y)[last]


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """sum_k (R_k - R_{k-1}) P_k over distinct thresholds (sklearn's average_precision)."""
    tp, fp = _curve(labels, scores)
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Trapezoidal area under the ROC curve; ties count one half (sklearn's roc_auc)."""
    tp, fp = _curve(labels, scores)
    tpr, fpr = np.r_[0.0, tp / tp[-1]], np.r_[0.0, fp / fp[-1]]
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def decision_cost(
    labels: np.ndarray, scores: np.ndarray, threshold: float, cost_fn: float, cost_fp: float
) -> float:
    """(FN * cost_fn + FP * cost_fp) / n at the threshold: lower is better."""
    decided = scores >= threshold
    fn = int(np.sum(~decided & (labels == 1)))
    fp = int(np.sum(decided & (labels == 0)))
    return (fn * cost_fn + fp * cost_fp) / len(labels)


def metric(
    name: str, labels: np.ndarray, scores: np.ndarray, threshold: float, cfg: QualityGate
) -> float:
    """One metric by name, fast (used inside the bootstrap); agrees with holdout_metrics."""
    if name == "auc_pr":
        return average_precision(labels, scores)
    if name == "roc_auc":
        return roc_auc(labels, scores)
    if name == "cost":
        return decision_cost(
            labels, scores, threshold, cfg.cost_false_negative, cfg.cost_false_positive
        )
    decided = scores >= threshold
    tp = float(np.sum(decided & (labels == 1)))
    if name == "recall_at_threshold":
        return tp / float(np.sum(labels == 1))
    if name == "precision_at_threshold":
        return tp / float(np.sum(decided)) if decided.any() else 0.0
    raise ValueError(f"unknown metric {name!r}")


def paired_bootstrap(
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    gain,
    samples: int,
    seed: int,
) -> np.ndarray:
    """``gain(labels, candidate, champion)`` on stratified resamples of the same rows.

    Positives and negatives are resampled separately (with replacement, each keeping its
    count), so every resample has both classes; both models see the same rows.
    """
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    out = np.empty(samples)
    for i in range(samples):
        idx = np.concatenate(
            [
                rng.choice(positives, size=len(positives), replace=True),
                rng.choice(negatives, size=len(negatives), replace=True),
            ]
        )
        out[i] = gain(labels[idx], candidate[idx], champion[idx])
    return out


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``actual`` against ``expected``.

    Bin edges are the interior quantiles (1/bins, ..., (bins-1)/bins) of ``expected``,
    duplicates dropped (ties give fewer, wider bins); the outer bins are open, so every
    value of both arrays is counted; a value equal to an edge goes to the upper bin.
    With e_i, a_i the shares of each array in bin i, floored at PSI_EPSILON (1e-4) when a
    bin is empty:

        PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

    0 for identical distributions; about 0.1 is a small shift, above 0.2 a large one.
    """
    e, a = bin_counts(expected, actual, bins)
    e = np.maximum(e / len(expected), PSI_EPSILON)
    a = np.maximum(a / len(actual), PSI_EPSILON)
    return float(np.sum((a - e) * np.log(a / e)))


def bin_counts(
    expected: np.ndarray, actual: np.ndarray, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """How many values of each array fall in each of ``psi``'s bins (see ``psi``)."""
    expected = np.asarray(expected, dtype=float)
    actual = np.asarray(actual, dtype=float)
    if len(expected) == 0 or len(actual) == 0:
        raise ValueError("psi needs at least one value in each array")
    if bins < 2:
        raise ValueError("psi needs at least 2 bins")
    edges = np.unique(np.quantile(expected, np.arange(1, bins) / bins))
    e = np.bincount(np.searchsorted(edges, expected, side="right"), minlength=len(edges) + 1)
    a = np.bincount(np.searchsorted(edges, actual, side="right"), minlength=len(edges) + 1)
    return e, a
