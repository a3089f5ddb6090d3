"""The demo source-data generator: schema, determinism, time range, labels, fraud signals."""

from __future__ import annotations

import argparse
import datetime as dt
import inspect

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from mlgate.demo import schema as source_schema
from mlgate.demo.generate import SourceExistsError, add_arguments, demo_generate, generate
from mlgate.demo.simulate import simulate
from mlgate.demo.world import RISKY_CATEGORIES

END = dt.date(2026, 3, 10)
DAYS = 10
N = 20_000
PERIOD_START = pd.Timestamp("2026-03-01 00:00:00")
PERIOD_END = pd.Timestamp("2026-03-11 00:00:00")  # exclusive


def _url(path) -> str:
    return f"sqlite:///{path}"


def _read(url: str, table: str, order: str) -> pd.DataFrame:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(f"SELECT * FROM {table} ORDER BY {order}", conn)
    finally:
        engine.dispose()
    for column in ("created_at", "reported_at", "issued_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column])
    return frame


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """One generated database (in a folder that does not exist yet) and its summary."""
    path = tmp_path_factory.mktemp("gen") / "nested" / "state" / "transactions.db"
    url = _url(path)
    summary = generate(url, days=DAYS, end_date=END, transactions=N, seed=7, progress=False)
    return url, summary


@pytest.fixture(scope="module")
def tables(source):
    url, _ = source
    keys = {
        "customers": "customer_id",
        "cards": "card_id",
        "merchants": "merchant_id",
        "transactions": "transaction_id",
        "chargebacks": "chargeback_id",
    }
    return {name: _read(url, name, key) for name, key in keys.items()}


@pytest.fixture(scope="module")
def truth():
    """A bigger simulation (no database) with the ground truth, joined with its dimensions."""
    frames = simulate(days=20, end_date=END, transactions=150_000, seed=11)
    tx = (
        frames["transactions"]
        .merge(frames["cards"], on="card_id")
        .merge(frames["customers"].drop(columns="created_at"), on="customer_id")
        .merge(frames["merchants"], on="merchant_id")
    )
    return tx.sort_values("transaction_id").reset_index(drop=True)


def test_summary_and_row_counts(source, tables):
    url, summary = source
    assert summary["url"] == url
    assert summary["start"] == "2026-03-01"
    assert summary["end"] == "2026-03-10"
    assert summary["rows"] == {name: len(frame) for name, frame in tables.items()}
    assert set(summary["rows"]) == set(source_schema.TABLE_NAMES)
    assert abs(summary["rows"]["transactions"] - N) <= 0.1 * N
    assert summary["rows"]["cards"] >= 300
    assert 0.001 <= summary["fraud_rate"] <= 0.008
    labelled = tables["chargebacks"]["transaction_id"].nunique() / len(tables["transactions"])
    assert summary["labelled_fraud_rate"] == pytest.approx(labelled, abs=1e-6)
    # Late chargebacks are cut off at the end of the period, so fewer labels than frauds.
    assert 0 < summary["labelled_fraud_rate"] < summary["fraud_rate"]


@pytest.mark.parametrize("transactions,days", [(2_000, 3), (30_000, 60), (300_000, 30)])
def test_volume_close_to_requested(transactions, days):
    frames = simulate(days=days, end_date=END, transactions=transactions, seed=3)
    assert abs(len(frames["transactions"]) - transactions) <= 0.1 * transactions
    assert len(frames["cards"]) >= 300


def test_transactions_cover_whole_days_ending_with_end_date(tables):
    created = tables["transactions"]["created_at"]
    assert created.min() >= PERIOD_START
    assert created.max() < PERIOD_END
    assert created.dt.normalize().nunique() == DAYS
    assert (created.dt.microsecond == 0).all()
    # Every UTC hour of the first and the last day is used (no hole at either end).
    for day in (PERIOD_START, PERIOD_END - pd.Timedelta(days=1)):
        hours = created[created.dt.normalize() == day].dt.hour
        assert hours.nunique() == 24


def test_transaction_ids_increase_with_time(tables):
    tx = tables["transactions"]
    assert tx["transaction_id"].tolist() == list(range(1, len(tx) + 1))
    assert tx["created_at"].is_monotonic_increasing


def test_same_seed_same_rows_other_seed_other_rows(source, tables, tmp_path):
    again = _url(tmp_path / "again.db")
    other = _url(tmp_path / "other.db")
    generate(again, days=DAYS, end_date=END, transactions=N, seed=7, progress=False)
    generate(other, days=DAYS, end_date=END, transactions=N, seed=8, progress=False)
    for name, key in [("transactions", "transaction_id"), ("chargebacks", "chargeback_id"),
                      ("cards", "card_id"), ("merchants", "merchant_id")]:  # fmt: skip
        pd.testing.assert_frame_equal(_read(again, name, key), tables[name])
    different = _read(other, "transactions", "transaction_id")
    same_shape = different.shape == tables["transactions"].shape
    assert not (same_shape and different.equals(tables["transactions"]))


def test_referential_integrity_and_domains(tables):
    tx, cards = tables["transactions"], tables["cards"]
    assert tx["card_id"].isin(cards["card_id"]).all()
    assert tx["merchant_id"].isin(tables["merchants"]["merchant_id"]).all()
    assert cards["customer_id"].isin(tables["customers"]["customer_id"]).all()
    assert set(tx["channel"]) == set(source_schema.CHANNELS)
    assert set(cards["card_type"]) == set(source_schema.CARD_TYPES)
    assert cards.groupby("customer_id").size().between(1, 3).all()
    assert (tx["amount"] > 0).all()
    assert (tx["amount"].round(2) == tx["amount"]).all()
    assert tx["currency"].str.len().eq(3).all()
    # Cards are issued, and customers created, before the period starts.
    assert (cards["issued_at"] < PERIOD_START).all()
    assert (tables["customers"]["created_at"] < PERIOD_START).all()
    home = tables["customers"]["home_country"].value_counts(normalize=True)
    assert home.index[0] == "US" and 0.6 < home.iloc[0] < 0.95


def test_device_ids_only_for_ecom(tables):
    tx = tables["transactions"]
    ecom = tx["channel"] == "ecom"
    assert tx.loc[ecom, "device_id"].notna().all()
    assert tx.loc[~ecom, "device_id"].isna().all()
    assert tx["device_id"].dropna().str.len().le(32).all()


def test_chargebacks_follow_their_transaction_within_the_period(tables):
    cb = tables["chargebacks"].merge(
        tables["transactions"], on="transaction_id", how="left", validate="many_to_one"
    )
    assert len(cb) > 0
    assert cb["created_at"].notna().all(), "chargeback for a transaction that does not exist"
    assert cb["transaction_id"].is_unique
    delay = cb["reported_at"] - cb["created_at"]
    assert (delay >= pd.Timedelta(days=1)).all()
    assert (delay <= pd.Timedelta(days=40)).all()
    assert (cb["reported_at"] < PERIOD_END).all()
    assert cb["chargeback_id"].tolist() == list(range(1, len(cb) + 1))
    assert cb["reported_at"].is_monotonic_increasing


def test_chargebacks_mark_mostly_fraud():
    frames = simulate(days=80, end_date=END, transactions=100_000, seed=5)
    tx, cb = frames["transactions"], frames["chargebacks"]
    end = pd.Timestamp(END) + pd.Timedelta(days=1)
    labelled = tx["transaction_id"].isin(cb["transaction_id"])
    assert tx.loc[labelled, "is_fraud"].mean() > 0.85  # a few are friendly fraud
    # Frauds old enough for every report to be in: most of them got a chargeback.
    old = tx["created_at"] < end - pd.Timedelta(days=40)
    assert 0.8 < labelled[old & tx["is_fraud"]].mean() < 0.98
    delay = cb.merge(tx, on="transaction_id").eval("reported_at - created_at")
    assert delay.median() < pd.Timedelta(days=10)


def test_second_run_needs_replace(source, tables):
    url, _ = source
    with pytest.raises(SourceExistsError, match="--replace") as raised:
        generate(url, days=DAYS, end_date=END, transactions=N, seed=7, progress=False)
    assert isinstance(raised.value, RuntimeError)
    # With replace the tables are dropped and written again, here with another seed.
    summary = generate(url, days=3, end_date=END, transactions=3_000, seed=9, replace=True,
                       progress=False)  # fmt: skip
    tx = _read(url, "transactions", "transaction_id")
    assert len(tx) == summary["rows"]["transactions"] < len(tables["transactions"])
    assert tx["created_at"].min() >= pd.Timestamp("2026-03-08")


def test_fraud_rate_is_low(truth):
    assert 0.002 <= truth["is_fraud"].mean() <= 0.006


def test_fraud_signals_are_present_but_not_perfect(truth):
    tx = truth
    fraud = tx["is_fraud"]
    overall = fraud.mean()

    def lift(mask) -> float:
        return fraud[mask].mean() / overall

    risky = tx["merchant_category"].isin(RISKY_CATEGORIES)
    foreign = tx["country"] != tx["home_country"]
    night_us = (tx["home_country"] == "US") & tx["created_at"].dt.hour.between(5, 10)  # 0-5 ET
    us = tx["home_country"] == "US"
    assert lift(risky) > 3
    assert lift(foreign) > 5
    assert fraud[night_us].mean() > 2 * fraud[us].mean()
    # Card testing: bursts of several charges on one card within minutes.
    previous = tx.sort_values(["card_id", "created_at"]).groupby("card_id")["created_at"].shift()
    burst = (tx["created_at"] - previous.reindex(tx.index)) < pd.Timedelta(minutes=10)
    assert lift(burst) > 20
    # Amounts unusual for the card: far above its median legit amount.
    usual = tx[~fraud & (tx["channel"] != "atm")].groupby("card_id")["amount"].median()
    ratio = tx["amount"] / tx["card_id"].map(usual)
    assert lift(ratio > 4) > 3
    # ... yet no single signal separates fraud from legit.
    for mask in (risky, foreign, night_us, burst, ratio > 4):
        assert fraud[mask].mean() < 0.5
        assert mask[fraud].mean() < 0.95
    # Some fraud shows none of these signals (it looks like the card's own spending).
    assert (~(risky | foreign | night_us | burst | (ratio > 4)))[fraud].any()


def test_legit_behaviour(truth):
    legit = truth[~truth["is_fraud"]]
    assert (legit["country"] == legit["home_country"]).mean() > 0.9
    us = legit[legit["home_country"] == "US"]
    local_hour = (us["created_at"] - pd.Timedelta(hours=5)).dt.hour
    assert local_hour.between(8, 21).mean() > 0.75
    channel = legit["channel"].value_counts(normalize=True)
    assert channel["pos"] > channel["ecom"] > channel["atm"] > 0
    # Each card shops online from a small set of devices (1-2, a few new ones).
    ecom = legit[legit["channel"] == "ecom"]
    top_two = ecom.groupby("card_id")["device_id"].agg(
        lambda d: d.value_counts().iloc[:2].sum() / len(d)
    )
    assert top_two.mean() > 0.9
    # Each card has its own typical amount.
    medians = legit[legit["channel"] == "pos"].groupby("card_id")["amount"].median()
    assert medians.quantile(0.9) > 2 * medians.quantile(0.1)


def test_add_arguments_maps_onto_generate():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = vars(parser.parse_args([]))
    assert args == {
        "url": None,
        "days": 60,
        "end_date": dt.date(2026, 10, 31),
        "events": None,  # the demo's own default
        "seed": 7,
        "replace": False,
        "quiet": False,
    }
    assert set(args) - {"quiet", "url"} <= set(inspect.signature(demo_generate).parameters)
    args = vars(parser.parse_args(["--end-date", "2026-01-31", "--quiet", "--replace",
                                   "--days", "5", "--url", "sqlite://"]))  # fmt: skip
    assert args["end_date"] == dt.date(2026, 1, 31)
    assert args["quiet"] is True and args["replace"] is True and args["days"] == 5
    assert vars(parser.parse_args(["--transactions", "5000"]))["events"] == 5000  # alias
    for bad in (["--end-date", "31/01/2026"], ["--days", "0"], ["--events", "many"]):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)
    for action in parser._actions:
        if action.dest != "help":
            assert action.help, action.dest


