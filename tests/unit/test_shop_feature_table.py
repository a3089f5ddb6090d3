"""The shop pipeline's feature table, built by the real Spark transforms (mlgate.ml.rows) on a
small simulated shop: its observation rows, features, labels, and its features suite."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from mlgate.checks.expectations import run_suite
from mlgate.config import load_pipeline
from mlgate.demo.shop.labels import observation_labels
from mlgate.demo.shop.simulate import simulate
from mlgate.ml.labels import MATURE_COLUMN
from mlgate.ml.rows import feature_rows, label_rows

pytestmark = pytest.mark.spark

CFG = load_pipeline("shop")
END = date(2026, 10, 31)
DAYS = 24  # from 2026-10-08: 14 days of history before the first observed midnight
PERIOD_START = pd.Timestamp("2026-10-08")
FIRST = datetime(2026, 10, 22)  # observations at the midnights 10-22 .. 10-31
AS_OF = datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def frames():
    return simulate(days=DAYS, end_date=END, events=12_000, seed=4)


def _spark_frame(spark, frame: pd.DataFrame):
    """Nulls as None (not NaN / NA / NaT), so Spark reads them as nulls of the column's type."""
    return spark.createDataFrame(frame.astype(object).where(frame.notna(), None))


@pytest.fixture(scope="module")
def table(spark, frames) -> pd.DataFrame:
    events = _spark_frame(spark, frames["page_events"])
    dimensions = {name: _spark_frame(spark, frames[name]) for name in ("visitors", "products")}
    orders = _spark_frame(spark, frames["orders"])
    rows = feature_rows(CFG, events, dimensions, start=FIRST, end=AS_OF)
    labelled = label_rows(
        CFG, rows, orders, as_of=AS_OF, mature_until=AS_OF - CFG.target.label_delay()
    )
    return labelled.toPandas()


@pytest.fixture(scope="module")
def events_with_region(frames) -> pd.DataFrame:
    """Page events with the region of the visitor's version valid at the event's time."""
    return _as_of(frames["page_events"], frames["visitors"], "occurred_at")


def _as_of(rows: pd.DataFrame, versions: pd.DataFrame, time_column: str) -> pd.DataFrame:
    pairs = rows.merge(versions[["visitor_id", "segment", "region", "valid_from", "valid_to"]])
    valid = (pairs["valid_from"] <= pairs[time_column]) & (
        pairs["valid_to"].isna() | (pairs[time_column] < pairs["valid_to"])
    )
    return pairs[valid].drop(columns=["valid_from", "valid_to"])


def _midnights() -> list[pd.Timestamp]:
    return list(pd.date_range(FIRST, AS_OF - timedelta(days=1), freq="D"))


def test_one_row_per_visitor_active_in_the_week_before_each_midnight(frames, table):
    events = frames["page_events"]
    expected = set()
    for midnight in _midnights():
        week = events[
            (events["occurred_at"] >= midnight - pd.Timedelta(days=7))
            & (events["occurred_at"] < midnight)
        ]
        expected |= {(visitor, midnight) for visitor in week["visitor_id"].unique()}
    got = set(zip(table["visitor_id"], table["occurred_at"]))
    assert len(table) == len(got) == len(expected) > 1000
    assert got == expected
    epoch = (table["occurred_at"] - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    assert (
        table["observation_id"] == table["visitor_id"].astype(str) + "@" + epoch.astype(str)
    ).all()


def test_rows_carry_the_specs_features_and_the_segment_valid_at_midnight(frames, table):
    numeric, categorical = CFG.features.model_inputs()
    assert set(numeric + categorical) <= set(table.columns)
    assert table[numeric].notna().all().all()
    at_midnight = _as_of(
        table[["visitor_id", "occurred_at"]], frames["visitors"], "occurred_at"
    ).set_index(["visitor_id", "occurred_at"])
    got = table.set_index(["visitor_id", "occurred_at"])
    assert (got["segment"] == at_midnight["segment"].reindex(got.index)).all()
    assert (got["region"] == at_midnight["region"].reindex(got.index)).all()
    # Some visitor changed segment within the observed days: the join followed them.
    assert (table.groupby("visitor_id")["segment"].nunique() > 1).any()


def test_counts_match_a_plain_count_of_the_events_before_midnight(table, events_with_region):
    events = events_with_region
    carts = events[events["event_type"] == "cart"]

    def count(frame, by: str, key, midnight, days: int) -> int:
        inside = (frame["occurred_at"] >= midnight - pd.Timedelta(days=days)) & (
            frame["occurred_at"] < midnight
        )
        return int((inside & (frame[by] == key)).sum())

    sample = table.sample(n=300, random_state=1)
    for row in sample.itertuples():
        midnight = row.occurred_at
        assert row.visitor_count_7d == count(events, "visitor_id", row.visitor_id, midnight, 7)
        assert row.visitor_cart_count_3d == count(carts, "visitor_id", row.visitor_id, midnight, 3)
        # The region entity: carts of page events whose visitor was in the region then.
        assert row.region_cart_count_1d == count(carts, "region", row.region, midnight, 1)


def test_labels_are_paid_orders_in_the_week_after_midnight(frames, table):
    assert set(table[CFG.target.name]) <= {0, 1}
    plain = observation_labels(
        frames["page_events"], frames["orders"], start=PERIOD_START.date(), days=DAYS
    )
    plain["occurred_at"] = PERIOD_START + pd.to_timedelta(plain["day"], unit="D")
    got = table.merge(plain, on=["visitor_id", "occurred_at"], how="inner")
    # The midnights 10-22 .. 10-25 have their whole week of horizon inside the data.
    assert got["occurred_at"].nunique() == 4 and len(got) > 300
    assert (got[CFG.target.name] == got["label"]).all()
    assert 0 < got["label"].sum() < len(got)
    # Mature: the horizon and the 2 days' maturity have passed before the end of the data.
    mature_until = pd.Timestamp(AS_OF) - pd.Timedelta(days=9)
    assert (table[MATURE_COLUMN] == (table["occurred_at"] <= mature_until)).all()


def test_features_suite_passes_on_the_table(table):
    from mlgate.checks.derived import joined_column_expectations

    # with the checks of the joined columns (segment, region) that check_features adds
    extra = joined_column_expectations(CFG)
    assert {e["kwargs"]["column"] for e in extra} == {"segment", "region"}
    report = run_suite(table, CFG.gates.data_expectations.features_suite, extra=extra)
    assert report.success, report.summary()
