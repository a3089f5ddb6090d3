"""PNG plots of a candidate's holdout behaviour, logged with its MLflow run."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def roc_curve_png(labels: np.ndarray, scores: np.ndarray, path: Path) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label=f"candidate (AUC {roc_auc_score(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, holdout")
    ax.legend(loc="lower right")
    return _save(fig, path)


def precision_recall_png(
    labels: np.ndarray, scores: np.ndarray, threshold: float, path: Path
) -> Path:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, cut = precision_recall_curve(labels, scores)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(
        recall, precision, label=f"candidate (AP {average_precision_score(labels, scores):.3f})"
    )
    ax.axhline(labels.mean(), linestyle="--", color="grey", label="base rate")
    at = np.searchsorted(cut, threshold)
    if at < len(cut):
        ax.scatter(
            [recall[at]],
            [precision[at]],
            color="red",
            zorder=3,
            label=f"operating threshold {threshold:g}",
        )
    ax.set(
        xlabel="recall",
        ylabel="precision",
        title="Precision-recall, holdout",
        xlim=(0, 1),
        ylim=(0, 1.02),
    )
    ax.legend(loc="lower left")
    return _save(fig, path)


def score_distribution_png(
    labels: np.ndarray, scores: np.ndarray, threshold: float, path: Path, target: str = "label"
) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 51)
    ax.hist(scores[labels == 0], bins=bins, alpha=0.6, density=True, label=f"{target} = 0")
    ax.hist(scores[labels == 1], bins=bins, alpha=0.6, density=True, label=f"{target} = 1")
    ax.axvline(threshold, color="red", linestyle="--", label="operating threshold")
    ax.set(
        xlabel=f"score: probability of {target}",
        ylabel="density (log)",
        yscale="log",
        title="Score distribution by true class, holdout",
    )
    ax.legend()
    return _save(fig, path)


def feature_importance_png(importances: dict[str, float], path: Path, top: int = 25) -> Path:
    items = list(importances.items())[:top][::-1]
    fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(items) + 1)))
    ax.barh([name for name, _ in items], [value for _, value in items])
    ax.set(xlabel="importance", title=f"Top {len(items)} features")
    return _save(fig, path)
