"""Batch scoring of one day with the champion (DAG fraud_score), minus the Spark part.

The Spark job ``mlgate.jobs.score_job`` recomputes the day's features exactly as for
training (``mlgate.features`` on the lake partitions, quarantined rows left out) and
scores them with the champion's Spark model into ``scores/ds=<day>/`` (Parquet plus
``_scores.json``). This module decides when a day is ready, which days the job reads, and
writes a day's scores to the target database: delete that day's rows and insert the new
ones in one transaction, so a rerun replaces the day and a reader never sees half of it.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mlgate.config import MlgateConfig, duration_seconds
from mlgate.paths import quarantine_partition, state_dir, table_partition

SCORES_META = "_scores.json"  # Spark and pyarrow skip files that start with "_"
DAY_COLUMN = "score_day"
COLUMNS = ("probability", "decision", "threshold", "model_name", "model_version", "scored_at")
INSERT_CHUNK = 5_000


def scores_partition(ds: str) -> Path:
    """Where the score job writes the day's scores: scores/ds=<day>."""
    return state_dir() / "scores" / f"ds={ds}"


def lookback_days(cfg: MlgateConfig) -> int:
    """Whole days before the scored day that its features look back into."""
    seconds = max(
        [
            *cfg.features.window_seconds().values(),
            duration_seconds(cfg.features.amount_history),
            duration_seconds(cfg.features.novelty_lookback),
        ]
    )
    return math.ceil(seconds / 86400)


def scoring_days(cfg: MlgateConfig, ds: date) -> list[date]:
    """The lake days the score job reads for `ds`: the lookback, then the day itself."""
    return [ds - timedelta(days=offset) for offset in range(lookback_days(cfg), -1, -1)]


def day_ready(cfg: MlgateConfig, ds: date) -> tuple[bool, str]:
    """Whether the day's extract has landed and (if record rules exist) been checked.

    The extract writes ``_manifest.json`` last (after the atomic rename); the record check
    of fraud_retrain's check_raw always writes the quarantine partition, even when empty.
    """
    day = ds.isoformat()
    manifest = table_partition(cfg.source.events.table, day) / "_manifest.json"
    if not manifest.exists():
        return False, f"waiting for the extract of {day}: {manifest} does not exist yet"
    if cfg.gates.bad_record_ratio is not None:
        quarantine = quarantine_partition(cfg.source.events.table, day)
        if not quarantine.is_dir():
            return False, f"waiting for the record check of {day}: {quarantine} does not exist"
    return True, f"the extract of {day} has landed and was checked"


def scores_table(metadata, name: str, key: str, key_type, time_column: str):
    import sqlalchemy as sa

    return sa.Table(
        name,
        metadata,
        sa.Column(key, key_type, nullable=False),
        sa.Column(time_column, sa.DateTime),
        sa.Column(DAY_COLUMN, sa.Date, nullable=False, index=True),
        sa.Column("probability", sa.Float, nullable=False),
        sa.Column("decision", sa.Integer, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(50), nullable=False),
        sa.Column("scored_at", sa.DateTime, nullable=False),
    )


def write_day_scores(
    url: str,
    table: str,
    ds: date,
    rows,
    *,
    key: str,
    time_column: str,
    model_name: str,
    model_version: str,
    threshold: float,
    scored_at: datetime | None = None,
) -> int:
    """Replace day `ds` in `table` (created if missing) with `rows`, in one transaction.

    ``rows`` is a DataFrame with the key, the event time and ``probability``. Each row is
    written with its decision (probability >= threshold), the threshold, the model name
    and version and when it was scored. Returns the rows written. Other days are never
    touched; on any error nothing of the day changes.
    """
    import pandas as pd
    import sqlalchemy as sa

    missing = [c for c in (key, time_column, "probability") if c not in rows.columns]
    if missing:
        raise KeyError(f"the scores lack columns {missing}")
    key_type = sa.BigInteger if pd.api.types.is_integer_dtype(rows[key]) else sa.String(200)
    scored_at = (scored_at or datetime.now(UTC)).replace(tzinfo=None)
    times = pd.to_datetime(rows[time_column])
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    probability = rows["probability"].astype(float).tolist()
    keys = rows[key].tolist()
    event_times = [None if pd.isna(t) else t.to_pydatetime() for t in times]
    common = {
        DAY_COLUMN: ds,
        "threshold": float(threshold),
        "model_name": model_name,
        "model_version": str(model_version),
        "scored_at": scored_at,
    }
    records = [
        {key: k, time_column: t, "probability": p, "decision": int(p >= threshold), **common}
        for k, t, p in zip(keys, event_times, probability)
    ]

    engine = sa.create_engine(url)
    try:
        metadata = sa.MetaData()
        target = scores_table(metadata, table, key, key_type, time_column)
        with engine.begin() as conn:  # one transaction: delete the day, insert it again
            metadata.create_all(conn, checkfirst=True)
            conn.execute(sa.delete(target).where(target.c[DAY_COLUMN] == ds))
            for start in range(0, len(records), INSERT_CHUNK):
                conn.execute(sa.insert(target), records[start : start + INSERT_CHUNK])
    finally:
        engine.dispose()
    return len(records)


def write_scores(cfg: MlgateConfig, ds: date) -> dict:
    """The write_scores task: the score job's output for `ds` into the configured table."""
    import pandas as pd

    folder = scores_partition(ds.isoformat())
    meta_path = folder / SCORES_META
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} is missing: has the score job run for {ds}?")
    meta = json.loads(meta_path.read_text())
    rows = pd.read_parquet(folder)
    url = cfg.scoring.resolved_url(cfg.source)
    written = write_day_scores(
        url,
        cfg.scoring.table,
        ds,
        rows,
        key=cfg.source.events.key,
        time_column=cfg.source.events.time_column,
        model_name=meta["model_name"],
        model_version=meta["model_version"],
        threshold=meta["threshold"],
    )
    flagged = int((rows["probability"] >= meta["threshold"]).sum())
    return {
        "ds": ds.isoformat(),
        "rows": written,
        "flagged": flagged,
        "model_version": meta["model_version"],
        "table": cfg.scoring.table,
    }
