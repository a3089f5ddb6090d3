"""Drift judged with the sample sizes in mind (mlgate.gates.drift): noise alone rarely
flags, at 50 rows as at 5,000; a shift that matters is flagged once the rows can show it;
a shift of no consequence is never flagged, however many rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2, chi2_contingency

from mlgate.gates.drift import (
    CATEGORICAL,
    NUMERIC,
    DriftRule,
    breached_streak,
    category_counts,
    day_drift,
    feature_drift,
    retrain_due,
    two_sample_p_value,
)
from mlgate.gates.metrics import bin_counts, psi

RNG = np.random.default_rng(2026)
REFERENCE = RNG.normal(size=20_000)


def test_the_p_value_is_pearsons_two_sample_chi2():
    e, a = np.array([30, 50, 20, 0]), np.array([10, 30, 10, 0])
    # by hand: pooled shares 40/150, 80/150, 30/150 (the empty bin dropped), 2 degrees
    pooled = np.array([40, 80, 30]) / 150
    expected = np.outer([100, 50], pooled)
    statistic = np.sum((np.array([[30, 50, 20], [10, 30, 10]]) - expected) ** 2 / expected)
    assert two_sample_p_value(e, a) == pytest.approx(chi2.sf(statistic, 2), rel=1e-9)
    assert two_sample_p_value(np.array([5, 0]), np.array([7, 0])) == 1.0  # one bin in use
    assert two_sample_p_value(np.array([5, 5]), np.array([5, 5])) == pytest.approx(1.0)


def test_a_bin_with_one_value_counts_and_two_bins_are_tested_without_yates():
    # a bin with a single value is a bin in use
    e, a = np.array([30, 50, 1]), np.array([10, 30, 0])
    assert two_sample_p_value(e, a) == pytest.approx(
        chi2_contingency(np.vstack([e, a]), correction=False).pvalue, rel=1e-12
    )
    assert two_sample_p_value(e, a) != pytest.approx(
        chi2_contingency(np.vstack([e[:2], a[:2]]), correction=False).pvalue, rel=1e-3
    )
    # two bins: Pearson's statistic as is (no continuity correction), 1 degree of freedom
    table = np.array([[30.0, 10.0], [10.0, 30.0]])
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    statistic = np.sum((table - expected) ** 2 / expected)  # 20.0
    assert two_sample_p_value(table[0], table[1]) == pytest.approx(chi2.sf(statistic, 1))
    assert two_sample_p_value(np.array([10, 0]), np.array([0, 10])) < 1e-4


def test_the_psi_is_the_one_the_quality_gates_use():
    current = RNG.normal(0.5, 1.0, 3_000)
    found = feature_drift("amount", NUMERIC, REFERENCE, current, DriftRule())
    assert found.psi == pytest.approx(psi(REFERENCE, current), rel=1e-12)
    assert (found.feature, found.kind, found.bins) == ("amount", NUMERIC, 10)
    assert (found.n_reference, found.n_current) == (20_000, 3_000)


@pytest.mark.parametrize(("rows", "bins"), [(7, 2), (15, 3), (29, 5), (49, 9), (5_000, 10)])
def test_a_small_day_gets_fewer_bins_five_of_its_rows_each(rows, bins):
    current = np.random.default_rng(rows).normal(size=rows)
    found = feature_drift("x", NUMERIC, REFERENCE, current, DriftRule())
    assert found.bins == bins
    e, a = bin_counts(REFERENCE, current, bins)
    assert found.p_value == pytest.approx(two_sample_p_value(e, a), rel=1e-12)


@pytest.mark.parametrize("rows", [50, 5_000])
def test_noise_alone_is_significant_in_about_alpha_of_the_days(rows):
    rule = DriftRule(alpha=0.05, min_psi=0.0)  # the test alone
    rng = np.random.default_rng(rows)
    flagged = [
        feature_drift("x", NUMERIC, REFERENCE, rng.normal(size=rows), rule).drifted
        for _ in range(1_000)
    ]
    assert np.mean(flagged) <= 0.07  # 0.05 expected; 0.07 is 2.9 standard errors above


def test_a_moderate_shift_is_flagged_once_the_rows_can_show_it():
    rule = DriftRule()
    rng = np.random.default_rng(7)
    small = feature_drift("x", NUMERIC, REFERENCE, rng.normal(0.5, 1.0, 40), rule)
    large = feature_drift("x", NUMERIC, REFERENCE, rng.normal(0.5, 1.0, 5_000), rule)
    assert small.p_value >= small.level and not small.drifted
    assert large.psi > rule.min_psi and large.p_value < large.level and large.drifted


def test_noise_on_a_small_day_passes_a_fixed_psi_bound_but_is_not_drift():
    rng = np.random.default_rng(3)
    days = [
        feature_drift("x", NUMERIC, REFERENCE, rng.normal(size=50), DriftRule()) for _ in range(300)
    ]
    above_fixed_bound = np.mean([d.psi > 0.1 for d in days])
    assert above_fixed_bound > 0.05  # a fixed PSI bound of 0.1 would raise these alarms
    assert np.mean([d.drifted for d in days]) <= 0.02  # alpha 0.01


def test_a_shift_of_no_consequence_is_not_flagged_however_many_rows():
    found = feature_drift("x", NUMERIC, REFERENCE, RNG.normal(0.05, 1.0, 500_000), DriftRule())
    assert found.p_value < 1e-6 and found.psi < 0.1  # significant, and too small to matter
    assert not found.drifted


def test_a_psi_equal_to_its_floor_is_not_drift():
    current = RNG.normal(0.3, 1.0, 2_000)
    found = feature_drift("x", NUMERIC, REFERENCE, current, DriftRule(min_psi=0.0))
    assert found.drifted
    at = feature_drift("x", NUMERIC, REFERENCE, current, DriftRule(min_psi=found.psi))
    below = feature_drift("x", NUMERIC, REFERENCE, current, DriftRule(min_psi=found.psi * 0.999))
    assert not at.drifted and below.drifted


def test_a_p_value_equal_to_the_level_is_not_significant():
    current = RNG.normal(0.3, 1.0, 200)
    found = feature_drift("x", NUMERIC, REFERENCE, current, DriftRule(min_psi=0.0))
    at = feature_drift("x", NUMERIC, REFERENCE, current, DriftRule(alpha=found.p_value, min_psi=0))
    assert at.level == found.p_value and not at.drifted
    above = DriftRule(alpha=found.p_value * 1.001, min_psi=0)
    assert feature_drift("x", NUMERIC, REFERENCE, current, above).drifted


def test_features_tested_together_share_alpha():
    current = RNG.normal(size=1_000)
    one = feature_drift("x", NUMERIC, REFERENCE, current, DriftRule(), tested=1)
    thirty = feature_drift("x", NUMERIC, REFERENCE, current, DriftRule(), tested=30)
    assert one.level == 0.01 and thirty.level == pytest.approx(0.01 / 30)
    assert one.p_value == thirty.p_value


def test_categories_are_their_own_bins_and_a_new_one_is_drift():
    reference = ["pos"] * 600 + ["ecom"] * 350 + [None] * 50
    e, a = category_counts(reference, ["pos", "atm", None, "pos"])
    assert list(e) == [0, 350, 600, 50] and list(a) == [1, 0, 2, 1]  # atm, ecom, pos, ∅
    e, a = category_counts(["atm"], ["atm", "pos"])  # the last category: only on the day
    assert list(e) == [1, 0] and list(a) == [1, 1]
    same = feature_drift("channel", CATEGORICAL, reference, reference[::5], DriftRule())
    assert same.psi == pytest.approx(0.0) and same.p_value == pytest.approx(1.0)
    assert not same.drifted
    new = ["pos"] * 120 + ["ecom"] * 20 + ["atm"] * 60  # atm was never seen in training
    found = feature_drift("channel", CATEGORICAL, reference, new, DriftRule())
    assert found.drifted and found.n_current == 200
    assert (found.kind, found.bins) == (CATEGORICAL, 4)  # atm, ecom, pos, ∅


def test_a_day_is_judged_feature_by_feature_with_shared_alpha():
    reference = {"amount": (NUMERIC, REFERENCE), "channel": (CATEGORICAL, ["pos", "ecom"] * 50)}
    day = {"amount": RNG.normal(1.0, 1.0, 1_000), "channel": ["pos", "ecom"] * 300}
    found = day_drift(reference, day, DriftRule())
    assert [d.feature for d in found] == ["amount", "channel"]
    assert [d.drifted for d in found] == [True, False]
    assert found[0].level == found[1].level == 0.005
    with pytest.raises(ValueError, match="^the day has no values of amount, channel$"):
        day_drift(reference, {}, DriftRule())


def test_drift_needs_rows_on_both_sides():
    with pytest.raises(ValueError, match="amount: drift needs rows"):
        feature_drift("amount", NUMERIC, REFERENCE, [], DriftRule())
    with pytest.raises(ValueError, match="channel: drift needs rows"):
        feature_drift("channel", CATEGORICAL, [], ["pos"], DriftRule())


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"alpha": 0.0}, "^alpha must be between 0 and 1, not 0.0$"),
        ({"alpha": 1.0}, "^alpha must be between 0 and 1, not 1.0$"),
        ({"min_psi": -0.1}, "^min_psi must be zero or more and bins at least 2$"),
        ({"bins": 1}, "^min_psi must be zero or more and bins at least 2$"),
    ],
)
def test_a_drift_rule_that_cannot_work_is_refused(fields, says):
    with pytest.raises(ValueError, match=says):
        DriftRule(**fields)


def test_rule_limits_are_accepted():
    DriftRule(alpha=0.5, min_psi=0.0, bins=2)


@pytest.mark.parametrize(
    ("days", "streak"),
    [([], 0), ([False], 0), ([True], 1), ([True, True, False, True, True], 2), ([True] * 4, 4)],
)
def test_the_streak_counts_breached_days_up_to_the_newest(days, streak):
    assert breached_streak(days) == streak


@pytest.mark.parametrize(
    "streak, after, due",
    [(0, 3, False), (1, 3, False), (2, 3, False), (3, 3, True), (4, 3, False), (5, 3, False),
     (6, 3, True), (9, 3, True), (0, 1, False), (1, 1, True), (2, 1, True)],
)  # fmt: skip
def test_a_retrain_is_due_on_the_nth_breached_day_in_a_row_and_every_nth_after(streak, after, due):
    assert retrain_due(streak, after) is due


def test_a_retrain_bound_below_one_day_is_refused():
    with pytest.raises(ValueError, match="^after must be at least 1 day, not 0$"):
        retrain_due(3, 0)
