"""The ONNX twin (mlgate.export.to_onnx, mlgate.export.portable) against Spark itself.

Each family is fitted with mlgate.ml.training.build_pipeline (the production pipeline) on a
small generated table whose label depends on a numeric threshold, a category and their
interaction; the twin must give Spark's probability to 1e-9 on fresh rows, including a
category never seen in training, a null category and a null number (also in training).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlgate.config import load_pipeline
from mlgate.export.portable import (
    MODEL_FILE,
    NULL_CATEGORY,
    SPEC_FILE,
    ModelSpec,
    PortableModelError,
    PortableScorer,
)

pytestmark = pytest.mark.spark

NUMERIC = ["amount", "txn_count_24h"]
CATEGORICAL = ["channel", "card_type"]


def table(n: int, seed: int, unseen: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    channels = ["ecom", "pos", "atm"] + (["teleport"] if unseen else [])
    frame = pd.DataFrame(
        {
            # two decimals over a wide range: float32 would merge neighbouring values
            "amount": np.round(rng.uniform(0, 200_000, n), 2),
            "txn_count_24h": rng.integers(0, 30, n).astype(float),
            "channel": rng.choice(channels, n).astype(object),
            "card_type": rng.choice(["credit", "debit"], n).astype(object),
        }
    )
    positive = (frame["amount"] > 150_000) ^ (frame["channel"] == "atm")
    positive ^= rng.random(n) < 0.05  # some noise so leaves are not pure
    frame["is_fraud"] = positive.astype(int)
    return frame


def spark_probabilities(spark, model, rows: pd.DataFrame) -> np.ndarray:
    from mlgate.ml.training import score

    scored = score(model, spark.createDataFrame(rows)).select("score").toPandas()
    return scored["score"].to_numpy()


_FITTED: dict[str, object] = {}


def fit(spark, family: str):
    """The production pipeline of `family`, fitted once per test session."""
    if family in _FITTED:
        return _FITTED[family]
    from mlgate.ml.training import build_pipeline

    cfg = load_pipeline("fraud").with_family(family)
    pipeline, classifier = build_pipeline(cfg, NUMERIC, CATEGORICAL)
    if family == "random_forest":
        classifier.setNumTrees(12).setMaxDepth(6)
    elif family == "gbt":
        classifier.setMaxIter(8).setMaxDepth(3)
    _FITTED[family] = pipeline.fit(spark.createDataFrame(table(1500, seed=1)))
    return _FITTED[family]


@pytest.fixture(scope="module")
def fresh_rows() -> pd.DataFrame:
    rows = table(600, seed=2, unseen=True).drop(columns="is_fraud")
    rows.loc[0, "channel"] = None  # null category: Spark's unknown bucket
    rows.loc[1, "card_type"] = "prepaid"  # unseen category
    return rows


@pytest.mark.parametrize("family", ["random_forest", "gbt", "logistic_regression"])
def test_twin_reproduces_spark_probabilities(spark, family, fresh_rows, tmp_path):
    from mlgate.export.to_onnx import export_pipeline

    model = fit(spark, family)
    proto, spec = export_pipeline(
        model, numeric=NUMERIC, categorical=CATEGORICAL, operating_threshold=0.5, spark=spark
    )
    assert spec.family == family
    assert spec.fields == NUMERIC + CATEGORICAL
    # the vocabulary is Spark's own fitted labels, in Spark's index order
    indexer = next(s for s in model.stages if type(s).__name__ == "StringIndexerModel")
    assert spec.vocabularies["channel"] == list(indexer.labelsArray[0])
    assert sorted(spec.vocabularies["card_type"]) == ["credit", "debit"]

    (tmp_path / MODEL_FILE).write_bytes(proto.SerializeToString())
    (tmp_path / SPEC_FILE).write_text(json.dumps(spec.to_dict()))
    scorer = PortableScorer.from_dir(tmp_path)
    expected = spark_probabilities(spark, model, fresh_rows)
    got = scorer.score_frame(fresh_rows)
    assert got.dtype == np.float64 and got.shape == (len(fresh_rows),)
    assert np.max(np.abs(expected - got)) < 1e-9
    assert np.array_equal(expected >= 0.5, got >= 0.5)
    # the model learned something, so the comparison is not between two constants
    assert expected.std() > 0.05


def test_unseen_and_null_categories_share_spark_unknown_bucket(spark, fresh_rows):
    """Spark maps null and unseen values to the same index; so must the twin."""
    from mlgate.export.to_onnx import export_pipeline

    model = fit(spark, "logistic_regression")
    proto, spec = export_pipeline(
        model, numeric=NUMERIC, categorical=CATEGORICAL, operating_threshold=0.5, spark=spark
    )
    scorer = PortableScorer(proto.SerializeToString(), spec)
    row = fresh_rows.iloc[[5, 5, 5]].copy()
    row["channel"] = ["never-seen", None, NULL_CATEGORY]
    got = scorer.score_frame(row)
    assert got[0] == got[1] == got[2]
    assert spark_probabilities(spark, model, row.iloc[:2]) == pytest.approx(got[:2], abs=1e-12)


def test_a_nan_number_is_scored_like_spark(spark, fresh_rows):
    from mlgate.export.to_onnx import export_pipeline

    model = fit(spark, "random_forest")
    proto, spec = export_pipeline(
        model, numeric=NUMERIC, categorical=CATEGORICAL, operating_threshold=0.5, spark=spark
    )
    rows = fresh_rows.iloc[:4].copy()
    rows["amount"] = [np.nan, 10.0, 190_000.0, np.nan]
    got = PortableScorer(proto.SerializeToString(), spec).score_frame(rows)
    assert np.max(np.abs(spark_probabilities(spark, model, rows) - got)) < 1e-9


@pytest.mark.parametrize("family", ["random_forest", "gbt", "logistic_regression"])
def test_missing_numbers_in_training_rows_are_filled_with_the_median(spark, family):
    """Spark 4 refuses to fit on NaN; an empty window's mean or a dimension without a
    version is missing for good reasons. Each family fits, and the twin fills as Spark."""
    from mlgate.export.to_onnx import export_pipeline
    from mlgate.ml.training import build_pipeline

    rows = table(1500, seed=4)
    rows.loc[rows.index % 10 == 0, "txn_count_24h"] = np.nan  # every tenth row: no value
    rows.loc[rows.index % 7 == 0, "amount"] = None
    pipeline, classifier = build_pipeline(
        load_pipeline("fraud").with_family(family), NUMERIC, CATEGORICAL
    )
    if family != "logistic_regression":
        classifier.setMaxDepth(3)
    model = pipeline.fit(spark.createDataFrame(rows))

    imputer = model.stages[0]
    surrogates = imputer.surrogateDF.collect()[0].asDict()
    # the median of the present values (Spark's approximate quantile: within a few ranks)
    assert surrogates["txn_count_24h"] == rows["txn_count_24h"].median()
    assert abs(surrogates["amount"] - rows["amount"].median()) < 500  # values ~130 apart

    proto, spec = export_pipeline(
        model, numeric=NUMERIC, categorical=CATEGORICAL, operating_threshold=0.5, spark=spark
    )
    assert spec.stages[0] == "ImputerModel"
    fresh = table(300, seed=5).drop(columns="is_fraud")
    fresh.loc[:40, "amount"] = np.nan
    fresh.loc[20:60, "txn_count_24h"] = np.nan
    scorer = PortableScorer(proto.SerializeToString(), spec)
    expected = spark_probabilities(spark, model, fresh)
    assert np.max(np.abs(expected - scorer.score_frame(fresh))) < 1e-9
    # a missing number scores as the row with the surrogate in its place
    filled = fresh.fillna(
        {"amount": surrogates["amount"], "txn_count_24h": surrogates["txn_count_24h"]}
    )
    assert np.max(np.abs(scorer.score_frame(filled) - expected)) < 1e-12


def test_unsupported_stage_is_a_clear_export_error(spark):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import NaiveBayes
    from pyspark.ml.feature import VectorAssembler

    from mlgate.export.to_onnx import ExportError, export_pipeline

    rows = spark.createDataFrame(table(200, seed=3)[["amount", "txn_count_24h", "is_fraud"]])
    model = Pipeline(
        stages=[
            VectorAssembler(inputCols=NUMERIC, outputCol="features"),
            NaiveBayes(labelCol="is_fraud"),
        ]
    ).fit(rows)
    with pytest.raises(ExportError, match="NaiveBayesModel"):
        export_pipeline(
            model, numeric=NUMERIC, categorical=[], operating_threshold=0.5, spark=spark
        )


def test_spec_round_trip_and_refuses_foreign_formats(tmp_path):
    spec = ModelSpec(
        numeric=["a"],
        categorical=["c"],
        vocabularies={"c": ["x"]},
        operating_threshold=0.3,
        family="gbt",
    )
    data = json.loads(json.dumps(spec.to_dict()))
    assert ModelSpec.from_dict(data) == spec
    assert data["inputs"]["numeric"]["shape"] == ["N", 1]
    with pytest.raises(PortableModelError, match="format"):
        ModelSpec.from_dict({**data, "format": "other/9"})
    with pytest.raises(PortableModelError, match="missing"):
        PortableScorer.from_dir(tmp_path)
