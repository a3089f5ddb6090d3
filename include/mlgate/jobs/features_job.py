"""spark-submit job: the feature table of one run, from its lake partitions.

Reads the events of the run's window plus feature history, the dimension and label
snapshots of the run's day, computes per-entity windowed features (strictly past data
only) and labels as of the end of the data interval, and atomically replaces
features/ds=<ds>.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.config import MlgateConfig
from mlgate.extract import extract_days
from mlgate.features import compute_features, join_dimensions
from mlgate.jobs.common import as_of, job_arguments, setup, spark_session
from mlgate.labels import attach_labels
from mlgate.paths import (
    features_partition,
    swap_into_place,
    table_partition,
    temporary_sibling,
    write_json,
)
from mlgate.records import quarantined_keys

log = logging.getLogger("mlgate.features_job")


def read_inputs(spark, cfg: MlgateConfig, ds) -> tuple[DataFrame, dict[str, DataFrame], DataFrame]:
    events_table = cfg.source.events.table
    paths = [str(table_partition(events_table, d.isoformat())) for d in extract_days(cfg, ds)]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise SystemExit(f"lake partitions missing (run the extract task first): {missing[:3]}")
    time_column = cfg.source.events.time_column
    # Parquet timestamps without zone read as TIMESTAMP_NTZ; the session zone is UTC.
    events = spark.read.parquet(*paths).withColumn(
        time_column, F.col(time_column).cast("timestamp")
    )
    quarantined = quarantined_keys(cfg, extract_days(cfg, ds))
    if quarantined:
        # Rows that failed the record rules never reach features or training.
        bad_keys = spark.read.parquet(*quarantined).select(cfg.source.events.key).distinct()
        events = events.join(bad_keys, on=cfg.source.events.key, how="left_anti")
    snapshot = ds.isoformat()
    dimensions = {
        dim.table: spark.read.parquet(str(table_partition(dim.table, snapshot)))
        for dim in cfg.source.dimensions
    }
    labels_spec = cfg.source.labels
    labels = spark.read.parquet(str(table_partition(labels_spec.table, snapshot))).withColumn(
        labels_spec.time_column, F.col(labels_spec.time_column).cast("timestamp")
    )
    return events, dimensions, labels


def build_feature_table(cfg: MlgateConfig, events, dimensions, labels, ds) -> DataFrame:
    cutoff = as_of(ds)
    window_start = cutoff - timedelta(days=cfg.window.training_days)
    time_column = cfg.source.events.time_column
    joined = join_dimensions(events, dimensions, cfg.features)
    featured = compute_features(
        joined, cfg.features, time_column=time_column, event_key=cfg.source.events.key
    )
    # Rows before the window only served as history for the windowed features.
    in_window = featured.where(F.col(time_column) >= F.lit(window_start))
    return attach_labels(
        in_window,
        labels,
        event_key=cfg.source.events.key,
        label_event_key=cfg.source.labels.event_key,
        label_time_column=cfg.source.labels.time_column,
        time_column=time_column,
        as_of=cutoff,
        maturity_days=cfg.label.maturity_days,
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
            F.sum(F.col("label_mature").cast("int")).alias("mature_rows"),
            F.sum(F.when(F.col("label_mature"), F.col(label)).otherwise(0)).alias(
                "mature_positives"
            ),
        )
        .first()
        .asDict()
    )
    swap_into_place(tmp, target)
    write_json(target / "_feature_summary.json", {"ds": args.ds.isoformat(), **summary})
    log.info("feature table %s: %s", target, summary)
    spark.stop()


if __name__ == "__main__":
    main()
