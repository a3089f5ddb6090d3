"""spark-submit job: score every transaction of one day with a registered model version.

Reads the events of the day and of the days its features look back into (quarantined
rows left out, as for training), joins the dimension snapshots of the day, computes the
features with mlgate.ml.features (the code training used), keeps the day's own rows, scores
them with the given version's Spark model and atomically replaces scores/ds=<ds> with
(key, event time, probability) plus _scores.json (model name, version, run, threshold).
The fraud_score DAG then writes them to the target database (mlgate.serving.batch).
"""

from __future__ import annotations

import logging

from pyspark.sql import functions as F

from mlgate.jobs.common import job_arguments, read_dimensions, read_events, setup, spark_session
from mlgate.ml.features import compute_features, join_dimensions
from mlgate.ml.training import score
from mlgate.paths import scores_partition, swap_into_place, temporary_sibling, write_json
from mlgate.registry import configure_mlflow, operating_threshold
from mlgate.serving.batch import SCORES_META
from mlgate.window import day_bounds

log = logging.getLogger("mlgate.score_job")


def day_features(spark, cfg, ds):
    """The features of the day's events, computed as the features job computes them."""
    spec = cfg.source.events
    events = read_events(spark, cfg, cfg.window_spec().scoring_days(ds), required=[ds])
    joined = join_dimensions(events, read_dimensions(spark, cfg, ds), cfg.features)
    featured = compute_features(
        joined, cfg.features, time_column=spec.time_column, event_key=spec.key
    )
    start, end = day_bounds(ds)
    return featured.where(
        (F.col(spec.time_column) >= F.lit(start)) & (F.col(spec.time_column) < F.lit(end))
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
    threshold = operating_threshold(version.run_id)

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
