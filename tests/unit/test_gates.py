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

# what only a pipeline knows: its suites and its assertion file
SUITES = {"raw_suite": "shop/raw_events", "features_suite": "shop/features"}
ASSERTIONS = "include/assertions/shop.yaml"


def bad_cfg(**kw) -> BadRecordGate:
    return BadRecordGate(**kw)


def quality_cfg(**kw) -> QualityGate:
    # No ceiling unless a test sets one: these cases score perfect models on purpose.
    kw.setdefault("ceiling", {"roc_auc": 1.0})
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


def test_bad_record_ratio_failure_is_recorded_whole():
    # 3 of 200 = 0.015 > 0.01; the top reasons by count, then by name
    result = gates.bad_record_ratio(bad_cfg(), 200, 3, {"amount_range": 2, "x": 1})
    assert result.to_dict() == {
        "name": "bad_record_ratio",
        "mode": "block",
        "verdict": "fail",
        "value": 0.015,
        "threshold": "<= 0.0100",
        "champion_value": None,
        "reason": "3 of 200 rows (1.50%) failed the record rules, above 1.00%; "
        "top reasons: amount_range 2, x 1; see the quarantine partition",
        "details": {"total": 200, "bad": 3, "reasons": {"amount_range": 2, "x": 1}},
        "overridden": False,
        "override_reason": "",
        "blocks": True,
    }


def test_bad_record_ratio_names_the_three_commonest_reasons_ties_by_name():
    # 10 of 1000 = 0.01, the bound itself: passes. c (5) first; a and b (2 each) by name;
    # d (1) is the fourth and left out. A row with two reasons counts for both.
    reasons = {"b": 2, "d": 1, "c": 5, "a": 2}
    result = gates.bad_record_ratio(bad_cfg(), 1000, 10, reasons)
    assert result.verdict == "pass"
    assert result.name == "bad_record_ratio"
    assert (
        result.reason
        == "10 of 1000 rows (1.00%) failed the record rules; top reasons: c 5, a 2, b 2"
    )


def test_bad_record_ratio_clean_day_says_so_without_reasons():
    result = gates.bad_record_ratio(bad_cfg(), 200, 0, None)
    assert (result.verdict, result.value) == ("pass", 0.0)
    assert result.reason == "0 of 200 rows (0.00%) failed the record rules"
    assert result.details == {"total": 200, "bad": 0, "reasons": {}}


def test_bad_record_ratio_empty_extract_is_recorded_whole():
    result = gates.bad_record_ratio(bad_cfg(mode="warn"), 0, 0, {})
    assert result.to_dict() == {
        "name": "bad_record_ratio",
        "mode": "warn",
        "verdict": "fail",
        "value": None,
        "threshold": "<= 0.0100",
        "champion_value": None,
        "reason": "empty extract: no rows for the day",
        "details": {"total": 0, "bad": 0, "reasons": {}},
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }


@pytest.mark.parametrize(("total", "bad"), [(0, 1), (10, -1), (10, 11), (-1, 0)])
def test_bad_record_ratio_rejects_counts_outside_zero_to_total(total, bad):
    with pytest.raises(ValueError) as error:
        gates.bad_record_ratio(bad_cfg(), total, bad, {})
    assert str(error.value) == (
        f"bad_rows ({bad}) must be between 0 and total_rows ({total}), and total_rows at least 0"
    )


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


def test_data_expectations_fail_when_the_newest_matured_days_have_no_labels():
    # the window's label rate is in its band, yet none of the newest matured days has labels
    result = gates.data_expectations(
        DataExpectationsGate(**SUITES), CLEAN_REPORTS, label_rate=0.01, volume=None,
        volume_history=[], labels_by_day={"2026-10-21": 0, "2026-10-19": 0, "2026-10-20": 0},
    )  # fmt: skip
    assert (result.verdict, result.value) == ("fail", 1.0)
    assert result.reason == (
        "no fresh labels: each of the 3 newest matured days has fewer than 1 positive "
        "label(s) (2026-10-19: 0, 2026-10-20: 0, 2026-10-21: 0); the label feed may have "
        "stalled: check that new labels reach the label table, then rerun"
    )
    assert result.details["label_freshness"]["stalled"] is True
    assert result.details["label_rate"]["ok"] is True


def test_one_quiet_day_among_labelled_ones_is_no_stall():
    # a small pipeline has days without a positive: that alone must not block
    counts = {"2026-10-19": 0, "2026-10-20": 1, "2026-10-21": 0}
    result = gates.data_expectations(
        DataExpectationsGate(**SUITES), CLEAN_REPORTS, label_rate=None, volume=None,
        volume_history=[], labels_by_day=counts,
    )  # fmt: skip
    assert result.verdict == "pass"
    assert result.details["label_freshness"] == {
        "days": counts,
        "minimum": 1,
        "short_days": ["2026-10-19", "2026-10-21"],
        "stalled": False,
    }


def test_label_freshness_minimum_is_inclusive():
    assert gates.days_short_of_labels({"2026-10-21": 1, "2026-10-20": 2, "2026-10-19": 1}, 2) == [
        "2026-10-19",
        "2026-10-21",
    ]
    assert gates.label_feed_stalled({"2026-10-20": 1, "2026-10-21": 1}, 2) is True
    assert gates.label_feed_stalled({"2026-10-20": 1, "2026-10-21": 2}, 2) is False
    assert gates.label_feed_stalled({}, 1) is False  # no day to judge: no stall
    cfg = DataExpectationsGate(**SUITES, min_daily_labels=2)
    result = gates.data_expectations(
        cfg, CLEAN_REPORTS, label_rate=None, volume=None, volume_history=[],
        labels_by_day={"2026-10-20": 1, "2026-10-21": 1},
    )  # fmt: skip
    assert "has fewer than 2 positive label(s) (2026-10-20: 1, 2026-10-21: 1)" in result.reason
    assert result.threshold.endswith("; a day with >= 2 label(s) among the 3 newest matured days")


def test_label_freshness_switched_off_or_not_measured():
    off = DataExpectationsGate(**SUITES, label_freshness_days=0)
    result = gates.data_expectations(
        off, CLEAN_REPORTS, label_rate=None, volume=None, volume_history=[]
    )
    assert result.verdict == "pass"
    assert result.threshold.endswith("volume within ±50% of the 7-day median")
    assert result.details["label_freshness"] == {
        "days": None,
        "minimum": 1,
        "skipped": "no daily label counts given",
    }


def test_data_expectations_pass_is_recorded_whole():
    result = gates.data_expectations(
        DataExpectationsGate(**SUITES), CLEAN_REPORTS, label_rate=0.01, volume=100,
        volume_history=[90, 100, 110], labels_by_day={"2026-10-20": 1, "2026-10-21": 4},
    )  # fmt: skip
    assert result.to_dict() == {
        "name": "data_expectations",
        "mode": "block",
        "verdict": "pass",
        "value": 0.0,
        "threshold": "0 failed checks; label rate in [0.0005, 0.02]; volume within ±50% of "
        "the 7-day median; a day with >= 1 label(s) among the 3 newest matured days",
        "champion_value": None,
        "reason": "33 expectations in 2 suite(s) passed; label rate 0.0100; volume 100 rows",
        "details": {
            "suites": [
                {"suite": "raw_transactions", "rows": 100, "evaluated": 23, "failed": []},
                {"suite": "features", "rows": 100, "evaluated": 10, "failed": []},
            ],
            "failed_checks": [],
            "label_rate": {"value": 0.01, "low": 0.0005, "high": 0.02, "ok": True},
            "label_freshness": {
                "days": {"2026-10-20": 1, "2026-10-21": 4},
                "minimum": 1,
                "short_days": [],
                "stalled": False,
            },
            "volume": {
                "value": 100,
                "history": [90, 100, 110],
                "median": 100.0,
                "low": 50.0,
                "high": 150.0,
                "ok": True,
            },
        },
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }


@pytest.mark.parametrize(
    ("label_rate", "verdict"),
    [(0.0004, "fail"), (0.0005, "pass"), (0.02, "pass"), (0.0201, "fail")],
)
def test_data_expectations_label_rate_bounds_are_inclusive(label_rate, verdict):
    # label_rate [0.0005, 0.02] by default: both ends accepted, anything outside fails
    result = gates.data_expectations(
        DataExpectationsGate(**SUITES), CLEAN_REPORTS, label_rate=label_rate, volume=None,
        volume_history=[],
    )  # fmt: skip
    assert result.verdict == verdict
    assert result.details["label_rate"]["ok"] is (verdict == "pass")


