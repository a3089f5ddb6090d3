"""The feature spec compiled to Spark: pure transforms, DataFrames in, DataFrames out.

``mlgate.config.features`` declares the features; this module computes them for training
and batch scoring. Every history feature of a row is computed from the rows of the same
entity whose time is *strictly before* the row's time, in whole seconds (UTC): a window of
``s`` seconds covers ``[t - s, t - 1]``, i.e. ``Window.rangeBetween(-s, -1)``::

    epoch:      t-s-1 | t-s ..................... t-1 | t   t+1 ...
    in window:   no   | yes  (inclusive lower bound)   | no (same second or later)

Rows in the same second never see each other; among earlier rows in one second, ``last``
takes the one with the greatest row key. A row whose entity is null has no history.

The query rows (what the model scores) are either the events themselves (an event target)
or an entity's observations (an entity target): ``compute_features`` takes both in one
frame, marked by ``HISTORY_COLUMN`` (true for the events whose history counts), so both
kinds go through the same window expressions.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampNTZType, TimestampType

from mlgate.config import DimensionTable, FeatureSpec, Join
from mlgate.config.expr import And, Compare, In, IsNull, Literal, Not, Or
from mlgate.config.expr import Column as ColumnRef
from mlgate.window import duration_seconds

HISTORY_COLUMN = "__mlgate_history"  # true on the rows whose values make up the history
# Temporary columns; dropped before returning.
_EPOCH = "__mlgate_epoch"
_ROW = "__mlgate_row"
_ALONE = "__mlgate_alone"


# --- filters -------------------------------------------------------------------------------


def spark_condition(node) -> Column:
    """A parsed filter (``mlgate.config.expr``) as a Spark boolean Column.

    Spark's SQL semantics are the filter language's: a comparison with null is null, and
    ``F.when`` treats null as false, as the language's "only true passes".
    """
    if isinstance(node, Compare):
        left, right = _operand(node.left), _operand(node.right)
        return {
            "==": left == right,
            "!=": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[node.op]
    if isinstance(node, In):
        found = _operand(node.operand).isin([value.value for value in node.values])
        return ~found if node.negated else found
    if isinstance(node, IsNull):
        operand = _operand(node.operand)
        return operand.isNotNull() if node.negated else operand.isNull()
    if isinstance(node, Not):
        return ~spark_condition(node.item)
    if isinstance(node, And | Or):
        items = [spark_condition(item) for item in node.items]
        combined = items[0]
        for item in items[1:]:
            combined = (combined & item) if isinstance(node, And) else (combined | item)
        return combined
    raise TypeError(f"not a filter node: {node!r}")


def _operand(operand) -> Column:
    if isinstance(operand, ColumnRef):
        return F.col(operand.name)
    if isinstance(operand, Literal):
        return F.lit(operand.value)
    raise TypeError(f"not an operand: {operand!r}")


# --- joins ---------------------------------------------------------------------------------


def join_dimensions(
    rows: DataFrame,
    dimensions: dict[str, DataFrame],
    joins: list[Join],
    declared: list[DimensionTable],
    *,
    time_column: str,
) -> DataFrame:
    """Left-join the dimensions' columns onto the rows, in the order of ``joins``, each as
    of the row's time (see ``DimensionTable``): a static snapshot by key, an SCD2 version
    valid at the time, or the newest last-modified version at or before it.

    A later join may use a column an earlier one brought (cards brings customer_id, then
    customers joins on customer_id). Rows without a match keep their row with nulls, and a
    join never multiplies rows (one version per key and time at most).
    """
    by_table = {d.table: d for d in declared}
    joined = rows
    for join in joins:
        if join.table not in dimensions:
            raise KeyError(
                f"features.joins needs dimension table {join.table!r}, "
                f"got only {sorted(dimensions)}"
            )
        if join.key not in joined.columns:
            raise ValueError(
                f"cannot join {join.table!r} on {join.key!r}: the rows have no such column "
                "(joins run in order; an earlier join may bring it)"
            )
        clashes = [c for c in join.columns if c in joined.columns]
        if clashes:
            raise ValueError(
                f"joining {join.table!r} would bring columns the rows already have: {clashes}"
            )
        spec = by_table.get(join.table) or DimensionTable(
            table=join.table, key=join.key, history="static"
        )
        dimension = dimensions[join.table]
        if spec.history == "static":
            version = dimension.select(join.key, *join.columns).dropDuplicates([join.key])
            joined = joined.join(version, on=join.key, how="left")
        else:
            joined = _join_as_of(joined, dimension, join, spec, time_column)
    return joined


def _join_as_of(
    rows: DataFrame, dimension: DataFrame, join: Join, spec: DimensionTable, time_column: str
) -> DataFrame:
    """The version of each key valid at each row's time (the newest one that started)."""
    start = spec.valid_from if spec.history == "scd2" else spec.updated_at
    version = dimension.select(
        F.col(join.key).alias("__dim_key"),
        F.col(start).cast("timestamp").alias("__dim_start"),
        (F.col(spec.valid_to).cast("timestamp") if spec.valid_to else F.lit(None))
        .cast("timestamp")
        .alias("__dim_end"),
        *join.columns,
    )
    keyed = rows.withColumn(_ROW, F.monotonically_increasing_id())
    moment = F.col(time_column).cast("timestamp")
    matches = (
        (F.col(join.key) == F.col("__dim_key"))
        & (F.col("__dim_start") <= moment)
        & (F.col("__dim_end").isNull() | (moment < F.col("__dim_end")))
    )
    candidates = keyed.join(version, matches, how="left")
    newest = Window.partitionBy(_ROW).orderBy(F.col("__dim_start").desc_nulls_last())
    return (
        candidates.withColumn("__dim_rank", F.row_number().over(newest))
        .where(F.col("__dim_rank") == 1)
        .drop("__dim_rank", "__dim_key", "__dim_start", "__dim_end", _ROW)
    )


