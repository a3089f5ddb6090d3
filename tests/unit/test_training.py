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