def test_data_expectations_label_rate_failure_names_rate_and_band():
    result = gates.data_expectations(
        DataExpectationsGate(**SUITES, label_rate=(0.01, 0.05)), CLEAN_REPORTS, label_rate=0.06,
        volume=None, volume_history=[],
    )  # fmt: skip
    assert (result.verdict, result.value) == ("fail", 1.0)
    assert result.reason == "label rate 0.0600 outside [0.01, 0.05]"
    assert result.details["failed_checks"] == ["label rate 0.0600 outside [0.01, 0.05]"]


def test_data_expectations_volume_is_judged_on_the_window_of_recent_days_only():
    # Eight old days of 1000 rows, then seven of 100. Over the last 7 days the median is
    # 100 (band [50, 150]): 150 passes. Over all 15 days it would be 1000 (band [500, 1500])
    # and 150 would fail: only a windowed check passes this day.
    history = [1000] * 8 + [100] * 7
    cfg = DataExpectationsGate(**SUITES, volume_history_days=7, volume_tolerance=0.5)
    result = gates.data_expectations(
        cfg, CLEAN_REPORTS, label_rate=None, volume=150, volume_history=history
    )
    assert result.verdict == "pass"
    assert result.details["volume"] == {
        "value": 150,
        "history": [100] * 7,
        "median": 100.0,
        "low": 50.0,
        "high": 150.0,
        "ok": True,
    }
    # and a day of 1000 rows, normal for the old days, is far outside the recent band
    jump = gates.data_expectations(
        cfg, CLEAN_REPORTS, label_rate=None, volume=1000, volume_history=history
    )
    assert jump.verdict == "fail"
    assert jump.reason == "volume 1000 rows outside [50, 150] (median 100 of the last 7 days ±50%)"


def test_data_expectations_volume_window_shorter_than_history_uses_the_newest_days():
    # volume_history_days = 2: the last two days, 300 and 500, median 400, band [200, 600]
    cfg = DataExpectationsGate(**SUITES, volume_history_days=2, volume_tolerance=0.5)
    result = gates.data_expectations(
        cfg, CLEAN_REPORTS, label_rate=None, volume=600, volume_history=[100, 300, 500]
    )
    assert result.verdict == "pass"
    assert result.details["volume"]["history"] == [300, 500]
    assert result.details["volume"]["median"] == 400.0
    assert "volume within ±50% of the 2-day median;" in result.threshold


def test_data_expectations_without_label_rate_or_volume_says_what_was_skipped():
    result = gates.data_expectations(
        DataExpectationsGate(**SUITES), CLEAN_REPORTS, label_rate=None, volume=None,
        volume_history=[100],
    )  # fmt: skip
    assert result.verdict == "pass"
    assert result.reason == (
        "33 expectations in 2 suite(s) passed (no label rate given; no volume given)"
    )
    assert result.details["label_rate"] == {
        "value": None,
        "low": 0.0005,
        "high": 0.02,
        "skipped": "no label rate given",
    }
    assert result.details["volume"] == {
        "value": None,
        "history": [100],
        "skipped": "no volume given",
    }


def test_data_expectations_reads_check_report_objects_and_fills_missing_fields():
    class Report:  # what mlgate.checks returns: an object with to_dict()
        def to_dict(self):
            return {"suite": "raw", "rows": 5, "evaluated": None, "failed": []}

    ok = gates.data_expectations(
        DataExpectationsGate(**SUITES), [Report()], label_rate=None, volume=None, volume_history=[]
    )
    # evaluated None counts as 0 expectations
    assert ok.verdict == "pass" and ok.reason.startswith("0 expectations in 1 suite(s) passed")
    assert ok.details["suites"] == [{"suite": "raw", "rows": 5, "evaluated": None, "failed": []}]

    # a report without a suite name, a failure without column, expectation or observation
    bare = gates.data_expectations(
        DataExpectationsGate(**SUITES), [{"failed": [{}]}], label_rate=None, volume=None,
        volume_history=[],
    )  # fmt: skip
    assert bare.verdict == "fail"
    assert bare.reason == "?: (table) ? (failed)"
    assert bare.details["suites"] == [
        {"suite": "?", "rows": None, "evaluated": None, "failed": [{}]}
    ]


def test_data_expectations_counts_every_failure_in_its_value():
    # one failed expectation, the label rate and the volume: value 3, reasons in that order
    reports = [{"suite": "raw_transactions", "rows": 6, "evaluated": 23, "failed": [NULL_AMOUNT]}]
    result = gates.data_expectations(
        DataExpectationsGate(**SUITES), reports, label_rate=0.5, volume=10, volume_history=[100]
    )
    assert result.value == 3.0
    assert result.details["failed_checks"] == [
        "raw_transactions: amount expect_column_values_to_not_be_null "
        "(1 of 6 values (16.67%) unexpected)",
        "label rate 0.5000 outside [0.0005, 0.02]",
        "volume 10 rows outside [50, 150] (median 100 of the last 1 days ±50%)",
    ]
    assert result.reason == "; ".join(result.details["failed_checks"])
    assert result.threshold.startswith("0 failed checks; label rate in [0.0005, 0.02]")


def test_data_expectations_without_reports_is_recorded_whole():
    result = gates.data_expectations(
        DataExpectationsGate(**SUITES, mode="warn"),
        [],
        label_rate=None,
        volume=None,
        volume_history=[],
    )
    assert result.to_dict()["name"] == "data_expectations"
    assert (result.verdict, result.value, result.blocks()) == ("fail", 1.0, False)
    assert result.reason == "no data-check report given: nothing was checked"
    assert result.details["suites"] == []


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


@pytest.mark.parametrize(
    ("trees", "verdict"), [(29, "fail"), (30, "pass"), (90, "pass"), (91, "fail")]
)
def test_training_iterations_band_edges_are_inclusive(trees, verdict):
    # median 60, tolerance 0.5: band [30, 90]; 30 and 90 pass, 29 and 91 fail
    cfg = TrainingIterationsGate(history=5, tolerance=0.5)
    result = gates.training_iterations(cfg, {"effort_trees": trees}, HISTORY)
    assert result.verdict == verdict
    assert result.details["keys"]["effort_trees"]["ok"] is (verdict == "pass")


def test_training_iterations_pass_is_recorded_whole():
    cfg = TrainingIterationsGate(history=5, tolerance=0.5)
    result = gates.training_iterations(cfg, {"effort_trees": 70}, HISTORY)
    assert result.to_dict() == {
        "name": "training_iterations",
        "mode": "block",
        "verdict": "pass",
        "value": pytest.approx(1 / 6),  # |70 - 60| / 60
        "threshold": "within ±50% of median of last 5 accepted runs",
        "champion_value": None,
        "reason": "effort_trees 70 in [30, 90]",
        "details": {
            "keys": {
                "effort_trees": {
                    "candidate": 70.0,
                    "median": 60.0,
                    "low": 30.0,
                    "high": 90.0,
                    "deviation": pytest.approx(1 / 6),
                    "runs": 3,
                    "ok": True,
                }
            },
            "history_runs": 3,
        },
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }


def test_training_iterations_pass_names_every_key_in_its_band():
    # trees: median 60, band [30, 90]; nodes: median 4000, band [2000, 6000]
    history = [{"effort_trees": 60, "effort_total_nodes": n} for n in (3000, 4000, 5000)]
    result = gates.training_iterations(
        TrainingIterationsGate(), {"effort_trees": 60, "effort_total_nodes": 4000}, history
    )
    assert (result.verdict, result.value) == ("pass", 0.0)
    assert result.reason == ("effort_total_nodes 4000 in [2000, 6000]; effort_trees 60 in [30, 90]")


def test_training_iterations_failure_lists_every_key_out_of_band():
    # trees: median 60, band [30, 90], 20 is below; nodes: median 4000, band [2000, 6000],
    # 7000 is above (deviation 0.75, the worst; trees: 2/3)
    history = [{"effort_trees": 60, "effort_total_nodes": n} for n in (3000, 4000, 5000)]
    cfg = TrainingIterationsGate(history=5, tolerance=0.5)
    result = gates.training_iterations(
        cfg, {"effort_trees": 20, "effort_total_nodes": 7000}, history
    )
    assert (result.name, result.verdict) == ("training_iterations", "fail")
    assert result.value == pytest.approx(0.75)
    assert result.threshold == "within ±50% of median of last 5 accepted runs"
    assert result.reason == (
        "training effort changed: effort_total_nodes 7000 above [2000, 6000] (median 4000 of 3 "
        "accepted runs); effort_trees 20 below [30, 90] (median 60 of 3 accepted runs)"
    )
    assert result.details["history_runs"] == 3


