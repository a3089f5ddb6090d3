"""Labels as of a point in time, per event or per entity observation. Pure Spark transforms.

A label row (a chargeback) marks its event positive only from the moment it became known.
A run "as of" some instant may use only labels known strictly before that instant, and only
events old enough that their label, if any, has had the label maturity to arrive.

Datetimes passed in may be naive (read as UTC) or timezone-aware (any zone).
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from mlgate.config.target import MATURE_COLUMN, OBSERVATION_KEY
from mlgate.window import utc_instant


def attach_labels(
    events: DataFrame,
    labels: DataFrame,
    *,
    event_key: str,
    label_event_key: str,
    label_time_column: str,
    time_column: str,
    as_of: datetime,
    mature_until: datetime,
    label_name: str,
    label_filter: Column | None = None,
) -> DataFrame:
    """Add ``label_name`` (int 0/1) and ``label_mature`` (boolean) to every event row.

    - ``label_name`` is 1 when some label row points at the event (``label_event_key`` ==
      ``event_key``) with ``label_time_column < as_of`` (and passing ``label_filter``).
      Labels that became known at or after ``as_of`` do not count: the run must not see
      the future. Several label rows for one
      event count once; the result has exactly the rows of ``events``.
    - ``label_mature`` is true when the event time is ``<= mature_until`` (``as_of`` minus
      the label maturity: ``WindowSpec.mature_end``). Only mature rows may be used for
      training or evaluation: a younger event may still be a positive whose label has
      not been reported yet.

    Existing columns named ``label_name`` or ``label_mature`` are replaced.
    """
    as_of, mature_until = utc_instant(as_of), utc_instant(mature_until)
    known = labels.where(F.col(label_time_column) < F.lit(as_of))
    if label_filter is not None:
        known = known.where(label_filter)
    known = (
        known.select(F.col(label_event_key).alias(event_key))
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


def observations(
    events: DataFrame,
    *,
    entity_key: str,
    time_column: str,
    every: int,
    active_within: int,
    window_start: datetime,
    as_of: datetime,
) -> DataFrame:
    """The observation rows of an entity target: (entity_key, time_column, observation_id).

    An entity is observed at every multiple ``t`` of ``every`` seconds (from 1970-01-01
    UTC) with ``window_start <= t < as_of`` for which it had an event in
    ``[t - active_within, t)``. The events' own times are whole UTC seconds.
    """
    epoch = F.col(time_column).cast("timestamp").cast("long")
    first = (F.floor(epoch / every) + 1) * every  # the first cadence point after the event
    last = F.floor((epoch + active_within) / every) * every
    start = int(utc_instant(window_start).timestamp())
    end = int(utc_instant(as_of).timestamp())
    points = (
        events.where(F.col(entity_key).isNotNull())
        .select(entity_key, first.alias("__first"), last.alias("__last"))
        .where(F.col("__first") <= F.col("__last"))
        .select(
            entity_key,
            F.explode(F.sequence("__first", "__last", F.lit(every).cast("long"))).alias("__t"),
        )
        .where((F.col("__t") >= start) & (F.col("__t") < end))
        .distinct()
    )
    return points.select(
        entity_key,
        F.timestamp_seconds(F.col("__t")).alias(time_column),
        F.concat_ws("@", F.col(entity_key).cast("string"), F.col("__t").cast("string")).alias(
            OBSERVATION_KEY
        ),
    )


def attach_entity_labels(
    rows: DataFrame,
    label_events: DataFrame,
    *,
    entity_key: str,
    label_entity_key: str,
    label_time_column: str,
    time_column: str,
    horizon: int,
    as_of: datetime,
    mature_until: datetime,
    label_name: str,
    label_filter: Column | None = None,
) -> DataFrame:
    """Add ``label_name`` and ``label_mature`` to observation rows of an entity target.

    - ``label_name`` is 1 when a label event of the entity (passing ``label_filter``,
      known before ``as_of``) happened in ``[t, t + horizon)`` of the observation's time t.
    - ``label_mature`` is true when ``t <= mature_until`` (``as_of`` minus the maturity and
      the horizon: the whole horizon has passed and its labels had time to arrive).
    """
    as_of, mature_until = utc_instant(as_of), utc_instant(mature_until)
    known = label_events.where(F.col(label_time_column) < F.lit(as_of))
    if label_filter is not None:
        known = known.where(label_filter)
    known = known.select(
        F.col(label_entity_key).alias("__label_entity"),
        F.col(label_time_column).cast("timestamp").cast("long").alias("__label_at"),
    ).where(F.col("__label_entity").isNotNull())
    at = F.col(time_column).cast("timestamp").cast("long")
    matched = rows.drop(label_name, MATURE_COLUMN).withColumn("__at", at)
    positive = (
        matched.select(OBSERVATION_KEY, entity_key, "__at")
        .join(
            known,
            (F.col(entity_key) == F.col("__label_entity"))
            & (F.col("__label_at") >= F.col("__at"))
            & (F.col("__label_at") < F.col("__at") + horizon),
        )
        .select(OBSERVATION_KEY)
        .distinct()
        .withColumn(label_name, F.lit(1))
    )
    labelled = matched.join(positive, on=OBSERVATION_KEY, how="left").drop("__at")
    return labelled.withColumns(
        {
            label_name: F.coalesce(F.col(label_name), F.lit(0)).cast("int"),
            MATURE_COLUMN: F.coalesce(F.col(time_column) <= F.lit(mature_until), F.lit(False)),
        }
    )
