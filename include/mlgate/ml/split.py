"""The time-based train / holdout split of labelled rows. A pure Spark transform.

The boundaries come from ``mlgate.window`` (``WindowSpec.split_bounds``), the one place
that computes a run's date ranges.
"""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.gates import label_feed_stalled


def split_by_time(
    rows: DataFrame, *, time_column: str, bounds: dict[str, datetime]
) -> tuple[DataFrame, DataFrame]:
    """Split labelled rows by event time into (train, holdout), mature rows only.

    ``bounds`` (``train_start``, ``train_end``, ``holdout_start``, ``holdout_end``, aware
    UTC; see ``mlgate.window.split_bounds``)::

        train_start            train_end  holdout_start   holdout_end
        |--------- train --------|--- gap ---|--- holdout ---|--- not mature yet ---|

    Every range is half-open, so no row falls into two of them, and every row kept is
    mature (its time is before ``holdout_end``). Rows older than the window, in the gap or
    younger than ``holdout_end`` are dropped. The gap keeps bursts of related events (the
    same fraud campaign) from sitting on both sides of the split.
    """
    time = F.col(time_column)

    def between(start: str, end: str) -> DataFrame:
        return rows.where((time >= F.lit(bounds[start])) & (time < F.lit(bounds[end])))

    return between("train_start", "train_end"), between("holdout_start", "holdout_end")


def unlabelled_holdout_days(
    holdout: DataFrame, *, time_column: str, label: str, days: list[date]
) -> list[str]:
    """``days`` (the holdout's newest, ISO dates) when none of them has a positive label,
    else []: judged on such a holdout a model looks fine while the label feed has stalled.

    Days are UTC dates: the jobs' Spark session runs in UTC.
    """
    if not days:
        return []
    found = (
        holdout.where(F.col(label) == 1)
        .groupBy(F.to_date(F.col(time_column)).alias("day"))
        .count()
        .collect()
    )
    positives = {row["day"]: int(row["count"]) for row in found}
    by_day = {day.isoformat(): positives.get(day, 0) for day in days}
    return sorted(by_day) if label_feed_stalled(by_day, 1) else []