def test_training_iterations_a_key_without_history_does_not_stop_the_others():
    # effort_a_new (sorted first) has no history; effort_trees still has to be judged
    cfg = TrainingIterationsGate()
    result = gates.training_iterations(
        cfg, {"effort_a_new": 5, "effort_trees": 20, "effort_z": None}, HISTORY
    )
    assert result.verdict == "fail"
    assert list(result.details["keys"]) == ["effort_trees"]


def test_training_iterations_ignores_runs_that_lack_the_key():
    # only two of the runs measured nodes: median of 3000 and 5000 = 4000
    history = [
        {"effort_trees": 60, "effort_total_nodes": 3000},
        {"effort_trees": 60, "effort_total_nodes": None},
        {"effort_trees": 60, "effort_total_nodes": 5000},
    ]
    result = gates.training_iterations(
        TrainingIterationsGate(), {"effort_total_nodes": 4000}, history
    )
    assert result.verdict == "pass"
    assert result.details["keys"]["effort_total_nodes"]["runs"] == 2
    assert result.details["keys"]["effort_total_nodes"]["median"] == 4000.0


def test_training_iterations_median_zero_measures_the_absolute_deviation():
    # band 0 +- 0.5 * 0 = [0, 0]; deviation |3 - 0| / 1 = 3
    history = [{"effort_iterations": 0}] * 3
    result = gates.training_iterations(TrainingIterationsGate(), {"effort_iterations": 3}, history)
    assert result.verdict == "fail"
    assert result.value == 3.0
    assert "effort_iterations 3 above [0, 0] (median 0 of 3 accepted runs)" in result.reason


def test_training_iterations_skips_are_recorded_whole():
    cfg = TrainingIterationsGate(history=4, tolerance=0.25)
    first = gates.training_iterations(cfg, {"effort_trees": 60}, [])
    assert first.to_dict() == {
        "name": "training_iterations",
        "mode": "block",
        "verdict": "skipped",
        "value": None,
        "threshold": "within ±25% of median of last 4 accepted runs",
        "champion_value": None,
        "reason": "no accepted run to compare with yet",
        "details": {},
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }
    other = gates.training_iterations(cfg, {"effort_iterations": 37}, HISTORY)
    assert (other.name, other.threshold) == ("training_iterations", first.threshold)
    assert other.reason == (
        "no effort metric in common with the accepted runs (candidate has "
        "['effort_iterations']; model family changed?)"
    )


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


def test_assertion_set_pass_is_recorded_whole():
    result = gates.assertion_set(
        AssertionSetGate(path=ASSERTIONS), examples([0.9, 0.1], [1, 0]), 0.5
    )
    assert result.to_dict() == {
        "name": "assertion_set",
        "mode": "block",
        "verdict": "pass",
        "value": 1.0,
        "threshold": "100% of 2",
        "champion_value": None,
        "reason": "all 2 assertion examples decided as expected at 0.5",
        "details": {
            "path": ASSERTIONS,
            "total": 2,
            "correct": 2,
            "operating_threshold": 0.5,
            "missed": [],
        },
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }


def test_assertion_set_failure_lists_every_miss_in_order():
    # a2: legit at exactly 0.5 is flagged (>=); a3: a fraud with no score is a miss too,
    # whatever it was expected to be; a4: a score that is not a number counts as missing
    frame = examples([0.9, 0.5, np.nan, "n/a"], [1, 0, 1, 0])
    result = gates.assertion_set(AssertionSetGate(path=ASSERTIONS), frame, 0.5)
    assert (result.name, result.verdict, result.value) == ("assertion_set", "fail", 0.25)
    assert result.threshold == "100% of 4"
    assert result.reason == (
        "3 of 4 assertion examples missed at 0.5: a2 (expected 0, score 0.5000: case 2); "
        "a3 (expected 1, score missing: case 3); a4 (expected 0, score missing: case 4)"
    )
    assert result.details["correct"] == 1
    assert result.details["total"] == 4
    assert result.details["operating_threshold"] == 0.5
    assert result.details["path"] == ASSERTIONS


def test_assertion_set_empty_is_recorded_whole():
    result = gates.assertion_set(AssertionSetGate(path="x.yaml"), examples([], []), 0.5)
    assert result.to_dict() == {
        "name": "assertion_set",
        "mode": "block",
        "verdict": "fail",
        "value": None,
        "threshold": "100% of 0",
        "champion_value": None,
        "reason": "assertion set is empty (x.yaml)",
        "details": {"path": "x.yaml"},
        "overridden": False,
        "override_reason": "",
        "blocks": True,
    }


def test_assertion_set_names_missing_columns():
    frame = examples([0.9], [1]).drop(columns=["description", "score"])
    with pytest.raises(
        ValueError, match=r"assertion examples lack columns \['score', 'description'\]"
    ):
        gates.assertion_set(AssertionSetGate(path=ASSERTIONS), frame, 0.5)


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


def test_holdout_metrics_by_hand():
    # LABELS4 / SCORES4 at 0.5: rows 0 (+) and 1 (-) flagged: precision 1/2, recall 1/2
    assert gates.holdout_metrics(LABELS4, SCORES4, 0.5) == {
        "holdout_rows": 4.0,
        "holdout_positives": 2.0,
        "holdout_positive_rate": 0.5,
        "precision_at_threshold": 0.5,
        "recall_at_threshold": 0.5,
        "flagged_rate": 0.5,
        "auc_pr": pytest.approx(0.8333333),
        "roc_auc": 0.75,
    }


def test_holdout_metrics_without_both_classes_leave_out_the_ranking_metrics():
    # no positive, nothing flagged: precision and recall 0, no AUC
    assert gates.holdout_metrics(np.array([0, 0]), np.array([0.1, 0.2]), 0.5) == {
        "holdout_rows": 2.0,
        "holdout_positives": 0.0,
        "holdout_positive_rate": 0.0,
        "precision_at_threshold": 0.0,
        "recall_at_threshold": 0.0,
        "flagged_rate": 0.0,
    }
    only_positives = gates.holdout_metrics(np.array([1, 1]), np.array([0.9, 0.2]), 0.5)
    assert "auc_pr" not in only_positives and "roc_auc" not in only_positives
    assert only_positives["recall_at_threshold"] == 0.5
    one_positive = gates.holdout_metrics(np.array([1, 0]), np.array([0.9, 0.2]), 0.5)
    assert (one_positive["auc_pr"], one_positive["roc_auc"]) == (1.0, 1.0)


def test_holdout_metrics_of_an_empty_holdout_are_zero():
    assert gates.holdout_metrics(np.array([]), np.array([]), 0.5) == {
        "holdout_rows": 0.0,
        "holdout_positives": 0.0,
        "holdout_positive_rate": 0.0,
        "precision_at_threshold": 0.0,
        "recall_at_threshold": 0.0,
        "flagged_rate": 0.0,
    }


def test_ranking_metrics_when_the_lowest_score_is_a_positive():
    # descending: 0.9(+) 0.8(-) 0.3(-) 0.1(+)
    # AP = 0.5 * 1/1 + 0.5 * 2/4 = 0.75; ROC AUC: (2 + 0) / 4 = 0.5
    labels, scores = np.array([1, 0, 0, 1]), np.array([0.9, 0.8, 0.3, 0.1])
    assert gates.average_precision(labels, scores) == 0.75
    assert gates.roc_auc(labels, scores) == 0.5


def test_decision_cost_flags_a_score_at_the_threshold_and_weighs_both_errors():
    # at 0.8: rows 0 and 1 (0.8 >= 0.8) flagged; FN: row 2; FP: row 1
    # (1 * 100 + 1 * 2) / 4 = 25.5
    assert gates.decision_cost(LABELS4, SCORES4, 0.8, 100.0, 2.0) == 25.5


def test_metric_by_name_edge_cases():
    from mlgate.gates.metrics import metric

    cfg = quality_cfg()
    nothing_flagged = np.array([0.1, 0.2, 0.3, 0.4])
    assert metric("precision_at_threshold", LABELS4, nothing_flagged, 0.5, cfg) == 0.0
    assert metric("recall_at_threshold", LABELS4, nothing_flagged, 0.5, cfg) == 0.0
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        metric("f1", LABELS4, SCORES4, 0.5, cfg)


