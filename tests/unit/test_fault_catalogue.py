"""The fault catalogue (docs/faults.md): each kind of fault, and the gate that catches it.

Data faults are applied to a clean day of generated transactions (or to a feature table
computed by the real Spark transforms) and run through the real record rules and Great
Expectations suites; model faults are score arrays with the fault's signature run through
the real gate logic. Each test checks that the clean input passes the same gate, so the
failure is caused by the fault and nothing else.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlgate import gates
from mlgate.checks.derived import joined_column_expectations
from mlgate.checks.expectations import SUITES_DIR, run_suite
from mlgate.config import load_pipeline
from mlgate.ingest.records import find_bad_records, reason_counts

DAY = date(2026, 10, 31)
CFG = load_pipeline("fraud")


@pytest.fixture(scope="module")
def simulated():
    from mlgate.demo.simulate import simulate

    return simulate(days=10, end_date=DAY, transactions=20_000, seed=3)


@pytest.fixture(scope="module")
def clean_day(simulated) -> pd.DataFrame:
    tx = simulated["transactions"].drop(columns=["is_fraud"])
    tx["created_at"] = pd.to_datetime(tx["created_at"])
    day = tx[tx["created_at"].dt.date == DAY].reset_index(drop=True)
    day["amount"] = day["amount"].astype(float)
    return day


def bad_record_gate(day: pd.DataFrame) -> gates.GateResult:
    start = datetime.combine(DAY, datetime.min.time())
    bad = find_bad_records(
        day,
        CFG.records,
        key="transaction_id",
        time_column="created_at",
        window_start=start,
        window_end=start + timedelta(days=1),
    )
    return gates.bad_record_ratio(
        CFG.gates.bad_record_ratio, len(day), len(bad), reason_counts(bad["reason"])
    )


def raw_expectations_gate(day: pd.DataFrame, history: list[int] | None = None) -> gates.GateResult:
    report = run_suite(day, SUITES_DIR / "fraud" / "raw_transactions.json")
    return gates.data_expectations(
        CFG.gates.data_expectations,
        [report.to_dict()],
        label_rate=None,
        volume=len(day),
        volume_history=history if history is not None else [len(day)] * 7,
    )


def share(day: pd.DataFrame, fraction: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(len(day)) < fraction


# --- data faults: the raw day ------------------------------------------------------------


def test_clean_day_passes_the_raw_gates(clean_day):
    assert len(clean_day) > 1000
    assert bad_record_gate(clean_day).verdict == "pass"
    assert raw_expectations_gate(clean_day).verdict == "pass"


def test_fault_null_amounts_broken_feed(clean_day):
    day = clean_day.copy()
    day.loc[share(day, 0.3), "amount"] = np.nan
    result = bad_record_gate(day)
    assert result.verdict == "fail" and result.value > 0.25
    assert "null:amount" in result.details["reasons"]
    assert raw_expectations_gate(day).verdict == "fail"


def test_fault_unknown_currency(clean_day):
    day = clean_day.copy()
    day.loc[share(day, 0.2), "currency"] = "XXX"
    result = bad_record_gate(day)
    assert result.verdict == "fail"
    assert set(result.details["reasons"]) == {"not_allowed:currency"}


def test_fault_negative_amounts_sign_error(clean_day):
    day = clean_day.copy()
    hit = share(day, 0.2)
    day.loc[hit, "amount"] = -day.loc[hit, "amount"]
    result = bad_record_gate(day)
    assert result.verdict == "fail"
    assert result.details["reasons"] == {"out_of_range:amount": int(hit.sum())}


def test_fault_unparsable_values(clean_day):
    from mlgate.ingest.lake import UNPARSABLE_COLUMN

    day = clean_day.copy()
    hit = share(day, 0.05)
    day[UNPARSABLE_COLUMN] = np.where(hit, "amount", None)
    day.loc[hit, "amount"] = np.nan  # what the extract leaves for a value it could not read
    result = bad_record_gate(day)
    assert result.verdict == "fail"
    assert result.details["reasons"] == {"unparsable:amount": int(hit.sum())}


def test_fault_duplicate_keys_replayed_feed(clean_day):
    replayed = clean_day.sample(frac=0.05, random_state=1)
    day = pd.concat([clean_day, replayed], ignore_index=True)
    result = bad_record_gate(day)
    assert result.verdict == "fail"
    assert result.details["reasons"] == {"duplicate_key": len(replayed)}


def test_fault_timestamps_outside_the_day(clean_day):
    day = clean_day.copy()
    hit = share(day, 0.05)
    day.loc[hit, "created_at"] = day.loc[hit, "created_at"] + pd.Timedelta(days=3)
    result = bad_record_gate(day)
    assert result.verdict == "fail"
    assert result.details["reasons"] == {"time_outside_window": int(hit.sum())}


def test_fault_empty_day_feed_did_not_arrive(clean_day):
    result = bad_record_gate(clean_day.iloc[0:0])
    assert result.verdict == "fail" and "empty extract" in result.reason


def test_fault_volume_drop_partial_load(clean_day):
    day = clean_day[share(clean_day, 0.2)]
    result = raw_expectations_gate(day, history=[len(clean_day)] * 7)
    assert result.verdict == "fail" and "volume" in result.reason
    assert bad_record_gate(day).verdict == "pass"  # every row that did arrive is fine


def test_fault_new_category_value(clean_day):
    day = clean_day.copy()
    day.loc[share(day, 0.1), "channel"] = "mobile_wallet"
    result = raw_expectations_gate(day)
    assert result.verdict == "fail"
    assert "channel" in result.reason and "mobile_wallet" in str(result.details)


def test_fault_schema_change_renamed_column(clean_day):
    day = clean_day.rename(columns={"country": "country_code"})
    result = raw_expectations_gate(day)
    assert result.verdict == "fail" and "country" in result.reason


# --- data faults: labels and features ----------------------------------------------------


@pytest.fixture(scope="module")
def feature_table(spark, simulated) -> pd.DataFrame:
    """The real Spark feature and label transforms on the simulated tables."""
    from mlgate.ml.features import compute_features, join_dimensions
    from mlgate.ml.labels import attach_labels

    tx = simulated["transactions"].drop(columns=["is_fraud"])
    tx["amount"] = tx["amount"].astype(float)
    events = spark.createDataFrame(tx)
    dims = {
        name: spark.createDataFrame(simulated[name]) for name in ("cards", "merchants", "customers")
    }
    labels = spark.createDataFrame(simulated["chargebacks"])
    joined = join_dimensions(
        events, dims, CFG.features.joins, CFG.source.dimensions, time_column="created_at"
    )
    featured = compute_features(
        joined, CFG.features, time_column="created_at", row_key="transaction_id"
    )
    as_of = datetime.combine(DAY + timedelta(days=1), datetime.min.time())
    labelled = attach_labels(
        featured,
        labels,
        event_key="transaction_id",
        label_event_key="transaction_id",
        label_time_column="reported_at",
        time_column="created_at",
        as_of=as_of,
        mature_until=as_of - timedelta(days=2),
        label_name="is_fraud",
    )
    return labelled.toPandas()


# The newest whole days matured in the table above (mature until 10-30 00:00).
NEWEST_MATURED = [date(2026, 10, 27), date(2026, 10, 28), date(2026, 10, 29)]


def features_gate(table: pd.DataFrame) -> gates.GateResult:
    """The check_features stage's verdict: the suite plus the checks of the joined columns,
    the label rate and the labels of the newest matured days."""
    report = run_suite(
        table, SUITES_DIR / "fraud" / "features.json", extra=joined_column_expectations(CFG)
    )
    mature = table[table["label_mature"]]
    positives = mature["is_fraud"].groupby(mature["created_at"].dt.date).sum()
    return gates.data_expectations(
        CFG.gates.data_expectations,
        [report.to_dict()],
        label_rate=float(mature["is_fraud"].mean()),
        volume=None,
        volume_history=[],
        labels_by_day={day.isoformat(): int(positives.get(day, 0)) for day in NEWEST_MATURED},
    )


def test_clean_features_pass(feature_table):
    result = features_gate(feature_table)
    assert result.verdict == "pass", result.reason


def test_fault_label_feed_stopped(feature_table):
    table = feature_table.assign(is_fraud=0)
    result = features_gate(table)
    assert result.verdict == "fail" and "label rate" in result.reason


def test_fault_label_feed_stalled_recently(feature_table):
    # labels stop for the newest matured days only: the window's label rate stays in band
    table = feature_table.copy()
    recent = table["created_at"].dt.date.isin(NEWEST_MATURED)
    assert table.loc[recent & table["label_mature"], "is_fraud"].sum() > 0  # clean had some
    table.loc[recent, "is_fraud"] = 0
    result = features_gate(table)
    assert result.details["label_rate"]["ok"] is True
    assert result.verdict == "fail" and "no fresh labels" in result.reason
    assert "2026-10-27: 0, 2026-10-28: 0, 2026-10-29: 0" in result.reason


def test_fault_joined_dimension_column_all_null(feature_table):
    # a merchants snapshot that lost its categories (or a join on a renamed key)
    result = features_gate(feature_table.assign(merchant_category=None))
    assert result.verdict == "fail"
    assert "merchant_category expect_column_values_to_not_be_null" in result.reason


def test_fault_joined_dimension_value_outside_its_declared_set(feature_table):
    table = feature_table.copy()
    table.loc[table.index[:5], "merchant_category"] = "casino"
    result = features_gate(table)
    assert result.verdict == "fail"
    assert "merchant_category expect_column_values_to_be_in_set" in result.reason


def test_fault_window_mix_up_breaks_nesting(feature_table):
    # A bug that swaps the 1 h and 24 h windows: the 1 h count exceeds the 24 h count.
    table = feature_table.copy()
    table["card_count_1h"], table["card_count_24h"] = (
        feature_table["card_count_24h"],
        feature_table["card_count_1h"],
    )
    result = features_gate(table)
    assert result.verdict == "fail" and "card_count_24h" in result.reason


def test_fault_zeroed_feature_column(feature_table):
    table = feature_table.assign(card_count_24h=0)
    result = features_gate(table)
    assert result.verdict == "fail" and "card_count_24h" in result.reason


def test_fault_join_fan_out_duplicates_rows(feature_table):
    table = pd.concat([feature_table, feature_table.head(50)], ignore_index=True)
    result = features_gate(table)
    assert result.verdict == "fail" and "transaction_id" in result.reason


# --- model faults -------------------------------------------------------------------------


def holdout(n: int = 4000, positives: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.zeros(n, dtype=int)
    labels[rng.choice(n, positives, replace=False)] = 1
    # A fair model (AUC-PR about 0.37): positives score higher on average, with overlap.
    champion = np.clip(rng.normal(0.1, 0.08, n) + labels * rng.normal(0.2, 0.15, n), 0, 1)
    return labels, champion, rng


def test_fault_label_leakage_too_good_to_be_true():
    labels, champion, rng = holdout()
    leaky = np.clip(labels * 0.98 + rng.random(len(labels)) * 0.01, 0, 1)
    gate = CFG.gates.quality.model_copy(update={"floor": {"auc_pr": 0.1}})  # floors aside
    clean = gates.quality(gate, labels, champion, champion, 0.5)
    result = gates.quality(gate, labels, leaky, champion, 0.5)
    assert clean.verdict == "pass"
    assert result.verdict == "fail" and "leakage" in result.reason


def test_fault_degraded_model_worse_than_champion():
    labels, champion, rng = holdout()
    worse = np.where(rng.random(len(labels)) < 0.7, rng.random(len(labels)), champion)
    result = gates.quality(CFG.gates.quality, labels, worse, champion, 0.5)
    assert result.verdict == "fail"
    assert result.details["significantly_worse"] is True


def test_fault_model_misses_obvious_fraud():
    examples = pd.DataFrame(
        {
            "id": ["card_testing_then_cashout", "weekly_groceries"],
            "expected": [1, 0],
            "score": [0.31, 0.01],  # the new model no longer flags the obvious fraud
            "description": ["burst then big charge", "groceries"],
        }
    )
    result = gates.assertion_set(CFG.gates.assertion_set, examples, 0.5)
    assert result.verdict == "fail" and "card_testing_then_cashout" in result.reason
    fixed = examples.assign(score=[0.9, 0.01])
    assert gates.assertion_set(CFG.gates.assertion_set, fixed, 0.5).verdict == "pass"


def test_fault_sudden_easy_fit():
    # A column of zeros or a leaked label: the forest needs a fraction of its usual nodes.
    history = [{"effort_trees": 60, "effort_total_nodes": 3700 + 50 * i} for i in range(5)]
    usual = {"effort_trees": 60, "effort_total_nodes": 3800}
    easy = {"effort_trees": 60, "effort_total_nodes": 400}
    gate = CFG.gates.training_iterations
    assert gates.training_iterations(gate, usual, history).verdict == "pass"
    result = gates.training_iterations(gate, easy, history)
    assert result.verdict == "fail" and "effort_total_nodes" in result.reason


def test_fault_score_distribution_shift_in_shadow():
    rng = np.random.default_rng(5)
    champion = rng.beta(1, 30, 5000)
    shifted = np.clip(champion * 8, 0, 1)  # e.g. a feature now arrives in cents
    clean, _ = gates.shadow(CFG.gates.shadow, champion, champion, 0.5)
    result, top = gates.shadow(CFG.gates.shadow, shifted, champion, 0.5)
    assert clean.verdict == "pass"
    assert result.verdict == "fail" and result.value > CFG.gates.shadow.max_psi
    assert len(top) == CFG.gates.shadow.top_disagreements
