"""Synthetic rollouts: a canary and the champion score the same labelled rows every day, and
the rollout decision (mlgate.gates.sequential) looks after each day, as the rollout DAG does.

A row's score is ``strength · label + shared noise + own noise`` (the two models share most
of their errors, as two models of the same features do). ``strength`` sets a model's
AUC-PR; ``strength_for`` finds the canary strength that is ``drop`` points of AUC-PR below
the champion's on a large sample.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from mlgate.gates.metrics import average_precision
from mlgate.gates.sequential import CONTINUE, PROMOTE, RolloutRule, daily_difference, decide

CHAMPION_STRENGTH = 2.0
SHARED = 0.8  # the share of a score's noise that both models have


def scores(rng, labels: np.ndarray, strength: float, shared: np.ndarray) -> np.ndarray:
    own = rng.normal(size=len(labels))
    return strength * labels + SHARED * shared + np.sqrt(1 - SHARED**2) * own


def strength_for(drop: float, rate: float, seed: int = 0) -> float:
    """The canary strength whose AUC-PR is ``drop`` below the champion's (bisection)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(400_000) < rate).astype(float)
    shared = rng.normal(size=len(labels))
    target = average_precision(labels, scores(rng, labels, CHAMPION_STRENGTH, shared)) - drop
    low, high = 0.0, CHAMPION_STRENGTH
    for _ in range(30):
        middle = (low + high) / 2
        found = average_precision(labels, scores(rng, labels, middle, shared))
        low, high = (middle, high) if found < target else (low, middle)
    return (low + high) / 2


@dataclass
class Outcomes:
    """How the rollouts ended (``PROMOTED``, ``WORSE``, ``NO_PROOF``) and in how many days."""

    ends: Counter = field(default_factory=Counter)
    days: dict[str, list[int]] = field(default_factory=dict)

    def rate(self, end: str) -> float:
        return self.ends[end] / sum(self.ends.values())

    def median_days(self, end: str) -> float:
        return float(np.median(self.days[end]))


PROMOTED, WORSE, NO_PROOF = "promoted", "rolled back: worse", "rolled back: no proof"


def end_of(decision) -> str:
    if decision.action == PROMOTE:
        return PROMOTED
    worse = decision.evidence is not None and decision.evidence.upper < 0
    return WORSE if worse else NO_PROOF


def simulate(
    reps: int,
    canary_strength: float,
    rule: RolloutRule,
    *,
    rows: int,
    rate: float,
    samples: int,
    seed: int,
) -> Outcomes:
    """``reps`` rollouts of up to ``rule.max_days`` days of ``rows`` labelled rows each."""
    rng = np.random.default_rng(seed)
    outcomes = Outcomes()
    for _ in range(reps):
        days = []
        while True:
            labels = (rng.random(rows) < rate).astype(float)
            shared = rng.normal(size=rows)
            champion = scores(rng, labels, CHAMPION_STRENGTH, shared)
            canary = scores(rng, labels, canary_strength, shared)
            day = f"day {len(days) + 1}"
            days.append(
                daily_difference(
                    day, labels, canary, champion, samples=samples, seed=int(rng.integers(2**31))
                )
            )
            decision = decide(days, rule)
            if decision.action != CONTINUE:
                break
        end = end_of(decision)
        outcomes.ends[end] += 1
        outcomes.days.setdefault(end, []).append(len(days))
    return outcomes
