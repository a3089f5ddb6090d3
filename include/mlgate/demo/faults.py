"""Write a deliberately broken day into a source database, to watch a gate stop it.

`mlgate inject-fault --pipeline P --date D --kind KIND` copies an earlier day's events to
day D (new keys, same times of day) and breaks them the way real feeds break, in the
pipeline's own columns (the rules of its `records:` say which: `--column` picks another).
Used by `make demo-bad-day` and by the end-to-end tests; docs/faults.md lists which gate
catches each kind. Writes to an embedded SQLite demo database only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import sqlalchemy as sa

from mlgate.config import PipelineConfig

# kind -> what it simulates ({column}: the column it breaks)
FAULT_KINDS: dict[str, str] = {
    "null_values": "a broken feed: 30% of the day's {column} values are NULL",
    "not_allowed": "an upstream change: 20% of the rows carry a {column} the rules do not allow",
    "out_of_range": "a sign error: 20% of the {column} values are negated (or out of range)",
    "unparsable": "text in a numeric column: 20% of the {column} values are 'N/A'",
    "volume_drop": "a partial load: only 20% of the day's rows arrive",
    "new_category": "an unannounced category: 10% of the rows have a new {column}",
    "no_labels": "the label feed stopped: every row of the label table is deleted",
    "drift": "a shifted population: every {column} of the day is 3 times larger (valid rows: "
    "no gate stops the day; the monitor's drift watch notices)",
    "clean": "a normal day (no fault), e.g. to follow a bad day with a good one",
}
NEEDS_COLUMN = (
    "null_values",
    "not_allowed",
    "out_of_range",
    "unparsable",
    "new_category",
    "drift",
)
DRIFT_FACTOR = 3  # the drift fault's scale: far beyond noise, inside any sane range


def default_column(cfg: PipelineConfig, kind: str, columns: set[str] | None = None) -> str | None:
    """The column a fault breaks unless --column says otherwise, from the pipeline's rules:
    a required column with a range (or any required one) for nulls, the first rule of the
    kind's sort otherwise, for a new category the first categorical input the events have
    (else the first column with allowed values). With `columns` (the events table's), only
    those are chosen: an entity target's categorical inputs may come from its dimensions."""
    if kind not in NEEDS_COLUMN:
        return None
    rules = cfg.records.rules if cfg.records else []
    ranged = [r.column for r in rules if r.range is not None]
    allowed = [r.column for r in rules if r.allowed is not None]
    events = cfg.source.events
    required = [
        c
        for c in (cfg.records.required if cfg.records else [])
        if c not in (events.key, events.time_column)
    ]
    choices = {
        "null_values": [c for c in required if c in ranged] + required,
        "not_allowed": allowed,
        "out_of_range": ranged,
        "unparsable": ranged,
        "new_category": [*cfg.features.categorical, *allowed],
        "drift": [c for c in cfg.features.numeric if c in ranged] + list(cfg.features.numeric),
    }[kind]
    if columns is not None:
        choices = [c for c in choices if c in columns]
    if not choices:
        raise FaultError(f"pipeline {cfg.name} has no column to break with {kind}: give --column")
    return choices[0]


class FaultError(ValueError):
    pass


def inject_fault(
    cfg: PipelineConfig,
    url: str,
    day: date,
    kind: str,
    *,
    column: str | None = None,
    seed: int = 11,
    copy_from: date | None = None,
    label_delay: timedelta | None = None,
) -> dict:
    """Write day `day` into the source with fault `kind`; return what was written.

    ``label_delay``: the copied labels become known this long after their event (a fast
    label feed; event targets only), instead of as late as the copied day's were."""
    if label_delay is not None and cfg.target.event is None:
        raise FaultError("--label-delay moves the labels of events: an entity target has none")
    if kind not in FAULT_KINDS:
        raise FaultError(f"unknown fault kind {kind!r}; choose one of {sorted(FAULT_KINDS)}")
    events = cfg.source.events
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(events.table, meta, autoload_with=engine)
    column = column or default_column(cfg, kind, set(table.columns.keys()))
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
        original_key = {}
        for offset, row in enumerate(rows):
            original_key[next_id + offset] = row[events.key]
            row[events.key] = next_id + offset
            row[events.time_column] = row[events.time_column] + shift
        if column is not None and column not in table.columns:
            raise FaultError(f"{events.table} has no column {column!r}")
        rows = _break(rows, kind, column, _rule(cfg, column), rng)
        labels = sa.Table(cfg.target.label_table, meta, autoload_with=engine)
        if kind == "no_labels":
            deleted, copied_labels = conn.execute(sa.delete(labels)).rowcount, 0
        else:
            deleted = 0
            copied = _copied_labels(conn, cfg, labels, rows, original_key, source_day, shift)
            if label_delay is not None:
                when = {row[events.key]: row[events.time_column] for row in rows}
                link, known = cfg.target.event.event_key, cfg.target.event.time_column
                for label in copied:
                    label[known] = when[label[link]] + label_delay
            if copied:  # stored as the generator stores them (see the events below)
                untyped_labels = sa.table(labels.name, *[sa.column(name) for name in copied[0]])
                conn.execute(sa.insert(untyped_labels), [_sqlite_values(r) for r in copied])
            copied_labels = len(copied)
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
        "labels_copied": copied_labels,
        "column": column,
        "what": FAULT_KINDS[kind].format(column=column),
    }