def busiest_labelled_day(url) -> dt.date:
    """The day whose transactions the most chargebacks name."""
    labelled = _read(url, "transactions", "transaction_id").merge(
        _read(url, "chargebacks", "chargeback_id"), on="transaction_id"
    )
    return labelled["created_at"].dt.date.value_counts().idxmax()


def test_a_copied_clean_day_carries_the_labels_of_its_positive_rows(tmp_path):
    """inject-fault copies a day a week back; its chargebacks must come along (keys and
    times moved with the transactions), else the 'clean' day has no fraud at all."""
    from mlgate.config import load_pipeline
    from mlgate.demo.faults import inject_fault

    url = _url(tmp_path / "transactions.db")
    generate(url, days=DAYS, end_date=END, transactions=N, seed=7, progress=False)
    busiest = busiest_labelled_day(url)  # the most frauds to carry
    day = END + dt.timedelta(days=1)
    done = inject_fault(load_pipeline("fraud"), url, day, "clean", copy_from=busiest)
    transactions = _read(url, "transactions", "transaction_id")
    chargebacks = _read(url, "chargebacks", "chargeback_id")

    def labelled(on: dt.date) -> pd.DataFrame:
        rows = transactions[transactions["created_at"].dt.date == on]
        both = rows.merge(chargebacks, on="transaction_id")
        both["delay"] = both["reported_at"] - both["created_at"]
        # what identifies a copy: its time of day, amount and card (the key is new)
        both["time_of_day"] = both["created_at"] - pd.Timestamp(on)
        return both.sort_values(["time_of_day", "card_id", "amount"])[
            ["time_of_day", "card_id", "amount", "delay", "reason_code"]
        ].reset_index(drop=True)

    source, copy = labelled(busiest), labelled(day)
    assert len(source) > 0
    pd.testing.assert_frame_equal(copy, source)
    assert done["labels_copied"] == len(source)
    assert chargebacks["chargeback_id"].is_unique


