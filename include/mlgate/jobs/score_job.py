"""spark-submit job: score every transaction of one day with a registered model version.

Reads the events of the day and of the days its features look back into (quarantined
rows left out, as for training), joins the dimension snapshots of the day, computes the
features with mlgate.features (the code training used), keeps the day's own rows, scores
them with the given version's Spark model and atomically replaces scores/ds=<ds> with
(key, event time, probability) plus _scores.json (model name, version, run, threshold).
The fraud_score DAG then writes them to the target database (mlgate.scoring).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from pyspark.sql import functions as F

from mlgate.features import compute_features, join_dimensions
from mlgate.jobs.common import job_arguments, setup, spark_session
from mlgate.paths import swap_into_place, table_partition, temporary_sibling, write_json
from mlgate.records import quarantined_keys
from mlgate.registry import configure_mlflow
from mlgate.scoring import SCORES_META, scores_partition, scoring_days
from mlgate.training import score

log = logging.getLogger("mlgate.score_job")


def day_features(spark, cfg, ds):
    """The features of the day's events, computed as the features job computes them."""
    spec = cfg.source.events
    days = scoring_days(cfg, ds)
    paths = [str(table_partition(spec.table, d.isoformat())) for d in days]
    present = [p for p in paths if Path(p).exists()]
    if str(table_partition(spec.table, ds.isoformat())) not in present:
        raise SystemExit(f"the lake has no partition for {ds}: run the extract first")
    if len(present) < len(paths):
        log.warning("history days missing from the lake: %s", sorted(set(paths) - set(present)))
    events = spark.read.parquet(*present).withColumn(
        spec.time_column, F.col(spec.time_column).cast("timestamp")
    )
    quarantined = quarantined_keys(cfg, days)
    if quarantined:
        bad_keys = spark.read.parquet(*quarantined).select(spec.key).distinct()
        events = events.join(bad_keys, on=spec.key, how="left_anti")
    dimensions = {
        dim.table: spark.read.parquet(str(table_partition(dim.table, ds.isoformat())))
        for dim in cfg.source.dimensions
    }
    joined = join_dimensions(events, dimensions, cfg.features)
    featured = compute_features(
        joined, cfg.features, time_column=spec.time_column, event_key=spec.key
    )
    start = datetime.combine(ds, datetime.min.time())
    return featured.where(
        (F.col(spec.time_column) >= F.lit(start))
        & (F.col(spec.time_column) < F.lit(start + timedelta(days=1)))
    )


def main(argv: list[str] | None = None) -> None:
    parser = job_arguments(__doc__.splitlines()[0])
    parser.add_argument("--model-version", required=True, help="registry version to score with")
    args = parser.parse_args(argv)
    cfg = setup(args)
    ds = args.ds
    spec = cfg.source.events

    mlflow = configure_mlflow()
    version = mlflow.MlflowClient().get_model_version(cfg.model_name, args.model_version)
    params = mlflow.MlflowClient().get_run(version.run_id).data.params
    threshold = float(params.get("operating_threshold", cfg.training.operating_threshold))

    spark = spark_session(f"mlgate-score-{ds}")
    model = mlflow.spark.load_model(f"models:/{cfg.model_name}/{args.model_version}")
    rows = day_features(spark, cfg, ds)
    scores = score(model, rows).select(
        spec.key, spec.time_column, F.col("score").alias("probability")
    )

    target = scores_partition(ds.isoformat())
    tmp = temporary_sibling(target)
    scores.write.mode("overwrite").parquet(str(tmp))
    written = spark.read.parquet(str(tmp))
    summary = written.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum((F.col("probability") >= threshold).cast("int")).alias("flagged"),
    ).first()
    meta = {
        "ds": ds.isoformat(),
        "model_name": cfg.model_name,
        "model_version": str(args.model_version),
        "run_id": version.run_id,
        "threshold": threshold,
        "rows": int(summary["rows"]),
        "flagged": int(summary["flagged"] or 0),
    }
    write_json(tmp / SCORES_META, meta)
    swap_into_place(tmp, target)
    log.info("scores of %s written to %s: %s", ds, target, meta)
    spark.stop()


if __name__ == "__main__":
    main()
