"""The rollout decision: a canary against the champion on the same traffic, day by day.

Each day of labelled traffic gives an estimate of the metric difference canary − champion
on the same rows and its variance (``daily_difference``: a paired Poisson bootstrap of the
rows). The days are combined weighted by their labelled positives ``p_d``: the estimate
``x = Σ p_d·x_d / Σ p_d``, its variance ``V = Σ p_d²·v_d / (Σ p_d)²`` and the information
``I = 1 / V``; with no difference, ``S = x·I`` is about N(0, I).

The test is the normal-mixture sequential probability ratio (Robbins 1970; the "always
valid" p-values of Johari et al. 2017, used by Optimizely and Eppo): with a normal prior of
scale ``effect`` on the difference, the ratio

    Λ(δ0) = (1 + τ²I)^(-1/2) · exp(τ² (S − δ0·I)² / (2 (1 + τ²I)))

stays below 1/α at every day, however many days one looks, with probability at least
1 − α when the true difference is δ0 (Ville's inequality). The set of δ0 it does not reject
is a confidence sequence for the difference (``Evidence.lower`` / ``upper``): valid under
daily peeking, where a t-test repeated every day would promote a model no better than the
champion far more often than its level says.

The burden of proof is on the canary (``RolloutRule``): it is promoted only when the whole
sequence lies above ``-margin`` (better than the champion with ``margin`` 0); it is rolled
back as soon as the sequence lies below 0 (worse), when a guardrail is breached, or when
``max_days`` have passed without proof. So the chance that a canary no better than the
champion minus the margin is ever promoted is at most ``alpha``
(``tests/unit/test_rollout_simulation.py`` measures it on synthetic score streams).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mlgate.config.promotion import RolloutConfig
from mlgate.gates.metrics import average_precision

PROMOTE, ROLL_BACK, CONTINUE = "promote", "roll_back", "continue"


_CONFIGURED = RolloutConfig()  # the defaults a pipeline's `rollout:` starts from


@dataclass(frozen=True)
class RolloutRule:
    """When a canary is promoted or rolled back (see the module docstring)."""

    alpha: float = _CONFIGURED.alpha  # the chance of promoting a canary no better
    effect: float = _CONFIGURED.effect  # the prior scale of the difference worth detecting
    margin: float = _CONFIGURED.margin  # promoted when better than the champion minus this
    min_days: int = _CONFIGURED.min_days  # labelled days before any decision on the metric
    max_days: int = _CONFIGURED.max_days  # no proof by then: rolled back, the champion stays

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, not {self.alpha}")
        if self.effect <= 0 or self.margin < 0:
            raise ValueError("effect must be positive and margin zero or more")
        if not 1 <= self.min_days <= self.max_days:
            raise ValueError(f"need 1 <= min_days ({self.min_days}) <= max_days ({self.max_days})")


@dataclass(frozen=True)
class DailyDifference:
    """One day's metric difference canary − champion on the same labelled rows."""

    day: str
    difference: float
    variance: float
    rows: int
    positives: int


@dataclass(frozen=True)
class Evidence:
    """The days combined: the weighted estimate, its information and the confidence
    sequence at level ``alpha`` (valid at every day, under daily looks)."""

    days: int
    estimate: float
    information: float
    lower: float
    upper: float


@dataclass(frozen=True)
class RolloutDecision:
    action: str  # PROMOTE, ROLL_BACK or CONTINUE
    reason: str
    evidence: Evidence | None


def combine(days: Sequence[DailyDifference], rule: RolloutRule) -> Evidence | None:
    """The confidence sequence of the difference after ``days`` (None: no usable day)."""
    usable = [d for d in days if d.positives > 0 and d.variance > 0 and math.isfinite(d.difference)]
    if not usable:
        return None
    # days weighted by their positives, a count known without error: a day's bootstrap
    # variance is itself noisy (at 60 draws, z-scores of variance 1.14, not 1), and weights
    # taken from it would favour the days whose variance came out low
    total = sum(d.positives for d in usable)
    estimate = sum(d.positives * d.difference for d in usable) / total
    variance = sum(d.positives**2 * d.variance for d in usable) / total**2
    information = 1.0 / variance
    tau2 = rule.effect**2
    growth = 1.0 + tau2 * information
    # Λ(δ0) >= 1/α  <=>  (S − δ0·I)² >= (1 + τ²I)/τ² · (2·log(1/α) + log(1 + τ²I)), S = est·I
    radius = math.sqrt(growth / tau2 * (2.0 * math.log(1.0 / rule.alpha) + math.log(growth)))
    return Evidence(
        days=len(usable),
        estimate=estimate,
        information=information,
        lower=estimate - radius / information,
        upper=estimate + radius / information,
    )


def decide(
    days: Sequence[DailyDifference],
    rule: RolloutRule,
    *,
    breached: Sequence[str] = (),
) -> RolloutDecision:
    """Promote, roll back or go on after ``days`` of labelled traffic (oldest first);
    ``breached``: the guardrails the canary broke (each rolls it back at once)."""
    if breached:
        return RolloutDecision(ROLL_BACK, f"guardrail breached: {', '.join(breached)}", None)
    evidence = combine(days, rule)
    if evidence is not None and evidence.days >= rule.min_days:
        interval = (
            f"difference {evidence.estimate:+.4f}, [{evidence.lower:+.4f}, {evidence.upper:+.4f}]"
        )
        if evidence.upper < 0:
            return RolloutDecision(ROLL_BACK, f"worse than the champion: {interval}", evidence)
        if evidence.lower > -rule.margin:
            better = (
                "better than the champion"
                if rule.margin == 0
                else (f"no worse than the champion by {rule.margin}")
            )
            return RolloutDecision(PROMOTE, f"{better}: {interval}", evidence)
    if len(days) >= rule.max_days:
        return RolloutDecision(
            ROLL_BACK,
            f"no proof after {len(days)} days (max_days {rule.max_days}): the champion stays",
            evidence,
        )
    seen = 0 if evidence is None else evidence.days
    return RolloutDecision(CONTINUE, f"undecided after {seen} labelled days", evidence)


