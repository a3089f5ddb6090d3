"""spark-submit job: fit, search and evaluate a candidate model, log it, compute its gates.

Reads features/ds=<ds>, splits it in time (training rows | gap | holdout, mature labels
only), searches the configured grid on the training rows, scores the untouched holdout,
and logs params, metrics, plots, the model and its lineage to one MLflow run, with the
model's portable ONNX twin (onnx/model.onnx, onnx/spec.json; mlgate.export.to_onnx). The run
id and model URI go to runs/ds=<ds>/candidate.json for the gates and promote tasks.

Then, in the same Spark session and with the model still in memory, it evaluates the
candidate against the champion and computes the model gates (mlgate.jobs.evaluation):
the score files, evaluation.json and model_gates.json of runs/ds=<ds>/. Seconds per phase
(fit, log, evaluate, gates) go to runs/ds=<ds>/job_phases.json.
"""

from __future__ import annotations

import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import yaml
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.export.to_onnx import log_portable_model
from mlgate.gates.metrics import holdout_metrics
from mlgate.jobs.common import JobInputError, job_arguments, run_job, setup, spark_session
from mlgate.jobs.evaluation import evaluate_candidate, holdout_columns, write_model_gates
from mlgate.ml import plots
from mlgate.ml.features import feature_columns
from mlgate.ml.split import split_by_time, unlabelled_holdout_days
from mlgate.ml.training import (
    best_params,
    build_search,
    feature_importances,
    feature_names,
    model_text,
    never_present,
    sample_negatives,
    score,
    training_effort,
)
from mlgate.paths import features_partition
from mlgate.registry import (
    THRESHOLD_PARAM,
    configure_mlflow,
    ensure_experiment,
    fail_interrupted_runs,
)
from mlgate.runs import (
    CANDIDATE_FILE,
    DATA_FILES,
    REFERENCE_ARTIFACT,
    RUN_ID_KEY,
    TRACKING_FILE,
    WINDOW_TAG_PREFIX,
    PhaseClock,
    lineage_tags,
    run_file,
    run_file_of,
    write_run_file,
)

log = logging.getLogger("mlgate.train_job")


def arguments():
    parser = job_arguments(__doc__.splitlines()[0])
    parser.add_argument("--family", help="override training.family for this run")
    parser.add_argument("--dag-id", default="manual")
    parser.add_argument("--triggered-by", default="manual")
    return parser


def newest_holdout_days(cfg, ds) -> list:
    """The holdout's newest days that must not all be without labels: the
    label_freshness_days of data_expectations (1 without that gate), within the holdout."""
    expectations = cfg.gates.data_expectations
    count = expectations.label_freshness_days if expectations is not None else 1
    spec = cfg.window_spec()
    return spec.recent_mature_days(ds, min(count, spec.holdout_days))


def main(argv: list[str] | None = None) -> None:
    args = arguments().parse_args(argv)
    cfg = setup(args)
    if args.family:
        cfg = cfg.with_family(args.family)
    ds = args.ds
    clock = PhaseClock(cfg.name, ds.isoformat(), "train")
    spark = spark_session(f"mlgate-train-{ds}")
    rows = spark.read.parquet(str(features_partition(cfg.name, ds.isoformat())))
    with clock.phase("fit"):
        fitted = fit(cfg, ds, rows)
    with clock.phase("log"):
        candidate = log_candidate(cfg, args, spark, fitted)
    write_run_file(cfg.name, ds.isoformat(), CANDIDATE_FILE, candidate)
    # The evaluation reuses the model in memory and the holdout it scored (cached).
    with clock.phase("evaluate"):
        evidence = evaluate_candidate(
            spark, cfg, ds, fitted.model, candidate, rows, fitted.holdout, fitted.scored
        )
    with clock.phase("gates"):
        write_model_gates(cfg, ds, evidence, args.dag_run_id)
    clock.write()
    spark.stop()


