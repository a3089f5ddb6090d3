"""Labels as of a point in time and the time split, on tiny hand-made frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlgate.ml.labels import attach_labels
from mlgate.ml.split import split_by_time
from mlgate.window import split_bounds

pytestmark = pytest.mark.spark

AS_OF = datetime(2024, 3, 31, tzinfo=UTC)  # maturity 10 days: mature until 2024-03-21 00:00


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


EVENTS = [
    ("e1", utc(2024, 3, 1, 10)),
    ("e2", utc(2024, 3, 2)),
    ("e3", utc(2024, 3, 3)),
    ("e4", utc(2024, 3, 4)),
    ("e5", utc(2024, 3, 21)),  # exactly as_of - 10 days: mature
    ("e6", utc(2024, 3, 21, 0, 0, 1)),  # one second later: not mature
    ("e7", utc(2024, 3, 25)),
]
LABELS = [
    ("e1", utc(2024, 3, 5)),
    ("e2", utc(2024, 3, 6)),  # e2 is reported twice
    ("e2", utc(2024, 3, 7)),
    ("e3", utc(2024, 3, 31)),  # known exactly at as_of: not before it, so not yet known
    ("e4", utc(2024, 4, 2)),  # reported after as_of: the future
    ("e7", utc(2024, 3, 28)),  # known, but the event is not mature
    ("zz", utc(2024, 3, 5)),  # no such event
    (None, utc(2024, 3, 5)),
]


def labelled(spark, as_of=AS_OF):
    events = spark.createDataFrame(EVENTS, "transaction_id string, created_at timestamp")
    labels = spark.createDataFrame(LABELS, "txn string, reported_at timestamp")
    return attach_labels(
        events,
        labels,
        event_key="transaction_id",
        label_event_key="txn",
        label_time_column="reported_at",
        time_column="created_at",
        as_of=as_of,
        mature_until=as_of - timedelta(days=10),
        label_name="is_fraud",
    )


def by_id(frame) -> dict[str, tuple[int, bool]]:
    return {r["transaction_id"]: (r["is_fraud"], r["label_mature"]) for r in frame.collect()}


def test_attach_labels(spark):
    out = labelled(spark)
    assert out.count() == 7  # one row per event: duplicate and unknown labels add none
    assert by_id(out) == {
        "e1": (1, True),
        "e2": (1, True),  # two label rows count once
        "e3": (0, True),  # label known at as_of, not before
        "e4": (0, True),  # label known only after as_of
        "e5": (0, True),  # exactly at the maturity cut
        "e6": (0, False),
        "e7": (1, False),  # positive, but too young to train or evaluate on
    }
    types = dict(out.dtypes)
    assert (types["is_fraud"], types["label_mature"]) == ("int", "boolean")
    assert sorted(out.columns) == ["created_at", "is_fraud", "label_mature", "transaction_id"]


def test_attach_labels_reads_as_of_as_an_instant(spark):
    expected = by_id(labelled(spark))
    naive = datetime(2024, 3, 31)  # naive means UTC
    plus_two = datetime(2024, 3, 31, 2, tzinfo=timezone(timedelta(hours=2)))  # same instant
    assert by_id(labelled(spark, naive)) == expected
    assert by_id(labelled(spark, plus_two)) == expected
    # One second later the label of e3 (reported at 2024-03-31 00:00:00) is known.
    assert by_id(labelled(spark, AS_OF + timedelta(seconds=1)))["e3"] == (1, True)


SPLIT = {"maturity_days": 10, "holdout_days": 7, "gap_days": 1, "window_days": 40}


def test_split_bounds():
    # mature_end = 03-31 - 10 d = 03-21; holdout 7 d before it; 1 gap day; 40 d window
    # (2024 is a leap year: 03-31 - 40 d = 02-20).
    assert split_bounds(as_of=AS_OF, **SPLIT) == {
        "train_start": utc(2024, 2, 20),
        "train_end": utc(2024, 3, 13),
        "holdout_start": utc(2024, 3, 14),
        "holdout_end": utc(2024, 3, 21),
    }


def test_split_bounds_rejects_an_empty_training_range():
    with pytest.raises(ValueError, match="no training rows"):
        split_bounds(as_of=AS_OF, maturity_days=10, holdout_days=7, gap_days=1, window_days=18)


@pytest.fixture(scope="module")
def split(spark):
    # One row every 12 hours from 2024-02-18 00:00 to 2024-03-30 12:00 (84 rows).
    times = [utc(2024, 2, 18) + timedelta(hours=12 * i) for i in range(84)]
    time_of = {f"r{i:02d}": t for i, t in enumerate(times)}
    rows = spark.createDataFrame(list(time_of.items()), "id string, created_at timestamp")
    train, holdout = split_by_time(
        rows, time_column="created_at", bounds=split_bounds(as_of=AS_OF, **SPLIT)
    )
    # Map ids back to the aware datetimes above (collect() gives naive local times).
    return tuple({r["id"]: time_of[r["id"]] for r in part.collect()} for part in (train, holdout))


def test_split_by_time_boundaries(split):
    train, holdout = split
    # train: 02-20 00:00 .. 03-12 12:00, 22 days x 2 rows
    assert len(train) == 44
    assert min(train.values()) == utc(2024, 2, 20)  # lower bound included
    assert max(train.values()) == utc(2024, 3, 12, 12)  # 03-13 00:00 is in the gap
    # holdout: 03-14 00:00 .. 03-20 12:00, 7 days x 2 rows
    assert len(holdout) == 14
    assert min(holdout.values()) == utc(2024, 3, 14)
    assert max(holdout.values()) == utc(2024, 3, 20, 12)  # 03-21 00:00 is mature but excluded


def test_split_by_time_is_disjoint_with_an_empty_gap(split):
    train, holdout = split
    assert not set(train) & set(holdout)
    assert max(train.values()) < min(holdout.values())
    used = [*train.values(), *holdout.values()]
    assert not [t for t in used if utc(2024, 3, 13) <= t < utc(2024, 3, 14)]  # the gap
    assert all(t < utc(2024, 3, 21) for t in used)  # nothing newer than mature_end


def test_split_keeps_only_mature_rows(spark):
    rows = labelled(spark)
    bounds = split_bounds(as_of=AS_OF, **SPLIT)
    train, holdout = split_by_time(rows, time_column="created_at", bounds=bounds)
    kept = train.unionByName(holdout)
    assert kept.where("NOT label_mature").count() == 0
    # e1..e4 (03-01..03-04) fall in train; e5 (03-21 00:00) is mature but at holdout_end
    assert sorted(r["transaction_id"] for r in train.collect()) == ["e1", "e2", "e3", "e4"]
    assert holdout.count() == 0


# --- entity targets: observations at a cadence, a label within a horizon -------------------


def observed(spark, events, *, every=86400, active=2 * 86400, start=None, end=None):
    from mlgate.ml.labels import observations

    frame = spark.createDataFrame(events, "visitor string, at timestamp")
    out = observations(
        frame,
        entity_key="visitor",
        time_column="at",
        every=every,
        active_within=active,
        window_start=start or utc(2024, 3, 1),
        as_of=end or utc(2024, 3, 10),
    )
    return sorted(
        (r["visitor"], r["at"].replace(tzinfo=UTC), r["observation_id"]) for r in out.collect()
    )


def test_an_entity_is_observed_at_each_cadence_point_it_was_active_before(spark):
    rows = observed(
        spark,
        [
            ("v1", utc(2024, 3, 2, 10)),  # active for the points 03-03 and 03-04 (2 days)
            ("v1", utc(2024, 3, 2, 23)),  # the same points again: no duplicate
            ("v2", utc(2024, 3, 5)),  # exactly at a point: observed from the next one
            ("v2", utc(2024, 3, 9, 12)),  # would be observed 03-10: at as_of, not before
            (None, utc(2024, 3, 2)),  # no entity: never observed
        ],
    )
    assert [(v, t) for v, t, _ in rows] == [
        ("v1", utc(2024, 3, 3)),
        ("v1", utc(2024, 3, 4)),
        ("v2", utc(2024, 3, 6)),
        ("v2", utc(2024, 3, 7)),
    ]
    assert rows[0][2] == f"v1@{int(utc(2024, 3, 3).timestamp())}"  # one key per entity and time


def test_observations_before_the_window_are_left_out(spark):
    rows = observed(spark, [("v1", utc(2024, 3, 2, 10))], start=utc(2024, 3, 4))
    assert [t for _, t, _ in rows] == [utc(2024, 3, 4)]


def test_an_observation_is_positive_when_a_label_event_falls_in_its_horizon(spark):
    from pyspark.sql import functions as F

    from mlgate.config.target import OBSERVATION_KEY
    from mlgate.ml.labels import attach_entity_labels

    rows = spark.createDataFrame(
        [
            ("v1", utc(2024, 3, 3), "v1@a"),
            ("v1", utc(2024, 3, 6), "v1@b"),
            ("v2", utc(2024, 3, 3), "v2@a"),
            ("v3", utc(2024, 3, 3), "v3@a"),
            ("v4", utc(2024, 3, 8), "v4@a"),
        ],
        f"visitor string, at timestamp, {OBSERVATION_KEY} string",
    )
    orders = spark.createDataFrame(
        [
            ("v1", utc(2024, 3, 4), "paid"),  # in [03-03, 03-06): v1@a positive
            ("v1", utc(2024, 3, 6), "paid"),  # exactly at v1@b's time: in its horizon
            ("v2", utc(2024, 3, 6), "paid"),  # exactly at v2@a's horizon end: not in it
            ("v3", utc(2024, 3, 4), "cancelled"),  # filtered out
            ("v4", utc(2024, 3, 9), "paid"),  # in the horizon, but known only at as_of
        ],
        "visitor_id string, created_at timestamp, status string",
    )
    out = attach_entity_labels(
        rows,
        orders,
        entity_key="visitor",
        label_entity_key="visitor_id",
        label_time_column="created_at",
        time_column="at",
        horizon=3 * 86400,
        as_of=utc(2024, 3, 9),
        mature_until=utc(2024, 3, 6),  # as_of - 3 days of horizon (maturity 0)
        label_name="will_order",
        label_filter=F.col("status") == "paid",
    )
    got = {r[OBSERVATION_KEY]: (r["will_order"], r["label_mature"]) for r in out.collect()}
    assert got == {
        "v1@a": (1, True),
        "v1@b": (1, True),  # exactly at mature_until: mature
        "v2@a": (0, True),
        "v3@a": (0, True),
        "v4@a": (0, False),  # too recent: its horizon is not over
    }


def test_a_holdout_whose_newest_days_have_no_labels_is_refused_naming_them(spark):
    from datetime import date

    from mlgate.ml.split import unlabelled_holdout_days

    rows = spark.createDataFrame(
        [
            (utc(2024, 3, 18, 9), 1),  # the last positive, three days before the newest
            (utc(2024, 3, 19, 9), 0),
            (utc(2024, 3, 20, 9), 0),
            (utc(2024, 3, 20, 23, 59, 59), 0),
        ],
        "created_at timestamp, is_fraud int",
    )
    newest = [date(2024, 3, 19), date(2024, 3, 20)]
    found = unlabelled_holdout_days(rows, time_column="created_at", label="is_fraud", days=newest)
    assert found == ["2024-03-19", "2024-03-20"]
    # one positive on the oldest of the newest days: labels still arrive, no refusal
    with_label = [date(2024, 3, 18), *newest]
    assert (
        unlabelled_holdout_days(rows, time_column="created_at", label="is_fraud", days=with_label)
        == []
    )
    assert unlabelled_holdout_days(rows, time_column="created_at", label="is_fraud", days=[]) == []
