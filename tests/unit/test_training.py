"""The training helpers around the Spark ML pipeline (mlgate.ml.training)."""

from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.spark


def test_numeric_inputs_without_any_value_are_named(spark):
    from mlgate.ml.training import never_present

    rows = spark.createDataFrame(
        [(1.0, None, math.nan, 2.0), (None, None, math.nan, math.nan)],
        "a double, b double, c double, d double",
    )
    # a: one value; b: only nulls; c: only NaN (missing to Spark's imputer too); d: one value
    assert never_present(rows, ["a", "b", "c", "d"]) == ["b", "c"]
    assert never_present(rows, []) == []


def test_feature_names_are_the_spec_names_not_the_imputed_columns(spark):
    from mlgate.config import load_pipeline
    from mlgate.ml.training import build_pipeline, feature_names

    rows = spark.createDataFrame(
        [(float(i), "pos" if i % 2 else "ecom", int(i % 3 == 0)) for i in range(30)],
        "amount double, channel string, is_fraud int",
    )
    pipeline, classifier = build_pipeline(load_pipeline("fraud"), ["amount"], ["channel"])
    classifier.setNumTrees(2)
    scored = pipeline.fit(rows).transform(rows)
    # one-hot slots keep Spark's attribute names; the imputed copy of amount does not show
    assert feature_names(scored) == [
        "amount",
        "channel__onehot_ecom",
        "channel__onehot_pos",
        "channel__onehot___unknown",
    ]


@pytest.mark.parametrize("family", ["random_forest", "gbt", "logistic_regression"])
def test_every_family_describes_its_fitted_model_and_its_effort(spark, family):
    """The train job logs these for every family; logistic regression has no tree dump
    (its train task failed on `toDebugString` before), so it lists its coefficients."""
    from mlgate.config import load_pipeline
    from mlgate.ml.training import (
        build_pipeline,
        feature_importances,
        feature_names,
        model_text,
        training_effort,
    )

    cfg = load_pipeline("fraud")
    cfg = cfg.model_copy(update={"training": cfg.training.model_copy(update={"family": family})})
    rows = spark.createDataFrame(
        [(float(i % 7), "pos" if i % 2 else "ecom", int(i % 7 > 4)) for i in range(60)],
        "amount double, channel string, is_fraud int",
    )
    pipeline, _ = build_pipeline(cfg, ["amount"], ["channel"])
    model = pipeline.fit(rows)
    names = feature_names(model.transform(rows))

    text = model_text(model, names)
    importances = feature_importances(model, names)
    effort = training_effort(model)
    assert sorted(importances) == sorted(names)
    if family == "logistic_regression":
        lines = text.splitlines()
        assert lines[0].startswith("LogisticRegressionModel: intercept ")
        assert [line.split("\t")[0] for line in lines[1:]] == names
        # the coefficients are the importances' signed values
        assert {n: abs(float(v)) for n, v in (line.split("\t") for line in lines[1:])} == (
            pytest.approx(importances)
        )
        assert effort.iterations is not None and effort.iterations > 0
    else:
        assert "Tree 0" in text and "If (feature" in text
        assert effort.trees is not None and effort.trees > 0
