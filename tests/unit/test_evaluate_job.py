"""What the evaluate job keeps of the rows it scores (no Spark session needed)."""

from __future__ import annotations

from mlgate.config import load_pipeline
from mlgate.jobs.evaluate_job import shadow_columns


def test_shadow_scores_keep_each_column_once_for_an_entity_target():
    # The shop's observation rows: region is an entity's key and a categorical input.
    cfg = load_pipeline("shop")
    columns = ["visitor_id", "occurred_at", "observation_id", "segment", "region", "day_of_week"]
    assert shadow_columns(cfg, columns) == [
        "observation_id",
        "occurred_at",
        "visitor_id",
        "region",
        "segment",
    ]


def test_shadow_scores_keep_the_event_key_time_entity_and_categorical_inputs():
    cfg = load_pipeline("fraud")
    columns = [
        "transaction_id",
        "created_at",
        "card_id",
        "merchant_category",
        "channel",
        "card_type",
    ]
    assert shadow_columns(cfg, columns) == [
        "transaction_id",
        "created_at",
        "card_id",
        "merchant_category",
        "channel",
        "card_type",
    ]
