"""The rollout decision's statistics (mlgate.gates.sequential): the confidence sequence, the
decision rules, and the paired AUC-PR difference of one day. The error rates under daily
peeking are measured on synthetic streams in test_rollout_simulation.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlgate.gates.metrics import average_precision
from mlgate.gates.sequential import (
    CONTINUE,
    PROMOTE,
    ROLL_BACK,
    DailyDifference,
    Guardrails,
    RolloutRule,
    _weighted_average_precision,
    combine,
    daily_difference,
    decide,
    poisson_weights,
)


def day(difference: float, variance: float = 1e-4, positives: int = 50) -> DailyDifference:
    return DailyDifference("d", difference, variance, rows=1000, positives=positives)


def log_mixture_ratio(delta0: float, weighted: float, information: float, rule) -> float:
    """log Λ(δ0) written out (Robbins' normal mixture), independently of combine()."""
    tau2 = rule.effect**2
    return -0.5 * math.log(1 + tau2 * information) + tau2 * (
        weighted - delta0 * information
    ) ** 2 / (2 * (1 + tau2 * information))


def test_days_are_weighted_by_their_labelled_positives():
    rule = RolloutRule()
    evidence = combine([day(0.02, 1e-4, positives=30), day(0.04, 4e-4, positives=10)], rule)
    assert evidence.days == 2
    assert evidence.estimate == pytest.approx(0.025)  # (30 * 0.02 + 10 * 0.04) / 40
    # 1 / ((30² * 1e-4 + 10² * 4e-4) / 40²)
    assert evidence.information == pytest.approx(1600 / 0.13)


def test_the_sequence_ends_where_the_mixture_ratio_reaches_one_over_alpha():
    for rule in (RolloutRule(), RolloutRule(alpha=0.01, effect=0.1)):
        evidence = combine([day(0.02, 1e-4), day(-0.01, 2e-4), day(0.03, 5e-5)], rule)
        weighted = evidence.estimate * evidence.information
        for bound in (evidence.lower, evidence.upper):
            ratio = log_mixture_ratio(bound, weighted, evidence.information, rule)
            assert ratio == pytest.approx(math.log(1 / rule.alpha), rel=1e-9)
        inside = log_mixture_ratio(evidence.estimate, weighted, evidence.information, rule)
        assert inside < math.log(1 / rule.alpha)
        assert evidence.lower < evidence.estimate < evidence.upper


def test_the_sequence_narrows_as_days_add_information():
    rule = RolloutRule()
    widths = []
    for n in (3, 10, 30):
        evidence = combine([day(0.01)] * n, rule)
        widths.append(evidence.upper - evidence.lower)
    assert widths[0] > widths[1] > widths[2]


def test_days_without_a_usable_variance_are_left_out():
    rule = RolloutRule()
    assert combine([], rule) is None
    assert combine([day(0.5, 0.0), day(0.5, math.nan)], rule) is None
    assert combine([day(math.nan, 1e-4)], rule) is None
    assert combine([day(0.5, 1e-4, positives=0)], rule) is None
    assert combine([day(0.5, 1e-4, positives=1)], rule).days == 1  # one positive is usable
    kept = combine([day(0.5, 0.0), day(0.01, 1e-4)], rule)
    assert kept.days == 1 and kept.estimate == pytest.approx(0.01)


def test_a_clearly_better_canary_is_promoted_after_the_minimum_days():
    rule = RolloutRule(min_days=3)
    better = [day(0.05, 1e-5)] * 3
    assert decide(better[:2], rule).action == CONTINUE  # proof, but too early
    decision = decide(better, rule)
    assert decision.action == PROMOTE and decision.evidence.lower > 0
    assert decision.reason.startswith("better than the champion: difference +0.0500")


def test_a_clearly_worse_canary_is_rolled_back():
    decision = decide([day(-0.05, 1e-5)] * 3, RolloutRule(min_days=3))
    assert decision.action == ROLL_BACK and decision.evidence.upper < 0
    assert decision.reason.startswith("worse than the champion")


def test_an_undecided_canary_goes_on_until_max_days_then_the_champion_stays():
    rule = RolloutRule(min_days=1, max_days=5)
    even = [day(0.0, 1e-4)] * 4
    going_on = decide(even, rule)
    assert going_on.action == CONTINUE and going_on.reason == "undecided after 4 labelled days"
    stop = decide([*even, day(0.0, 1e-4)], rule)
    assert stop.action == ROLL_BACK and "no proof after 5 days" in stop.reason
    assert stop.evidence.lower < 0 < stop.evidence.upper


def test_max_days_counts_days_without_labels_too():
    rule = RolloutRule(min_days=1, max_days=2)
    unlabelled = [day(0.0, math.nan), day(0.0, math.nan)]
    decision = decide(unlabelled, rule)
    assert decision.action == ROLL_BACK and decision.evidence is None
    assert decide(unlabelled[:1], rule).reason == "undecided after 0 labelled days"


def test_a_margin_promotes_a_canary_shown_no_worse_by_it():
    days = [day(0.002, 2e-6)] * 3
    strict = decide(days, RolloutRule(min_days=3))
    assert strict.action == CONTINUE and strict.evidence.lower < 0
    lenient = decide(days, RolloutRule(min_days=3, margin=0.01))
    assert lenient.action == PROMOTE
    assert lenient.reason.startswith("no worse than the champion by 0.01")


def test_a_breached_guardrail_rolls_back_whatever_the_metric_says():
    decision = decide([day(0.05, 1e-5)] * 5, RolloutRule(), breached=["flagged_rate", "errors"])
    assert decision.action == ROLL_BACK and decision.evidence is None
    assert decision.reason == "guardrail breached: flagged_rate, errors"


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"alpha": 0.0}, "^alpha must be between 0 and 1, not 0.0$"),
        ({"alpha": 1.0}, "^alpha must be between 0 and 1, not 1.0$"),
        ({"effect": 0.0}, "^effect must be positive and margin zero or more$"),
        ({"margin": -0.01}, "^effect must be positive and margin zero or more$"),
        ({"min_days": 0}, r"^need 1 <= min_days \(0\) <= max_days \(28\)$"),
        ({"min_days": 5, "max_days": 4}, r"^need 1 <= min_days \(5\) <= max_days \(4\)$"),
    ],
)
def test_a_rule_that_cannot_work_is_refused(fields, says):
    with pytest.raises(ValueError, match=says):
        RolloutRule(**fields)


