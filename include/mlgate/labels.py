"""Labels as of a point in time, and the time-based train/holdout split. Pure Spark transforms.

A label row (a chargeback) marks its event positive only from the moment it became known.
A run "as of" some instant may use only labels known strictly before that instant, and only
events old enough that their label, if any, has had ``maturity_days`` to arrive.

Datetimes passed in may be naive (read as UTC) or timezone-aware (any zone).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

MATURE_COLUMN = "label_mature"


def _utc(moment: datetime) -> datetime:
    """The same instant as a plain aware UTC datetime (naive means UTC).

    PySpark would read a naive datetime in the local zone of the Python process.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(moment.timestamp(), tz=UTC)


def attach_labels(
    events: DataFrame,
    labels: DataFrame,
    *,
    event_key: str,
    label_event_key: str,
    label_time_column: str,
    time_column: str,
    as_of: datetime,
    maturity_days: int,
    label_name: str,
) -> DataFrame:
    """Add ``label_name`` (int 0/1) and ``label_mature`` (boolean) to every event row.

    - ``label_name`` is 1 when some label row points at the event (``label_event_key`` ==
      ``event_key``) with ``label_time_column < as_of``. Labels that became known at or after
      ``as_of`` do not count: the run must not see the future. Several label rows for one
      event count once; the result has exactly the rows of ``events``.
    - ``label_mature`` is true when the event time is ``<= as_of - maturity_days``. Only
      mature rows may be used for training or evaluation: a younger event may still be a
      positive whose label has not been reported yet.

    Existing columns named ``label_name`` or ``label_mature`` are replaced.
    """
    as_of = _utc(as_of)
    mature_until = as_of - timedelta(days=maturity_days)
    known = (
        labels.where(F.col(label_time_column) < F.lit(as_of))
        .select(F.col(label_event_key).alias(event_key))
        .where(F.col(event_key).isNotNull())
        .distinct()
        .withColumn(label_name, F.lit(1))
    )
    labelled = events.drop(label_name, MATURE_COLUMN).join(known, on=event_key, how="left")
    return labelled.withColumns(
        {
            label_name: F.coalesce(F.col(label_name), F.lit(0)).cast("int"),
            MATURE_COLUMN: F.coalesce(F.col(time_column) <= F.lit(mature_until), F.lit(False)),
        }
    )


def split_bounds(
    *,
    as_of: datetime,
    maturity_days: int,
    holdout_days: int,
    gap_days: int,
    window_days: int,
) -> dict[str, datetime]:
    """The boundaries used by :func:`split_by_time` (UTC, each range half-open ``[start, end)``).

    Keys: ``train_start``, ``train_end``, ``holdout_start``, ``holdout_end``. Raises
    ``ValueError`` when the training range would be empty.
    """
    as_of = _utc(as_of)
    mature_end = as_of - timedelta(days=maturity_days)
    holdout_start = mature_end - timedelta(days=holdout_days)
    bounds = {
        "train_start": as_of - timedelta(days=window_days),
        "train_end": holdout_start - timedelta(days=gap_days),
        "holdout_start": holdout_start,
        "holdout_end": mature_end,
    }
    if bounds["train_start"] >= bounds["train_end"]:
        raise ValueError(
            f"window_days ({window_days}) leaves no training rows before the maturity "
            f"({maturity_days}), holdout ({holdout_days}) and gap ({gap_days}) days"
        )
    return bounds


def split_by_time(
    rows: DataFrame,
    *,
    time_column: str,
    as_of: datetime,
    maturity_days: int,
    holdout_days: int,
    gap_days: int,
    window_days: int,
) -> tuple[DataFrame, DataFrame]:
    """Split labelled rows by event time into (train, holdout), mature rows only.

    With ``mature_end = as_of - maturity_days`` (see :func:`split_bounds`)::

        train_start            train_end  holdout_start   holdout_end
        |--------- train --------|--- gap ---|--- holdout ---|--- not mature yet ---|
        as_of - window_days                                  mature_end            as_of

        train   = [as_of - window_days,                  mature_end - holdout_days - gap_days)
        gap     = [mature_end - holdout_days - gap_days, mature_end - holdout_days)   unused
        holdout = [mature_end - holdout_days,            mature_end)

    e.g. as_of 2024-03-31, maturity 10, holdout 7, gap 1, window 40 days: train
    [02-20, 03-13), gap [03-13, 03-14), holdout [03-14, 03-21), not mature from 03-21 on.

    Every range is half-open, so no row falls into two of them, and every row kept is
    mature (its time is before ``mature_end``). Rows older than the window, in the gap or
    younger than ``mature_end`` are dropped. The gap keeps bursts of related events (the
    same fraud campaign) from sitting on both sides of the split.
    """
    bounds = split_bounds(
        as_of=as_of,
        maturity_days=maturity_days,
        holdout_days=holdout_days,
        gap_days=gap_days,
        window_days=window_days,
    )
    time = F.col(time_column)

    def between(start: str, end: str) -> DataFrame:
        return rows.where((time >= F.lit(bounds[start])) & (time < F.lit(bounds[end])))

    return between("train_start", "train_end"), between("holdout_start", "holdout_end")
