"""The web-shop demo (pipeline `shop`): its tables, their history, its labels, and that a
clean day passes the pipeline's own record rules and raw suite."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from mlgate import gates
from mlgate.checks.expectations import run_suite
from mlgate.config import load_pipeline
from mlgate.demo import demo_for
from mlgate.demo.common import SourceExistsError
from mlgate.demo.shop import schema
from mlgate.demo.shop.labels import observation_labels
from mlgate.demo.shop.simulate import simulate
from mlgate.ingest.records import find_bad_records, reason_counts
from mlgate.ml.assertions import load_assertion_set

CFG = load_pipeline("shop")
END = dt.date(2026, 10, 31)
DAYS = 45
START = pd.Timestamp("2026-09-17")  # 45 days ending 2026-10-31
PERIOD_END = pd.Timestamp("2026-11-01")  # exclusive


@pytest.fixture(scope="module")
def frames():
    return simulate(days=DAYS, end_date=END, events=60_000, seed=5)


@pytest.fixture(scope="module")
def clean_day(frames) -> pd.DataFrame:
    events = frames["page_events"]
    return events[events["occurred_at"].dt.normalize() == pd.Timestamp(END)].reset_index(drop=True)


def test_same_seed_same_tables_other_seed_other_tables(frames):
    again = simulate(days=DAYS, end_date=END, events=60_000, seed=5)
    for name in schema.TABLE_NAMES:
        pd.testing.assert_frame_equal(again[name], frames[name])
    other = simulate(days=DAYS, end_date=END, events=60_000, seed=6)["page_events"]
    assert not other["session_id"].isin(frames["page_events"]["session_id"]).any()


def test_tables_have_the_schema_columns_and_unique_keys(frames):
    for name, table in schema.metadata.tables.items():
        assert list(frames[name].columns) == [c.name for c in table.columns], name
        (key,) = [c.name for c in table.primary_key.columns]
        assert frames[name][key].tolist() == list(range(1, len(frames[name]) + 1)), name
    events = frames["page_events"]
    assert events["occurred_at"].is_monotonic_increasing  # ids increase with time
    assert frames["orders"]["created_at"].is_monotonic_increasing


@pytest.mark.parametrize("events,days", [(20_000, 14), (150_000, 45), (300_000, 60)])
def test_volume_close_to_requested(events, days):
    frames = simulate(days=days, end_date=END, events=events, seed=3)
    assert abs(len(frames["page_events"]) - events) <= 0.15 * events


def test_page_events_cover_whole_days_ending_with_end_date(frames):
    occurred = frames["page_events"]["occurred_at"]
    assert occurred.min() >= START and occurred.max() < PERIOD_END
    assert occurred.dt.normalize().nunique() == DAYS
    assert (occurred.dt.microsecond == 0).all()
    daily = occurred.dt.normalize().value_counts()
    # Journeys under way at the start are simulated: the first day is as busy as the rest.
    assert daily[START] > 0.7 * daily.median()


def test_page_events_reference_their_dimensions_and_carry_what_their_type_says(frames):
    events, products = frames["page_events"], frames["products"]
    assert events["visitor_id"].isin(frames["visitors"]["visitor_id"]).all()
    assert events["product_id"].dropna().isin(products["product_id"]).all()
    shows_product = events["event_type"].isin(["product_view", "cart"])
    assert events.loc[shows_product, "product_id"].notna().all()
    assert events.loc[~shows_product, "product_id"].isna().all()
    priced = shows_product | events["event_type"].isin(["checkout_start", "purchase"])
    assert (events.loc[priced, "price"] > 0).all()
    assert events.loc[~priced, "price"].isna().all()
    # A shown price is the list price, or 20% off it during a promotion of the region.
    listed = events.loc[shows_product, "product_id"].map(
        products.set_index("product_id")["list_price"]
    )
    ratio = (events.loc[shows_product, "price"] / listed).round(2)
    assert set(ratio) == {1.0, 0.8}
    assert set(events["event_type"]) == set(schema.EVENT_TYPES)
    assert set(events["device"]) == set(schema.DEVICES)
    # One visit is one visitor.
    assert events.groupby("session_id")["visitor_id"].nunique().max() == 1


def test_checkout_and_purchase_price_is_the_visits_cart_total(frames):
    events = frames["page_events"]
    carts = events[events["event_type"] == "cart"].groupby("session_id")["price"].sum()
    paying = events[events["event_type"].isin(["checkout_start", "purchase"])]
    assert len(paying) > 0
    expected = paying["session_id"].map(carts).round(2)
    assert np.allclose(paying["price"], expected)


def test_scd2_versions_never_overlap_and_cover_every_page_event(frames):
    versions = frames["visitors"].sort_values(["visitor_id", "valid_from"])
    following = versions.groupby("visitor_id")["valid_from"].shift(-1)
    has_next = following.notna()
    # Each version ends where the next begins; only the last one is open.
    assert (versions.loc[has_next, "valid_to"] == following[has_next]).all()
    assert versions.loc[~has_next, "valid_to"].isna().all()
    assert (versions["valid_from"] < versions["valid_to"].fillna(PERIOD_END)).all()
    assert (versions["valid_from"] < PERIOD_END).all()  # nothing from after the snapshot
    # Every page event finds exactly one version valid at its time.
    events = frames["page_events"][["event_id", "visitor_id", "occurred_at"]]
    pairs = events.merge(versions, on="visitor_id")
    valid = (pairs["valid_from"] <= pairs["occurred_at"]) & (
        pairs["valid_to"].isna() | (pairs["occurred_at"] < pairs["valid_to"])
    )
    assert pairs[valid]["event_id"].value_counts().reindex(events["event_id"]).eq(1).all()


def test_visitors_change_segment_and_region_mid_period(frames):
    versions = frames["visitors"]
    changes = versions[versions["valid_from"] >= START]
    assert changes["visitor_id"].nunique() > 0.2 * versions["visitor_id"].nunique()
    assert (versions.groupby("visitor_id")["region"].nunique() > 1).any()  # moved house
    # A new visitor becomes casual two weeks after their first visit (a move to another
    # region in between is a version of its own, still new).
    ordered = versions.sort_values(["visitor_id", "valid_from"])
    first = ordered.groupby("visitor_id").first()
    newcomers = first[first["segment"] == "new"]
    grown = ordered[ordered["segment"] != "new"].groupby("visitor_id").first()
    grown = grown.reindex(newcomers.index).dropna(subset=["segment"])
    assert len(grown) > 50
    assert (grown["segment"] == "casual").all()
    since_first = grown["valid_from"] - newcomers.loc[grown.index, "valid_from"]
    assert (since_first == pd.Timedelta(days=14)).all()
    # Some visitors have page events under two segments: a point-in-time join matters.
    events = frames["page_events"].merge(versions, on="visitor_id")
    events = events[
        (events["valid_from"] <= events["occurred_at"])
        & (events["valid_to"].isna() | (events["occurred_at"] < events["valid_to"]))
    ]
    assert (events.groupby("visitor_id")["segment"].nunique() > 1).sum() > 20


def test_orders_follow_a_purchase_page_of_the_same_visitor(frames):
    orders, events = frames["orders"], frames["page_events"]
    purchases = events[events["event_type"] == "purchase"]
    placed = orders.merge(
        purchases, on=["visitor_id", "session_id"], how="left", validate="one_to_one"
    )
    assert placed["occurred_at"].notna().all()
    lag = placed["created_at"] - placed["occurred_at"]
    assert lag.between(pd.Timedelta(seconds=1), pd.Timedelta(seconds=10)).all()
    assert (placed["total"] == placed["price"]).all()
    # ... after every page event of the visit (the purchase page is its last one).
    visit_end = events.groupby("session_id")["occurred_at"].max()
    assert (orders["created_at"] > orders["session_id"].map(visit_end)).all()
    assert (orders["updated_at"] >= orders["created_at"]).all()
    assert (orders["updated_at"] < PERIOD_END).all()
    assert (orders["updated_at"] - orders["created_at"]).max() <= pd.Timedelta(days=2)
    share = orders["status"].value_counts(normalize=True)
    assert set(share.index) == set(schema.ORDER_STATUSES)
    assert 0.75 < share["paid"] < 0.95  # the label filter leaves some orders out


def test_observation_labels_hand_worked():
    start = dt.date(2026, 1, 1)
    t = pd.Timestamp
    events = pd.DataFrame(
        {
            "visitor_id": [1, 1, 2],
            "occurred_at": [t("2026-01-01 10:00"), t("2026-01-08 23:59:59"), t("2026-01-05 12:00")],
        }
    )
    orders = pd.DataFrame(
        {
            "visitor_id": [1, 2, 2],
            "created_at": [t("2026-01-15 00:00"), t("2026-01-06 08:00"), t("2026-01-09 08:00")],
            "status": ["paid", "cancelled", "paid"],
        }
    )
    got = observation_labels(events, orders, start=start, days=20)
    # Only midnights with a whole week before (day >= 7) and after (day <= 13) count.
    # Visitor 1 is observed at days 1..7 (event on day 0) and 8..14 (event on day 7, one
    # second before midnight); its paid order at the midnight of day 14 is in the horizon
    # of days 8..14, not of day 7. Visitor 2 is observed at days 5..11 (event on day 4);
    # its paid order on day 8 is in the horizon of days 2..8; the cancelled one is no sale.
    expected = pd.DataFrame(
        {
            "visitor_id": [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 1],
            "day": [7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 13],
            "label": [0, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1],
        }
    )
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_label_rate_is_inside_the_pipelines_band_and_has_a_signal():
    frames = simulate(days=DAYS, end_date=END, events=150_000, seed=7)
    observed = observation_labels(
        frames["page_events"], frames["orders"], start=START.date(), days=DAYS
    )
    low, high = CFG.gates.data_expectations.label_rate
    assert low * 1.5 < observed["label"].mean() < high / 1.5
    # Visitors with a cart in the day before the midnight order more often.
    events = frames["page_events"]
    carts = events[events["event_type"] == "cart"]
    cart_day = (carts["occurred_at"] - START).dt.days + 1  # the midnight that follows
    recent = pd.MultiIndex.from_arrays([carts["visitor_id"], cart_day])
    keys = pd.MultiIndex.from_arrays([observed["visitor_id"], observed["day"]])
    with_cart = keys.isin(recent)
    rate = observed["label"].mean()
    assert observed["label"][with_cart].mean() > 2.5 * rate
    assert observed["label"][~with_cart].mean() < rate


def test_record_rules_pass_on_a_clean_day_and_catch_a_broken_row(clean_day):
    assert len(clean_day) > 500

    def bad(day: pd.DataFrame) -> pd.DataFrame:
        start = dt.datetime.combine(END, dt.time())
        return find_bad_records(
            day,
            CFG.records,
            key="event_id",
            time_column="occurred_at",
            window_start=start,
            window_end=start + dt.timedelta(days=1),
        )

    assert len(bad(clean_day)) == 0
    broken = clean_day.copy()
    broken.loc[0, "session_id"] = "S-12"
    broken.loc[1, "event_type"] = "add_to_basket"
    broken.loc[2, "country"] = "usa"
    assert reason_counts(bad(broken)["reason"]) == {
        "no_match:session_id": 1,
        "not_allowed:event_type": 1,
        "no_match:country": 1,
    }


def test_raw_suite_passes_on_a_clean_day_and_fails_a_renamed_event_type(clean_day):
    def gate(day: pd.DataFrame) -> gates.GateResult:
        report = run_suite(day, CFG.gates.data_expectations.raw_suite)
        return gates.data_expectations(
            CFG.gates.data_expectations,
            [report.to_dict()],
            label_rate=None,
            volume=len(day),
            volume_history=[len(clean_day)] * 7,
        )

    assert gate(clean_day).verdict == "pass"
    renamed = clean_day.replace({"event_type": {"cart": "add_to_cart"}})
    assert gate(renamed).verdict == "fail"


def test_assertion_set_gives_every_model_input():
    numeric, categorical = CFG.features.model_inputs()
    examples = load_assertion_set(CFG.gates.assertion_set.path, numeric, categorical)
    assert set(examples["expected"]) == {0, 1}
    assert set(examples["segment"]) <= set(schema.SEGMENTS)


def test_generate_writes_every_table_and_refuses_to_overwrite(tmp_path):
    url = f"sqlite:///{tmp_path}/nested/shop.db"
    demo = demo_for("shop")
    options = {"days": 16, "end_date": END, "events": 8_000, "seed": 2, "progress": False}
    summary = demo.demo_generate(url, replace=False, **options)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            counts = {
                name: pd.read_sql_query(f"SELECT count(*) AS n FROM {name}", conn)["n"][0]
                for name in schema.TABLE_NAMES
            }
            nulls = pd.read_sql_query(
                "SELECT count(*) AS n FROM page_events WHERE event_type = 'page_view' "
                "AND price IS NULL AND product_id IS NULL",
                conn,
            )["n"][0]
    finally:
        engine.dispose()
    assert summary["rows"] == counts
    assert summary["start"] == "2026-10-16" and summary["end"] == "2026-10-31"
    assert nulls > 0  # a missing price is NULL, not NaN
    assert "daily observations" in demo.demo_summary(summary)
    with pytest.raises(SourceExistsError, match="--replace"):
        demo.demo_generate(url, replace=False, **options)
    again = demo.demo_generate(url, replace=True, **{**options, "events": 4_000})
    assert again["rows"]["page_events"] < summary["rows"]["page_events"]


def test_faults_break_the_shops_own_page_event_columns(tmp_path):
    from mlgate.demo.faults import inject_fault
    from mlgate.demo.shop import demo_generate

    url = f"sqlite:///{tmp_path}/shop.db"
    demo_generate(url, days=16, end_date=END, events=8_000, seed=2, progress=False)
    # The shop's categorical inputs (segment, region) come from the visitors dimension: a new
    # category goes into a page-event column with allowed values instead.
    assert inject_fault(CFG, url, dt.date(2026, 11, 1), "new_category")["column"] == "event_type"
    done = inject_fault(CFG, url, dt.date(2026, 11, 2), "out_of_range")
    assert done["column"] == "price"
    # the copied day's orders (the labels) come along with its page events
    engine = create_engine(url)
    with engine.connect() as conn:
        orders = pd.read_sql_query("SELECT substr(created_at, 1, 10) AS day FROM orders", conn)
    engine.dispose()
    placed = orders["day"].value_counts()
    assert done["labels_copied"] == placed["2026-10-26"] == placed["2026-11-02"] > 0

    def prices(day: str) -> pd.Series:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                query = f"SELECT price FROM page_events WHERE substr(occurred_at, 1, 10) = '{day}'"
                return pd.read_sql_query(query, conn)["price"]
        finally:
            engine.dispose()

    copied, broken = prices("2026-10-26"), prices("2026-11-02")  # a week before: copied
    assert len(broken) == len(copied) == done["rows"]
    # Pages without a product keep their null price; some of the others are negated.
    assert broken.isna().sum() == copied.isna().sum()
    negated = (broken < 0).sum()
    assert 0.1 * copied.notna().sum() < negated < 0.3 * copied.notna().sum()
