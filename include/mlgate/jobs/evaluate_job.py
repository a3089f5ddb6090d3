"""spark-submit job: score what the gates judge, with the candidate and the champion.

Writes to runs/ds=<ds>/:
- holdout_scores.parquet: the time-gapped holdout scored by both models (same rows);
- assertion_scores.parquet: the assertion set scored by the candidate;
- shadow_scores.parquet: the latest day's traffic scored by both models;
- parity_scores.parquet: the holdout scored by the candidate in Spark and by its ONNX twin;
- evaluation.json: which champion version was compared, and row counts.
The verdicts themselves are computed by the `gates` task from these files.
"""

from __future__ import annotations

import logging

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.config import PipelineConfig
from mlgate.jobs.common import job_arguments, run_job, setup, spark_session
from mlgate.ml.assertions import load_assertion_set
from mlgate.ml.features import feature_columns
from mlgate.ml.split import split_by_time
from mlgate.ml.training import score
from mlgate.paths import features_partition
from mlgate.registry import champion_version, configure_mlflow
from mlgate.runs import (
    ASSERTION_SCORES,
    CANDIDATE_FILE,
    EVALUATION_FILE,
    HOLDOUT_SCORES,
    PARITY_SCORES,
    SHADOW_SCORES,
    read_run_file,
    run_file,
    write_run_file,
)
from mlgate.window import day_bounds

log = logging.getLogger("mlgate.evaluate_job")


def scores_of(model, rows: DataFrame, keep: list[str], name: str) -> DataFrame:
    return score(model, rows).select(*keep, F.col("score").alias(name))


def with_champion(candidate_scores: DataFrame, champion, rows: DataFrame, keys: list[str]):
    if champion is None:
        return candidate_scores.withColumn("champion_score", F.lit(None).cast("double"))
    champion_scores = scores_of(champion, rows, keys, "champion_score")
    return candidate_scores.join(champion_scores, on=keys, how="left")


def shadow_columns(cfg: PipelineConfig, columns: list[str]) -> list[str]:
    """What the shadow scores keep of each row: its key and time, the entities' keys it has
    and the categorical inputs, each once (an entity target's rows carry a dimension column
    that is both an entity's key and a categorical input, e.g. a visitor's region)."""
    entities = [c for c in cfg.features.entities.values() if c in columns]
    categorical = feature_columns(cfg.features)[1]
    return list(dict.fromkeys([cfg.row_key, cfg.row_time, *entities, *categorical]))


def portable_parity(
    candidate, candidate_info: dict, rows: DataFrame, key: str, numeric, categorical
):
    """(key, spark_score, onnx_score) of every row, and the reason when there is no ONNX twin.

    Spark and ONNX Runtime score the very same rows (one Spark frame carries the model
    inputs and Spark's score), so the comparison does not depend on joins.
    """
    from mlgate.export.portable import PortableModelError, load_from_run

    scored = (
        score(candidate, rows)
        .select(key, F.col("score").alias("spark_score"), *numeric, *categorical)
        .toPandas()
    )
    onnx = candidate_info.get("onnx") or {"error": "the train job logged no ONNX twin"}
    error = onnx.get("error")
    portable = np.full(len(scored), np.nan)
    if not error:
        try:
            portable = load_from_run(candidate_info["run_id"]).score_frame(scored)
        except (PortableModelError, KeyError) as failure:
            error = str(failure)
    if error:
        log.error("no ONNX scores: %s", error)
    frame = scored[[key, "spark_score"]].assign(onnx_score=portable)
    return frame, error


def main(argv: list[str] | None = None) -> None:
    args = job_arguments(__doc__.splitlines()[0]).parse_args(argv)
    cfg = setup(args)
    ds = args.ds
    key, time_column, label = cfg.row_key, cfg.row_time, cfg.target.name
    candidate_info = read_run_file(cfg.name, ds.isoformat(), CANDIDATE_FILE)

    spark = spark_session(f"mlgate-evaluate-{ds}")
    mlflow = configure_mlflow()
    candidate = mlflow.spark.load_model(candidate_info["model_uri"])
    champion_ref = champion_version(cfg.model_name)
    champion = None
    if champion_ref is not None:
        champion = mlflow.spark.load_model(f"models:/{cfg.model_name}/{champion_ref['version']}")
        log.info("comparing with champion version %s", champion_ref["version"])
    else:
        log.info("no champion yet: comparative gates will be skipped")

    rows = spark.read.parquet(str(features_partition(cfg.name, ds.isoformat())))
    _, holdout = split_by_time(
        rows, time_column=time_column, bounds=cfg.window_spec().split_bounds(ds)
    )
    holdout = holdout.cache()
    keep = [key, time_column, label]
    holdout_scores = with_champion(
        scores_of(candidate, holdout, keep, "candidate_score"), champion, holdout, [key]
    )
    day = ds.isoformat()
    holdout_pdf = holdout_scores.toPandas()
    holdout_pdf.to_parquet(run_file(cfg.name, day, HOLDOUT_SCORES), index=False)
    # export_parity: the candidate's ONNX twin and Spark score the same holdout rows.
    numeric, categorical = feature_columns(cfg.features)
    parity_rows, onnx_error = portable_parity(
        candidate, candidate_info, holdout, key, numeric, categorical
    )
    parity_rows.to_parquet(run_file(cfg.name, day, PARITY_SCORES), index=False)

    # The latest day's traffic: labels have not arrived, so only behaviour can be compared.
    latest = rows.where(F.col(time_column) >= F.lit(day_bounds(ds)[0])).cache()
    shadow_keep = shadow_columns(cfg, rows.columns)
    shadow_scores = with_champion(
        scores_of(candidate, latest, shadow_keep, "candidate_score"), champion, latest, [key]
    )
    shadow_pdf = shadow_scores.toPandas()
    shadow_pdf.to_parquet(run_file(cfg.name, day, SHADOW_SCORES), index=False)

    assertion_rows = 0
    if cfg.gates.assertion_set is not None:
        numeric, categorical = feature_columns(cfg.features)
        examples = load_assertion_set(cfg.gates.assertion_set.path, numeric, categorical)
        scored = scores_of(
            candidate,
            spark.createDataFrame(examples),
            ["id", "expected", "description"],
            "score",
        ).toPandas()
        scored.to_parquet(run_file(cfg.name, day, ASSERTION_SCORES), index=False)
        assertion_rows = len(scored)

    evaluation = {
        "ds": ds.isoformat(),
        "candidate_run_id": candidate_info["run_id"],
        "champion": champion_ref,
        "holdout_rows": len(holdout_pdf),
        "shadow_rows": len(shadow_pdf),
        "assertion_examples": assertion_rows,
        "parity_rows": len(parity_rows),
        "onnx_error": onnx_error,
    }
    write_run_file(cfg.name, day, EVALUATION_FILE, evaluation)
    log.info("evaluation written: %s", evaluation)
    spark.stop()


if __name__ == "__main__":
    run_job(main, "evaluate")