def test_paired_bootstrap_resamples_each_class_with_replacement():
    from mlgate.gates.metrics import paired_bootstrap

    labels = np.array([1] * 5 + [0] * 15)
    rows = np.arange(20, dtype=float)  # the candidate's "scores" name the rows drawn
    positives = paired_bootstrap(labels, rows, rows, lambda y, a, b: y.sum(), 200, 0)
    assert set(positives) == {5}  # every resample keeps the 5 positives' count
    distinct = paired_bootstrap(labels, rows, rows, lambda y, a, b: len(set(a)), 200, 0)
    assert distinct.max() < 20  # with replacement: no resample holds all 20 rows
    same_rows = paired_bootstrap(labels, rows, rows + 1, lambda y, a, b: (b - a).sum(), 50, 0)
    assert set(same_rows) == {20.0}  # both models see the same rows


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
    assert worse.details["diff_direction"] == "champion - candidate (cost: lower is better)"
    assert worse.threshold == (
        "auc_pr >= 0.1000; roc_auc <= 1.0000; vs champion cost (lower is better): drop <= "
        "0.0200 beyond the 95% interval, gain <= 1.0000"
    )
    # the other way round the candidate saves 25.25 per row: far above max_jump
    better = gates.quality(cfg, LABELS4, PERFECT4, SCORES4, 0.5)
    assert better.details["diff"] == pytest.approx(25.25)
    assert better.verdict == "fail" and "too good to be true" in better.reason


def test_quality_ceiling_blocks_a_perfect_first_model_without_a_champion():
    # the schema's default ceiling (roc_auc 0.995), no champion: the first run is checked too
    cfg = QualityGate(floor={"auc_pr": 0.3})
    result = gates.quality(cfg, LABELS4, PERFECT4, None, 0.5)
    assert result.verdict == "fail" and result.blocks
    assert result.reason.startswith(
        "too good to be true: roc_auc 1.0000 above the ceiling 0.9950; suspect leakage"
    )
    assert result.details["ceiling_failures"] == {"roc_auc": {"value": 1.0, "ceiling": 0.995}}
    assert result.details["champion"] == "no champion"
    assert result.threshold.startswith("auc_pr >= 0.3000; roc_auc <= 0.9950; vs champion")


def test_quality_ceiling_exactly_met_passes_just_above_fails():
    # SCORES4: ROC AUC 0.75, AUC-PR 0.8333 (worked above)
    at = gates.quality(
        quality_cfg(floor={"auc_pr": 0.1}, ceiling={"roc_auc": 0.75}), LABELS4, SCORES4, None, 0.5
    )
    assert at.verdict == "pass" and at.details["ceiling_failures"] == {}
    below = quality_cfg(floor={"auc_pr": 0.1}, ceiling={"roc_auc": 0.7499})
    above = gates.quality(below, LABELS4, SCORES4, None, 0.5)
    assert above.verdict == "fail"
    assert above.details["ceiling_failures"] == {"roc_auc": {"value": 0.75, "ceiling": 0.7499}}
    by_pr = quality_cfg(floor={"auc_pr": 0.1}, ceiling={"auc_pr": 0.8, "roc_auc": 0.9})
    result = gates.quality(by_pr, LABELS4, SCORES4, None, 0.5)
    assert list(result.details["ceiling_failures"]) == ["auc_pr"]
    assert "auc_pr 0.8333 above the ceiling 0.8000" in result.reason
    assert (
        "suspect leakage (a feature that sees the label or the future), verify before "
        "overriding; auc_pr 0.8333;" in result.reason
    )
    assert result.threshold.startswith("auc_pr >= 0.1000; auc_pr <= 0.8000, roc_auc <= 0.9000;")


def test_quality_ceiling_also_applies_when_the_champion_is_as_good():
    # no jump over an equally perfect champion, but still above the ceiling
    result = gates.quality(QualityGate(floor={"auc_pr": 0.3}), LABELS4, PERFECT4, PERFECT4, 0.5)
    assert result.details["suspicious_jump"] is False
    assert result.verdict == "fail" and list(result.details["ceiling_failures"]) == ["roc_auc"]


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


def recall_holdout(positives: int, candidate_misses: int, champion_misses: int = 0):
    """A holdout of `positives` frauds and as many legit rows, scored at threshold 0.5.

    Both models rank every fraud above every legit row (AUC-PR and ROC AUC 1); a missed
    fraud is scored 0.2, below the threshold, so recall = caught / positives.
    """
    labels = np.array([1] * positives + [0] * positives)

    def scores(misses: int) -> np.ndarray:
        frauds = [0.2] * misses + [0.9] * (positives - misses)
        return np.array(frauds + [0.1] * positives)

    return labels, scores(candidate_misses), scores(champion_misses)


def recall_cfg(**kw) -> QualityGate:
    kw.setdefault("ceiling", {"roc_auc": 1.0})  # the worked examples separate perfectly
    kw.setdefault("floor", {"auc_pr": 0.1})
    kw.setdefault("compare_metric", "recall_at_threshold")
    kw.setdefault("bootstrap_samples", 2000)
    kw.setdefault("confidence", 0.9)
    return QualityGate(**kw)


# The worked bootstrap interval. The candidate misses 1 of 8 frauds, the champion none;
# the gain is candidate recall - champion recall = -X / 8, where X is how often the missed
# fraud is drawn among the 8 frauds of a stratified resample: X ~ Binomial(8, 1/8),
#   P(X <= 0) = 0.3436, P(X <= 1) = 0.7363, P(X <= 2) = 0.9327, P(X <= 3) = 0.9888.
# A 90% interval takes the 5th and 95th percentiles of the gain, i.e. -X at X's 95th and
# 5th percentiles: X's 95th is 3 (0.9327 < 0.95 <= 0.9888), X's 5th is 0, so the interval
# is [-3/8, -0/8] = [-0.375, 0.0]. (A one-sided bound, X's 90th percentile, would be 2.)
# With 2000 resamples the sample percentiles sit at least 3.5 standard errors away from
# the neighbouring steps of the CDF, so the seeded run lands on these values.


def test_quality_bootstrap_interval_by_hand():
    labels, candidate, champion = recall_holdout(8, candidate_misses=1)
    result = gates.quality(recall_cfg(max_drop=0.0), labels, candidate, champion, 0.5)
    assert result.details["interval"] == [-0.375, 0.0]
    assert result.details["diff"] == -0.125  # 7/8 - 8/8
    assert (result.value, result.champion_value) == (0.875, 1.0)


def test_quality_slightly_worse_but_not_significantly_passes():
    # the point estimate is worse (-0.125), but the interval [-0.375, 0.0] reaches 0: its
    # upper bound is exactly -max_drop (0), which is not "below -max_drop"
    labels, candidate, champion = recall_holdout(8, candidate_misses=1)
    result = gates.quality(recall_cfg(max_drop=0.0), labels, candidate, champion, 0.5)
    assert result.verdict == "pass", result.reason
    assert result.details["significantly_worse"] is False
    assert result.reason == (
        "recall_at_threshold 0.8750 vs champion 1.0000; floors met; recall_at_threshold gain "
        "vs champion -0.1250, 90% interval [-0.3750, +0.0000]"
    )


def test_quality_interval_upper_bound_exactly_at_minus_max_drop_passes_beyond_fails():
    # The candidate misses 4 of 8 frauds: X ~ Binomial(8, 1/2),
    #   P(X <= 1) = 0.0352, P(X <= 2) = 0.1445, P(X <= 5) = 0.8555, P(X <= 6) = 0.9648.
    # X's 5th percentile is 2 and its 95th is 6: the 90% interval is [-6/8, -2/8].
    labels, candidate, champion = recall_holdout(8, candidate_misses=4)
    at_bound = gates.quality(recall_cfg(max_drop=0.25), labels, candidate, champion, 0.5)
    assert at_bound.details["interval"] == [-0.75, -0.25]
    assert at_bound.details["diff"] == -0.5
    assert at_bound.verdict == "pass"  # upper bound -0.25 is not below -0.25
    beyond = gates.quality(recall_cfg(max_drop=0.2), labels, candidate, champion, 0.5)
    assert beyond.verdict == "fail"
    assert beyond.details["significantly_worse"] is True
    assert beyond.details["suspicious_jump"] is False
    assert beyond.reason == (
        "significantly worse than the champion: recall_at_threshold gain -0.5000, 90% interval "
        "[-0.7500, -0.2500] entirely below -0.2000; recall_at_threshold 0.5000 vs champion "
        "1.0000"
    )


