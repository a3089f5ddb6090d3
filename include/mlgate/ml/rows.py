"""The rows a pipeline's model scores, with their features and labels: the feature table.

For an event target the rows are the events; for an entity target they are the entity's
observations (``mlgate.ml.labels.observations``). Both go through the same compiled spec
(``mlgate.ml.features``), so training (the features job) and batch scoring (the score
job) compute every feature the same way. Pure transforms of DataFrames.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.config import OBSERVATION_KEY, PipelineConfig
from mlgate.ml.features import HISTORY_COLUMN, compute_features, join_dimensions, spark_condition
from mlgate.ml.labels import attach_entity_labels, attach_labels, observations
from mlgate.window import duration_seconds


def feature_rows(
    cfg: PipelineConfig,
    events: DataFrame,
    dimensions: dict[str, DataFrame],
    *,
    start: datetime,
    end: datetime,
) -> DataFrame:
    """The rows scored in [start, end) with every feature of the spec.

    ``events`` must reach back the spec's longest lookback before ``start``: older events
    only serve as history.
    """
    spec, time_column = cfg.features, cfg.row_time
    joined = join_dimensions(
        events, dimensions, spec.joins, cfg.source.dimensions, time_column=time_column
    )
    moment = F.col(time_column)
    if cfg.target.kind == "event":
        featured = compute_features(joined, spec, time_column=time_column, row_key=cfg.row_key)
        return featured.where((moment >= F.lit(start)) & (moment < F.lit(end)))

    target = cfg.target.entity
    observed = observations(
        joined,
        entity_key=spec.entities[target.entity],
        time_column=time_column,
        every=duration_seconds(target.every),
        active_within=duration_seconds(target.active_within),
        window_start=start,
        as_of=end,
    )
    # An observation gets the dimension columns its keys reach (its entity's, and through
    # them others'), as of its time.
    observed = join_dimensions(
        observed,
        dimensions,
        cfg.observation_joins(),
        cfg.source.dimensions,
        time_column=time_column,
    )
    both = joined.withColumn(HISTORY_COLUMN, F.lit(True)).unionByName(
        observed.withColumn(HISTORY_COLUMN, F.lit(False)), allowMissingColumns=True
    )
    featured = compute_features(both, spec, time_column=time_column, row_key=cfg.source.events.key)
    computed = [f.name for f in spec.computed()]
    keep = [*observed.columns, *computed]
    return featured.where(~F.col(HISTORY_COLUMN)).select(*dict.fromkeys(keep))


def label_rows(
    cfg: PipelineConfig, rows: DataFrame, labels: DataFrame, *, as_of: datetime, mature_until
) -> DataFrame:
    """Add the label and its maturity (``label_mature``) to the scored rows."""
    target = cfg.target
    source = target.event or target.entity
    label_filter = spark_condition(source.parsed_filter.tree) if source.filter else None
    if target.kind == "event":
        return attach_labels(
            rows,
            labels,
            event_key=cfg.row_key,
            label_event_key=target.event.event_key,
            label_time_column=target.event.time_column,
            time_column=cfg.row_time,
            as_of=as_of,
            mature_until=mature_until,
            label_name=target.name,
            label_filter=label_filter,
        )
    return attach_entity_labels(
        rows,
        labels,
        entity_key=cfg.features.entities[target.entity.entity],
        label_entity_key=target.entity.entity_key,
        label_time_column=target.entity.time_column,
        time_column=cfg.row_time,
        horizon=duration_seconds(target.entity.horizon),
        as_of=as_of,
        mature_until=mature_until,
        label_name=target.name,
        label_filter=label_filter,
    )


__all__ = ["OBSERVATION_KEY", "feature_rows", "label_rows"]
