"""The Spark ML pipeline, its hyper-parameter search, and the holdout metrics.

Pure functions of DataFrames and config; the spark-submit entry point
(`mlgate.jobs.train_job`) does the reading, writing and logging around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import Imputer, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder, TrainValidationSplit
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate.config import PipelineConfig

FILLED_SUFFIX = "__filled"  # a numeric input with its missing values replaced (Imputer)
# Spark 4 refuses to fit on NaN, and a numeric input can be missing for good reasons: an
# empty window's mean, a dimension without a version yet, a passthrough null. The fitted
# median of the training rows takes its place, in training and in every scoring engine.
IMPUTE_STRATEGY = "median"

_CLASSIFIERS = {
    "random_forest": RandomForestClassifier,
    "gbt": GBTClassifier,
    "logistic_regression": LogisticRegression,
}


def build_pipeline(
    cfg: PipelineConfig, numeric: list[str], categorical: list[str]
) -> tuple[Pipeline, object]:
    """An imputer for the numeric columns, indexers and encoders for the categorical ones,
    an assembler, and the classifier."""
    label = cfg.target.name
    filled = [f"{c}{FILLED_SUFFIX}" for c in numeric]
    indexed = [f"{c}__index" for c in categorical]
    encoded = [f"{c}__onehot" for c in categorical]
    stages: list = []
    if numeric:
        stages.append(Imputer(inputCols=numeric, outputCols=filled, strategy=IMPUTE_STRATEGY))
    if categorical:
        # "keep" gives unseen categories their own bucket instead of failing at scoring time.
        stages.append(
            StringIndexer(inputCols=categorical, outputCols=indexed, handleInvalid="keep")
        )
        stages.append(OneHotEncoder(inputCols=indexed, outputCols=encoded, handleInvalid="keep"))
    stages.append(
        VectorAssembler(inputCols=filled + encoded, outputCol="features", handleInvalid="keep")
    )
    family = cfg.training.family
    kwargs = {"labelCol": label, "featuresCol": "features"}
    if family != "logistic_regression":
        kwargs["seed"] = cfg.training.seed
    classifier = _CLASSIFIERS[family](**kwargs)
    stages.append(classifier)
    return Pipeline(stages=stages), classifier


def param_grid(cfg: PipelineConfig, classifier) -> list:
    """The search grid of the configured family; an unknown parameter name is a clear error."""
    builder = ParamGridBuilder()
    for name, values in cfg.training.grid[cfg.training.family].items():
        if not classifier.hasParam(name):
            allowed = sorted(p.name for p in classifier.params)
            raise ValueError(
                f"training.grid.{cfg.training.family}.{name} is not a parameter of "
                f"{type(classifier).__name__}; allowed: {allowed}"
            )
        builder.addGrid(classifier.getParam(name), values)
    return builder.build()


def build_search(cfg: PipelineConfig, numeric: list[str], categorical: list[str]):
    pipeline, classifier = build_pipeline(cfg, numeric, categorical)
    search = cfg.training.search
    evaluator = BinaryClassificationEvaluator(
        labelCol=cfg.target.name, rawPredictionCol="rawPrediction", metricName=search.metric
    )
    common = {
        "estimator": pipeline,
        "estimatorParamMaps": param_grid(cfg, classifier),
        "evaluator": evaluator,
        "seed": cfg.training.seed,
        "parallelism": search.parallelism,
    }
    if search.method == "cross_validator":
        return CrossValidator(numFolds=search.folds, **common)
    return TrainValidationSplit(trainRatio=search.train_ratio, **common)


def never_present(rows: DataFrame, numeric: list[str]) -> list[str]:
    """The numeric inputs with no value in any of `rows` (the imputer has nothing to learn
    a replacement from)."""
    if not numeric:
        return []
    counts = rows.select([F.count(F.nanvl(F.col(c), F.lit(None))).alias(c) for c in numeric])
    first = counts.first().asDict()
    return [c for c in numeric if first[c] == 0]


def sample_negatives(train: DataFrame, label: str, rate: float, seed: int) -> DataFrame:
    """Keep every positive and a seeded share of negatives (positives are rare: faster fits)."""
    if rate >= 1.0:
        return train
    return train.sampleBy(label, fractions={0: rate, 1: 1.0}, seed=seed)


def score(model: PipelineModel, rows: DataFrame) -> DataFrame:
    """Rows with a `score` column: the probability of the positive class."""
    return model.transform(rows).withColumn(
        "score", vector_to_array(F.col("probability")).getItem(1)
    )


@dataclass(frozen=True)
class TrainingEffort:
    """How hard the fit had to work (iterations, trees, nodes), for the iterations gate."""

    trees: int | None = None
    total_nodes: int | None = None
    max_depth: int | None = None
    iterations: int | None = None

    def to_metrics(self) -> dict[str, float]:
        return {f"effort_{k}": float(v) for k, v in self.__dict__.items() if v is not None}


def training_effort(model: PipelineModel) -> TrainingEffort:
    fitted = model.stages[-1]
    if hasattr(fitted, "trees"):
        trees = fitted.trees
        return TrainingEffort(
            trees=len(trees),
            total_nodes=int(fitted.totalNumNodes),
            max_depth=max(t.depth for t in trees),
        )
    summary = fitted.summary if fitted.hasSummary else None
    return TrainingEffort(iterations=summary.totalIterations if summary else None)


def feature_names(scored: DataFrame) -> list[str]:
    """Names of the assembled vector's slots (one-hot slots as column=value), as the
    feature spec names them."""
    attrs = scored.schema["features"].metadata["ml_attr"]["attrs"]
    slots = sorted((a["idx"], a["name"]) for group in attrs.values() for a in group)
    return [name.removesuffix(FILLED_SUFFIX) for _, name in slots]


def feature_importances(model: PipelineModel, names: list[str]) -> dict[str, float]:
    """Tree importances, or absolute coefficients for logistic regression, by feature name."""
    fitted = model.stages[-1]
    if hasattr(fitted, "featureImportances"):
        values = fitted.featureImportances.toArray()
    else:
        values = np.abs(fitted.coefficients.toArray())
    return dict(sorted(zip(names, map(float, values)), key=lambda kv: -kv[1]))


def model_text(model: PipelineModel, names: list[str]) -> str:
    """The fitted model as text for its MLflow run: the trees of a forest or of boosting,
    or a logistic regression's intercept and coefficients by feature name (it has no
    tree dump)."""
    fitted = model.stages[-1]
    if hasattr(fitted, "toDebugString"):
        return fitted.toDebugString
    coefficients = fitted.coefficients.toArray()
    lines = [f"{type(fitted).__name__}: intercept {fitted.intercept:.12g}"]
    lines += [f"{name}\t{value:.12g}" for name, value in zip(names, coefficients, strict=True)]
    return "\n".join(lines) + "\n"


def best_params(model: PipelineModel, cfg: PipelineConfig) -> dict[str, object]:
    fitted = model.stages[-1]
    return {
        name: fitted.getOrDefault(fitted.getParam(name))
        for name in cfg.training.grid[cfg.training.family]
    }
