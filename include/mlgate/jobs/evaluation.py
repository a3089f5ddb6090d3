"""The train job's evaluation: the candidate, still in memory, and the champion score what
the model gates judge, and the gates are computed here, next to the scores.

Writes to runs/ds=<ds>/:
- holdout_scores.parquet: the time-gapped holdout scored by both models (same rows);
- assertion_scores.parquet: the assertion set scored by the candidate;
- shadow_scores.parquet: the latest day's traffic scored by both models;
- parity_scores.parquet: the holdout scored by the candidate in Spark and by its ONNX twin;
- evaluation.json: which champion version was compared, and row counts;
- model_gates.json: every configured model gate's result (``mlgate.gates.model_gate_results``)
  and shadow_top_disagreements.csv; the gates task applies the run's overrides and gate
  mode to them, so no Airflow task reads the score files.
"""

from __future__ import annotations

import logging
from datetime import date

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate import registry
from mlgate.config import PipelineConfig
from mlgate.gates import GateResult, ModelEvidence, OnlineEvidence, model_gate_results
from mlgate.ml.assertions import load_assertion_set
from mlgate.ml.features import feature_columns
from mlgate.ml.training import score
from mlgate.runs import (
    ASSERTION_SCORES,
    DISAGREEMENTS_FILE,
    EVALUATION_FILE,
    HOLDOUT_SCORES,
    MODEL_GATES_FILE,
    ONLINE_PARITY_ROWS,
    PARITY_SCORES,
    RUN_ID_KEY,
    SHADOW_SCORES,
    run_file,
    write_run_file,
)
from mlgate.window import day_bounds

log = logging.getLogger("mlgate.evaluation")

CANDIDATE_SCORE = "candidate_score"


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


def holdout_columns(cfg: PipelineConfig) -> list[str]:
    """What the train job keeps of the scored holdout for its metrics and the evaluation:
    key, time, label, the model inputs (the ONNX twin scores them too), each once."""
    numeric, categorical = feature_columns(cfg.features)
    return list(dict.fromkeys([cfg.row_key, cfg.row_time, cfg.target.name, *numeric, *categorical]))


def portable_parity(candidate_info: dict, scored: DataFrame, key: str, numeric, categorical):
    """(key, spark_score, onnx_score) of every row, and the reason when there is no ONNX twin.

    ``scored`` is the holdout the candidate scored in Spark (a ``score`` column next to the
    model inputs): ONNX Runtime scores those very rows, so the comparison needs no join.
    """
    from mlgate.export.portable import PortableModelError, load_from_run

    rows = scored.select(key, F.col("score").alias("spark_score"), *numeric, *categorical)
    scored_rows = rows.toPandas()
    onnx = candidate_info.get("onnx") or {"error": "the train job logged no ONNX twin"}
    error = onnx.get("error")
    portable = np.full(len(scored_rows), np.nan)
    if not error:
        try:
            portable = load_from_run(candidate_info["run_id"]).score_frame(scored_rows)
        except (PortableModelError, KeyError) as failure:
            error = str(failure)
    if error:
        log.error("no ONNX scores: %s", error)
    frame = scored_rows[[key, "spark_score"]].assign(onnx_score=portable)
    return frame, error


def online_evidence(
    cfg: PipelineConfig, ds: date, candidate_info: dict, holdout, scored_holdout
) -> OnlineEvidence:
    """The newest labelled day's rows as Spark scored them and as the online path gives
    them (``mlgate.online.parity.replay_day``, scored by the candidate's ONNX twin), for
    the online_parity gate; both are written to online_parity.parquet."""
    from mlgate.export.portable import PortableModelError, load_from_run
    from mlgate.online.bootstrap import BootstrapError
    from mlgate.online.parity import exact_features, replay_day

    day = cfg.window_spec().recent_mature_days(ds, 1)[-1]
    start, end = day_bounds(day)
    numeric, categorical = feature_columns(cfg.features)
    inputs = list(dict.fromkeys([*numeric, *categorical]))
    exact = exact_features(cfg.features)
    key, time_column = cfg.row_key, cfg.row_time
    in_day = (F.col(time_column) >= F.lit(start)) & (F.col(time_column) < F.lit(end))
    spark_rows = scored_holdout.where(in_day).select(key, "score", *inputs).toPandas()
    observations = None
    if cfg.target.kind == "entity":
        entity_key = cfg.features.entities[cfg.target.entity.entity]
        observations = holdout.where(in_day).select(key, time_column, entity_key).toPandas()
    onnx = candidate_info.get("onnx") or {"error": "the train job logged no ONNX twin"}
    if onnx.get("error"):
        reason = f"no ONNX twin to score the online features: {onnx['error']}"
        return OnlineEvidence(spark_rows, None, inputs, exact, unavailable=reason)
    try:
        online_rows = replay_day(cfg, day, ds, observations=observations)
        online_rows["score"] = load_from_run(candidate_info["run_id"]).score_frame(online_rows)
    except (BootstrapError, PortableModelError) as failure:
        return OnlineEvidence(spark_rows, None, inputs, exact, unavailable=str(failure))
    both = pd.concat(
        [spark_rows.assign(path="spark"), online_rows.assign(path="online")], ignore_index=True
    )
    kinds = {**{c: "float64" for c in numeric}, **{c: "string" for c in categorical}}
    both.astype(kinds).to_parquet(
        run_file(cfg.name, ds.isoformat(), ONLINE_PARITY_ROWS), index=False
    )
    log.info(
        "online parity of %s: %d Spark rows, %d online", day, len(spark_rows), len(online_rows)
    )
    return OnlineEvidence(spark_rows, online_rows, inputs, exact)