def test_quality_gain_exactly_max_jump_passes_above_fails():
    # the champion misses 2 of 8 frauds (recall 0.75), the candidate none: gain 0.25
    labels, candidate, champion = recall_holdout(8, candidate_misses=0, champion_misses=2)
    at_bound = gates.quality(
        recall_cfg(max_jump=0.25, bootstrap_samples=200), labels, candidate, champion, 0.5
    )
    assert at_bound.details["diff"] == 0.25
    assert at_bound.verdict == "pass"
    assert at_bound.details["suspicious_jump"] is False
    above = gates.quality(
        recall_cfg(max_jump=0.24, bootstrap_samples=200), labels, candidate, champion, 0.5
    )
    assert above.verdict == "fail"
    assert above.details["suspicious_jump"] is True
    assert above.reason == (
        "too good to be true: recall_at_threshold gain +0.2500 over the champion exceeds "
        "max_jump 0.2400; suspect leakage (a feature that sees the label or the future), "
        "verify before overriding; recall_at_threshold 1.0000 vs champion 0.7500"
    )


def test_quality_floor_exactly_met_passes_just_missed_fails():
    # recall 6/8 = 0.75 against a floor of 0.75: met; against 0.76: not
    labels, candidate, _ = recall_holdout(8, candidate_misses=2)
    met = gates.quality(
        recall_cfg(floor={"recall_at_threshold": 0.75}), labels, candidate, None, 0.5
    )
    assert met.verdict == "pass"
    assert met.details["floor_failures"] == {}
    missed = gates.quality(
        recall_cfg(floor={"recall_at_threshold": 0.76}), labels, candidate, None, 0.5
    )
    assert missed.verdict == "fail"
    assert missed.details["floor_failures"] == {
        "recall_at_threshold": {"value": 0.75, "floor": 0.76}
    }
    assert missed.reason == (
        "floor: recall_at_threshold 0.7500 < 0.7600; recall_at_threshold 0.7500; "
        "champion comparisons skipped: no champion"
    )


def test_quality_pass_against_the_champion_is_recorded_whole():
    labels, candidate, champion = recall_holdout(8, candidate_misses=1)
    result = gates.quality(recall_cfg(max_drop=0.0), labels, candidate, champion, 0.5)
    # 16 rows, 8 frauds; the candidate flags 7 (all frauds): precision 1, recall 7/8,
    # cost (1 FN x 100 + 0 FP x 1) / 16 = 6.25; the champion flags the 8 frauds: cost 0
    candidate_metrics = {
        "holdout_rows": 16.0,
        "holdout_positives": 8.0,
        "holdout_positive_rate": 0.5,
        "precision_at_threshold": 1.0,
        "recall_at_threshold": 0.875,
        "flagged_rate": 0.4375,
        "auc_pr": 1.0,
        "roc_auc": 1.0,
        "cost": 6.25,
    }
    champion_metrics = {
        **candidate_metrics,
        "recall_at_threshold": 1.0,
        "flagged_rate": 0.5,
        "cost": 0.0,
    }
    assert result.to_dict() == {
        "name": "quality",
        "mode": "block",
        "verdict": "pass",
        "value": 0.875,
        "threshold": "auc_pr >= 0.1000; roc_auc <= 1.0000; vs champion recall_at_threshold: "
        "drop <= 0.0000 beyond the 90% interval, gain <= 0.2500",
        "champion_value": 1.0,
        "reason": "recall_at_threshold 0.8750 vs champion 1.0000; floors met; "
        "recall_at_threshold gain vs champion -0.1250, 90% interval [-0.3750, +0.0000]",
        "details": {
            "compare_metric": "recall_at_threshold",
            "candidate": candidate_metrics,
            "floor": {"auc_pr": 0.1},
            "floor_failures": {},
            "ceiling": {"roc_auc": 1.0},
            "ceiling_failures": {},
            "operating_threshold": 0.5,
            "champion": champion_metrics,
            "diff": -0.125,
            "diff_direction": "candidate - champion",
            "interval": [-0.375, 0.0],
            "confidence": 0.9,
            "bootstrap_samples": 2000,
            "seed": 0,
            "significantly_worse": False,
            "suspicious_jump": False,
        },
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }


def test_quality_default_seed_is_zero():
    labels, candidate, champion = recall_holdout(8, candidate_misses=4)
    cfg = recall_cfg(bootstrap_samples=50)
    default = gates.quality(cfg, labels, candidate, champion, 0.5)
    explicit = gates.quality(cfg, labels, candidate, champion, 0.5, seed=0)
    assert default.details["seed"] == 0
    assert default.details["interval"] == explicit.details["interval"]


def test_quality_diff_is_candidate_minus_champion_for_a_ranking_metric():
    # auc_pr: the candidate SCORES4 0.8333 (worked above), the champion PERFECT4 1.0
    cfg = quality_cfg(floor={"auc_pr": 0.1}, max_drop=1.0)
    result = gates.quality(cfg, LABELS4, SCORES4, PERFECT4, 0.5)
    assert result.details["diff"] == pytest.approx(-1 / 6)
    assert result.details["diff_direction"] == "candidate - champion"
    assert result.threshold == (
        "auc_pr >= 0.1000; roc_auc <= 1.0000; vs champion auc_pr: drop <= 1.0000 beyond the "
        "95% interval, gain <= 0.2500"
    )


def test_quality_holdout_of_only_positives_fails_like_one_without():
    result = gates.quality(quality_cfg(), np.ones(4), SCORES4, SCORES4, 0.5)
    assert (result.name, result.verdict, result.value) == ("quality", "fail", None)
    assert result.reason == (
        "holdout has 4 positives among 4 rows: ranking metrics are undefined; widen "
        "training.holdout_days or check the labels"
    )
    assert result.details == {"holdout_rows": 4, "holdout_positives": 4}
    assert result.threshold == (
        "auc_pr >= 0.3000, roc_auc >= 0.8500; roc_auc <= 1.0000; vs champion auc_pr: drop <= "
        "0.0200 beyond the 95% interval, gain <= 0.2500"
    )


@pytest.mark.parametrize(
    ("candidate", "champion", "message"),
    [
        (SCORES4[:3], None, "3 candidate scores for 4 labels"),
        (SCORES4, SCORES4[:2], "2 champion scores for 4 labels"),
        (
            np.array([0.9, np.nan, 0.3, 0.1]),
            None,
            "candidate scores contain NaN or infinite values",
        ),
        (
            SCORES4,
            np.array([0.9, 0.8, np.inf, 0.1]),
            "champion scores contain NaN or infinite values",
        ),
    ],
)
def test_quality_refuses_scores_it_cannot_judge(candidate, champion, message):
    with pytest.raises(ValueError) as error:
        gates.quality(quality_cfg(), LABELS4, candidate, champion, 0.5)
    assert str(error.value) == message


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


def test_psi_default_is_ten_bins():
    # expected 0..99: ten bins of 10 values (edges 9.9, 19.8, ..., 89.1), shares 0.1 each;
    # actual 0..49 fills the lower five bins: shares 0.2, and 1e-4 for the empty ones.
    # PSI = 5 * 0.1 * ln 2 + 5 * (1e-4 - 0.1) * ln(1e-3) = 0.346574 + 3.450424 = 3.796998
    # (eleven bins would give 3.449196)
    expected, actual = np.arange(100.0), np.arange(50.0)
    assert gates.psi(expected, actual) == pytest.approx(3.796998, abs=1e-6)
    # the shadow gate bins the same way: the champion's scores and a candidate that scores
    # every row like one of the champion's lower half
    champion = expected / 100 + 0.005
    result, _ = gates.shadow(ShadowGate(), np.repeat(champion[:50], 2), champion, 0.5)
    assert result.value == pytest.approx(3.796998, abs=1e-6)


def test_psi_counts_values_below_the_expected_minimum_in_the_lowest_bin():
    # edge 0.5 (median of expected): expected shares [0.5, 0.5]; actual 0.1 is below every
    # expected value and still belongs to the lowest bin: actual shares [0.25, 0.75];
    # PSI = 0.25 ln 3 = 0.274653 as in test_psi_two_bin_shift_by_hand
    value = gates.psi(np.array([0.2, 0.2, 0.8, 0.8]), np.array([0.1, 0.9, 0.9, 0.9]), bins=2)
    assert value == pytest.approx(0.274653, abs=1e-6)


