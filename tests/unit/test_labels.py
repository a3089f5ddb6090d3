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