@dataclass
class Fitted:
    """The fitted candidate and what the fit measured, handed from phase to phase."""

    model: object
    bounds: dict
    holdout: DataFrame  # cached: the champion scores it too
    scored: DataFrame  # the holdout scored by the candidate (holdout_columns, score, features)
    labels: np.ndarray
    scores: np.ndarray
    metrics: dict
    importances: dict
    names: list[str]


def reference_sample(cfg, scored: DataFrame):
    """Up to monitoring.reference_rows holdout rows (model inputs, label, score), drawn with
    the training seed: what the monitor compares the served days with (a pandas frame)."""
    numeric, categorical = feature_columns(cfg.features)
    columns = list(dict.fromkeys([*numeric, *categorical, cfg.target.name, "score"]))
    drawn = scored.select(*columns).orderBy(F.rand(cfg.training.seed))
    return drawn.limit(cfg.monitoring.reference_rows).toPandas()


def fit(cfg, ds, rows: DataFrame) -> Fitted:
    """Split in time, sample, search the grid, and score the untouched holdout."""
    label = cfg.target.name
    time_column = cfg.row_time
    bounds = cfg.window_spec().split_bounds(ds)
    train, holdout = split_by_time(rows, time_column=time_column, bounds=bounds)
    unlabelled = unlabelled_holdout_days(
        holdout, time_column=time_column, label=label, days=newest_holdout_days(cfg, ds)
    )
    if unlabelled:
        raise JobInputError(
            f"the holdout's newest days {', '.join(unlabelled)} have no positive label: a "
            "model judged on it would look fine while the label feed has stalled. Check that "
            f"new labels reach the label table {cfg.target.label_table!r}, then rerun "
            "(gates.data_expectations.label_freshness_days: 0 switches this check off)"
        )
    fit_rows = sample_negatives(train, label, cfg.training.negative_sample_rate, cfg.training.seed)
    fit_rows = fit_rows.cache()
    counts = fit_rows.groupBy(label).count().collect()
    fit_counts = {int(r[label]): int(r["count"]) for r in counts}
    log.info("fitting on %s rows by label (negatives sampled)", fit_counts)
    if fit_counts.get(1, 0) == 0 or fit_counts.get(0, 0) == 0:
        raise JobInputError(
            f"the training rows hold only one class ({fit_counts}); cannot fit. "
            f"Are labels arriving? Check the label table {cfg.target.label_table!r} and "
            "target.maturity_days."
        )

    numeric, categorical = feature_columns(cfg.features)
    empty = never_present(fit_rows, numeric)
    if empty:
        raise JobInputError(
            f"the numeric model inputs {empty} have no value in any training row; give their "
            "aggregation a `default:` or remove them from the feature spec "
            "(docs/pipelines.md, Features)"
        )
    search = build_search(cfg, numeric, categorical)
    search_model = search.fit(fit_rows)
    model = search_model.bestModel
    validation = list(getattr(search_model, "validationMetrics", None) or search_model.avgMetrics)

    holdout = holdout.cache()
    scored = score(model, holdout).select(*holdout_columns(cfg), "score", "features").cache()
    pdf = scored.select(label, "score").toPandas()
    labels_arr = pdf[label].to_numpy().astype(int)
    scores_arr = pdf["score"].to_numpy()
    threshold = cfg.training.operating_threshold
    metrics = holdout_metrics(labels_arr, scores_arr, threshold)
    metrics.update({f"fit_rows_label_{k}": float(v) for k, v in fit_counts.items()})
    metrics.update(training_effort(model).to_metrics())
    metrics["search_best_validation_metric"] = float(max(validation))
    names = feature_names(scored)
    importances = feature_importances(model, names)
    log.info("holdout metrics: %s", json.dumps(metrics, indent=1))
    return Fitted(
        model, bounds, holdout, scored, labels_arr, scores_arr, metrics, importances, names
    )