def evaluate_candidate(
    spark,
    cfg: PipelineConfig,
    ds: date,
    candidate,
    candidate_info: dict,
    rows: DataFrame,
    holdout: DataFrame,
    scored_holdout: DataFrame,
) -> ModelEvidence:
    """Score the evidence with the candidate (in memory) and the champion, write the score
    files and evaluation.json, and return the evidence the model gates judge.

    ``scored_holdout`` is the holdout the train job scored for its metrics (cached, with
    the columns of ``holdout_columns`` and ``score``): the candidate is not run on it again.
    """
    key, time_column, label = cfg.row_key, cfg.row_time, cfg.target.name
    day = ds.isoformat()
    champion_ref = registry.champion_version(cfg.model_name)
    champion = None
    if champion_ref is not None:
        mlflow = registry.configure_mlflow()
        champion = mlflow.spark.load_model(f"models:/{cfg.model_name}/{champion_ref['version']}")
        log.info("comparing with champion version %s", champion_ref["version"])
    else:
        log.info("no champion yet: comparative gates will be skipped")

    candidate_holdout = scored_holdout.select(
        key, time_column, label, F.col("score").alias(CANDIDATE_SCORE)
    )
    holdout_rows = with_champion(candidate_holdout, champion, holdout, [key]).toPandas()
    holdout_rows.to_parquet(run_file(cfg.name, day, HOLDOUT_SCORES), index=False)
    # export_parity: the candidate's ONNX twin and Spark score the same holdout rows.
    numeric, categorical = feature_columns(cfg.features)
    parity_rows, onnx_error = portable_parity(
        candidate_info, scored_holdout, key, numeric, categorical
    )
    parity_rows.to_parquet(run_file(cfg.name, day, PARITY_SCORES), index=False)

    # The latest day's traffic: labels have not arrived, so only behaviour can be compared.
    latest = rows.where(F.col(time_column) >= F.lit(day_bounds(ds)[0])).cache()
    shadow_keep = shadow_columns(cfg, rows.columns)
    shadow_rows = with_champion(
        scores_of(candidate, latest, shadow_keep, CANDIDATE_SCORE), champion, latest, [key]
    ).toPandas()
    shadow_rows.to_parquet(run_file(cfg.name, day, SHADOW_SCORES), index=False)
    latest.unpersist()

    assertion_rows = None
    if cfg.gates.assertion_set is not None:
        examples = load_assertion_set(cfg.gates.assertion_set.path, numeric, categorical)
        assertion_rows = scores_of(
            candidate,
            spark.createDataFrame(examples),
            ["id", "expected", "description"],
            "score",
        ).toPandas()
        assertion_rows.to_parquet(run_file(cfg.name, day, ASSERTION_SCORES), index=False)

    online = None
    if cfg.gates.online_parity is not None:
        online = online_evidence(cfg, ds, candidate_info, holdout, scored_holdout)

    evaluation = {
        "ds": day,
        "candidate_run_id": candidate_info["run_id"],
        "champion": champion_ref,
        "holdout_rows": len(holdout_rows),
        "shadow_rows": len(shadow_rows),
        "assertion_examples": 0 if assertion_rows is None else len(assertion_rows),
        "parity_rows": len(parity_rows),
        "onnx_error": onnx_error,
    }
    write_run_file(cfg.name, day, EVALUATION_FILE, evaluation)
    log.info("evaluation written: %s", evaluation)
    iterations = cfg.gates.training_iterations
    return ModelEvidence(
        threshold=candidate_info["operating_threshold"],
        metrics=candidate_info["metrics"],
        accepted_efforts=(
            registry.accepted_efforts(cfg.name, iterations.history) if iterations else []
        ),
        champion_compared=champion_ref is not None,
        holdout=holdout_rows,
        shadow=shadow_rows,
        parity=parity_rows,
        onnx_error=onnx_error,
        assertions=assertion_rows,
        online=online,
    )


def write_model_gates(
    cfg: PipelineConfig, ds: date, evidence: ModelEvidence, airflow_run_id: str
) -> list[GateResult]:
    """Compute every configured model gate from the evidence; write their results (and the
    shadow gate's top disagreements) for the gates task."""
    day = ds.isoformat()
    results = model_gate_results(cfg, evidence)
    if evidence.disagreements is not None:
        evidence.disagreements.to_csv(run_file(cfg.name, day, DISAGREEMENTS_FILE), index=False)
    write_run_file(
        cfg.name,
        day,
        MODEL_GATES_FILE,
        {RUN_ID_KEY: airflow_run_id, "ds": day, "results": [r.to_dict() for r in results]},
    )
    for result in results:
        log.info("model gate %s: %s (%s)", result.name, result.verdict, result.reason)
    return results