def test_psi_of_single_values():
    assert gates.psi(np.array([0.5]), np.array([0.5])) == 0.0


@pytest.mark.parametrize(
    ("expected", "actual", "bins", "message"),
    [
        ([], [0.1], 10, "psi needs at least one value in each array"),
        ([0.1], [], 10, "psi needs at least one value in each array"),
        ([0.1], [0.1], 1, "psi needs at least 2 bins"),
    ],
)
def test_psi_refuses_what_it_cannot_bin(expected, actual, bins, message):
    with pytest.raises(ValueError) as error:
        gates.psi(np.array(expected), np.array(actual), bins=bins)
    assert str(error.value) == message


CHAMPION20 = np.arange(20) / 20 + 0.025  # 0.025, 0.075, ..., 0.975


@pytest.mark.parametrize(("bound", "verdict"), [(0.1, "pass"), (0.09, "fail")])
def test_shadow_flip_rate_exactly_at_the_bound_passes(bound, verdict):
    # 0.475 and 0.525 swap: the same scores (psi 0), 2 of 20 decisions flip: rate 0.1
    candidate = CHAMPION20.copy()
    candidate[9], candidate[10] = 0.525, 0.475
    cfg = ShadowGate(max_psi=0.2, max_flip_rate=bound)
    result, _ = gates.shadow(cfg, candidate, CHAMPION20, 0.5)
    assert (result.value, result.details["flip_rate"]) == (0.0, 0.1)
    assert result.verdict == verdict


def test_shadow_psi_exactly_at_the_bound_passes():
    # one champion decile (0.45) moves up to the next one (0.55): shares 0 and 0.2 there,
    # PSI = (1e-4 - 0.1) ln(1e-4 / 0.1) + (0.2 - 0.1) ln 2 = 0.690085 + 0.069315 = 0.759400
    candidate = CHAMPION10.copy()
    candidate[4] = 0.55
    measured, _ = gates.shadow(ShadowGate(max_psi=10, max_flip_rate=1), candidate, CHAMPION10, 0.5)
    assert measured.value == pytest.approx(0.759400, abs=1e-6)
    at_bound, _ = gates.shadow(
        ShadowGate(max_psi=measured.value, max_flip_rate=1), candidate, CHAMPION10, 0.5
    )
    assert at_bound.verdict == "pass"
    just_below = float(np.nextafter(measured.value, 0))
    above, _ = gates.shadow(
        ShadowGate(max_psi=just_below, max_flip_rate=1), candidate, CHAMPION10, 0.5
    )
    assert above.verdict == "fail"


def test_shadow_score_at_the_threshold_is_a_positive_decision():
    # 0.5 >= 0.5: both models flag the first row, no flip; the second row flips
    result, _ = gates.shadow(
        ShadowGate(max_psi=10), np.array([0.5, 0.9]), np.array([0.5, 0.1]), 0.5
    )
    assert result.details["flips"] == 1


def test_shadow_pass_is_recorded_whole():
    result, _ = gates.shadow(ShadowGate(), CHAMPION10.copy(), CHAMPION10, 0.5)
    assert result.to_dict() == {
        "name": "shadow",
        "mode": "block",
        "verdict": "pass",
        "value": 0.0,
        "threshold": "psi <= 0.2000, flip rate <= 0.0100",
        "champion_value": None,
        "reason": "psi 0.0000, 0 of 10 decisions flipped (0.00%)",
        "details": {
            "psi": 0.0,
            "flip_rate": 0.0,
            "flips": 0,
            "rows": 10,
            "operating_threshold": 0.5,
            "mean_abs_diff": 0.0,
            "max_abs_diff": 0.0,
        },
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }


def test_shadow_failure_gives_both_reasons_and_the_differences():
    # every candidate score 0.95: psi 8.283091 (worked above), rows 0.05 .. 0.45 flip (5 of
    # 10); |differences| 0.9, 0.8, ..., 0.0: mean 0.45, max 0.9
    champion = np.arange(10) / 10 + 0.05
    result, top = gates.shadow(
        ShadowGate(mode="block", top_disagreements=2), np.full(10, 0.95), champion, 0.5
    )
    assert (result.name, result.verdict, result.blocks()) == ("shadow", "fail", True)
    assert result.reason == (
        "score distribution shifted: psi 8.2831 > 0.2000; decisions changed: flip rate 50.00% "
        "> 1.00% (5 of 10); see the top disagreements"
    )
    assert result.threshold == "psi <= 0.2000, flip rate <= 0.0100"
    assert result.details["rows"] == 10
    assert result.details["operating_threshold"] == 0.5
    assert result.details["mean_abs_diff"] == pytest.approx(0.45)
    assert result.details["max_abs_diff"] == pytest.approx(0.9)
    assert list(top.index) == [0, 1]  # the largest differences: 0.9 and 0.8
    assert top["candidate_score"].tolist() == [0.95, 0.95]
    assert top["champion_score"].tolist() == pytest.approx([0.05, 0.15])


def test_shadow_top_disagreements_keep_row_order_among_equal_differences():
    # 40 rows: the first 20 differ by 0.1, the last 20 by 0.2; the top 3 are the first
    # three of the 0.2 group in row order (a stable sort: not any three of them)
    champion = np.full(40, 0.3)
    candidate = np.r_[np.full(20, 0.4), np.full(20, 0.5)]
    result, top = gates.shadow(
        ShadowGate(max_psi=100, max_flip_rate=1, top_disagreements=3), candidate, champion, 0.5
    )
    assert list(top.index) == [20, 21, 22]


def test_shadow_without_traffic_fails_and_one_row_is_enough():
    cfg = ShadowGate()
    empty, top = gates.shadow(cfg, np.array([]), np.array([]), 0.5)
    assert empty.to_dict() == {
        "name": "shadow",
        "mode": "block",
        "verdict": "fail",
        "value": None,
        "threshold": "psi <= 0.2000, flip rate <= 0.0100",
        "champion_value": None,
        "reason": "no traffic scored: nothing to compare the models on",
        "details": {"rows": 0},
        "overridden": False,
        "override_reason": "",
        "blocks": True,
    }
    assert top.empty
    assert list(top.columns) == ["candidate_score", "champion_score", "abs_diff"]
    one, _ = gates.shadow(cfg, np.array([0.3]), np.array([0.3]), 0.5)
    assert (one.verdict, one.value, one.details["rows"]) == ("pass", 0.0, 1)


def test_shadow_skip_is_recorded_whole():
    result, top = gates.shadow(ShadowGate(max_psi=0.3), CHAMPION10, None, 0.5)
    assert result.to_dict() == {
        "name": "shadow",
        "mode": "block",
        "verdict": "skipped",
        "value": None,
        "threshold": "psi <= 0.3000, flip rate <= 0.0100",
        "champion_value": None,
        "reason": "no champion",
        "details": {"champion": "no champion"},
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }
    assert list(top.columns) == ["candidate_score", "champion_score", "abs_diff"]


def test_shadow_refuses_scores_of_other_rows():
    with pytest.raises(ValueError, match="3 candidate scores vs 2 champion scores"):
        gates.shadow(ShadowGate(), np.zeros(3), np.zeros(2), 0.5)
    with pytest.raises(ValueError, match="2 rows for 3 scores"):
        gates.shadow(ShadowGate(), np.zeros(3), np.zeros(3), 0.5, pd.DataFrame({"a": [1, 2]}))


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


def test_plain_turns_values_into_json():
    from datetime import date

    from mlgate.gates.verdict import plain

    assert plain(
        {
            1: np.int64(3),
            "f": np.float32(0.5),
            "inf": float("inf"),
            "nan": np.nan,
            "tuple": (np.bool_(True), None),
            "array": np.array([1, 2]),
            "nat": pd.NaT,
            "na": pd.NA,
            "text": "x",
            "int": 7,
            "day": date(2026, 10, 31),
        }
    ) == {
        "1": 3,
        "f": 0.5,
        "inf": None,
        "nan": None,
        "tuple": [True, None],
        "array": [1, 2],
        "nat": None,
        "na": None,
        "text": "x",
        "int": 7,
        "day": "2026-10-31",
    }


