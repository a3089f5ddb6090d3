"""The rollout decision on synthetic score streams (tests/support/rollout_simulation.py):
looked at every day, it promotes a canary that is only as good as the champion no more often
than its configured level, and it rolls back a canary 5 points of AUC-PR worse."""

from __future__ import annotations

from mlgate.gates.sequential import RolloutRule
from support.rollout_simulation import (
    CHAMPION_STRENGTH,
    NO_PROOF,
    PROMOTED,
    WORSE,
    simulate,
    strength_for,
)

RULE = RolloutRule(alpha=0.05, effect=0.05, min_days=3, max_days=28)
# a canary share's labelled rows per day (100 positives); 60 resamples keep it to a minute
DAY = {"rows": 1_000, "rate": 0.1, "samples": 60}


def test_a_canary_as_good_as_the_champion_is_promoted_at_most_alpha_of_the_time():
    outcomes = simulate(1_000, CHAMPION_STRENGTH, RULE, **DAY, seed=11)
    assert sum(outcomes.ends.values()) == 1_000
    assert outcomes.rate(PROMOTED) <= RULE.alpha, outcomes.ends
    assert outcomes.rate(WORSE) <= RULE.alpha, outcomes.ends  # rolled back, but not as "worse"
    assert outcomes.rate(NO_PROOF) >= 1 - 2 * RULE.alpha


def test_a_canary_five_points_worse_is_rolled_back_as_worse():
    outcomes = simulate(200, strength_for(0.05, DAY["rate"]), RULE, **DAY, seed=12)
    assert outcomes.rate(PROMOTED) == 0
    assert outcomes.rate(WORSE) >= 0.8, outcomes.ends
    assert outcomes.median_days(WORSE) < RULE.max_days