# --- features ------------------------------------------------------------------------------


def feature_columns(spec: FeatureSpec) -> tuple[list[str], list[str]]:
    """(numeric, categorical) model inputs: what the VectorAssembler/StringIndexer use."""
    return spec.model_inputs()


def epoch_seconds(frame: DataFrame, time_column: str) -> Column:
    """Whole UTC seconds of the time column (a timestamp without zone is read as UTC)."""
    data_type = frame.schema[time_column].dataType
    if isinstance(data_type, TimestampType):
        return F.col(time_column).cast("long")
    if isinstance(data_type, TimestampNTZType):
        return F.unix_timestamp(F.col(time_column))
    raise TypeError(
        f"time column {time_column!r} must be a timestamp, got {data_type.simpleString()}"
    )


def compute_features(
    rows: DataFrame, spec: FeatureSpec, *, time_column: str, row_key: str
) -> DataFrame:
    """Add every computed feature of ``spec`` to the rows (joined with their dimensions).

    Without a ``HISTORY_COLUMN`` every row is both a query row and part of the history (an
    event target); with it, only rows where it is true make up the history, and each row
    still gets its features (observations of an entity target are unioned with the events
    and marked false). Numeric passthrough columns are cast to double. Returns every input
    column plus the features of ``spec.computed()``, in that order.
    """
    frame = rows.withColumns({name: F.col(name).cast("double") for name in spec.numeric})
    history = F.col(HISTORY_COLUMN) if HISTORY_COLUMN in rows.columns else F.lit(True)
    frame = frame.withColumns(
        {_EPOCH: epoch_seconds(rows, time_column), _ROW: F.monotonically_increasing_id()}
    )
    epoch = F.col(_EPOCH)

    def window(entity_key: str, seconds: int, *also: str) -> Window:
        # Null entities would otherwise share one partition, i.e. one made-up history.
        alone = F.when(F.col(entity_key).isNull(), F.col(_ROW))
        return (
            Window.partitionBy(F.col(entity_key), alone, *also)
            .orderBy(_EPOCH)
            .rangeBetween(-seconds, -1)
        )

    features: dict[str, Column] = {}
    for feature in spec.computed():
        if feature.source == "aggregation":
            agg = feature.item
            seconds = duration_seconds(feature.window)
            over = window(spec.entities[agg.entity], seconds)
            counted = history
            if agg.filter is not None:
                counted = counted & spark_condition(agg.parsed_filter.tree)
            features[feature.name] = _aggregate(
                agg, seconds, over, counted, epoch, row_key, agg.empty_value(feature.window)
            )
        elif feature.source == "novelty":
            novelty, column = feature.item, feature.name
            source = next(c for c in novelty.columns if novelty.feature_name(c) == column)
            over = window(spec.entities[novelty.entity], duration_seconds(novelty.lookback), source)
            seen = F.count(F.when(history, F.lit(1))).over(over)
            features[column] = (
                F.when(F.col(source).isNotNull() & (seen == 0), 1).otherwise(0).cast("int")
            )
        elif feature.source == "mismatch":
            a, b = feature.item
            differ = F.col(a).isNotNull() & F.col(b).isNotNull() & (F.col(a) != F.col(b))
            features[feature.name] = F.when(differ, 1).otherwise(0).cast("int")
    features.update(_time_parts(spec, epoch))
    return frame.withColumns(features).drop(_EPOCH, _ROW)


