"""Batch scoring without Spark (mlgate.serving.batch): the day's write to a real SQLite database,
which days the job reads, and when a day counts as ready."""

from __future__ import annotations

import json
from datetime import date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from mlgate.config import load_pipeline
from mlgate.paths import scores_partition
from mlgate.serving.batch import SCORES_META, write_day_scores
from mlgate.stages.score import day_ready, write_scores

DAY = date(2026, 10, 31)


def scores(keys, probabilities, day="2026-10-31"):
    return pd.DataFrame(
        {
            "transaction_id": keys,
            "created_at": pd.to_datetime([f"{day} 10:00:00"] * len(keys)),
            "probability": probabilities,
        }
    )


def write(url, day, rows, version="3", threshold=0.5):
    return write_day_scores(
        url,
        "fraud_scores",
        day,
        rows,
        key="transaction_id",
        time_column="created_at",
        model_name="fraud_detector",
        model_version=version,
        threshold=threshold,
        scored_at=datetime(2026, 11, 1, 1, 2, 3),
    )


def table_rows(url) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT transaction_id, score_day, probability, decision, threshold, "
                "model_version FROM fraud_scores ORDER BY score_day, transaction_id"
            )
        ).fetchall()
    engine.dispose()
    return [tuple(r) for r in rows]


def test_write_creates_the_table_and_records_decision_and_version(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    assert write(url, DAY, scores([1, 2, 3], [0.1, 0.5, 0.9]), threshold=0.5) == 3
    assert table_rows(url) == [
        # 0.5 >= 0.5 is a positive decision, as at every other place in mlgate
        (1, "2026-10-31", 0.1, 0, 0.5, "3"),
        (2, "2026-10-31", 0.5, 1, 0.5, "3"),
        (3, "2026-10-31", 0.9, 1, 0.5, "3"),
    ]


def test_rerun_replaces_the_day_and_leaves_other_days_alone(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    write(url, date(2026, 10, 30), scores([7], [0.2], day="2026-10-30"), version="2")
    write(url, DAY, scores([1, 2, 3], [0.1, 0.2, 0.3]), version="2")
    # the same day again, with another model and one row fewer: exactly the new rows remain
    write(url, DAY, scores([1, 2], [0.7, 0.05]), version="3")
    assert table_rows(url) == [
        (7, "2026-10-30", 0.2, 0, 0.5, "2"),
        (1, "2026-10-31", 0.7, 1, 0.5, "3"),
        (2, "2026-10-31", 0.05, 0, 0.5, "3"),
    ]


def test_a_failed_write_changes_nothing_of_the_day(tmp_path):
    url = f"sqlite:///{tmp_path / 'source.db'}"
    write(url, DAY, scores([1, 2], [0.1, 0.2]), version="2")
    broken = scores([5, 6], [0.3, 0.4])
    broken.loc[1, "transaction_id"] = None  # NOT NULL key: the insert fails after the delete
    with pytest.raises(sa.exc.IntegrityError):
        write(url, DAY, broken, version="3")
    assert table_rows(url) == [
        (1, "2026-10-31", 0.1, 0, 0.5, "2"),
        (2, "2026-10-31", 0.2, 0, 0.5, "2"),
    ]


def test_write_scores_reads_the_score_job_output(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    url = f"sqlite:///{tmp_path / 'target.db'}"
    monkeypatch.setenv("MLGATE_SCORES_URL", url)
    folder = scores_partition("fraud", DAY.isoformat())
    folder.mkdir(parents=True)
    scores([10, 11], [0.95, 0.01]).to_parquet(folder / "part-0.parquet")
    (folder / SCORES_META).write_text(
        json.dumps({"model_name": "fraud_detector", "model_version": "4", "threshold": 0.9})
    )
    summary = write_scores(load_pipeline("fraud"), DAY)
    assert summary == {
        "ds": "2026-10-31",
        "rows": 2,
        "flagged": 1,
        "model_version": "4",
        "table": "fraud_scores",
    }
    assert table_rows(url) == [
        (10, "2026-10-31", 0.95, 1, 0.9, "4"),
        (11, "2026-10-31", 0.01, 0, 0.9, "4"),
    ]


def test_scoring_days_cover_the_longest_feature_lookback():
    cfg = load_pipeline("fraud")
    # the default config: windows 1h/24h/7d, amount_history 14d, novelty_lookback 14d
    assert cfg.window_spec().lookback_days() == 14
    days = cfg.window_spec().scoring_days(DAY)
    assert days[0] == date(2026, 10, 17) and days[-1] == DAY and len(days) == 15


def test_a_day_is_ready_once_extracted_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    cfg = load_pipeline("fraud")
    ready, why = day_ready(cfg, DAY)
    assert not ready and "extract" in why
    partition = tmp_path / "pipelines" / "fraud" / "lake" / "transactions" / "ds=2026-10-31"
    partition.mkdir(parents=True)
    (partition / "_manifest.json").write_text("{}")
    ready, why = day_ready(cfg, DAY)
    assert not ready and "record check" in why
    lake = tmp_path / "pipelines" / "fraud" / "lake"
    (lake / "quarantine" / "transactions" / "ds=2026-10-31").mkdir(parents=True)
    assert day_ready(cfg, DAY)[0]
