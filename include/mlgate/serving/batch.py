"""Batch scores of one day written to a database table (<pipeline>_score, `mlgate score-day`).

The Spark job ``mlgate.jobs.score_job`` recomputes the day's features exactly as for
training and scores them with the champion's Spark model into ``scores/ds=<day>/``
(Parquet plus ``_scores.json``). ``write_day_scores`` writes them to the target database:
delete that day's rows and insert the new ones in one transaction, so a rerun replaces the
day and a reader never sees half of it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

SCORES_META = "_scores.json"  # Spark and pyarrow skip files that start with "_"
PROBABILITY = "probability"  # the score column of scores/ds=<day> and of the table
CANARY_PROBABILITY = "canary_probability"  # the canary's score of the same row, in rollout
DAY_COLUMN = "score_day"
INSERT_CHUNK = 5_000


def scores_table(metadata, name: str, key: str, key_type, time_column: str):
    import sqlalchemy as sa

    return sa.Table(
        name,
        metadata,
        sa.Column(key, key_type, nullable=False),
        sa.Column(time_column, sa.DateTime),
        sa.Column(DAY_COLUMN, sa.Date, nullable=False, index=True),
        sa.Column(PROBABILITY, sa.Float, nullable=False),
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

    missing = [c for c in (key, time_column, PROBABILITY) if c not in rows.columns]
    if missing:
        raise KeyError(f"the scores lack columns {missing}")
    key_type = sa.BigInteger if pd.api.types.is_integer_dtype(rows[key]) else sa.String(200)
    scored_at = (scored_at or datetime.now(UTC)).replace(tzinfo=None)
    times = pd.to_datetime(rows[time_column])
    if getattr(times.dt, "tz", None) is not None:
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    probability = rows[PROBABILITY].astype(float).tolist()
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
        {key: k, time_column: t, PROBABILITY: p, "decision": int(p >= threshold), **common}
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
