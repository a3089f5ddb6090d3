"""Write a deliberately broken day into a source database, to watch a gate stop it.

`mlgate inject-fault --date D --kind KIND` copies an earlier day's transactions to day D
(new ids, same times of day) and breaks them the way real feeds break. Used by
`make demo-bad-day` and by the end-to-end tests; docs/faults.md lists which gate catches
each kind.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import sqlalchemy as sa

from mlgate.config import MlgateConfig

# kind -> what it simulates
FAULT_KINDS: dict[str, str] = {
    "null_amounts": "a broken feed: 30% of the day's amounts are NULL",
    "unknown_currency": "an upstream change: 20% of the rows carry the currency code 'XXX'",
    "negative_amounts": "a sign error: 20% of the amounts are negative",
    "unparsable_amounts": "text in a numeric column: 20% of the amounts are 'N/A'",
    "volume_drop": "a partial load: only 20% of the day's rows arrive",
    "new_channel": "an unannounced category: 10% of the rows have channel 'mobile_wallet'",
    "no_labels": "the label feed stopped: every chargeback is deleted",
    "clean": "a normal day (no fault), e.g. to follow a bad day with a good one",
}


class FaultError(ValueError):
    pass


def inject_fault(
    cfg: MlgateConfig,
    url: str,
    day: date,
    kind: str,
    *,
    seed: int = 11,
    copy_from: date | None = None,
) -> dict:
    """Write day `day` into the source with fault `kind`; return what was written."""
    if kind not in FAULT_KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; choose one of {sorted(FAULT_KINDS)}")
    events = cfg.source.events
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(events.table, meta, autoload_with=engine)
    time_col, key_col = table.columns[events.time_column], table.columns[events.key]
    if engine.dialect.name != "sqlite":
        raise FaultError("fault injection writes to the embedded SQLite demo database only")
    source_day = copy_from or day - timedelta(days=7)  # same weekday: a realistic volume
    # The demo stores times as 'YYYY-MM-DD HH:MM:SS' text: compare as text, same format.
    as_text = sa.type_coerce(time_col, sa.String)

    def in_day(d: date):
        return sa.and_(as_text >= f"{d} 00:00:00", as_text < f"{d + timedelta(days=1)} 00:00:00")

    with engine.begin() as conn:
        existing = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(in_day(day))
        ).scalar()
        if existing:
            raise FaultError(f"the source already has {existing} rows on {day}; pick a new day")
        rows = [
            dict(r._mapping)
            for r in conn.execute(sa.select(table).where(in_day(source_day)).order_by(time_col))
        ]
        if not rows:
            raise FaultError(f"no rows on {source_day} to copy from")
        next_id = conn.execute(sa.select(sa.func.max(key_col))).scalar() + 1
        shift = day - source_day
        rng = np.random.default_rng(seed)
        for offset, row in enumerate(rows):
            row[events.key] = next_id + offset
            row[events.time_column] = row[events.time_column] + shift
        rows = _break(rows, kind, rng)
        if kind == "no_labels":
            labels = sa.Table(cfg.source.labels.table, meta, autoload_with=engine)
            deleted = conn.execute(sa.delete(labels)).rowcount
        else:
            deleted = 0
        # A raw INSERT with text values, as the demo generator stores them; it also lets a
        # NUMERIC column receive text (unparsable_amounts), which SQLite accepts.
        # Untyped columns: SQLAlchemy quotes the names and passes the values through as given.
        untyped = sa.table(events.table, *[sa.column(name) for name in rows[0]])
        conn.execute(sa.insert(untyped), [_sqlite_values(r) for r in rows])
    engine.dispose()
    return {
        "day": day.isoformat(),
        "kind": kind,
        "rows": len(rows),
        "labels_deleted": deleted,
        "what": FAULT_KINDS[kind],
    }


def _sqlite_values(row: dict) -> dict:
    """Plain values for a raw INSERT: times in the demo's text format, decimals as floats."""
    from decimal import Decimal

    def plain(value):
        if hasattr(value, "isoformat"):
            return value.isoformat(sep=" ")
        return float(value) if isinstance(value, Decimal) else value

    return {k: plain(v) for k, v in row.items()}


def _break(rows: list[dict], kind: str, rng: np.random.Generator) -> list[dict]:
    def pick(share: float) -> np.ndarray:
        return rng.random(len(rows)) < share

    if kind == "null_amounts":
        for row, hit in zip(rows, pick(0.3)):
            if hit:
                row["amount"] = None
    elif kind == "unknown_currency":
        for row, hit in zip(rows, pick(0.2)):
            if hit:
                row["currency"] = "XXX"
    elif kind == "negative_amounts":
        for row, hit in zip(rows, pick(0.2)):
            if hit:
                row["amount"] = -abs(row["amount"])
    elif kind == "unparsable_amounts":
        for row, hit in zip(rows, pick(0.2)):
            if hit:
                row["amount"] = "N/A"
    elif kind == "volume_drop":
        rows = [row for row, keep in zip(rows, pick(0.2)) if keep]
    elif kind == "new_channel":
        for row, hit in zip(rows, pick(0.1)):
            if hit:
                row["channel"] = "mobile_wallet"
    return rows
