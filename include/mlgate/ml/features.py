"""Feature engineering as pure Spark transforms: DataFrames in, DataFrames out, no I/O.

Every history feature of an event is computed from rows of the same entity (e.g. the same
card) that happened *strictly before* the event, so a feature never sees the event itself,
events at the same second, or anything later. Time is measured in whole epoch seconds (UTC)
and each lookback window of ``s`` seconds covers the half-open interval ``[t - s, t)``:

    epoch:      t-s-1 | t-s ..................... t-1 | t   t+1 ...
    in window:   no   | yes  (inclusive lower bound)   | no (same second or later)

i.e. ``Window.rangeBetween(-s, -1)``: an event exactly 3600 s before is inside the 1h window,
one 3601 s before is not. Rows whose entity is null have no history (each is on its own).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampNTZType, TimestampType

from mlgate.config import FeatureConfig
from mlgate.window import duration_seconds

# Temporary columns; dropped before returning.
_EPOCH = "__mlgate_epoch"
_ALONE = "__mlgate_alone"

_NIGHT_HOURS = (0, 5)  # inclusive, UTC


def join_dimensions(
    events: DataFrame, dimensions: dict[str, DataFrame], cfg: FeatureConfig
) -> DataFrame:
    """Left-join the dimension snapshots onto the events, in the order of ``cfg.joins``.

    Each join brings ``join.columns`` of ``dimensions[join.table]`` matched on ``join.key``;
    a later join may use a column brought by an earlier one (cards brings customer_id, then
    customers joins on customer_id). Events without a match keep their row with nulls. A
    dimension is reduced to one row per key first (an arbitrary one if the snapshot holds
    duplicates) so that a join never multiplies events.
    """
    joined = events
    for join in cfg.joins:
        if join.table not in dimensions:
            raise KeyError(
                f"features.joins needs dimension table {join.table!r}, "
                f"got only {sorted(dimensions)}"
            )
        if join.key not in joined.columns:
            raise ValueError(
                f"cannot join {join.table!r} on {join.key!r}: the events have no such column "
                "(joins run in order; an earlier join may bring it)"
            )
        clashes = [c for c in join.columns if c in joined.columns]
        if clashes:
            raise ValueError(
                f"joining {join.table!r} would bring columns the events already have: {clashes}"
            )
        dimension = (
            dimensions[join.table].select(join.key, *join.columns).dropDuplicates([join.key])
        )
        joined = joined.join(dimension, on=join.key, how="left")
    return joined


def computed_feature_columns(cfg: FeatureConfig) -> list[str]:
    """Names of the columns :func:`compute_features` adds, in a stable order."""
    names: list[str] = []
    for window in cfg.windows:
        names += [f"txn_count_{window}", f"amount_sum_{window}"]
    names += ["amount_vs_history", "seconds_since_previous"]
    names += [f"is_new_{column}" for column in cfg.novelty_columns]
    names += [f"{a}_ne_{b}" for a, b in cfg.mismatch_pairs]
    names += ["hour_of_day", "is_night"]
    return names


def feature_columns(cfg: FeatureConfig) -> tuple[list[str], list[str]]:
    """(numeric, categorical) model inputs: what the VectorAssembler/StringIndexer use.

    numeric = ``cfg.numeric_columns`` followed by the computed features (duplicates dropped,
    order stable); categorical = ``cfg.categorical_columns``.
    """
    numeric = list(dict.fromkeys([*cfg.numeric_columns, *computed_feature_columns(cfg)]))
    return numeric, list(cfg.categorical_columns)


def _epoch_seconds(events: DataFrame, time_column: str) -> Column:
    data_type = events.schema[time_column].dataType
    if isinstance(data_type, TimestampType):
        return F.col(time_column).cast("long")
    if isinstance(data_type, TimestampNTZType):
        # A timestamp without zone is read as UTC wall-clock time.
        return F.unix_timestamp(F.col(time_column))
    raise TypeError(
        f"time column {time_column!r} must be a timestamp, got {data_type.simpleString()}"
    )


def compute_features(
    events: DataFrame, cfg: FeatureConfig, *, time_column: str, event_key: str
) -> DataFrame:
    """Add the model features to events already joined with their dimensions.

    Returns every input column (``cfg.amount_column`` cast to double) plus, per
    ``cfg.entity_key`` and from that entity's rows strictly before the event only:

    - ``txn_count_{w}`` (long) and ``amount_sum_{w}`` (double) for each ``w`` in
      ``cfg.windows``; 0 / 0.0 when the window is empty.
    - ``amount_vs_history``: amount / mean amount over ``cfg.amount_history``. Without
      history (or a zero mean) it is 1.0, the neutral "as usual" value: a first purchase is
      not evidence of an unusual amount, and a constant avoids nulls in the model input.
    - ``seconds_since_previous``: seconds since the entity's previous event, capped at
      ``cfg.amount_history`` (also the value when there is none), so a row whose previous
      event lies beyond the imported history looks the same as one with no previous event.
    - ``is_new_{c}`` (int 0/1) for each ``c`` in ``cfg.novelty_columns``: 1 when the entity
      had no event with the same value of ``c`` within ``cfg.novelty_lookback`` before;
      a null value gives 0 (unknown is not new).
    - ``{a}_ne_{b}`` (int 0/1) for each pair in ``cfg.mismatch_pairs``: 1 when both are
      non-null and differ.
    - ``hour_of_day`` (int 0-23, UTC) and ``is_night`` (int, 1 for hours 0-5).

    Rows with a null entity get no history (they are not pooled together); ``event_key``
    tells such rows apart.
    """
    amount = cfg.amount_column
    entity = F.col(cfg.entity_key)
    epoch = F.col(_EPOCH)
    history_seconds = duration_seconds(cfg.amount_history)
    novelty_seconds = duration_seconds(cfg.novelty_lookback)

    frame = events.withColumn(amount, F.col(amount).cast("double")).withColumns(
        {
            _EPOCH: _epoch_seconds(events, time_column),
            # Null entities would otherwise share one partition, i.e. one made-up history.
            _ALONE: F.when(entity.isNull(), F.col(event_key)),
        }
    )
    by_entity = Window.partitionBy(cfg.entity_key, _ALONE).orderBy(_EPOCH)

    def before(seconds: int) -> Window:
        return by_entity.rangeBetween(-seconds, -1)

    features: dict[str, Column] = {}
    for window, seconds in cfg.window_seconds().items():
        features[f"txn_count_{window}"] = F.count(F.lit(1)).over(before(seconds))
        features[f"amount_sum_{window}"] = F.coalesce(
            F.sum(amount).over(before(seconds)), F.lit(0.0)
        )

    mean_amount = F.avg(amount).over(before(history_seconds))
    features["amount_vs_history"] = (
        F.when(mean_amount.isNull() | (mean_amount == 0), F.lit(1.0))
        .otherwise(F.col(amount) / mean_amount)
        .cast("double")
    )
    previous = F.max(epoch).over(before(history_seconds))
    features["seconds_since_previous"] = F.coalesce(
        epoch - previous, F.lit(history_seconds).cast("long")
    )

    for column in cfg.novelty_columns:
        same_value = (
            Window.partitionBy(cfg.entity_key, _ALONE, column)
            .orderBy(_EPOCH)
            .rangeBetween(-novelty_seconds, -1)
        )
        seen = F.count(F.lit(1)).over(same_value)
        features[f"is_new_{column}"] = (
            F.when(F.col(column).isNotNull() & (seen == 0), 1).otherwise(0).cast("int")
        )

    for a, b in cfg.mismatch_pairs:
        differ = F.col(a).isNotNull() & F.col(b).isNotNull() & (F.col(a) != F.col(b))
        features[f"{a}_ne_{b}"] = F.when(differ, 1).otherwise(0).cast("int")

    hour = F.floor(F.pmod(epoch, F.lit(86400)) / 3600).cast("int")
    features["hour_of_day"] = hour
    first, last = _NIGHT_HOURS
    features["is_night"] = F.when(hour.between(first, last), 1).otherwise(0).cast("int")

    return frame.withColumns(features).drop(_EPOCH, _ALONE)
