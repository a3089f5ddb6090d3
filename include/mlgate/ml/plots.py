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


# --- the monitor's report ---------------------------------------------------------------------


def drift_png(drifts: list[dict], min_psi: float, path: Path) -> Path:
    """PSI of every feature and of the score on a day; drifted ones (significant and above
    ``min_psi``) in red."""
    items = sorted(drifts, key=lambda d: d["psi"])
    fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(items) + 1)))
    colours = ["tab:red" if d["drifted"] else "tab:blue" for d in items]
    ax.barh([d["feature"] for d in items], [d["psi"] for d in items], color=colours)
    ax.axvline(min_psi, color="grey", linestyle="--", label=f"min_psi {min_psi:g}")
    ax.set(xlabel="PSI against the reference (red: drifted)", title="Drift of the day")
    ax.legend(loc="lower right")
    return _save(fig, path)


def reference_vs_day_png(reference: np.ndarray, day: np.ndarray, path: Path, title: str) -> Path:
    """Two distributions of one numeric value, as densities on shared bins."""
    fig, ax = plt.subplots(figsize=(6, 4))
    both = np.concatenate([reference, day])
    bins = np.histogram_bin_edges(both[np.isfinite(both)], bins=40)
    ax.hist(reference, bins=bins, alpha=0.55, density=True, label=f"reference ({len(reference)})")
    ax.hist(day, bins=bins, alpha=0.55, density=True, label=f"day ({len(day)})")
    # log: a fraud model's scores crowd near 0, and the shift is in the thin tail
    ax.set(ylabel="density (log)", yscale="log", title=title)
    ax.legend()
    return _save(fig, path)


def realised_png(days: list[dict], metric: str, path: Path) -> Path:
    """A realised metric per scoring day with its interval, and the holdout's promise."""
    fig, ax = plt.subplots(figsize=(7, 4))
    shown = [d for d in days if metric in d["metrics"]]
    x = [d["day"] for d in shown]
    values = np.array([d["metrics"][metric]["value"] for d in shown])
    lower = values - np.array([d["metrics"][metric]["lower"] for d in shown])
    upper = np.array([d["metrics"][metric]["upper"] for d in shown]) - values
    colours = ["tab:red" if metric in d["short"] else "tab:blue" for d in shown]
    ax.errorbar(x, values, yerr=[lower, upper], fmt="none", ecolor="grey", capsize=3)
    ax.scatter(x, values, c=colours, zorder=3)
    promised = [d["promised"].get(metric) for d in shown if d["promised"].get(metric) is not None]
    if promised:
        ax.axhline(promised[-1], color="green", linestyle="--", label="holdout's value")
        ax.legend(loc="lower left")
    ax.set(ylabel=metric, title=f"Realised {metric} by scoring day (red: short)")
    ax.tick_params(axis="x", labelrotation=45)
    return _save(fig, path)
