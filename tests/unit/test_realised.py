"""Realised performance of a served model (mlgate.gates.realised): the day's metrics with
intervals, and short of the holdout's promise only when the whole interval is below it."""

from __future__ import annotations

import numpy as np
import pytest

from mlgate.gates.metrics import average_precision, roc_auc
from mlgate.gates.realised import realised_day, wilson


def scored_day(seed: int, rows: int = 600, rate: float = 0.1, strength: float = 2.0):
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < rate).astype(int)
    scores = 1 / (1 + np.exp(-(strength * labels + rng.normal(size=rows) - 2)))
    return labels, scores


@pytest.mark.parametrize(
    ("successes", "trials", "lower", "upper"),
    [
        (8, 10, 0.4902, 0.9433),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson_intervals_match_the_textbook(successes, trials, lower, upper):
    found = wilson(successes, trials, 0.95)
    assert found.value == successes / trials
    assert (found.lower, found.upper) == pytest.approx((lower, upper), abs=1e-4)


def test_wilson_ends_stay_within_zero_and_one_despite_rounding():
    assert wilson(9, 9, 0.95).upper == 1.0  # the sum rounds to 1.0000000000000002
    assert all(
        wilson(n, n, 0.95).upper <= 1.0 and wilson(0, n, 0.95).lower >= 0 for n in range(1, 80)
    )


def test_a_score_at_the_threshold_is_flagged_and_one_positive_is_enough_to_rank():
    labels = np.array([1, 0, 0, 0])
    scores = np.array([0.5, 0.4999, 0.2, 0.1])
    day = realised_day("d", "1", labels, scores, 0.5, {}, samples=20)
    assert day.metrics["precision_at_threshold"] == wilson(1, 1, 0.95)
    assert day.metrics["recall_at_threshold"] == wilson(1, 1, 0.95)
    assert day.metrics["auc_pr"].value == 1.0 and day.metrics["roc_auc"].value == 1.0


def test_wilson_has_no_interval_without_trials_and_narrows_with_less_confidence():
    assert wilson(0, 0, 0.95) is None
    wide, narrow = wilson(8, 10, 0.95), wilson(8, 10, 0.5)
    assert wide.lower < narrow.lower < 0.8 < narrow.upper < wide.upper


def test_a_day_gives_its_metrics_with_intervals_around_them():
    labels, scores = scored_day(1)
    day = realised_day("2026-11-02", "7", labels, scores, 0.5, {}, samples=100)
    assert (day.day, day.model_version, day.rows, day.positives) == (
        "2026-11-02", "7", 600, int(labels.sum()),
    )  # fmt: skip
    assert day.metrics["auc_pr"].value == average_precision(labels, scores)
    assert day.metrics["roc_auc"].value == roc_auc(labels, scores)
    decided = scores >= 0.5
    tp = int(np.sum(decided & (labels == 1)))
    assert day.metrics["precision_at_threshold"] == wilson(tp, int(decided.sum()), 0.95)
    assert day.metrics["recall_at_threshold"] == wilson(tp, int(labels.sum()), 0.95)
    for interval in day.metrics.values():
        assert interval.lower < interval.value < interval.upper
    assert day.short == []


def test_the_ranking_intervals_are_percentiles_of_stratified_resamples():
    """Recomputed by hand: the same draws, positives and negatives resampled apart."""
    labels, scores = scored_day(2, rows=300)
    day = realised_day("d", "1", labels, scores, 0.5, {}, confidence=0.9, samples=50, seed=4)
    rng = np.random.default_rng(4)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    ap, auc = [], []
    for _ in range(50):
        rows = np.concatenate(
            [rng.choice(positives, len(positives)), rng.choice(negatives, len(negatives))]
        )
        ap.append(average_precision(labels[rows], scores[rows]))
        auc.append(roc_auc(labels[rows], scores[rows]))
    assert day.metrics["auc_pr"].lower == pytest.approx(np.percentile(ap, 5))
    assert day.metrics["auc_pr"].upper == pytest.approx(np.percentile(ap, 95))
    assert day.metrics["roc_auc"].lower == pytest.approx(np.percentile(auc, 5))
    assert day.metrics["roc_auc"].upper == pytest.approx(np.percentile(auc, 95))


def test_the_default_is_300_resamples_from_seed_0_at_95_percent():
    labels, scores = scored_day(3, rows=200)
    default = realised_day("d", "1", labels, scores, 0.5, {})
    explicit = realised_day("d", "1", labels, scores, 0.5, {}, confidence=0.95, samples=300, seed=0)
    assert default == explicit


def test_the_ranking_interval_covers_the_true_value_about_as_often_as_it_says():
    truth_labels, truth_scores = scored_day(99, rows=400_000)
    truth = average_precision(truth_labels, truth_scores)
    covered = [
        (lambda i: i.lower <= truth <= i.upper)(
            realised_day("d", "1", *scored_day(seed), 0.5, {}, samples=100).metrics["auc_pr"]
        )
        for seed in range(100, 180)
    ]
    assert 0.85 <= np.mean(covered) <= 1.0


def test_a_metric_is_short_only_when_its_whole_interval_is_below_the_promise():
    labels, scores = scored_day(5)
    day = realised_day("d", "1", labels, scores, 0.5, {}, samples=100)
    upper = day.metrics["auc_pr"].upper
    below = realised_day("d", "1", labels, scores, 0.5, {"auc_pr": upper + 1e-9}, samples=100)
    at = realised_day("d", "1", labels, scores, 0.5, {"auc_pr": upper}, samples=100)
    assert below.short == ["auc_pr"] and at.short == []
    tolerated = realised_day(
        "d", "1", labels, scores, 0.5, {"auc_pr": upper + 0.01}, tolerance=0.01, samples=100
    )
    assert tolerated.short == []  # upper + 0.01 - 0.01 is not above the upper end
    recall = day.metrics["recall_at_threshold"].upper
    both = {"auc_pr": 1.0, "recall_at_threshold": recall + 0.01, "flagged_rate": 1.0}
    assert realised_day("d", "1", labels, scores, 0.5, both, samples=100).short == [
        "auc_pr",
        "recall_at_threshold",
    ]  # a metric the day does not measure is never short


def test_a_day_without_positives_has_no_ranking_metrics_and_no_recall():
    scores = np.array([0.9, 0.2, 0.1])
    promised = {"auc_pr": 0.9, "recall_at_threshold": 1.0, "precision_at_threshold": 0.9}
    day = realised_day("d", "1", np.zeros(3), scores, 0.5, promised)
    assert set(day.metrics) == {"precision_at_threshold"} and day.positives == 0
    assert day.metrics["precision_at_threshold"] == wilson(0, 1, 0.95)  # upper end 0.79
    assert day.short == ["precision_at_threshold"]  # what the day cannot measure is not short


def test_a_day_of_positives_only_has_no_ranking_metrics_and_nothing_flagged_no_precision():
    day = realised_day("d", "1", np.ones(3), np.array([0.1, 0.2, 0.3]), 0.5, {})
    assert set(day.metrics) == {"recall_at_threshold"}
    assert day.metrics["recall_at_threshold"] == wilson(0, 3, 0.95)
