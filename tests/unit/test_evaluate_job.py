"""What the evaluate job keeps of the rows it scores (no Spark session needed)."""

from __future__ import annotations

import pytest

from mlgate.config import load_pipeline
from mlgate.jobs.evaluate_job import shadow_columns


@pytest.mark.parametrize(
    ("pipeline", "columns", "kept"),
    [
        # The shop's observation rows: region is an entity's key and a categorical input.
        (
            "shop",
            ["visitor_id", "occurred_at", "observation_id", "segment", "region", "day_of_week"],
            ["observation_id", "occurred_at", "visitor_id", "region", "segment"],
        ),
        # Fraud's transactions: the event key, its time, the card, the categorical inputs.
        (
            "fraud",
            ["transaction_id", "created_at", "card_id", "merchant_category", "channel", "amount"],
            [
                "transaction_id",
                "created_at",
                "card_id",
                "merchant_category",
                "channel",
                "card_type",
            ],
        ),
    ],
)
def test_shadow_scores_keep_key_time_entities_and_categorical_inputs_once(pipeline, columns, kept):
    assert shadow_columns(load_pipeline(pipeline), columns) == kept
