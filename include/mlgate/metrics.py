"""Holdout metrics of 0/1 labels and scores (numpy and scikit-learn; no Spark)."""

from __future__ import annotations

import numpy as np


def holdout_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Ranking and decision metrics of scores against 0/1 labels."""
    from sklearn.metrics import average_precision_score, roc_auc_score

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
        metrics["auc_pr"] = float(average_precision_score(labels, scores))
        metrics["roc_auc"] = float(roc_auc_score(labels, scores))
    return metrics
