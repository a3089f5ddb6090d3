"""Feature transforms on tiny hand-made frames; every expected number is worked out by hand.

Timeline of the main fixture (seconds after T0 = 2024-03-01 00:00:00 UTC):

    card A: a1@0  a2@1800  a3@5400  a4@5400  a5@9000  a6@88200  a7@216000
    card B:                b1@5000           b2@9000
    card C: c1@0  c2@264000 (3d 01:20)  c3@280799 (3d 05:59:59)  c4@280800 (3d 06:00:00)
    no card: n1@100  n2@200

Spec: per card, count and sum of amounts over 1h (3600 s) and 24h (86400 s), ratio to
the mean amount and seconds since the last row over 2d (172800 s), novelty of country and
device over 1d (86400 s). A window of s seconds before t covers [t - s, t - 1].
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlgate.config import DimensionTable, FeatureSpec, Join, load_pipeline
from mlgate.ml.features import compute_features, feature_columns, join_dimensions

pytestmark = pytest.mark.spark

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SCHEMA = (
    "txn_id string, card_id string, created_at timestamp, amount double, "
    "country string, device_id string, home_country string"
)
CAP = 172800  # amount_history 2d in seconds


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


ROWS = [
    ("a1", "A", at(0), 10.0, "FR", "d1", "FR"),
    ("a2", "A", at(1800), 20.0, "FR", "d1", "FR"),
    ("a3", "A", at(5400), 30.0, "DE", "d2", "FR"),
    ("a4", "A", at(5400), 45.0, "FR", None, "FR"),
    ("a5", "A", at(9000), 52.5, "US", "d1", "FR"),
    ("a6", "A", at(88200), 63.0, "FR", "d2", "FR"),
    ("a7", "A", at(216000), 94.5, "FR", "d1", None),
    ("b1", "B", at(5000), 1000.0, "DE", "d2", "FR"),
    ("b2", "B", at(9000), 7.0, "US", "d9", "FR"),
    ("c1", "C", at(0), 10.0, "FR", "d1", "FR"),
    ("c2", "C", at(264000), 10.0, "FR", "d1", "FR"),
    ("c3", "C", at(280799), 10.0, "FR", "d1", "FR"),
    ("c4", "C", at(280800), 10.0, "FR", "d1", "FR"),
    ("n1", None, at(100), 5.0, "FR", "d1", "FR"),
    ("n2", None, at(200), 5.0, "FR", "d1", "FR"),
]


def make_cfg(**overrides) -> FeatureSpec:
    data = {
        "entities": {"card": "card_id"},
        "aggregations": [
            {"entity": "card", "op": "count", "windows": ["1h", "24h"]},
            {"entity": "card", "op": "sum", "column": "amount", "windows": ["1h", "24h"]},
            {"entity": "card", "op": "ratio_to_mean", "column": "amount", "windows": ["2d"]},
            {"entity": "card", "op": "seconds_since_last", "windows": ["2d"]},
        ],
        "novelty": [{"entity": "card", "columns": ["country", "device_id"], "lookback": "1d"}],
        "mismatches": [["country", "home_country"]],
        "time_of_day": {"hour": True, "night_hours": [0, 5]},
        "categorical": ["channel"],
        "numeric": ["amount"],
    }
    data.update(overrides)
    return FeatureSpec(**data)


CFG = make_cfg()


def features_by_id(spark, rows, cfg=CFG) -> dict[str, dict]:
    events = spark.createDataFrame(rows, SCHEMA)
    out = compute_features(events, cfg, time_column="created_at", row_key="txn_id")
    return {row["txn_id"]: row.asDict() for row in out.collect()}


@pytest.fixture(scope="module")
def feats(spark):
    return features_by_id(spark, ROWS)


# (card_count_1h, card_amount_sum_1h, card_count_24h, card_amount_sum_24h)
EXPECTED_WINDOWS = {
    "a1": (0, 0.0, 0, 0.0),
    "a2": (1, 10.0, 1, 10.0),  # a1 1800 s before
    "a3": (1, 20.0, 2, 30.0),  # a2 exactly 3600 s before is IN 1h; a1 5400 s before is not
    "a4": (1, 20.0, 2, 30.0),  # same as a3: a3 shares its second and is not seen
    "a5": (2, 75.0, 4, 105.0),  # a3+a4 exactly 3600 s before; b1 (card B) never counted
    "a6": (0, 0.0, 4, 147.5),  # a2 exactly 86400 s before is IN 24h; a1 88200 s before is not
    "a7": (0, 0.0, 0, 0.0),
    "b1": (0, 0.0, 0, 0.0),  # a1, a2 of card A are earlier but never leak in
    "b2": (0, 0.0, 1, 1000.0),  # b1 4000 s before: outside 1h, inside 24h
    "c1": (0, 0.0, 0, 0.0),
    "c2": (0, 0.0, 0, 0.0),
    "c3": (0, 0.0, 1, 10.0),  # c2 16799 s before
    "c4": (1, 10.0, 2, 20.0),  # c3 1 s before, c2 16800 s before
    "n1": (0, 0.0, 0, 0.0),  # a null card has no history: n1, n2 do not see each other
    "n2": (0, 0.0, 0, 0.0),
}


def test_window_counts_and_sums(feats):
    got = {
        key: (
            row["card_count_1h"],
            row["card_amount_sum_1h"],
            row["card_count_24h"],
            row["card_amount_sum_24h"],
        )
        for key, row in feats.items()
    }
    assert got == EXPECTED_WINDOWS


def test_window_lower_bound_is_inclusive_and_same_second_is_excluded(spark):
    rows = [
        ("x0", "X", at(0), 1.0, None, None, None),
        ("x1", "X", at(1), 2.0, None, None, None),
        ("x2", "X", at(3601), 4.0, None, None, None),  # x1 exactly 3600 s, x0 3601 s before
        ("x3", "X", at(3601), 8.0, None, None, None),  # same second as x2
    ]
    feats = features_by_id(spark, rows)
    assert (feats["x2"]["card_count_1h"], feats["x2"]["card_amount_sum_1h"]) == (1, 2.0)
    assert (feats["x3"]["card_count_1h"], feats["x3"]["card_amount_sum_1h"]) == (1, 2.0)
    assert (feats["x1"]["card_count_1h"], feats["x1"]["card_amount_sum_1h"]) == (1, 1.0)


def test_amount_vs_history(feats):
    expected = {
        "a1": 1.0,  # no history: neutral
        "a2": 2.0,  # 20 / 10
        "a3": 2.0,  # 30 / mean(10, 20)
        "a4": 3.0,  # 45 / mean(10, 20); a3 at the same second is not history
        "a5": 2.0,  # 52.5 / mean(10, 20, 30, 45) = 52.5 / 26.25
        "a6": 2.0,  # 63 / mean(10, 20, 30, 45, 52.5) = 63 / 31.5 (all within 2d)
        "a7": 1.5,  # 94.5 / 63: only a6 within 2d (a5 is 207000 s before)
        "b1": 1.0,
        "b2": 0.007,  # 7 / 1000
        "c1": 1.0,
        "c2": 1.0,  # c1 is 264000 s before, beyond 2d: no history
        "c3": 1.0,
        "c4": 1.0,
        "n1": 1.0,
        "n2": 1.0,
    }
    got = {key: row["card_amount_ratio_to_mean_2d"] for key, row in feats.items()}
    assert got == pytest.approx(expected)


def test_amount_vs_history_is_neutral_when_the_mean_is_zero(spark):
    rows = [
        ("z0", "Z", at(0), 0.0, None, None, None),
        ("z1", "Z", at(10), 5.0, None, None, None),
    ]
    assert features_by_id(spark, rows)["z1"]["card_amount_ratio_to_mean_2d"] == 1.0


def test_seconds_since_previous(feats):
    expected = {
        "a1": CAP,  # none: the history length
        "a2": 1800,
        "a3": 3600,  # a4 shares the second and is not "previous"
        "a4": 3600,
        "a5": 3600,
        "a6": 79200,
        "a7": 127800,
        "b1": CAP,
        "b2": 4000,
        "c1": CAP,
        "c2": CAP,  # c1 264000 s before, beyond the cap
        "c3": 16799,
        "c4": 1,
        "n1": CAP,
        "n2": CAP,
    }
    assert {key: row["card_seconds_since_last_2d"] for key, row in feats.items()} == expected


def test_novelty_flags(feats):
    # (card_country_is_new_1d, card_device_id_is_new_1d); lookback 1d = [t - 86400, t - 1]
    expected = {
        "a1": (1, 1),
        "a2": (0, 0),
        "a3": (1, 1),  # DE and d2 are new for card A although card B used both at 5000
        "a4": (0, 0),  # FR seen before; device null: unknown is not new
        "a5": (1, 0),  # US is new (b2 of card B uses US at the same second); d1 seen
        "a6": (0, 0),  # FR (a2 at exactly 86400 s before, a4) and d2 (a3) within 1d
        "a7": (1, 1),  # FR and d1 last seen by a6 127800 s before: beyond 1d
        "b1": (1, 1),
        "b2": (1, 1),
        "c1": (1, 1),
        "c2": (1, 1),
        "c3": (0, 0),
        "c4": (0, 0),
        "n1": (1, 1),  # null card: no history, so every known value is new
        "n2": (1, 1),
    }
    got = {
        key: (row["card_country_is_new_1d"], row["card_device_id_is_new_1d"])
        for key, row in feats.items()
    }
    assert got == expected


def test_mismatch_flags(feats):
    got = {key: row["country_ne_home_country"] for key, row in feats.items()}
    ones = {"a3", "a5", "b1", "b2"}  # DE/FR, US/FR, DE/FR, US/FR
    assert got == {key: int(key in ones) for key in got}
    assert got["a7"] == 0  # home_country null: not a mismatch


def test_hour_of_day_and_is_night(feats):
    got = {key: (row["hour_of_day"], row["is_night"]) for key, row in feats.items()}
    assert got["a1"] == (0, 1)  # 00:00:00
    assert got["a3"] == (1, 1)  # 01:30
    assert got["a7"] == (12, 0)  # day 3 12:00
    assert got["c2"] == (1, 1)  # 01:20
    assert got["c3"] == (5, 1)  # 05:59:59, last night second
    assert got["c4"] == (6, 0)  # 06:00:00


def test_hour_is_utc_whatever_the_session_time_zone(spark):
    rows = [("h", "H", datetime(2024, 3, 1, 23, 30, tzinfo=UTC), 1.0, None, None, None)]
    previous = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", "Asia/Tokyo")
    try:
        row = features_by_id(spark, rows)["h"]
    finally:
        spark.conf.set("spark.sql.session.timeZone", previous)
    assert (row["hour_of_day"], row["is_night"]) == (23, 0)


def test_output_keeps_input_columns_and_types(spark):
    events = spark.createDataFrame(
        [("i1", "I", at(0), 12, "FR", "d1", "FR")],
        SCHEMA.replace("amount double", "amount int"),
    )
    out = compute_features(events, CFG, time_column="created_at", row_key="txn_id")
    numeric, _ = feature_columns(CFG)
    assert out.columns == events.columns + numeric[1:]
    types = dict(out.dtypes)
    assert types["amount"] == "double"
    assert types["card_count_1h"] == types["card_count_24h"] == "bigint"
    assert types["card_amount_sum_1h"] == types["card_amount_ratio_to_mean_2d"] == "double"
    assert types["card_seconds_since_last_2d"] == "bigint"
    for name in ["card_country_is_new_1d", "country_ne_home_country", "hour_of_day", "is_night"]:
        assert types[name] == "int"
    assert out.first()["amount"] == 12.0


def test_no_future_rows_change_past_features(spark, feats):
    later = [
        ("late1", "A", at(216000), 9999.0, "JP", "d7", "FR"),  # same second as a7
        ("late2", "A", at(216001), 9999.0, "JP", "d7", "FR"),
        ("late3", "B", at(9001), 9999.0, "JP", "d7", "FR"),
        ("late4", "C", at(280801), 9999.0, "JP", "d7", "FR"),
        ("late5", None, at(300), 9999.0, "JP", "d7", "FR"),
    ]
    with_later = features_by_id(spark, ROWS + later)
    assert {key: with_later[key] for key in feats} == feats


def test_time_without_zone_is_read_as_utc(spark):
    events = spark.createDataFrame(
        [
            ("t1", "T", datetime(2024, 3, 1, 2, 0), 10.0),
            ("t2", "T", datetime(2024, 3, 1, 2, 30), 20.0),
        ],
        "txn_id string, card_id string, created_at timestamp_ntz, amount double",
    )
    cfg = make_cfg(novelty=[], mismatches=[])
    out = compute_features(events, cfg, time_column="created_at", row_key="txn_id")
    got = {r["txn_id"]: (r["hour_of_day"], r["card_seconds_since_last_2d"]) for r in out.collect()}
    assert got == {"t1": (2, CAP), "t2": (2, 1800)}


def test_rejects_a_time_column_that_is_not_a_timestamp(spark):
    events = spark.createDataFrame(
        [("s", "S", "2024-03-01", 1.0)],
        "txn_id string, card_id string, created_at string, amount double",
    )
    with pytest.raises(TypeError, match="created_at"):
        compute_features(events, make_cfg(), time_column="created_at", row_key="txn_id")


JOINS = [
    Join(table="merchants", key="merchant_id", columns=["merchant_category"]),
    Join(table="cards", key="card_id", columns=["card_type", "customer_id"]),
    Join(table="customers", key="customer_id", columns=["home_country"]),
]
STATIC = [DimensionTable(table=j.table, key=j.key, history="static") for j in JOINS]


def join(events, dimensions, joins=JOINS, declared=STATIC):
    return join_dimensions(events, dimensions, joins, declared, time_column="created_at")


@pytest.fixture(scope="module")
def dimensions(spark):
    return {
        "merchants": spark.createDataFrame(
            [("m1", "grocery", "x"), ("m2", "travel", "y")],
            "merchant_id string, merchant_category string, unused string",
        ),
        "cards": spark.createDataFrame(
            [("A", "debit", "u1"), ("B", "credit", "u2"), ("B", "credit", "u2")],
            "card_id string, card_type string, customer_id string",
        ),
        "customers": spark.createDataFrame(
            [("u1", "FR"), ("u2", "DE")], "customer_id string, home_country string"
        ),
    }


def test_join_dimensions_chains_joins_and_keeps_every_event(spark, dimensions):
    events = spark.createDataFrame(
        [("e1", "A", "m1"), ("e2", "B", "m2"), ("e3", "Q", "m1"), ("e4", "A", "m9")],
        "txn_id string, card_id string, merchant_id string",
    )
    out = join(events, dimensions)
    assert sorted(out.columns) == sorted(
        [
            "txn_id",
            "card_id",
            "merchant_id",
            "merchant_category",
            "card_type",
            "customer_id",
            "home_country",
        ]
    )
    got = {
        r["txn_id"]: (r["merchant_category"], r["card_type"], r["customer_id"], r["home_country"])
        for r in out.collect()
    }
    assert out.count() == 4  # card B appears twice in the snapshot: still one row for e2
    assert got == {
        "e1": ("grocery", "debit", "u1", "FR"),
        "e2": ("travel", "credit", "u2", "DE"),  # home_country via customer_id from cards
        "e3": ("grocery", None, None, None),  # unknown card
        "e4": (None, "debit", "u1", "FR"),  # unknown merchant
    }


def test_join_dimensions_names_a_missing_table(spark, dimensions):
    events = spark.createDataFrame(
        [("e1", "A", "m1")], "txn_id string, card_id string, merchant_id string"
    )
    with pytest.raises(KeyError, match="customers"):
        join(events, {k: v for k, v in dimensions.items() if k != "customers"})


def test_feature_columns_of_the_test_config():
    numeric, categorical = feature_columns(CFG)
    assert numeric == [
        "amount",
        "card_count_1h", "card_count_24h", "card_amount_sum_1h", "card_amount_sum_24h",
        "card_amount_ratio_to_mean_2d", "card_seconds_since_last_2d",
        "card_country_is_new_1d", "card_device_id_is_new_1d",
        "country_ne_home_country",
        "hour_of_day", "is_night",
    ]  # fmt: skip
    assert categorical == ["channel"]


def test_feature_columns_of_the_fraud_pipeline():
    numeric, categorical = feature_columns(load_pipeline("fraud").features)
    assert numeric[:3] == ["amount", "card_count_1h", "card_count_24h"]
    assert "card_merchant_id_is_new_14d" in numeric and "country_ne_home_country" in numeric
    assert len(numeric) == len(set(numeric)) == 1 + 6 + 2 + 3 + 1 + 2
    assert categorical == ["merchant_category", "channel", "card_type"]


SCD2 = "card_id string, card_type string, valid_from timestamp, valid_to timestamp"


def test_scd2_dimension_joins_the_version_valid_at_each_row(spark):
    events = spark.createDataFrame(
        [("e1", "A", at(50)), ("e2", "A", at(100)), ("e3", "A", at(250)), ("e4", "B", at(10))],
        "txn_id string, card_id string, created_at timestamp",
    )
    cards = spark.createDataFrame(
        [
            ("A", "debit", at(0), at(100)),  # valid [0, 100)
            ("A", "credit", at(100), at(200)),  # valid [100, 200): e2 exactly at its start
            ("A", "prepaid", at(200), None),  # still valid
            ("B", "debit", at(20), None),  # e4 happened before B's first version
        ],
        SCD2,
    )
    joins = [Join(table="cards", key="card_id", columns=["card_type"])]
    declared = [
        DimensionTable(
            table="cards",
            key="card_id",
            history="scd2",
            valid_from="valid_from",
            valid_to="valid_to",
        )
    ]
    out = join(events, {"cards": cards}, joins, declared)
    assert {r["txn_id"]: r["card_type"] for r in out.collect()} == {
        "e1": "debit",
        "e2": "credit",
        "e3": "prepaid",
        "e4": None,  # no version yet: unknown, never a later value
    }
    assert out.count() == 4


def test_lastmodified_dimension_joins_the_newest_version_at_or_before_each_row(spark):
    events = spark.createDataFrame(
        [("e1", "A", at(50)), ("e2", "A", at(100)), ("e3", "A", at(99))],
        "txn_id string, card_id string, created_at timestamp",
    )
    versions = spark.createDataFrame(
        [("A", "debit", at(10)), ("A", "credit", at(100)), ("A", "prepaid", at(300))],
        "card_id string, card_type string, updated_at timestamp",
    )
    joins = [Join(table="cards", key="card_id", columns=["card_type"])]
    declared = [
        DimensionTable(
            table="cards", key="card_id", history="lastmodified", updated_at="updated_at"
        )
    ]
    out = join(events, {"cards": versions}, joins, declared)
    assert {r["txn_id"]: r["card_type"] for r in out.collect()} == {
        "e1": "debit",
        "e2": "credit",  # updated at the very second: at or before
        "e3": "debit",
    }
