"""Gate verdicts (mlgate.gates) on numbers worked out by hand.

Every expected value below is a literal derived in the comment next to it, not recomputed
with the code under test. The synthetic-holdout tests (a few thousand rows) only assert
the verdict and its reason, where the outcome is not in doubt.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mlgate import gates
from mlgate.config import (
    AssertionSetGate,
    BadRecordGate,
    DataExpectationsGate,
    QualityGate,
    ShadowGate,
    TrainingIterationsGate,
)
from mlgate.gates import GateReport, GateResult


def bad_cfg(**kw) -> BadRecordGate:
    return BadRecordGate(**kw)


def quality_cfg(**kw) -> QualityGate:
    kw.setdefault("floor", {"auc_pr": 0.30, "roc_auc": 0.85})
    kw.setdefault("max_drop", 0.02)
    kw.setdefault("max_jump", 0.25)
    kw.setdefault("bootstrap_samples", 200)
    return QualityGate(**kw)


# ----------------------------------------------------------------------------- bad records


def test_bad_record_ratio_above_bound_fails():
    result = gates.bad_record_ratio(bad_cfg(max_ratio=0.01), 200, 3, {"amount_range": 2, "x": 1})
    assert result.verdict == "fail" and result.blocks()
    assert result.value == pytest.approx(0.015)  # 3 / 200
    assert result.threshold == "<= 0.0100"
    assert "3 of 200 rows (1.50%)" in result.reason
    assert "amount_range 2" in result.reason
    assert result.details == {"total": 200, "bad": 3, "reasons": {"amount_range": 2, "x": 1}}


def test_bad_record_ratio_below_and_at_bound_passes():
    assert gates.bad_record_ratio(bad_cfg(), 200, 1, {"x": 1}).value == pytest.approx(0.005)
    assert gates.bad_record_ratio(bad_cfg(), 200, 1, {"x": 1}).verdict == "pass"
    # 2 / 200 = 0.01 exactly: the bound is inclusive
    assert gates.bad_record_ratio(bad_cfg(max_ratio=0.01), 200, 2, {}).verdict == "pass"
    assert gates.bad_record_ratio(bad_cfg(), 200, 0, {}).value == 0.0


def test_bad_record_ratio_empty_extract_fails():
    result = gates.bad_record_ratio(bad_cfg(), 0, 0, {})
    assert result.verdict == "fail"
    assert result.value is None
    assert result.reason == "empty extract: no rows for the day"


def test_bad_record_ratio_rejects_impossible_counts():
    with pytest.raises(ValueError, match="between 0 and total_rows"):
        gates.bad_record_ratio(bad_cfg(), 10, 11, {})


def test_bad_record_warn_mode_does_not_block():
    result = gates.bad_record_ratio(bad_cfg(mode="warn"), 100, 50, {})
    assert result.verdict == "fail" and not result.blocks()


# ----------------------------------------------------------------------------- expectations

CLEAN_REPORTS = [
    {"suite": "raw_transactions", "rows": 100, "evaluated": 23, "failed": []},
    {"suite": "features", "rows": 100, "evaluated": 10, "failed": []},
]
NULL_AMOUNT = {
    "expectation": "expect_column_values_to_not_be_null",
    "column": "amount",
    "observed": "1 of 6 values (16.67%) unexpected",
    "examples": [],
}


def test_data_expectations_pass():
    result = gates.data_expectations(
        DataExpectationsGate(raw_suite="r", features_suite="f"),
        CLEAN_REPORTS,
        label_rate=0.01,
        volume=100,
        volume_history=[90, 100, 110],
    )
    assert result.verdict == "pass"
    assert result.value == 0.0
    assert "33 expectations in 2 suite(s) passed" in result.reason  # 23 + 10
    # median 100, tolerance 0.5 -> [50, 150]
    volume = result.details["volume"]
    assert (volume["median"], volume["low"], volume["high"], volume["ok"]) == (
        100.0,
        50.0,
        150.0,
        True,
    )


def test_data_expectations_fail_names_every_failed_check():
    reports = [
        {"suite": "raw_transactions", "rows": 6, "evaluated": 23, "failed": [NULL_AMOUNT]},
        CLEAN_REPORTS[1],
    ]
    result = gates.data_expectations(
        DataExpectationsGate(raw_suite="r", features_suite="f"),
        reports,
        label_rate=0.0,
        volume=100,
        volume_history=[100],
    )
    assert result.verdict == "fail"
    assert result.value == 2.0  # one expectation + the label rate
    assert result.reason == (
        "raw_transactions: amount expect_column_values_to_not_be_null "
        "(1 of 6 values (16.67%) unexpected); label rate 0.0000 outside [0.0005, 0.02]"
    )


def test_data_expectations_volume_uses_last_days_only():
    # volume_history_days = 7: the two old 1000s drop out, the median of seven 100s is 100
    history = [1000, 1000] + [100] * 7
    cfg = DataExpectationsGate(
        raw_suite="r", features_suite="f", volume_history_days=7, volume_tolerance=0.5
    )
    check = lambda v: gates.data_expectations(  # noqa: E731
        cfg, CLEAN_REPORTS, label_rate=None, volume=v, volume_history=history
    )
    assert check(150).verdict == "pass"  # 100 * 1.5 = 150, bound included
    assert check(50).verdict == "pass"  # 100 * 0.5 = 50
    too_many = check(151)
    assert too_many.verdict == "fail" and too_many.value == 1.0
    assert "volume 151 rows outside [50, 150]" in too_many.reason
    assert check(49).verdict == "fail"


def test_data_expectations_volume_skipped_without_history():
    result = gates.data_expectations(
        DataExpectationsGate(raw_suite="r", features_suite="f"),
        CLEAN_REPORTS,
        label_rate=0.01,
        volume=5,
        volume_history=[],
    )
    assert result.verdict == "pass"
    assert result.details["volume"]["skipped"] == "no earlier day to compare with"
    assert "no earlier day to compare with" in result.reason


def test_data_expectations_without_reports_fails():
    result = gates.data_expectations(
        DataExpectationsGate(raw_suite="r", features_suite="f"),
        [],
        label_rate=None,
        volume=None,
        volume_history=[],
    )
    assert result.verdict == "fail" and "nothing was checked" in result.reason


# ----------------------------------------------------------------------------- iterations

HISTORY = [{"effort_trees": 50}, {"effort_trees": 60}, {"effort_trees": 70}]  # median 60


def test_training_iterations_band():
    cfg = TrainingIterationsGate(history=5, tolerance=0.5)
    low = gates.training_iterations(cfg, {"effort_trees": 20}, HISTORY)
    assert low.verdict == "fail"
    # band 60 +- 0.5 * 60 = [30, 90]; deviation |20 - 60| / 60 = 2/3
    assert low.details["keys"]["effort_trees"]["low"] == 30.0
    assert low.details["keys"]["effort_trees"]["high"] == 90.0
    assert low.value == pytest.approx(0.6666667)
    assert "effort_trees 20 below [30, 90] (median 60 of 3 accepted runs)" in low.reason

    ok = gates.training_iterations(cfg, {"effort_trees": 70}, HISTORY)
    assert ok.verdict == "pass"
    assert ok.value == pytest.approx(0.1666667)  # |70 - 60| / 60

    spike = gates.training_iterations(cfg, {"effort_trees": 91}, HISTORY)
    assert spike.verdict == "fail" and "above [30, 90]" in spike.reason


def test_training_iterations_uses_last_history_entries_and_worst_key():
    cfg = TrainingIterationsGate(history=3, tolerance=0.5)
    history = [{"effort_trees": 1000, "effort_total_nodes": 1}] * 2 + [
        {"effort_trees": 60, "effort_total_nodes": 3000},
        {"effort_trees": 60, "effort_total_nodes": 4000},
        {"effort_trees": 60, "effort_total_nodes": 5000},
    ]
    # trees: median 60, 60 is fine; nodes: median 4000, band [2000, 6000], 1000 is out
    result = gates.training_iterations(
        cfg, {"effort_trees": 60, "effort_total_nodes": 1000}, history
    )
    assert result.verdict == "fail"
    assert result.details["keys"]["effort_trees"]["ok"] is True
    assert result.details["keys"]["effort_total_nodes"]["median"] == 4000.0
    assert result.value == pytest.approx(0.75)  # |1000 - 4000| / 4000
    assert "effort_total_nodes 1000 below [2000, 6000]" in result.reason


def test_training_iterations_skipped():
    cfg = TrainingIterationsGate()
    first = gates.training_iterations(cfg, {"effort_trees": 60}, [])
    assert first.verdict == "skipped"
    assert first.reason == "no accepted run to compare with yet"
    other_family = gates.training_iterations(cfg, {"effort_iterations": 37}, HISTORY)
    assert other_family.verdict == "skipped"
    assert "no effort metric in common" in other_family.reason


# ----------------------------------------------------------------------------- assertion set


def examples(scores, expected) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [f"a{i}" for i in range(1, len(scores) + 1)],
            "expected": expected,
            "score": scores,
            "description": [f"case {i}" for i in range(1, len(scores) + 1)],
        }
    )


def test_assertion_set_all_correct_passes():
    result = gates.assertion_set(
        AssertionSetGate(path="assertions.yaml"), examples([0.9, 0.1, 0.5], [1, 0, 1]), 0.5
    )
    assert result.verdict == "pass"
    assert result.value == 1.0
    assert result.threshold == "100% of 3"


def test_assertion_set_one_miss_is_listed():
    # a3 is fraud scored 0.3 < 0.5: missed; 3 of 4 correct = 0.75
    frame = examples([0.9, 0.1, 0.3, 0.2], [1, 0, 1, 0])
    result = gates.assertion_set(AssertionSetGate(path="assertions.yaml"), frame, 0.5)
    assert result.verdict == "fail"
    assert result.value == 0.75
    assert result.details["missed"] == [
        {"id": "a3", "expected": 1, "score": 0.3, "description": "case 3"}
    ]
    assert "1 of 4 assertion examples missed" in result.reason
    assert "a3 (expected 1, score 0.3000: case 3)" in result.reason


def test_assertion_set_lists_every_miss_including_missing_score():
    # a2: legit scored exactly 0.5 -> flagged (>=), missed; a4: no score -> missed
    frame = examples([0.9, 0.5, 0.7, np.nan], [1, 0, 1, 0])
    result = gates.assertion_set(AssertionSetGate(path="assertions.yaml"), frame, 0.5)
    assert [m["id"] for m in result.details["missed"]] == ["a2", "a4"]
    assert result.value == 0.5
    assert "a4 (expected 0, score missing: case 4)" in result.reason
    json.dumps(result.to_dict(), allow_nan=False)


def test_assertion_set_empty_fails():
    result = gates.assertion_set(AssertionSetGate(path="assertions.yaml"), examples([], []), 0.5)
    assert result.verdict == "fail" and "assertion set is empty" in result.reason


# ----------------------------------------------------------------------------- quality

LABELS4 = np.array([1, 0, 1, 0])
# descending: 0.9(+) 0.8(-) 0.3(+) 0.1(-)
# AP = 0.5 * 1/1 + 0.5 * 2/3 = 0.8333; ROC AUC: (2 + 1) / 4 = 0.75
# at 0.5: flagged rows 0 and 1 -> FP 1 (row 1), FN 1 (row 2)
SCORES4 = np.array([0.9, 0.8, 0.3, 0.1])
PERFECT4 = np.array([0.9, 0.2, 0.8, 0.1])


def test_fast_metrics_by_hand():
    assert gates.average_precision(LABELS4, SCORES4) == pytest.approx(0.8333333)
    assert gates.roc_auc(LABELS4, SCORES4) == pytest.approx(0.75)
    # ties: 0.8(+) 0.8(-) share a threshold: P 1/2 at R 1/2, then P 2/3 at R 1
    tied = np.array([0.8, 0.8, 0.3, 0.1])
    assert gates.average_precision(LABELS4, tied) == pytest.approx(0.5833333)
    assert gates.roc_auc(LABELS4, tied) == pytest.approx(0.625)  # (0.5 + 1 + 0 + 1) / 4
    # (1 FN * 100 + 1 FP * 1) / 4 rows
    assert gates.decision_cost(LABELS4, SCORES4, 0.5, 100.0, 1.0) == pytest.approx(25.25)


def test_metrics_agree_with_scikit_learn_on_ties():
    from sklearn.metrics import (
        average_precision_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )

    from mlgate.gates.metrics import holdout_metrics, metric

    rng = np.random.default_rng(3)
    labels = (rng.random(500) < 0.1).astype(int)
    scores = np.round(np.clip(0.3 * labels + rng.random(500) * 0.7, 0, 1), 2)  # many ties
    reference = {
        "auc_pr": average_precision_score(labels, scores),
        "roc_auc": roc_auc_score(labels, scores),
        "recall_at_threshold": recall_score(labels, scores >= 0.5),
        "precision_at_threshold": precision_score(labels, scores >= 0.5),
    }
    logged = holdout_metrics(labels, scores, 0.5)
    cfg = quality_cfg()
    for key, expected in reference.items():
        assert logged[key] == pytest.approx(expected, abs=1e-12), key
        assert metric(key, labels, scores, 0.5, cfg) == pytest.approx(expected, abs=1e-12), key


def test_quality_floor_failure_without_champion():
    result = gates.quality(quality_cfg(), LABELS4, SCORES4, None, 0.5)
    assert result.verdict == "fail"
    assert result.value == pytest.approx(0.8333333)
    assert result.champion_value is None
    assert result.details["floor_failures"] == {"roc_auc": {"value": 0.75, "floor": 0.85}}
    assert result.details["champion"] == "no champion"
    assert "floor: roc_auc 0.7500 < 0.8500" in result.reason
    assert "champion comparisons skipped: no champion" in result.reason


def test_quality_floors_met_without_champion_passes():
    result = gates.quality(quality_cfg(), LABELS4, PERFECT4, None, 0.5)
    assert result.verdict == "pass"
    assert result.value == 1.0
    assert result.details["candidate"]["roc_auc"] == 1.0
    assert "champion comparisons skipped: no champion" in result.reason


def test_quality_cost_is_oriented_lower_is_better():
    cfg = quality_cfg(compare_metric="cost", floor={"auc_pr": 0.1}, max_jump=1.0)
    worse = gates.quality(cfg, LABELS4, SCORES4, PERFECT4, 0.5)
    assert worse.value == pytest.approx(25.25)
    assert worse.champion_value == 0.0
    assert worse.details["diff"] == pytest.approx(-25.25)  # champion 0 - candidate 25.25
    # the other way round the candidate saves 25.25 per row: far above max_jump
    better = gates.quality(cfg, LABELS4, PERFECT4, SCORES4, 0.5)
    assert better.details["diff"] == pytest.approx(25.25)
    assert better.verdict == "fail" and "too good to be true" in better.reason


def test_quality_holdout_without_positives_fails():
    result = gates.quality(quality_cfg(), np.zeros(4), SCORES4, None, 0.5)
    assert result.verdict == "fail" and "0 positives among 4 rows" in result.reason


def synthetic(n: int = 3000, seed: int = 7):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.05).astype(int)
    strong = np.clip(0.2 + 0.6 * labels + rng.normal(0, 0.1, n), 0, 1)
    weak = np.clip(0.3 + 0.25 * labels + rng.normal(0, 0.2, n), 0, 1)
    noise = rng.random(n)
    return labels, strong, weak, noise


def test_quality_identical_candidate_passes_comparison():
    labels, strong, _, _ = synthetic()
    result = gates.quality(quality_cfg(), labels, strong, strong.copy(), 0.5)
    assert result.verdict == "pass", result.reason
    assert result.details["diff"] == 0.0
    assert result.details["interval"] == [0.0, 0.0]
    assert result.value == result.champion_value


def test_quality_clearly_worse_candidate_fails():
    labels, strong, weak, noise = synthetic()
    cfg = quality_cfg(floor={"auc_pr": 0.01})
    result = gates.quality(cfg, labels, noise, strong, 0.5)
    assert result.verdict == "fail"
    assert "significantly worse than the champion" in result.reason
    low, high = result.details["interval"]
    assert low <= result.details["diff"] <= high < -0.02
    assert "too good" not in result.reason


def test_quality_suspicious_jump_fails_with_leakage_reason():
    labels, strong, weak, _ = synthetic()
    cfg = quality_cfg(floor={"auc_pr": 0.01})
    result = gates.quality(cfg, labels, strong, weak, 0.5)
    assert result.verdict == "fail"
    assert result.details["diff"] > 0.25
    assert "too good to be true" in result.reason and "leakage" in result.reason
    assert "significantly worse" not in result.reason


def test_quality_bootstrap_is_seeded():
    labels, strong, weak, _ = synthetic(n=1000)
    cfg = quality_cfg(floor={"auc_pr": 0.01}, max_jump=1.0)
    first = gates.quality(cfg, labels, weak, strong, 0.5, seed=11)
    again = gates.quality(cfg, labels, weak, strong, 0.5, seed=11)
    assert first.details["interval"] == again.details["interval"]


# ----------------------------------------------------------------------------- psi / shadow


def test_psi_identical_is_zero():
    values = np.linspace(0, 1, 101)
    assert gates.psi(values, values.copy()) == 0.0


def test_psi_two_bin_shift_by_hand():
    # edge = median of expected = 0.5; expected shares [0.5, 0.5], actual [0.25, 0.75]
    # PSI = (0.25-0.5) ln(0.25/0.5) + (0.75-0.5) ln(0.75/0.5) = 0.25 ln 2 + 0.25 ln 1.5
    #     = 0.25 ln 3 = 0.274653
    value = gates.psi(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0.1, 0.9, 0.9, 0.9]), bins=2)
    assert value == pytest.approx(0.274653, abs=1e-6)


def test_psi_empty_bin_uses_epsilon():
    # actual shares [1, 0] -> [1, 1e-4]: 0.5 ln 2 + (1e-4 - 0.5) ln(1e-4 / 0.5)
    #   = 0.346574 + 0.4999 * 8.517193 = 0.346574 + 4.257745 = 4.604319
    expected = np.array([0.1] * 5 + [0.9] * 5)
    assert gates.psi(expected, np.full(10, 0.1), bins=2) == pytest.approx(4.604319, abs=1e-5)


def test_psi_handles_tied_edges():
    constant = np.full(50, 0.3)
    assert gates.psi(constant, constant) == 0.0
    assert math.isfinite(gates.psi(constant, np.linspace(0, 1, 50)))


CHAMPION10 = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.55, 0.6, 0.7, 0.8, 0.9])


def test_shadow_flip_rate_on_ten_rows():
    # rows 4 and 5 swap scores: same distribution (psi 0), 2 of 10 decisions flip at 0.5
    candidate = CHAMPION10.copy()
    candidate[4], candidate[5] = 0.55, 0.45
    rows = pd.DataFrame({"transaction_id": [f"t{i}" for i in range(10)]})
    cfg = ShadowGate(max_psi=0.2, max_flip_rate=0.1, top_disagreements=2)
    result, top = gates.shadow(cfg, candidate, CHAMPION10, 0.5, rows)
    assert result.verdict == "fail"
    assert result.value == 0.0
    assert result.details["flips"] == 2
    assert result.details["flip_rate"] == 0.2
    assert "flip rate 20.00% > 10.00% (2 of 10)" in result.reason
    assert list(top["transaction_id"]) == ["t4", "t5"]
    assert list(top.columns) == ["transaction_id", "candidate_score", "champion_score", "abs_diff"]
    assert top["abs_diff"].tolist() == pytest.approx([0.1, 0.1])


def test_shadow_identical_passes_without_rows():
    cfg = ShadowGate(top_disagreements=3)
    result, top = gates.shadow(cfg, CHAMPION10.copy(), CHAMPION10, 0.5)
    assert result.verdict == "pass"
    assert (result.value, result.details["flip_rate"]) == (0.0, 0.0)
    assert list(top.columns) == ["candidate_score", "champion_score", "abs_diff"]
    assert list(top.index) == [0, 1, 2]


def test_shadow_psi_failure_by_hand():
    # champion 0.05 .. 0.95: one value per decile bin, e_i = 0.1; candidate all 0.95 lands
    # in the top bin: a = [1e-4] * 9 + [1]
    # PSI = 0.9 ln 10 + 9 * (1e-4 - 0.1) ln(1e-3) = 2.072327 + 6.210764 = 8.283091
    champion = np.arange(10) / 10 + 0.05
    result, _ = gates.shadow(ShadowGate(mode="warn"), np.full(10, 0.95), champion, 0.5)
    assert result.value == pytest.approx(8.283091, abs=1e-5)
    assert result.details["flips"] == 5  # 0.05 .. 0.45 were below 0.5
    assert result.verdict == "fail" and "psi 8.2831 > 0.2000" in result.reason
    assert result.mode == "warn" and not result.blocks()


def test_shadow_skipped_without_champion():
    result, top = gates.shadow(ShadowGate(), CHAMPION10, None, 0.5)
    assert result.verdict == "skipped" and result.reason == "no champion"
    assert top.empty


# ----------------------------------------------------------------------------- report


def result(name, verdict, mode="block", value=1.0) -> GateResult:
    return GateResult(name, mode, verdict, value, "<= 1", reason=f"{name} {verdict}")


def test_report_blocking_vs_warn():
    report = GateReport(
        [
            result("bad_record_ratio", "pass"),
            result("quality", "fail"),
            result("shadow", "fail", mode="warn"),
        ]
    )
    assert [r.name for r in report.blocking()] == ["quality"]
    assert [r.name for r in report.failed()] == ["quality", "shadow"]
    assert report.passed is False
    warn_only = GateReport([result("bad_record_ratio", "pass"), result("shadow", "fail", "warn")])
    assert warn_only.passed is True


def test_report_passed_false_without_evaluated_gates():
    assert GateReport([]).passed is False
    all_skipped = GateReport([gates.skipped("quality", "block", "no champion")])
    assert all_skipped.passed is False
    assert "no gate was evaluated" in all_skipped.text_table()


def test_report_overrides():
    report = GateReport([result("quality", "fail"), result("assertion_set", "pass")])
    report.apply_overrides(["quality"], "holdout week had a known outage")
    assert report.passed is True
    assert report.results[0].overridden and not report.results[0].blocks()
    assert report.results[0].override_reason == "holdout week had a known outage"
    assert report.failed()[0].name == "quality"  # still a failure, just not blocking


@pytest.mark.parametrize(
    ("names", "reason", "message"),
    [
        (["assertion_set"], "a long enough reason", r"\['assertion_set'\]: not a failed gate"),
        (["nope"], "a long enough reason", r"\['nope'\]"),
        (["quality"], "too short", "at least 10 characters"),
        (["quality"], "          ", "at least 10 characters"),
    ],
)
def test_report_invalid_overrides(names, reason, message):
    report = GateReport([result("quality", "fail"), result("assertion_set", "pass")])
    with pytest.raises(ValueError, match=message):
        report.apply_overrides(names, reason)
    assert not report.results[0].overridden and report.passed is False


def test_report_metrics_names():
    report = GateReport(
        [
            result("bad_record_ratio", "pass", value=0.005),
            result("quality", "fail", value=0.25),
            gates.skipped("shadow", "warn", "no champion"),
        ]
    )
    assert report.metrics() == {
        "gate_bad_record_ratio_value": 0.005,
        "gate_bad_record_ratio_passed": 1.0,
        "gate_quality_value": 0.25,
        "gate_quality_passed": 0.0,
        "gates_passed": 0.0,
    }


def test_report_table_puts_failures_first_and_round_trips():
    report = GateReport(
        [
            gates.skipped("shadow", "warn", "no champion"),
            result("bad_record_ratio", "pass"),
            result("training_iterations", "fail", mode="warn"),
            result("quality", "fail"),
        ]
    )
    names = [row["name"] for row in report.table()]
    assert names == ["quality", "training_iterations", "bad_record_ratio", "shadow"]
    assert set(report.table()[0]) >= {
        "name", "mode", "verdict", "value", "threshold", "champion_value", "reason",
    }  # fmt: skip
    text = report.text_table()
    assert text.splitlines()[0].split() == [
        "gate", "mode", "verdict", "value", "threshold", "champion", "reason",
    ]  # fmt: skip
    assert text.splitlines()[2].startswith("quality")
    assert text.endswith("BLOCKED by quality")

    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["passed"] is False
    again = GateReport.from_dict(data)
    assert again.to_dict() == report.to_dict()


# --- export_parity -------------------------------------------------------------------------


def parity_cfg(**kw):
    from mlgate.config import ExportParityGate

    return ExportParityGate(**kw)


def test_export_parity_passes_within_tolerance_by_hand():
    spark = np.array([0.10, 0.40, 0.70, 0.95])
    onnx = np.array([0.10, 0.400004, 0.69999, 0.95])  # |Δ| = 0, 4e-6, 1e-5, 0
    result = gates.export_parity(parity_cfg(), spark, onnx, 0.5, keys=np.array([11, 12, 13, 14]))
    assert result.verdict == "pass", result.reason
    assert result.value == pytest.approx(1e-5, rel=1e-6)
    assert result.details["decision_flips"] == 0
    assert result.details["rows"] == 4
    assert result.details["worst_rows"][0]["key"] == 13  # the row with |Δ| = 1e-5


def test_export_parity_fails_on_a_difference_above_the_bound():
    spark = np.array([0.10, 0.20, 0.30])
    onnx = np.array([0.10, 0.20002, 0.30])  # |Δ| = 2e-5 > 1e-5, no decision changes
    result = gates.export_parity(parity_cfg(), spark, onnx, 0.5)
    assert result.verdict == "fail"
    assert result.value == pytest.approx(2e-5, rel=1e-6)
    assert "2e-05 > 1e-05" in result.reason
    assert result.blocks()


def test_export_parity_fails_on_a_decision_flip_even_within_tolerance():
    # 0.4999995 vs 0.5000005: |Δ| = 1e-6 (within 1e-5) but one says 0, the other 1.
    spark = np.array([0.4999995, 0.9])
    onnx = np.array([0.5000005, 0.9])
    result = gates.export_parity(parity_cfg(), spark, onnx, 0.5)
    assert result.verdict == "fail"
    assert result.details["decision_flips"] == 1
    assert "1 of 2 decisions" in result.reason


def test_export_parity_nan_in_both_agrees_nan_in_one_fails():
    both = gates.export_parity(parity_cfg(), np.array([np.nan, 0.2]), np.array([np.nan, 0.2]), 0.5)
    assert both.verdict == "pass" and both.value == 0.0
    one = gates.export_parity(parity_cfg(), np.array([np.nan, 0.2]), np.array([0.3, 0.2]), 0.5)
    assert one.verdict == "fail"
    assert one.to_dict()["value"] is None  # infinity is not JSON: recorded as null


def test_export_parity_without_a_portable_model_fails_with_the_reason():
    result = gates.export_parity(
        parity_cfg(mode="block"),
        np.array([0.1]),
        np.array([np.nan]),
        0.5,
        export_error="ExportError: NaiveBayesModel: no faithful ONNX export",
    )
    assert result.verdict == "fail" and result.blocks()
    assert "NaiveBayesModel" in result.reason
    assert gates.export_parity(parity_cfg(), np.array([0.1]), None, 0.5).verdict == "fail"


def test_export_parity_with_no_rows_fails_and_warn_mode_does_not_block():
    result = gates.export_parity(parity_cfg(mode="warn"), np.array([]), np.array([]), 0.5)
    assert result.verdict == "fail"
    assert not result.blocks()
    assert json.loads(json.dumps(result.to_dict()))["details"]["rows"] == 0


# ----------------------------------------------------------------------------- reconciliation


def test_reconciliation_equal_counts_and_key_sums_pass():
    from mlgate.config import ReconciliationGate

    # keys 1..4 on both sides: 4 rows, key sum 10
    result = gates.reconciliation(
        ReconciliationGate(), 4, 4, source_key_sum=10, lake_key_sum=10, window="t ds=x"
    )
    assert result.verdict == "pass" and result.value == 0.0
    assert result.threshold == "lake rows == source rows and key sums equal"
    assert result.reason == (
        "4 rows in the source window for t ds=x and in the lake, key sum 10 on both sides"
    )


def test_reconciliation_missing_rows_fail_with_both_numbers():
    from mlgate.config import ReconciliationGate

    # source keys 1..5 (sum 15); the lake lost key 5: 4 rows, sum 10
    result = gates.reconciliation(ReconciliationGate(), 5, 4, source_key_sum=15, lake_key_sum=10)
    assert result.verdict == "fail" and result.blocks()
    assert result.value == -1.0  # lake minus source
    assert "the lake has 4 rows, the source window has 5" in result.reason
    assert "(key sum: lake 10, source 15)" in result.reason
    assert "1 rows missing from the lake" in result.reason
    assert result.details["source"] == {"rows": 5, "key_sum": 15}
    assert result.details["lake"] == {"rows": 4, "key_sum": 10}


def test_reconciliation_same_count_other_keys_fail_and_checksum_can_be_off():
    from mlgate.config import ReconciliationGate

    # source keys 1, 2, 3 (sum 6); the lake read key 2 twice and missed 3: 1, 2, 2 (sum 5)
    result = gates.reconciliation(ReconciliationGate(), 3, 3, source_key_sum=6, lake_key_sum=5)
    assert result.verdict == "fail" and "same count, different keys" in result.reason
    off = gates.reconciliation(
        ReconciliationGate(checksum=False), 3, 3, source_key_sum=6, lake_key_sum=5
    )
    assert off.verdict == "pass" and off.threshold == "lake rows == source rows"
    too_many = gates.reconciliation(ReconciliationGate(mode="warn"), 3, 5)
    assert too_many.verdict == "fail" and not too_many.blocks() and too_many.value == 2.0
    assert "2 rows too many in the lake" in too_many.reason


def test_reconciliation_empty_window_and_unmeasured_source():
    from mlgate.config import ReconciliationGate

    empty = gates.reconciliation(ReconciliationGate(), 0, 0, source_key_sum=0, lake_key_sum=0)
    assert empty.verdict == "fail" and "empty window" in empty.reason
    allowed = gates.reconciliation(ReconciliationGate(allow_empty=True), 0, 0)
    assert allowed.verdict == "pass"
    unmeasured = gates.reconciliation(ReconciliationGate(), None, 7)
    assert unmeasured.verdict == "skipped" and "not measured" in unmeasured.reason
