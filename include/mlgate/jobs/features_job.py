"""spark-submit job: the feature table of one run, from its lake partitions.

Reads the events of the run's window plus feature history (only the lake days their data
gates accepted: mlgate.ingest.status; the run's manifest lists the others), its
dimensions and the label snapshot of the run's day, computes the rows it scores (events,
or an entity's observations) with the features of the pipeline's spec (strictly past
data only) and their labels as of the end of the data interval, and atomically replaces
features/ds=<ds>.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.config import PipelineConfig
from mlgate.jobs.common import (
    job_arguments,
    read_dimensions,
    read_events,
    read_labels,
    run_job,
    setup,
    spark_session,
)
from mlgate.ml.labels import MATURE_COLUMN
from mlgate.ml.rows import feature_rows, label_rows
from mlgate.paths import features_partition, swap_into_place, temporary_sibling, write_json
from mlgate.runs import FEATURE_SUMMARY_FILE
from mlgate.window import as_of

log = logging.getLogger("mlgate.features_job")


def read_inputs(
    spark, cfg: PipelineConfig, ds
) -> tuple[DataFrame, dict[str, DataFrame], DataFrame]:
    """The run's events (every day of its window and feature history), its dimensions and
    the label snapshot of its day."""
    days = cfg.window_spec().extract_days(ds)
    events = read_events(spark, cfg, days, required=days)
    return events, read_dimensions(spark, cfg, ds), read_labels(spark, cfg, ds)


def build_feature_table(cfg: PipelineConfig, events, dimensions, labels, ds) -> DataFrame:
    """The rows of the run's training window with their features and labels; rows before the
    window only served as history."""
    window = cfg.window_spec()
    rows = feature_rows(cfg, events, dimensions, start=window.window_start(ds), end=as_of(ds))
    return label_rows(cfg, rows, labels, as_of=as_of(ds), mature_until=window.mature_end(ds))


def main(argv: list[str] | None = None) -> None:
    args = job_arguments(__doc__.splitlines()[0]).parse_args(argv)
    cfg = setup(args)
    spark = spark_session(f"mlgate-features-{args.ds}")
    events, dimensions, labels = read_inputs(spark, cfg, args.ds)
    table = build_feature_table(cfg, events, dimensions, labels, args.ds)

    target = features_partition(cfg.name, args.ds.isoformat())
    tmp = temporary_sibling(target)
    table.write.mode("overwrite").parquet(str(tmp))
    written = spark.read.parquet(str(tmp))
    label = cfg.target.name
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
    run_job(main, "features")
