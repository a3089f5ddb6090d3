"""The online path against the Spark feature job on a simulated fraud lake: a day's
events replayed through a state bootstrapped at its start give every model input of the
Spark feature table exactly (the online_parity gate passes), and a deliberately altered
online definition of one feature is caught by the gate."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from mlgate.config import load_pipeline
from mlgate.gates import online_parity
from mlgate.online import features as online_features
from mlgate.online.parity import exact_features, replay_day
from support.fraud_lake import write_fraud_lake

pytestmark = pytest.mark.spark

CFG = load_pipeline("fraud")
RUN = date(2026, 10, 31)  # the run whose dimensions are joined
DAY = date(2026, 10, 29)  # the day replayed
INPUTS = list(dict.fromkeys([*CFG.features.model_inputs()[0], *CFG.features.model_inputs()[1]]))


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A fraud lake of 20 simulated days, every day accepted, dimensions landed by RUN."""
    state = tmp_path_factory.mktemp("state")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLGATE_STATE", str(state))
    write_fraud_lake(CFG, RUN)
    yield state
    mp.undo()


@pytest.fixture(scope="module")
def spark_day(spark, lake) -> pd.DataFrame:
    """The Spark feature job's rows of DAY (its transforms on the same lake)."""
    from pyspark.sql import functions as F

    from mlgate.jobs.common import read_dimensions, read_events
    from mlgate.ml.rows import feature_rows

    days = [DAY - timedelta(days=n) for n in range(15, -1, -1)]
    events = read_events(spark, CFG, days, required=[DAY])
    dims = read_dimensions(spark, CFG, RUN)
    start = datetime.combine(DAY, datetime.min.time())
    rows = feature_rows(CFG, events, dims, start=start, end=start + timedelta(days=1))
    return rows.select(CFG.row_key, *INPUTS).withColumn("score", F.lit(0.0)).toPandas()


def parity(spark_rows: pd.DataFrame, online_rows: pd.DataFrame):
    return online_parity(
        CFG.gates.online_parity,
        spark_rows,
        online_rows.assign(score=0.0),
        key=CFG.row_key,
        features=INPUTS,
        exact=exact_features(CFG.features),
        threshold=0.5,
    )


def test_the_online_path_gives_the_spark_features_of_every_row(spark_day, lake):
    online_rows = replay_day(CFG, DAY, RUN)
    assert len(spark_day) > 100 and len(online_rows) == len(spark_day)
    result = parity(spark_day, online_rows)
    assert result.verdict == "pass", result.details["worst_rows"][:3]
    assert result.details["rows"] == len(spark_day)
    seen = spark_day[spark_day["card_count_7d"] > 0]
    assert len(seen) > len(spark_day) / 2  # histories reach back: not a parity of zeros


def test_an_altered_online_definition_fails_the_gate(spark_day, lake, monkeypatch):
    original = online_features._aggregate

    def seven_day_sum_off_by_one(agg, window, earlier, t, row):
        value = original(agg, window, earlier, t, row)
        return value + 1.0 if agg.op == "sum" and window == "7d" else value

    monkeypatch.setattr(online_features, "_aggregate", seven_day_sum_off_by_one)
    result = parity(spark_day, replay_day(CFG, DAY, RUN))
    assert result.verdict == "fail"
    stats = result.details["features"]
    assert stats["card_amount_sum_7d"]["mismatch_rate"] == 1.0
    assert stats["card_amount_sum_24h"]["mismatch_rate"] == 0.0
    assert "card_amount_sum_7d" in result.reason
