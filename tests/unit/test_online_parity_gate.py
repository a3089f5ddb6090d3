"""The online_parity gate (mlgate.gates.online): every value of every row equal, online and
in Spark; what differs is named, counted per feature and shown row by row. One of the test
files `make mutation` judges with (pyproject.toml)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from mlgate.config import OnlineParityGate
from mlgate.gates import online_parity
from mlgate.gates.online import compare, smape, values_equal

FEATURES = ["count_1h", "amount_sum_1h", "channel"]
EXACT = {"count_1h", "channel"}
CFG = OnlineParityGate()


def rows(**columns) -> pd.DataFrame:
    base = {
        "key": [1, 2, 3],
        "count_1h": [0, 2, 5],
        "amount_sum_1h": [0.0, 12.5, 1e6],
        "channel": ["pos", "web", None],
        "score": [0.1, 0.5, 0.95],
    }
    return pd.DataFrame({**base, **columns})


def gate(spark, online, **kwargs):
    return online_parity(
        kwargs.pop("cfg", CFG),
        spark,
        online,
        key="key",
        features=FEATURES,
        exact=EXACT,
        threshold=kwargs.pop("threshold", 0.5),
        **kwargs,
    )


def test_equal_rows_pass_with_every_rate_zero():
    result = gate(rows(), rows())
    assert result.verdict == "pass" and result.value == 0.0
    assert result.reason == "all 3 rows equal online: every feature and decision"
    assert result.details["rows"] == 3 and result.details["decision_flips"] == 0
    assert result.details["missing_rows"] == 0 and result.details["extra_rows"] == 0
    for name in FEATURES:
        stats = result.details["features"][name]
        assert stats["mismatch_rate"] == stats["missing_rate"] == stats["extra_rate"] == 0
    assert result.details["features"]["amount_sum_1h"]["smape"] == 0.0
    assert result.details["features"]["channel"]["smape"] is None  # not numeric
    assert result.details["worst_rows"] == []


def test_a_value_within_the_relative_tolerance_is_equal_and_beyond_it_is_not():
    close = rows(amount_sum_1h=[0.0, 12.5, 1e6 * (1 + 5e-10)])
    assert gate(rows(), close).verdict == "pass"
    far = rows(amount_sum_1h=[0.0, 12.5, 1e6 * (1 + 2e-9)])
    result = gate(rows(), far)
    assert result.verdict == "fail"
    assert result.details["features"]["amount_sum_1h"]["mismatch_rate"] == pytest.approx(1 / 3)
    loose = OnlineParityGate(tolerance=1e-8)
    assert gate(rows(), far, cfg=loose).verdict == "pass"


def test_counts_and_categories_must_be_exactly_equal():
    assert values_equal(3, 3.0, exact=True, tolerance=0.5)
    assert not values_equal(1_000_000, 1_000_001, exact=True, tolerance=1e-3)
    assert values_equal(1_000_000, 1_000_001, exact=False, tolerance=1e-3)
    assert not values_equal("pos", "POS", exact=False, tolerance=1.0)
    assert not values_equal(0.0, 1e-300, exact=False, tolerance=1e-9)  # relative, not absolute
    result = gate(rows(), rows(count_1h=[0, 2, 6]))
    assert result.verdict == "fail"
    diff = result.details["worst_rows"][0]
    assert diff == {
        "key": 3,
        "differences": {"count_1h": {"spark": 5, "online": 6, "kind": "mismatch"}},
    }


def test_missing_and_extra_values_are_named_apart_from_mismatches():
    online = rows(channel=["pos", None, "web"], amount_sum_1h=[0.0, 12.5, float("nan")])
    result = gate(rows(), online)
    stats = result.details["features"]
    assert stats["channel"]["missing_rate"] == pytest.approx(1 / 3)  # row 2: Spark has web
    assert stats["channel"]["extra_rate"] == pytest.approx(1 / 3)  # row 3: Spark has none
    assert stats["amount_sum_1h"]["missing_rate"] == pytest.approx(1 / 3)  # NaN is no value
    assert stats["channel"]["mismatch_rate"] == 0
    assert result.value == pytest.approx(2 / 3)  # rows 2 and 3 differ


def test_a_row_only_one_side_has_is_missing_or_extra_and_fails():
    online = pd.concat([rows().iloc[:2], rows(key=[9, 9, 9]).iloc[:1]], ignore_index=True)
    result = gate(rows(), online)
    assert result.verdict == "fail"
    assert result.details["missing_rows"] == 1 and result.details["extra_rows"] == 1
    assert result.details["rows"] == 4 and result.value == pytest.approx(2 / 4)
    kinds = {
        row["key"]: {d["kind"] for d in row["differences"].values()}
        for row in result.details["worst_rows"]
    }
    assert kinds == {3: {"missing"}, 9: {"extra"}}


def test_a_flipped_decision_fails_even_with_equal_features():
    result = gate(rows(), rows(score=[0.1, 0.49, 0.95]))  # row 2 crosses the threshold
    assert result.verdict == "fail" and result.details["decision_flips"] == 1
    assert result.details["worst_rows"] == [
        {"key": 2, "differences": {"decision": {"kind": "flip"}}}
    ]
    assert "1 decision(s) flip" in result.reason
    assert gate(rows(), rows(score=[0.1, 0.5, 0.96])).verdict == "pass"  # same decisions


def test_the_worst_rows_come_first_and_are_capped():
    online = rows(count_1h=[1, 3, 5], amount_sum_1h=[0.0, 13.0, 1e6], channel=["x", "web", None])
    result = gate(rows(), online, cfg=OnlineParityGate(worst_rows=1))
    assert [r["key"] for r in result.details["worst_rows"]] == [1]  # 2 differences before 1
    assert result.reason.startswith("2 of 3 rows differ online (amount_sum_1h, channel, count_1h)")


def test_nothing_to_compare_fails_with_the_reason():
    result = gate(rows(), None, unavailable="no ONNX twin to score the online features: x")
    assert result.verdict == "fail" and result.value is None
    assert result.reason == "no ONNX twin to score the online features: x"
    empty = gate(rows().iloc[:0], rows())
    assert empty.verdict == "fail"
    assert empty.reason == "no Spark rows of the newest labelled day to compare"


def test_smape_is_symmetric_and_zero_only_for_equal_values():
    assert smape([1.0, 0.0], [1.0, 0.0]) == 0.0
    assert smape([2.0], [1.0]) == pytest.approx(2 / 3) == smape([1.0], [2.0])
    assert smape([], []) is None and smape(["a"], ["a"]) is None


def test_compare_counts_rates_over_every_row_of_both_sides():
    per_feature, per_row = compare(
        rows(), rows(count_1h=[0, 2, 4]), key="key", features=FEATURES, exact=EXACT, tolerance=1e-9
    )
    assert per_feature["count_1h"]["mismatch_rate"] == pytest.approx(1 / 3)
    assert math.isclose(per_feature["count_1h"]["smape"], (2 / 9) / 3)
    assert list(per_row) == [3]


def test_the_details_count_the_rows_of_each_side():
    online = rows().iloc[:2]  # row 3 never came out of the online path
    result = gate(rows(), online)
    details = result.details
    assert (details["rows"], details["spark_rows"], details["online_rows"]) == (3, 3, 2)
    assert (details["missing_rows"], details["extra_rows"]) == (1, 0)
    extra = gate(rows().iloc[:1], rows())
    assert (extra.details["spark_rows"], extra.details["online_rows"]) == (1, 3)
    assert (extra.details["missing_rows"], extra.details["extra_rows"]) == (0, 2)


def test_the_threshold_text_names_the_tolerance_and_the_gate_on_every_outcome():
    text = (
        "every value equal (counts, flags, categories exactly; others within 1e-09 relative), "
        "no missing or extra row, every decision agrees"
    )
    for result in (gate(rows(), rows()), gate(rows(), None, unavailable="no twin")):
        assert (result.name, result.mode, result.threshold) == ("online_parity", "block", text)
    loose = gate(rows(), rows(), cfg=OnlineParityGate(tolerance=1e-6, mode="warn"))
    assert "within 1e-06 relative" in loose.threshold and loose.mode == "warn"


def test_rows_with_as_many_differences_are_ordered_by_key():
    online = rows(count_1h=[1, 3, 6], amount_sum_1h=[0.0, 13.0, 1e6])  # 1, 2 and 1 differences
    result = gate(rows(key=[2, 3, 1]), online.assign(key=[2, 3, 1]))
    assert [r["key"] for r in result.details["worst_rows"]] == [3, 1, 2]


def wide(values: list[float], names: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"key": [1], "score": [0.1], **{n: [v] for n, v in zip(names, values)}})


def test_the_reason_names_five_features_and_says_when_there_are_more():
    names = [f"f{i}" for i in range(1, 7)]
    six = online_parity(
        CFG, wide([0.0] * 6, names), wide([1.0] * 6, names),
        key="key", features=names, exact=set(), threshold=0.5,
    )  # fmt: skip
    assert six.reason == "1 of 1 rows differ online (f1, f2, f3, f4, f5, ...); 0 decision(s) flip"
    five = online_parity(
        CFG, wide([0.0] * 5, names[:5]), wide([1.0] * 5, names[:5]),
        key="key", features=names[:5], exact=set(), threshold=0.5,
    )  # fmt: skip
    assert five.reason == "1 of 1 rows differ online (f1, f2, f3, f4, f5); 0 decision(s) flip"


def test_every_row_after_an_equal_or_empty_one_is_still_compared():
    spark = rows(channel=[None, "web", "pos"], count_1h=[0, 2, 5])
    online = rows(channel=[None, "web", "web"], count_1h=[0, 2, 6])  # rows 1, 2 equal; 3 not
    per_feature, per_row = compare(
        spark, online, key="key", features=FEATURES, exact=EXACT, tolerance=1e-9
    )
    assert per_feature["channel"]["mismatch_rate"] == pytest.approx(1 / 3)
    assert per_feature["count_1h"]["mismatch_rate"] == pytest.approx(1 / 3)
    assert per_row == {
        3: {
            "channel": {"spark": "pos", "online": "web", "kind": "mismatch"},
            "count_1h": {"spark": 5, "online": 6, "kind": "mismatch"},
        }
    }


def test_each_differing_value_is_counted():
    per_feature, _ = compare(
        rows(), rows(count_1h=[1, 3, 6], channel=[None, None, "x"]),
        key="key", features=FEATURES, exact=EXACT, tolerance=1e-9,
    )  # fmt: skip
    assert per_feature["count_1h"]["mismatch_rate"] == pytest.approx(3 / 3)
    assert per_feature["channel"]["missing_rate"] == pytest.approx(2 / 3)
    assert per_feature["channel"]["extra_rate"] == pytest.approx(1 / 3)


def test_rates_of_a_single_row_and_of_no_rows():
    one, _ = compare(
        rows().iloc[2:], rows(count_1h=[0, 2, 6]).iloc[2:],
        key="key", features=FEATURES, exact=EXACT, tolerance=1e-9,
    )  # fmt: skip
    assert one["count_1h"]["mismatch_rate"] == 1.0
    none, rows_differing = compare(
        rows().iloc[:0], rows().iloc[:0], key="key", features=FEATURES, exact=EXACT, tolerance=1e-9
    )
    assert none["count_1h"] == {
        "mismatch_rate": 0.0, "missing_rate": 0.0, "extra_rate": 0.0, "smape": None,
    }  # fmt: skip
    assert rows_differing == {}


def test_a_count_is_compared_exactly_even_where_the_tolerance_would_pass_it():
    billion = rows(count_1h=[0, 2, 10**9])
    result = gate(billion, billion.assign(count_1h=[0, 2, 10**9 + 1]))  # 1e-9 relative
    assert result.verdict == "fail"
    assert result.details["features"]["count_1h"]["mismatch_rate"] == pytest.approx(1 / 3)


def test_nothing_to_compare_on_either_side_or_a_stated_reason_fails():
    no_online = gate(rows(), None)
    assert no_online.verdict == "fail" and no_online.details == {}
    no_spark = gate(None, rows())
    assert no_spark.verdict == "fail"
    assert no_spark.reason == "no Spark rows of the newest labelled day to compare"
    stated = gate(rows(), rows(), unavailable="the lake has no labelled day")
    assert stated.verdict == "fail" and stated.reason == "the lake has no labelled day"


def test_a_category_never_equals_a_number():
    assert not values_equal("pos", 1.0, exact=False, tolerance=1e-9)
    assert not values_equal(1.0, "pos", exact=False, tolerance=1e-9)
    assert values_equal("pos", "pos", exact=False, tolerance=1e-9)
    assert smape([1.0, "a"], [1.0, "a"]) is None  # a category anywhere: no SMAPE
    assert smape(["a"], [1.0]) is None and smape([1.0], ["a"]) is None