def test_limits_of_a_rule_are_accepted():
    RolloutRule(alpha=0.5, effect=1e-3, margin=0.0, min_days=1, max_days=1)


def noisy_day(seed: int, n: int = 3000, rate: float = 0.05):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < rate).astype(int)
    signal = labels * 1.5
    champion = np.round(signal + rng.normal(size=n), 1)  # rounded: many ties
    canary = np.round(signal + rng.normal(size=n), 1)
    return labels, canary, champion


def test_weighted_average_precision_equals_it_on_the_rows_drawn():
    labels, scores, _ = noisy_day(1)
    ones = np.ones((1, len(labels)))
    assert _weighted_average_precision(labels, scores, ones)[0] == pytest.approx(
        average_precision(labels, scores), rel=1e-12
    )
    counts = np.random.default_rng(2).poisson(1.0, len(labels))
    drawn = np.repeat(np.arange(len(labels)), counts)
    assert _weighted_average_precision(labels, scores, counts[None, :].astype(float))[
        0
    ] == pytest.approx(average_precision(labels[drawn], scores[drawn]), rel=1e-12)


def test_a_resample_without_positives_has_no_average_precision():
    labels = np.array([1, 0, 0, 0])
    scores = np.array([0.9, 0.1, 0.2, 0.3])
    weights = np.array([[0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    values = _weighted_average_precision(labels, scores, weights)
    assert math.isnan(values[0]) and values[1] == pytest.approx(1.0)


def test_a_days_difference_is_the_canarys_auc_pr_minus_the_champions():
    labels, canary, champion = noisy_day(3)
    found = daily_difference("2026-11-02", labels, canary, champion, samples=300, seed=4)
    assert found.day == "2026-11-02" and found.rows == 3000 and found.positives == labels.sum()
    assert found.difference == pytest.approx(
        average_precision(labels, canary) - average_precision(labels, champion), rel=1e-12
    )
    # the bootstrap's spread matches the spread of the difference over independent days
    differences = []
    for seed in range(100, 160):  # the same process on independent days
        y, a, b = noisy_day(seed)
        differences.append(average_precision(y, a) - average_precision(y, b))
    spread = np.var(differences, ddof=1)
    assert 0.5 * spread < found.variance < 2.0 * spread


def test_the_same_seed_gives_the_same_variance():
    labels, canary, champion = noisy_day(5)
    first = daily_difference("d", labels, canary, champion, samples=50, seed=9)
    again = daily_difference("d", labels, canary, champion, samples=50, seed=9)
    other = daily_difference("d", labels, canary, champion, samples=50, seed=10)
    assert first.variance == again.variance != other.variance


def test_an_interval_ending_exactly_at_zero_decides_nothing():
    """The interval's half-width does not depend on the differences: a day whose difference
    is minus that half-width puts the upper end exactly at 0 (one positive: exact sums)."""
    rule = RolloutRule(min_days=1)
    half = combine([day(0.0, 1e-4, positives=1)], rule).upper
    touching = decide([day(-half, 1e-4, positives=1)], rule)
    assert touching.evidence.upper == 0.0 and touching.action == CONTINUE  # not below 0
    at_margin = decide([day(0.0, 1e-4, positives=1)], RolloutRule(min_days=1, margin=half))
    assert at_margin.evidence.lower == -half and at_margin.action == CONTINUE  # not above


def test_the_lowest_scored_row_may_be_a_positive():
    labels = np.array([0.0, 1.0, 0.0, 1.0])
    scores = np.array([0.9, 0.8, 0.7, 0.1])
    found = _weighted_average_precision(labels, scores, np.ones((2, 4)))
    assert list(found) == pytest.approx([average_precision(labels, scores)] * 2)


def test_a_day_without_positives_has_no_average_precision_in_any_resample():
    found = _weighted_average_precision(np.zeros(3), np.array([0.3, 0.2, 0.1]), np.ones((2, 3)))
    assert found.shape == (2,) and np.isnan(found).all()


def test_rows_drawn_zero_times_at_the_top_leave_no_trace():
    labels, scores = np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.8, 0.7])
    found = _weighted_average_precision(labels, scores, np.array([[0.0, 1.0, 1.0]]))
    assert found[0] == pytest.approx(average_precision(labels[1:], scores[1:]))  # 0.5


def test_the_variance_is_of_the_paired_difference_over_the_resamples():
    """Recomputed by hand: the same draws, rows repeated, metrics.average_precision."""
    rng = np.random.default_rng(8)
    labels = (rng.random(400) < 0.1).astype(float)
    shared = rng.normal(size=400)  # two models with most of their errors in common
    canary = 2 * labels + shared + 0.3 * rng.normal(size=400)
    champion = 2 * labels + shared + 0.3 * rng.normal(size=400)
    found = daily_difference("d", labels, canary, champion, samples=40, seed=5)
    draws = poisson_weights(np.random.default_rng(5), 40, 400)
    differences = []
    for counts in draws:
        rows = np.repeat(np.arange(400), counts)
        differences.append(
            average_precision(labels[rows], canary[rows])
            - average_precision(labels[rows], champion[rows])
        )
    assert found.variance == pytest.approx(np.var(differences, ddof=1), rel=1e-9)


def test_one_resample_gives_no_variance_and_two_do():
    labels, canary, champion = noisy_day(6)
    assert math.isnan(daily_difference("d", labels, canary, champion, samples=1).variance)
    assert daily_difference("d", labels, canary, champion, samples=2).variance > 0


def test_the_default_is_300_resamples_from_seed_0():
    labels, canary, champion = noisy_day(7)
    default = daily_difference("d", labels, canary, champion)
    assert default == daily_difference("d", labels, canary, champion, samples=300, seed=0)


def test_poisson_weights_draw_each_row_once_on_average():
    draws = poisson_weights(np.random.default_rng(1), 200, 1_000)
    assert draws.shape == (200, 1_000) and draws.min() == 0
    assert draws.mean() == pytest.approx(1.0, abs=0.01)
    assert draws.var() == pytest.approx(1.0, abs=0.02)
    assert np.mean(draws == 0) == pytest.approx(math.exp(-1), abs=0.005)


def test_a_top_row_drawn_once_has_precision_one():
    labels, scores = np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.8, 0.7])
    found = _weighted_average_precision(labels, scores, np.ones((1, 3)))
    assert found[0] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_the_rule_and_guardrails_default_to_what_a_pipeline_config_starts_from():
    assert RolloutRule() == RolloutRule(
        alpha=0.05, effect=0.05, margin=0.0, min_days=3, max_days=28
    )
    assert Guardrails() == Guardrails(min_agreement=0.9, max_flagged_ratio=2.0)


