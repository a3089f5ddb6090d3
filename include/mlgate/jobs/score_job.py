"""spark-submit job: score every row of one day with a registered model version.

Reads the events of the day and of the days its features look back into (quarantined
rows and lookback days not accepted by their data gates left out, as for training) and
the pipeline's dimensions, computes the day's rows (events, or an entity's observations)
with their features exactly as training did (mlgate.ml.rows), scores them with the given
version's Spark model and atomically replaces scores/ds=<ds> with (row key, time,
probability, the model inputs: the monitor measures their drift; during a rollout the
canary's score of the same row too) plus _scores.json (model name, version, run,
threshold; the canary's). The
<pipeline>_score DAG then writes them to the target database (mlgate.serving.batch).
"""

from __future__ import annotations

import logging

from pyspark.sql import functions as F

from mlgate.jobs.common import (
    job_arguments,
    read_dimensions,
    read_events,
    run_job,
    setup,
    spark_session,
)
from mlgate.ml.features import feature_columns
from mlgate.ml.rows import feature_rows
from mlgate.ml.training import score
from mlgate.paths import scores_partition, swap_into_place, temporary_sibling, write_json
from mlgate.registry import configure_mlflow, operating_threshold
from mlgate.serving.batch import CANARY_PROBABILITY, PROBABILITY, SCORES_META
from mlgate.window import day_bounds

log = logging.getLogger("mlgate.score_job")


def day_features(spark, cfg, ds):
    """The day's rows (events, or observations) with their features, computed as the
    features job computes them."""
    # the day itself is scored whatever its data gates said; its lookback reads accepted days
    days = cfg.window_spec().scoring_days(ds)
    events = read_events(spark, cfg, days, required=[ds], any_status=[ds])
    start, end = day_bounds(ds)
    return feature_rows(cfg, events, read_dimensions(spark, cfg, ds), start=start, end=end)


def main(argv: list[str] | None = None) -> None:
    parser = job_arguments(__doc__.splitlines()[0])
    parser.add_argument("--model-version", required=True, help="registry version to score with")
    parser.add_argument(
        "--canary-version",
        default="",
        help="the version in rollout, if any: it scores the same rows (canary_probability)",
    )
    args = parser.parse_args(argv)
    cfg = setup(args)
    ds = args.ds

    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    version = client.get_model_version(cfg.model_name, args.model_version)
    threshold = operating_threshold(version.run_id)

    spark = spark_session(f"mlgate-score-{ds}")
    model = mlflow.spark.load_model(f"models:/{cfg.model_name}/{args.model_version}")
    rows = day_features(spark, cfg, ds)
    numeric, categorical = feature_columns(cfg.features)
    kept = (cfg.row_key, cfg.row_time, PROBABILITY)
    inputs = [c for c in dict.fromkeys([*numeric, *categorical]) if c not in kept]
    # the model inputs stay with the scores: the monitor measures their drift
    if args.canary_version:
        rows = rows.cache()  # both models score the same rows
    scores = score(model, rows).select(
        cfg.row_key, cfg.row_time, F.col("score").alias(PROBABILITY), *inputs
    )
    canary = None
    if args.canary_version:  # a rollout: the canary's score of every row, beside the champion's
        canary = client.get_model_version(cfg.model_name, args.canary_version)
        canary_model = mlflow.spark.load_model(f"models:/{cfg.model_name}/{args.canary_version}")
        canary_scores = score(canary_model, rows).select(
            cfg.row_key, F.col("score").alias(CANARY_PROBABILITY)
        )
        scores = scores.join(canary_scores, on=cfg.row_key, how="left")

    target = scores_partition(cfg.name, ds.isoformat())
    tmp = temporary_sibling(target)
    scores.write.mode("overwrite").parquet(str(tmp))
    written = spark.read.parquet(str(tmp))
    summary = written.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum((F.col(PROBABILITY) >= threshold).cast("int")).alias("flagged"),
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
    if canary is not None:
        meta.update(
            {
                "canary_version": str(args.canary_version),
                "canary_run_id": canary.run_id,
                "canary_threshold": operating_threshold(canary.run_id),
            }
        )
    write_json(tmp / SCORES_META, meta)
    swap_into_place(tmp, target)
    log.info("scores of %s written to %s: %s", ds, target, meta)
    spark.stop()


if __name__ == "__main__":
    run_job(main, "score")