@dataclass(frozen=True)
class Guardrails:
    """What a canary must never do on a day of traffic, labels or not: decide unlike the
    champion on many rows, or flag many times more (or fewer) rows than it."""

    min_agreement: float = _CONFIGURED.min_agreement
    max_flagged_ratio: float = _CONFIGURED.max_flagged_ratio

    def check(
        self,
        champion: np.ndarray,
        canary: np.ndarray,
        champion_threshold: float,
        canary_threshold: float,
    ) -> dict:
        """The day's figures and the guardrails broken (``breached``: one line each)."""
        by_champion = np.asarray(champion, dtype=float) >= champion_threshold
        by_canary = np.asarray(canary, dtype=float) >= canary_threshold
        rows = len(by_champion)
        agreement = float(np.mean(by_champion == by_canary)) if rows else 1.0
        flagged = (int(by_champion.sum()), int(by_canary.sum()))
        # one more on each side: a day where the champion flags nothing has a finite ratio
        ratio = (flagged[1] + 1) / (flagged[0] + 1)
        breached = []
        if agreement < self.min_agreement:
            breached.append(
                f"the two models decide alike on {agreement:.1%} of {rows} rows "
                f"(at least {self.min_agreement:.1%})"
            )
        if max(ratio, 1 / ratio) > self.max_flagged_ratio:
            breached.append(
                f"the canary flags {flagged[1]} rows, the champion {flagged[0]} (more than "
                f"{self.max_flagged_ratio:g} times apart)"
            )
        return {
            "rows": rows,
            "agreement": agreement,
            "flagged_champion": flagged[0],
            "flagged_canary": flagged[1],
            "flagged_ratio": ratio,
            "breached": breached,
        }


def _weighted_average_precision(
    labels: np.ndarray, scores: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Average precision (``metrics.average_precision``: tied scores are one threshold) of
    each row of ``weights``, how often each row is drawn: a resample without copying it.
    NaN for a resample without a positive."""
    # any order within a tie will do: only the sums down to each group's end are used
    order = np.argsort(-scores)
    ordered, y, w = scores[order], labels[order], weights[:, order]
    last = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]  # each group's last row
    positive = np.flatnonzero(y)
    if len(positive) == 0:
        return np.full(len(w), np.nan)
    # recall steps up only at the groups that hold a positive: precision is needed there only
    ends = last[np.unique(np.searchsorted(last, positive))]
    drawn = np.cumsum(w, axis=1)[:, ends]  # true + false positives down to each such group
    true = np.cumsum(w[:, positive], axis=1)[:, np.searchsorted(positive, ends, "right") - 1]
    # weights count whole draws: drawn is 0 only where nothing is drawn yet down to a group,
    # and then true is 0 too (and no step of recall there): 0 / 1, not 0 / 0
    precision = true / np.maximum(drawn, 1)
    total = true[:, -1:]
    with np.errstate(invalid="ignore"):  # 0 / 0 in a resample without a positive: NaN
        recall_steps = np.diff(true, prepend=0.0) / total
    return np.sum(recall_steps * precision, axis=1)


def poisson_weights(rng: np.random.Generator, samples: int, rows: int) -> np.ndarray:
    """Poisson(1) draws (how often a row is drawn in a resample of the Poisson bootstrap),
    by the inverse of its CDF: a few times faster than ``rng.poisson``; P(k > 12) < 1e-9."""
    return np.searchsorted(POISSON_CDF, rng.random((samples, rows)))


POISSON_CDF = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(13)])


def daily_difference(
    day: str,
    labels: np.ndarray,
    canary: np.ndarray,
    champion: np.ndarray,
    *,
    samples: int = 300,
    seed: int = 0,
) -> DailyDifference:
    """AUC-PR (average precision) of the canary minus the champion's on the same rows, and
    the variance of that difference over ``samples`` paired Poisson resamples of the rows."""
    labels = np.asarray(labels, dtype=float)
    canary, champion = np.asarray(canary, dtype=float), np.asarray(champion, dtype=float)
    observed = average_precision(labels, canary) - average_precision(labels, champion)
    weights = poisson_weights(np.random.default_rng(seed), samples, len(labels))
    resampled = _weighted_average_precision(labels, canary, weights) - (
        _weighted_average_precision(labels, champion, weights)
    )
    resampled = resampled[np.isfinite(resampled)]
    variance = float(np.var(resampled, ddof=1)) if len(resampled) > 1 else math.nan
    return DailyDifference(day, float(observed), variance, len(labels), int(labels.sum()))


__all__ = [
    "CONTINUE",
    "PROMOTE",
    "ROLL_BACK",
    "DailyDifference",
    "Evidence",
    "Guardrails",
    "RolloutDecision",
    "RolloutRule",
    "combine",
    "daily_difference",
    "decide",
]