ARITHMETIC_OPS = ("sum", "mean", "min", "max", "stddev", "ratio_to_mean")


def _aggregate(
    agg, seconds: int, over: Window, counted: Column, epoch: Column, row_key: str, empty
) -> Column:
    """One aggregation over one window of the entity's earlier rows (only `counted` ones).
    Arithmetic is on doubles: a DECIMAL column's mean would otherwise be rounded to the
    decimal scale Spark picks (6 places for a NUMERIC(10, 2)), which no online store or
    ONNX graph reproduces (the online_parity gate found it on the shop demo)."""
    value = F.col(agg.column) if agg.column else None
    if value is not None and agg.op in ARITHMETIC_OPS:
        value = value.cast("double")
    kept = F.when(counted, value) if value is not None else None
    if agg.op == "count":
        return F.count(F.when(counted, F.lit(1))).over(over)
    if agg.op == "count_distinct":
        return F.size(F.collect_set(kept).over(over)).cast("long")
    if agg.op == "seconds_since_last":
        previous = F.max(F.when(counted, epoch)).over(over)
        return F.coalesce(epoch - previous, F.lit(int(empty))).cast("long")
    if agg.op == "ratio_to_mean":
        mean = F.avg(kept).over(over)
        ratio = F.when(mean.isNull() | (mean == 0), F.lit(empty)).otherwise(value / mean)
        return ratio.cast("double")
    if agg.op == "last":
        # The latest earlier row with a value; rows in the same second: the greatest key.
        order = F.when(counted & value.isNotNull(), F.struct(epoch, F.col(row_key)))
        result = F.max_by(value, order).over(over)
        return result if empty is None else F.coalesce(result, F.lit(empty))
    reducers = {
        "sum": F.sum,
        "mean": F.avg,
        "min": F.min,
        "max": F.max,
        "stddev": F.stddev_samp,  # sample stddev: null below two rows
    }
    result = reducers[agg.op](kept).over(over).cast("double")
    return result if empty is None else F.coalesce(result, F.lit(float(empty)))


def _time_parts(spec: FeatureSpec, epoch: Column) -> dict[str, Column]:
    """hour_of_day, day_of_week (1 = Monday .. 7 = Sunday), is_night in the spec's zone.

    Computed from the row's UTC epoch seconds shifted by the zone's offset at that instant,
    so the session time zone of Spark never changes them.
    """
    wanted = spec.time_of_day
    if not (wanted.hour or wanted.day_of_week or wanted.night_hours):
        return {}
    local = (
        epoch
        if spec.time_zone == "UTC"
        else F.from_utc_timestamp(F.timestamp_seconds(epoch), spec.time_zone).cast("long")
        - F.timestamp_seconds(epoch).cast("long")
        + epoch
    )
    hour = F.floor(F.pmod(local, F.lit(86_400)) / 3600).cast("int")
    parts: dict[str, Column] = {}
    if wanted.hour:
        parts["hour_of_day"] = hour
    if wanted.day_of_week:
        # 1970-01-01 was a Thursday (4)
        parts["day_of_week"] = (F.pmod(F.floor(local / 86_400) + 3, F.lit(7)) + 1).cast("int")
    if wanted.night_hours is not None:
        first, last = wanted.night_hours
        at_night = hour.between(first, last) if first <= last else (hour >= first) | (hour <= last)
        parts["is_night"] = F.when(at_night, 1).otherwise(0).cast("int")
    return parts