def test_a_drifted_day_scales_every_amount_and_stays_inside_the_rules(tmp_path):
    from mlgate.config import load_pipeline
    from mlgate.demo.faults import DRIFT_FACTOR, inject_fault

    url = _url(tmp_path / "transactions.db")
    generate(url, days=DAYS, end_date=END, transactions=N, seed=7, progress=False)
    cfg = load_pipeline("fraud")
    day = END + dt.timedelta(days=1)
    done = inject_fault(cfg, url, day, "drift")
    assert done["column"] == "amount"  # the pipeline's first numeric input with a range
    transactions = _read(url, "transactions", "transaction_id")
    week_before = day - dt.timedelta(days=7)
    source = transactions[transactions["created_at"].dt.date == week_before]
    drifted = transactions[transactions["created_at"].dt.date == day]
    high = next(r.range[1] for r in cfg.records.rules if r.column == "amount")
    expected = np.minimum(source["amount"].to_numpy() * DRIFT_FACTOR, high)
    assert np.allclose(np.sort(drifted["amount"].to_numpy()), np.sort(expected))
    assert len(drifted) == len(source) == done["rows"]


def test_a_fast_label_feed_makes_the_copied_labels_known_hours_after_their_event(tmp_path):
    from mlgate.config import load_pipeline
    from mlgate.demo.faults import inject_fault

    url = _url(tmp_path / "transactions.db")
    generate(url, days=DAYS, end_date=END, transactions=N, seed=7, progress=False)
    busiest = busiest_labelled_day(url)  # the most labels to move
    day = END + dt.timedelta(days=1)
    fast = dt.timedelta(hours=2)
    done = inject_fault(
        load_pipeline("fraud"), url, day, "clean", copy_from=busiest, label_delay=fast
    )
    transactions = _read(url, "transactions", "transaction_id")
    chargebacks = _read(url, "chargebacks", "chargeback_id")
    copied = chargebacks.merge(transactions, on="transaction_id")
    copied = copied[copied["created_at"].dt.date == day]
    assert len(copied) == done["labels_copied"] > 0
    assert ((copied["reported_at"] - copied["created_at"]) == pd.Timedelta(hours=2)).all()


def test_inject_fault_copies_the_day_it_is_told_to(tmp_path, monkeypatch, capsys):
    """--copy-from picks the copied day (an older one has all of its labels)."""
    from mlgate.cli import main

    url = _url(tmp_path / "transactions.db")
    generate(url, days=DAYS, end_date=END, transactions=N, seed=7, progress=False)
    day = END + dt.timedelta(days=1)
    told = END - dt.timedelta(days=2)  # not the default, a week before
    monkeypatch.setenv("MLGATE_SOURCE_URL", url)
    args = ["inject-fault", "--pipeline", "fraud", "--date", str(day), "--kind", "clean"]
    assert main([*args, "--copy-from", str(told)]) == 0
    transactions = _read(url, "transactions", "transaction_id")
    on = transactions["created_at"].dt.date
    assert (on == day).sum() == (on == told).sum() > 0
    assert (on == day).sum() != (on == day - dt.timedelta(days=7)).sum()
    assert f"for {day} with fault clean" in capsys.readouterr().out