def log_candidate(cfg, args, spark, fitted: Fitted) -> dict:
    """Log the candidate to the DAG run's MLflow run (params, metrics, plots, the model and
    its ONNX twin); what candidate.json records."""
    ds = args.ds
    model, bounds, metrics = fitted.model, fitted.bounds, fitted.metrics
    labels_arr, scores_arr, label = fitted.labels, fitted.scores, cfg.target.name
    threshold = cfg.training.operating_threshold
    numeric, categorical = feature_columns(cfg.features)
    mlflow = configure_mlflow()
    experiment_id = ensure_experiment(cfg.model_name)
    # The DAG run's MLflow run (created by its extract task); a standalone run makes its own.
    resume = run_file_of(cfg.name, ds.isoformat(), TRACKING_FILE, args.dag_run_id) or {}
    with mlflow.start_run(
        run_id=resume.get("run_id"),
        experiment_id=None if resume else experiment_id,
        run_name=None if resume else f"{cfg.model_name}-{ds}",
    ) as run:
        if not resume:  # a standalone run: the first of its own
            fail_interrupted_runs(experiment_id, f"run {run.info.run_id} (train job)")
        mlflow.set_tags(
            {
                **lineage_tags(
                    cfg.name, ds.isoformat(), args.dag_id, args.dag_run_id, args.triggered_by
                ),
                **{f"{WINDOW_TAG_PREFIX}{k}": v.isoformat() for k, v in bounds.items()},
            }
        )
        mlflow.log_params(
            {
                "family": cfg.training.family,
                "seed": cfg.training.seed,
                "negative_sample_rate": cfg.training.negative_sample_rate,
                THRESHOLD_PARAM: threshold,
                "search_method": cfg.training.search.method,
                "search_metric": cfg.training.search.metric,
                "grid": json.dumps(cfg.training.grid[cfg.training.family]),
                "numeric_features": ",".join(numeric),
                "categorical_features": ",".join(categorical),
                **{f"best_{k}": v for k, v in best_params(model, cfg).items()},
            }
        )
        mlflow.log_metrics(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            plots.roc_curve_png(labels_arr, scores_arr, out / "roc_curve.png")
            plots.precision_recall_png(labels_arr, scores_arr, threshold, out / "pr_curve.png")
            plots.score_distribution_png(
                labels_arr, scores_arr, threshold, out / "score_distribution.png", label
            )
            plots.feature_importance_png(fitted.importances, out / "feature_importances.png")
            mlflow.log_artifacts(str(out), artifact_path="plots")
        mlflow.log_text(model_text(model, fitted.names), "model_debug_string.txt")
        mlflow.log_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), "config.yaml")
        mlflow.log_dict(fitted.importances, "feature_importances.json")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / PurePosixPath(REFERENCE_ARTIFACT).name
            reference_sample(cfg, fitted.scored).to_parquet(path, index=False)
            mlflow.log_artifact(str(path), str(PurePosixPath(REFERENCE_ARTIFACT).parent))
        # the data manifest and data-check reports written by the earlier tasks
        for name in DATA_FILES:
            if run_file(cfg.name, ds.isoformat(), name).exists():
                path = run_file(cfg.name, ds.isoformat(), name)
                mlflow.log_artifact(str(path), artifact_path="data")
        model_info = mlflow.spark.log_model(
            model,
            "model",
            pip_requirements=[f"pyspark=={spark.version}"],
        )
        # The portable twin (ONNX + spec) in the same run: see mlgate.onnx_export.
        portable = log_portable_model(
            model,
            numeric=numeric,
            categorical=categorical,
            operating_threshold=threshold,
            spark=spark,
        )
        candidate = {
            "ds": ds.isoformat(),
            "run_id": run.info.run_id,
            "model_uri": model_info.model_uri,
            "metrics": metrics,
            "family": cfg.training.family,
            "operating_threshold": threshold,
            "holdout_rows": int(len(labels_arr)),
            "window": {k: v.isoformat() for k, v in bounds.items()},
            RUN_ID_KEY: args.dag_run_id,
            "onnx": portable,
        }
    log.info("candidate logged: run %s, model %s", run.info.run_id, model_info.model_uri)
    return candidate


if __name__ == "__main__":
    run_job(main, "train")
