"""Every configured model gate of one candidate, from the evidence its evaluation gathered.

The train job holds that evidence in memory right after scoring (the holdout, the latest
day, the ONNX twin's scores, the assertion set), so it computes the model gates where the
data is and writes only their results (``runs.MODEL_GATES_FILE``); the gates task applies
the run's overrides and gate mode to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from mlgate.gates.model import assertion_set, export_parity, quality, shadow, training_iterations
from mlgate.gates.online import online_parity
from mlgate.gates.verdict import GateResult

if TYPE_CHECKING:
    from mlgate.config import PipelineConfig

EFFORT_PREFIX = "effort_"  # training-effort metrics (mlgate.ml.training.TrainingEffort)


def effort_of(metrics: dict) -> dict[str, float]:
    """The training-effort metrics among a candidate's metrics."""
    return {k: v for k, v in metrics.items() if k.startswith(EFFORT_PREFIX)}


@dataclass
class OnlineEvidence:
    """The newest labelled day's rows, from Spark and from the online path, each with the
    features and a ``score`` column (``mlgate.gates.online``); ``unavailable`` says why
    there is nothing to compare."""

    spark: pd.DataFrame | None
    online: pd.DataFrame | None
    features: list[str]
    exact: set[str]
    unavailable: str | None = None


@dataclass
class ModelEvidence:
    """What the model gates judge, one row per scored row (the run folder's score files).

    - ``holdout``: the label column, ``candidate_score`` and ``champion_score`` (null
      without a champion);
    - ``shadow``: the latest day's rows, ``candidate_score`` and ``champion_score``;
    - ``parity``: the row key, ``spark_score`` and ``onnx_score`` of the holdout;
    - ``assertions``: ``id``, ``expected``, ``description``, ``score`` (None: no set).
    """

    threshold: float
    metrics: dict[str, float]  # the candidate's logged metrics (its effort among them)
    accepted_efforts: list[dict]  # effort of the recent promoted runs, oldest first
    champion_compared: bool
    holdout: pd.DataFrame
    shadow: pd.DataFrame
    parity: pd.DataFrame
    onnx_error: str | None = None
    assertions: pd.DataFrame | None = None
    online: OnlineEvidence | None = None
    disagreements: pd.DataFrame | None = field(default=None, init=False)


def model_gate_results(cfg: PipelineConfig, evidence: ModelEvidence) -> list[GateResult]:
    """Every configured model gate, in the order of the gate table. The shadow gate's top
    disagreements are left in ``evidence.disagreements`` (None without that gate)."""
    threshold = evidence.threshold
    has_champion = evidence.champion_compared
    results = []
    g = cfg.gates
    if g.training_iterations is not None:
        results.append(
            training_iterations(
                g.training_iterations, effort_of(evidence.metrics), evidence.accepted_efforts
            )
        )
    if g.assertion_set is not None:
        if evidence.assertions is None:
            raise ValueError("the assertion_set gate is configured but no example was scored")
        results.append(assertion_set(g.assertion_set, evidence.assertions, threshold))
    if g.quality is not None:
        holdout = evidence.holdout
        results.append(
            quality(
                g.quality,
                holdout[cfg.target.name].to_numpy().astype(int),
                holdout["candidate_score"].to_numpy(),
                holdout["champion_score"].to_numpy() if has_champion else None,
                threshold,
                seed=cfg.training.seed,
            )
        )
    if g.shadow is not None:
        rows = evidence.shadow
        result, evidence.disagreements = shadow(
            g.shadow,
            rows["candidate_score"].to_numpy(),
            rows["champion_score"].to_numpy() if has_champion else None,
            threshold,
            rows.drop(columns=["candidate_score", "champion_score"]),
        )
        results.append(result)
    if g.export_parity is not None:
        parity = evidence.parity
        results.append(
            export_parity(
                g.export_parity,
                parity["spark_score"].to_numpy(),
                parity["onnx_score"].to_numpy(),
                threshold,
                keys=parity[cfg.row_key].to_numpy(),
                export_error=evidence.onnx_error,
            )
        )
    if g.online_parity is not None:
        online = evidence.online
        if online is None:
            raise ValueError("the online_parity gate is configured but nothing was replayed")
        results.append(
            online_parity(
                g.online_parity,
                online.spark,
                online.online,
                key=cfg.row_key,
                features=online.features,
                exact=online.exact,
                threshold=threshold,
                unavailable=online.unavailable,
            )
        )
    return results
