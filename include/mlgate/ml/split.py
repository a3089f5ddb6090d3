"""The time-based train / holdout split of labelled rows. A pure Spark transform.

The boundaries come from ``mlgate.window`` (``WindowSpec.split_bounds``), the one place
that computes a run's date ranges.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


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