def test_gate_result_round_trip_keeps_every_field():
    result = GateResult(
        "quality", "warn", "fail", np.float64(0.25), "<= 1", champion_value=np.int64(2),
        reason="r", details={"k": (1, 2)}, overridden=True, override_reason="a good reason",
    )  # fmt: skip
    data = result.to_dict()
    assert data == {
        "name": "quality",
        "mode": "warn",
        "verdict": "fail",
        "value": 0.25,
        "threshold": "<= 1",
        "champion_value": 2.0,
        "reason": "r",
        "details": {"k": [1, 2]},
        "overridden": True,
        "override_reason": "a good reason",
        "blocks": False,
    }
    assert GateResult.from_dict(data).to_dict() == data
    assert GateReport.from_dict({}).results == []


@pytest.mark.parametrize(
    ("verdict", "mode", "message"),
    [
        ("ok", "block", r"gate g: verdict 'ok' not in \('pass', 'fail', 'skipped'\)"),
        ("pass", "stop", r"gate g: mode 'stop' not in \('block', 'warn'\)"),
    ],
)
def test_gate_result_refuses_unknown_verdicts_and_modes(verdict, mode, message):
    with pytest.raises(ValueError, match=message):
        GateResult("g", mode, verdict, None, "-")


def test_skipped_gate_keeps_its_details():
    result = gates.skipped("shadow", "warn", "no champion", champion="none yet")
    assert (result.threshold, result.value, result.details) == ("-", None, {"champion": "none yet"})


def test_report_text_table_by_hand():
    report = GateReport(
        [
            gates.skipped("shadow", "warn", "no champion"),
            GateResult("bad_record_ratio", "block", "pass", 0.005, "<= 0.0100", reason="ok"),
            GateResult("quality", "block", "fail", 1.0, ">= 2", champion_value=3.0, reason="low"),
            GateResult("training_iterations", "warn", "fail", float("inf"), "band", reason="x"),
            GateResult("assertion_set", "block", "pass", 1.0, "100% of 4"),  # no reason
        ]
    )
    report.apply_overrides(["quality"], "known outage in the holdout week")
    # overridden quality no longer blocks: order warn/overridden failures, then pass, skip;
    # values: 0.005 -> 0.0050, 1.0 -> 1, inf -> -, None -> -
    assert report.text_table() == "\n".join(
        [
            "gate                 mode   verdict            value   threshold  champion  reason",
            "-------------------  -----  -----------------  ------  ---------  --------  ------",
            "quality              block  FAIL (overridden)  1       >= 2       3         low",
            "training_iterations  warn   FAIL               -       band       -         x",
            "bad_record_ratio     block  pass               0.0050  <= 0.0100  -         ok",
            "assertion_set        block  pass               1       100% of 4  -",
            "shadow               warn   skipped            -       -          -         "
            "no champion",
            "",
            "PASSED (overridden: quality)",
        ]
    )


@pytest.mark.parametrize(
    ("value", "cell"),
    [(None, "-"), (float("nan"), "-"), (0.5, "0.5000"), (1.0, "1"), (-2.0, "-2"), (0.0, "0.0000"),
     (12, "12"), (1.5, "1.5000")],
)  # fmt: skip
def test_table_cells_show_integers_as_such_and_other_numbers_with_four_decimals(value, cell):
    from mlgate.gates.verdict import _num

    assert _num(value) == cell


def test_report_summary_names_the_blocking_gates():
    two = GateReport([result("quality", "fail"), result("assertion_set", "fail")])
    assert two.summary() == "BLOCKED by quality, assertion_set"
    assert GateReport([result("quality", "pass")]).summary() == "PASSED"
    none = GateReport([gates.skipped("quality", "block", "no champion")])
    assert none.summary() == "NOT PROMOTED: no gate was evaluated (no gate, no promotion)"


def test_report_overrides_take_a_reason_of_exactly_ten_characters():
    report = GateReport([result("quality", "fail"), result("shadow", "fail")])
    report.apply_overrides(["quality", "quality", "shadow"], "  ten chars!  ")  # stripped: 10
    assert [r.override_reason for r in report.results] == ["ten chars!", "ten chars!"]
    assert report.passed is True
    assert report.summary() == "PASSED (overridden: quality, shadow)"
    assert report.metrics() == {
        "gate_quality_value": 1.0,
        "gate_quality_passed": 0.0,
        "gate_quality_overridden": 1.0,
        "gate_shadow_value": 1.0,
        "gate_shadow_passed": 0.0,
        "gate_shadow_overridden": 1.0,
        "gates_passed": 1.0,
    }


def test_report_override_with_no_failed_gate_says_none_failed():
    report = GateReport([result("quality", "pass")])
    with pytest.raises(ValueError, match=r"not a failed gate \(failed gates: none\)"):
        report.apply_overrides(["quality"], "a long enough reason")
    report.apply_overrides([], "")  # nothing to override: no reason needed
    assert report.results[0].overridden is False


def test_report_table_rows_say_whether_they_block():
    report = GateReport([result("quality", "fail"), result("shadow", "fail", mode="warn")])
    assert [(row["name"], row["blocks"]) for row in report.table()] == [
        ("quality", True),
        ("shadow", False),
    ]


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


def test_export_parity_difference_exactly_at_the_bound_passes():
    # |0 - 1e-5| = 1e-5 exactly: not above max_abs_diff 1e-5; a score of exactly 0.5 is a
    # positive decision in both models (no flip)
    spark, onnx = np.array([0.0, 0.5, 0.7]), np.array([1e-5, 0.5, 0.7])
    result = gates.export_parity(parity_cfg(), spark, onnx, 0.5)
    assert result.to_dict() == {
        "name": "export_parity",
        "mode": "block",
        "verdict": "pass",
        "value": 1e-5,
        "threshold": "max |Δp| <= 1e-05, every decision agrees",
        "champion_value": None,
        "reason": "max |Δp| 1e-05 over 3 rows, 0 decision(s) differ",
        "details": {
            "rows": 3,
            "max_abs_diff": 1e-5,
            "mean_abs_diff": pytest.approx(1e-5 / 3),
            "decision_flips": 0,
            "operating_threshold": 0.5,
            "worst_rows": [
                {"key": 0, "spark": 0.0, "onnx": 1e-5},
                {"key": 1, "spark": 0.5, "onnx": 0.5},
                {"key": 2, "spark": 0.7, "onnx": 0.7},
            ],
        },
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }


def test_export_parity_lists_the_five_worst_rows_in_row_order_among_ties():
    # 40 rows: rows 0-19 differ by 2e-6, rows 20-39 by 3e-6; the worst five are rows 20-24
    spark = np.full(40, 0.25)
    onnx = spark + np.r_[np.full(20, 2e-6), np.full(20, 3e-6)]
    result = gates.export_parity(parity_cfg(), spark, onnx, 0.5, keys=np.arange(100, 140))
    assert [row["key"] for row in result.details["worst_rows"]] == [120, 121, 122, 123, 124]


def test_export_parity_failure_gives_both_reasons():
    spark = np.array([0.10, 0.49])
    onnx = np.array([0.10, 0.51])  # |Δ| 0.02 and a flipped decision
    result = gates.export_parity(parity_cfg(), spark, onnx, 0.5)
    assert (result.name, result.verdict) == ("export_parity", "fail")
    assert result.threshold == "max |Δp| <= 1e-05, every decision agrees"
    assert result.reason == (
        "probabilities differ: max |Δp| 0.02 > 1e-05; 1 of 2 decisions at threshold 0.5 differ "
        "(the ONNX export is not faithful: see details)"
    )
    assert result.details["worst_rows"][0] == {"key": 1, "spark": 0.49, "onnx": 0.51}
    assert result.details["mean_abs_diff"] == pytest.approx(0.01)


def test_export_parity_nan_in_one_model_has_no_mean_difference():
    result = gates.export_parity(parity_cfg(), np.array([np.nan, 0.2]), np.array([0.3, 0.2]), 0.5)
    assert result.details["max_abs_diff"] is None  # infinity, recorded as null
    assert result.details["mean_abs_diff"] is None


def test_export_parity_without_a_twin_or_rows_is_recorded_whole():
    missing = gates.export_parity(parity_cfg(), np.array([0.1]), None, 0.5)
    assert missing.to_dict() == {
        "name": "export_parity",
        "mode": "block",
        "verdict": "fail",
        "value": None,
        "threshold": "max |Δp| <= 1e-05, every decision agrees",
        "champion_value": None,
        "reason": "no portable model to compare: no ONNX scores",
        "details": {"export_error": None},
        "overridden": False,
        "override_reason": "",
        "blocks": True,
    }
    failed = gates.export_parity(
        parity_cfg(), np.array([0.1]), np.array([0.1]), 0.5, export_error="ExportError: x"
    )
    assert failed.reason == "no portable model to compare: ExportError: x"
    assert failed.details == {"export_error": "ExportError: x"}
    empty = gates.export_parity(parity_cfg(), np.array([]), np.array([]), 0.5)
    assert (empty.name, empty.value, empty.threshold) == (
        "export_parity",
        None,
        "max |Δp| <= 1e-05, every decision agrees",
    )
    assert empty.reason == "no holdout rows scored: parity not shown"
    assert empty.details == {"rows": 0}


