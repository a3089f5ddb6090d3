"""spark-submit job: the feature table of one run, from its lake partitions.

Reads the events of the run's window plus feature history, the dimension and label
snapshots of the run's day, computes per-entity windowed features (strictly past data
only) and labels as of the end of the data interval, and atomically replaces
features/ds=<ds>.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.config import MlgateConfig
from mlgate.jobs.common import (
    job_arguments,
    read_dimensions,
    read_events,
    read_labels,
    setup,
    spark_session,
)
from mlgate.ml.features import compute_features, join_dimensions
from mlgate.ml.labels import MATURE_COLUMN, attach_labels
from mlgate.paths import features_partition, swap_into_place, temporary_sibling, write_json
from mlgate.window import as_of

log = logging.getLogger("mlgate.features_job")
FEATURE_SUMMARY_FILE = "_feature_summary.json"  # Spark and pyarrow skip files starting "_"


def read_inputs(spark, cfg: MlgateConfig, ds) -> tuple[DataFrame, dict[str, DataFrame], DataFrame]:
    """The run's events (every day of its window and feature history), the dimension and
    label snapshots of its day."""
    days = cfg.window_spec().extract_days(ds)
    events = read_events(spark, cfg, days, required=days)
    return events, read_dimensions(spark, cfg, ds), read_labels(spark, cfg, ds)


def build_feature_table(cfg: MlgateConfig, events, dimensions, labels, ds) -> DataFrame:
    window = cfg.window_spec()
    time_column = cfg.source.events.time_column
    joined = join_dimensions(events, dimensions, cfg.features)
    featured = compute_features(
        joined, cfg.features, time_column=time_column, event_key=cfg.source.events.key
    )
    # Rows before the window only served as history for the windowed features.
    in_window = featured.where(F.col(time_column) >= F.lit(window.window_start(ds)))
    return attach_labels(
        in_window,
        labels,
        event_key=cfg.source.events.key,
        label_event_key=cfg.source.labels.event_key,
        label_time_column=cfg.source.labels.time_column,
        time_column=time_column,
        as_of=as_of(ds),
        mature_until=window.mature_end(ds),
        label_name=cfg.label.name,
    )


def main(argv: list[str] | None = None) -> None:
    args = job_arguments(__doc__.splitlines()[0]).parse_args(argv)
    cfg = setup(args)
    spark = spark_session(f"mlgate-features-{args.ds}")
    events, dimensions, labels = read_inputs(spark, cfg, args.ds)
    table = build_feature_table(cfg, events, dimensions, labels, args.ds)

    target = features_partition(args.ds.isoformat())
    tmp = temporary_sibling(target)
    table.write.mode("overwrite").parquet(str(tmp))
    written = spark.read.parquet(str(tmp))
    label = cfg.label.name
    summary = (
        written.agg(
            F.count(F.lit(1)).alias("rows"),
            F.sum(F.col(MATURE_COLUMN).cast("int")).alias("mature_rows"),
            F.sum(F.when(F.col(MATURE_COLUMN), F.col(label)).otherwise(0)).alias(
                "mature_positives"
            ),
        )
        .first()
        .asDict()
    )
    swap_into_place(tmp, target)
    write_json(target / FEATURE_SUMMARY_FILE, {"ds": args.ds.isoformat(), **summary})
    log.info("feature table %s: %s", target, summary)
    spark.stop()


if __name__ == "__main__":
    main()