def _copied_labels(
    conn: sa.Connection,
    cfg: PipelineConfig,
    labels: sa.Table,
    rows: list[dict],
    original_key: dict,
    source_day: date,
    shift: timedelta,
) -> list[dict]:
    """The label rows the copied events carry, moved with them by `shift`.

    Without them every copied positive would be a negative (a day that looks clean but has
    no labels). An event target: the label rows of the copied events, pointed at the new
    keys. An entity target: the label events of the copied rows' entities on the source
    day. A single integer primary key gets new values after the table's largest.
    """
    target = cfg.target
    if target.event is not None:
        by_old = {
            original_key[row[cfg.source.events.key]]: row[cfg.source.events.key] for row in rows
        }
        link = labels.columns[target.event.event_key]
        found = conn.execute(sa.select(labels).where(link.in_(list(by_old)))).mappings().all()
        copies = [{**found_row, link.name: by_old[found_row[link.name]]} for found_row in found]
    else:
        events_column = cfg.features.entities[target.entity.entity]
        entities = {row[events_column] for row in rows if row[events_column] is not None}
        link = labels.columns[target.entity.entity_key]
        when = labels.columns[target.entity.time_column]
        start = datetime.combine(source_day, time.min)
        found = (
            conn.execute(
                sa.select(labels).where(
                    link.in_(list(entities)), when >= start, when < start + timedelta(days=1)
                )
            )
            .mappings()
            .all()
        )
        copies = [dict(found_row) for found_row in found]
    for copy in copies:
        for column in labels.columns:  # every time of the label moves with its event
            if isinstance(copy[column.name], datetime):
                copy[column.name] = copy[column.name] + shift
    keys = list(labels.primary_key.columns)
    if copies and len(keys) == 1 and isinstance(keys[0].type, sa.Integer):
        first = (conn.execute(sa.select(sa.func.max(keys[0]))).scalar() or 0) + 1
        for offset, copy in enumerate(copies):
            copy[keys[0].name] = first + offset
    return copies


def _rule(cfg: PipelineConfig, column: str | None):
    rules = [r for r in (cfg.records.rules if cfg.records else []) if r.column == column]
    return rules[0] if rules else None


def _sqlite_values(row: dict) -> dict:
    """Plain values for a raw INSERT: times in the demo's text format, decimals as floats."""
    from decimal import Decimal

    def plain(value):
        if hasattr(value, "isoformat"):
            return value.isoformat(sep=" ")
        return float(value) if isinstance(value, Decimal) else value

    return {k: plain(v) for k, v in row.items()}


def _break(rows: list[dict], kind: str, column, rule, rng: np.random.Generator) -> list[dict]:
    def pick(share: float) -> np.ndarray:
        return rng.random(len(rows)) < share

    def out_of_range(value):
        if rule is None or rule.range is None:
            return -abs(value)
        low, high = rule.range
        return -abs(value) if low > 0 else high + (high - low) + 1

    def not_allowed(value):
        allowed = rule.allowed if rule is not None and rule.allowed else [value]
        if all(isinstance(v, str) for v in allowed):
            return "XXX"
        return max(v for v in allowed if not isinstance(v, str)) + 1

    if kind == "volume_drop":
        return [row for row, keep in zip(rows, pick(0.2)) if keep]
    if kind == "drift":  # every row, kept within the column's allowed range
        high = rule.range[1] if rule is not None and rule.range is not None else None
        for row in rows:
            if row[column] is not None:
                scaled = row[column] * DRIFT_FACTOR
                row[column] = min(scaled, high) if high is not None else scaled
        return rows
    change = {
        "null_values": (0.3, lambda value: None),
        "not_allowed": (0.2, not_allowed),
        "out_of_range": (0.2, out_of_range),
        "unparsable": (0.2, lambda value: "N/A"),
        "new_category": (0.1, lambda value: f"new_{column}"),
    }.get(kind)
    if change is not None:
        share, broken = change
        for row, hit in zip(rows, pick(share)):
            # A null stays null: it is no value to negate, disallow or rename (a column may
            # be null by design, e.g. the price of a page without a product).
            if hit and (kind == "null_values" or row[column] is not None):
                row[column] = broken(row[column])
    return rows