def test_export_parity_refuses_scores_of_other_rows():
    with pytest.raises(ValueError, match="2 Spark scores vs 3 ONNX scores"):
        gates.export_parity(parity_cfg(), np.zeros(2), np.zeros(3), 0.5)


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


def test_reconciliation_names_rows_deleted_at_the_source_since_the_previous_import():
    from mlgate.config import ReconciliationGate

    # the previous import had keys 1..8; the source now holds 1..6 and 9: 7 rows, sum 30
    since = {"previous_rows": 8, "deleted": 2, "added": 1, "deleted_keys": [7, 8]}
    result = gates.reconciliation(
        ReconciliationGate(), 7, 7, source_key_sum=30, lake_key_sum=30, since_previous_import=since
    )
    assert result.verdict == "pass"  # the lake holds what the source holds now
    assert result.reason.endswith(
        "; 2 rows of the previous import were deleted at the source since (keys 7, 8) and "
        "left the lake"
    )
    assert result.details["since_previous_import"] == since
    many = {"previous_rows": 9, "deleted": 7, "added": 0, "deleted_keys": list(range(7))}
    failed = gates.reconciliation(ReconciliationGate(), 3, 2, since_previous_import=many)
    assert failed.verdict == "fail"
    assert "7 rows of the previous import were deleted" in failed.reason
    assert "(keys 0, 1, 2, 3, 4, ...)" in failed.reason
    # exactly five keys: all are shown, no "..."; six: the sixth is left to "..."
    five = {"previous_rows": 8, "deleted": 5, "added": 0, "deleted_keys": [1, 2, 3, 4, 5]}
    shown = gates.reconciliation(ReconciliationGate(), 3, 3, since_previous_import=five)
    assert shown.reason.endswith("(keys 1, 2, 3, 4, 5) and left the lake")
    six = {"previous_rows": 9, "deleted": 6, "added": 0, "deleted_keys": [1, 2, 3, 4, 5, 6]}
    cut = gates.reconciliation(ReconciliationGate(), 3, 3, since_previous_import=six)
    assert cut.reason.endswith("(keys 1, 2, 3, 4, 5, ...) and left the lake")
    # a manifest from before keys were recorded: the count alone, no crash
    no_keys = {"previous_rows": 4, "deleted": 1, "added": 0}
    counted = gates.reconciliation(ReconciliationGate(), 3, 3, since_previous_import=no_keys)
    assert "1 rows of the previous import were deleted at the source since (keys )" in (
        counted.reason
    )
    nothing_gone = {"previous_rows": 3, "deleted": 0, "added": 0, "deleted_keys": []}
    same = gates.reconciliation(ReconciliationGate(), 3, 3, since_previous_import=nothing_gone)
    assert "deleted" not in same.reason


def test_reconciliation_empty_window_and_unmeasured_source():
    from mlgate.config import ReconciliationGate

    empty = gates.reconciliation(ReconciliationGate(), 0, 0, source_key_sum=0, lake_key_sum=0)
    assert empty.verdict == "fail" and "empty window" in empty.reason
    allowed = gates.reconciliation(ReconciliationGate(allow_empty=True), 0, 0)
    assert allowed.verdict == "pass"
    unmeasured = gates.reconciliation(ReconciliationGate(), None, 7)
    assert unmeasured.verdict == "skipped" and "not measured" in unmeasured.reason


def test_reconciliation_unmeasured_source_is_skipped_with_what_to_do():
    from mlgate.config import ReconciliationGate

    result = gates.reconciliation(ReconciliationGate(), None, 7, window="t ds=x")
    assert result.to_dict() == {
        "name": "reconciliation",
        "mode": "block",
        "verdict": "skipped",
        "value": None,
        "threshold": "lake rows == source rows and key sums equal",
        "champion_value": None,
        "reason": "the source was not measured for t ds=x (partition written by an older "
        "extract); rerun the extract",
        "details": {},
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }


def test_reconciliation_same_count_other_keys_is_recorded_whole():
    from mlgate.config import ReconciliationGate

    # source keys 1, 2, 3 (sum 6); the lake read key 2 twice and missed 3: 1, 2, 2 (sum 5)
    result = gates.reconciliation(
        ReconciliationGate(), 3, 3, source_key_sum=6, lake_key_sum=5, window="t ds=x"
    )
    assert result.to_dict() == {
        "name": "reconciliation",
        "mode": "block",
        "verdict": "fail",
        "value": 0.0,
        "threshold": "lake rows == source rows and key sums equal",
        "champion_value": None,
        "reason": "the lake has 3 rows, the source window for t ds=x has 3 (key sum: lake 5, "
        "source 6): same count, different keys (rows read twice and others missed, or keys "
        "changed in between)",
        "details": {
            "window": "t ds=x",
            "source": {"rows": 3, "key_sum": 6},
            "lake": {"rows": 3, "key_sum": 5},
            "checksum_compared": True,
        },
        "overridden": False,
        "override_reason": "",
        "blocks": True,
    }


def test_reconciliation_missing_rows_without_key_sums_name_the_gate_and_window():
    from mlgate.config import ReconciliationGate

    result = gates.reconciliation(ReconciliationGate(checksum=False), 5, 4, window="w")
    assert (result.name, result.value, result.threshold) == (
        "reconciliation",
        -1.0,
        "lake rows == source rows",
    )
    assert result.reason == (
        "the lake has 4 rows, the source window for w has 5: 1 rows missing from the lake"
    )
    assert result.details["checksum_compared"] is False


def test_reconciliation_empty_window_is_recorded_whole():
    from mlgate.config import ReconciliationGate

    result = gates.reconciliation(ReconciliationGate(), 0, 0, window="t ds=x")
    assert result.to_dict() == {
        "name": "reconciliation",
        "mode": "block",
        "verdict": "fail",
        "value": 0.0,
        "threshold": "lake rows == source rows and key sums equal",
        "champion_value": None,
        "reason": "empty window: the source has no rows for t ds=x; is the feed late or the "
        "date wrong? (gates.reconciliation.allow_empty accepts it)",
        "details": {
            "window": "t ds=x",
            "source": {"rows": 0, "key_sum": None},
            "lake": {"rows": 0, "key_sum": None},
            "checksum_compared": False,
        },
        "overridden": False,
        "override_reason": "",
        "blocks": True,
    }


def test_reconciliation_pass_says_when_the_key_sums_were_not_compared():
    from mlgate.config import ReconciliationGate

    # checksum on, but the key is not an integer column: no sums were measured
    result = gates.reconciliation(ReconciliationGate(), 4, 4)
    assert result.to_dict() == {
        "name": "reconciliation",
        "mode": "block",
        "verdict": "pass",
        "value": 0.0,
        "threshold": "lake rows == source rows and key sums equal",
        "champion_value": None,
        "reason": "4 rows in the source window and in the lake (key sum not compared: the key "
        "is not an integer column)",
        "details": {
            "window": "",
            "source": {"rows": 4, "key_sum": None},
            "lake": {"rows": 4, "key_sum": None},
            "checksum_compared": False,
        },
        "overridden": False,
        "override_reason": "",
        "blocks": False,
    }
    unchecked = gates.reconciliation(ReconciliationGate(checksum=False), 4, 4)
    assert unchecked.reason == "4 rows in the source window and in the lake"


def test_data_expectations_with_the_suites_judged_later_judge_the_volume_alone():
    # check_raw: the features job runs the suites; check_features judges them
    cfg = DataExpectationsGate(**SUITES)
    kwargs = {"label_rate": None, "volume_history": [100, 100, 100]}
    within = gates.data_expectations(cfg, None, volume=100, **kwargs)
    assert within.verdict == "pass" and within.details["suites"] == []
    assert within.reason == (
        "suites run by the features job, judged at check_features; volume 100 rows "
        "(no label rate given)"
    )
    outside = gates.data_expectations(cfg, None, volume=10, **kwargs)
    assert (outside.verdict, outside.value) == ("fail", 1.0)
    assert outside.reason.startswith("volume 10 rows outside")