def test_guardrails_count_agreement_and_flagged_rows_at_each_models_threshold():
    champion = np.array([0.9, 0.8, 0.2, 0.1, 0.5])  # flags 3 at 0.5 (0.5 itself flagged)
    canary = np.array([0.9, 0.3, 0.2, 0.1, 0.69])  # flags 1 at 0.7: rows 1 and 4 differ
    found = Guardrails(min_agreement=0.5, max_flagged_ratio=2.0).check(champion, canary, 0.5, 0.7)
    at_its_threshold = Guardrails(0.5, 2.0).check(champion, np.r_[canary[:4], 0.7], 0.5, 0.7)
    assert at_its_threshold["flagged_canary"] == 2  # a score at the threshold is flagged
    assert found == {
        "rows": 5,
        "agreement": 0.6,
        "flagged_champion": 3,
        "flagged_canary": 1,
        "flagged_ratio": 0.5,  # (1 + 1) / (3 + 1)
        "breached": [],  # 0.6 agreement >= 0.5; 2 times apart is not more than 2
    }


def test_a_canary_deciding_unlike_the_champion_breaches_with_a_line_that_says_how():
    champion = np.array([0.9, 0.9, 0.1, 0.1])
    canary = np.array([0.1, 0.9, 0.9, 0.1])
    found = Guardrails(min_agreement=0.75, max_flagged_ratio=2.0).check(champion, canary, 0.5, 0.5)
    assert found["agreement"] == 0.5
    assert found["breached"] == ["the two models decide alike on 50.0% of 4 rows (at least 75.0%)"]
    # exactly at the bound is allowed
    assert Guardrails(0.5, 2.0).check(champion, canary, 0.5, 0.5)["breached"] == []


@pytest.mark.parametrize("flags, breached", [(0, False), (1, False), (2, True), (5, True)])
def test_a_canary_flagging_far_more_or_fewer_rows_breaches(flags, breached):
    champion = np.zeros(100)  # flags nothing
    canary = np.r_[np.ones(flags), np.zeros(100 - flags)]
    found = Guardrails(min_agreement=0.0, max_flagged_ratio=2.0).check(champion, canary, 0.5, 0.5)
    assert found["flagged_ratio"] == flags + 1
    assert bool(found["breached"]) is breached
    if breached:
        assert found["breached"] == [
            f"the canary flags {flags} rows, the champion 0 (more than 2 times apart)"
        ]
    # and the other way round: the champion flags, the canary does not
    other = Guardrails(min_agreement=0.0, max_flagged_ratio=2.0).check(canary, champion, 0.5, 0.5)
    assert bool(other["breached"]) is breached


def test_guardrails_of_a_day_without_rows_breach_nothing():
    found = Guardrails().check(np.array([]), np.array([]), 0.5, 0.5)
    assert (found["rows"], found["agreement"], found["breached"]) == (0, 1.0, [])
