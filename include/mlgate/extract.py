"""Import from the source database into the Parquet lake, one day partition at a time.

Each partition is written to a hidden temporary folder and renamed into place, so a
reader never sees half a partition and a rerun replaces a day instead of appending to it.
Table and column names come from the validated config and reach SQL only through
SQLAlchemy's reflected `Table` objects, which quote them; values are bound parameters.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from mlgate.config import MlgateConfig
from mlgate.paths import swap_into_place, table_partition, temporary_sibling

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
MANIFEST_FILE = "_manifest.json"  # Spark and pyarrow skip files starting with "_"


class ExtractError(RuntimeError):
    """The source could not be read as the config describes; the message says why."""


@dataclass(frozen=True)
class PartitionInfo:
    table: str
    ds: str
    rows: int
    path: str

    def to_dict(self) -> dict:
        return {"table": self.table, "ds": self.ds, "rows": self.rows, "path": self.path}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min)
    return start, start + timedelta(days=1)


def extract_days(cfg: MlgateConfig, ds: date) -> list[date]:
    """The days a run on `ds` needs in the lake: its training window plus feature history."""
    span = cfg.window.training_days + cfg.window.feature_history_days
    return [ds - timedelta(days=offset) for offset in range(span - 1, -1, -1)]


def _arrow_type(column: sa.Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.Float):
        return pa.float64()
    if isinstance(kind, sa.Numeric):
        if kind.precision is None:
            return pa.float64()
        return pa.decimal128(kind.precision, kind.scale or 0)
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if kind.timezone else None)
    if isinstance(kind, sa.Date):
        return pa.date32()
    return pa.string()


def arrow_schema(table: sa.Table) -> pa.Schema:
    """The lake schema of a source table, from its declared SQL types (stable across chunks)."""
    return pa.schema([pa.field(c.name, _arrow_type(c), nullable=c.nullable) for c in table.columns])


def reflect_table(engine: sa.Engine, name: str) -> sa.Table:
    try:
        return sa.Table(name, sa.MetaData(), autoload_with=engine)
    except sa.exc.NoSuchTableError:
        tables = sorted(sa.inspect(engine).get_table_names())
        raise ExtractError(
            f"table {name!r} does not exist in the source database {engine.url!r} "
            f"(tables there: {tables}); check source.* in the config"
        ) from None


def column_of(table: sa.Table, name: str) -> sa.Column:
    if name not in table.columns:
        raise ExtractError(
            f"column {name!r} is not in source table {table.name!r} "
            f"(columns: {list(table.columns.keys())}); check the config"
        )
    return table.columns[name]


def _stream_batches(
    engine: sa.Engine, query: sa.Select, schema: pa.Schema
) -> Iterator[pa.RecordBatch]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(query)
        for rows in result.partitions():
            columns = list(zip(*rows)) if rows else [[] for _ in schema]
            yield pa.record_batch(
                [pa.array(values, type=field.type) for values, field in zip(columns, schema)],
                schema=schema,
            )


def write_partition(
    engine: sa.Engine, query: sa.Select, table: sa.Table, name: str, ds: str, extra: dict
) -> PartitionInfo:
    """Run `query` and atomically replace lake/<name>/ds=<ds> with its rows."""
    target = table_partition(name, ds)
    tmp = temporary_sibling(target)
    tmp.mkdir()
    schema = arrow_schema(table)
    rows = 0
    try:
        with pq.ParquetWriter(tmp / "part-00000.parquet", schema) as writer:
            for batch in _stream_batches(engine, query, schema):
                writer.write_batch(batch)
                rows += batch.num_rows
        manifest = {"table": name, "ds": ds, "rows": rows, **extra}
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
        swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return PartitionInfo(name, ds, rows, str(target))


def partition_rows(name: str, ds: str) -> int | None:
    """Rows recorded for a complete partition, or None when it was never fully written."""
    manifest = table_partition(name, ds) / MANIFEST_FILE
    if not manifest.exists():
        return None
    return json.loads(manifest.read_text())["rows"]


def extract_events_day(engine: sa.Engine, cfg: MlgateConfig, day: date) -> PartitionInfo:
    spec = cfg.source.events
    table = reflect_table(engine, spec.table)
    time_col = column_of(table, spec.time_column)
    column_of(table, spec.key)
    start, end = day_bounds(day)
    query = (
        sa.select(table)
        .where(time_col >= start, time_col < end)
        .order_by(time_col, table.columns[spec.key])
    )
    return write_partition(
        engine, query, table, spec.table, day.isoformat(), {"window": [start, end]}
    )


def extract_snapshot(
    engine: sa.Engine, name: str, ds: str, *, time_column: str | None = None, as_of: datetime
) -> PartitionInfo:
    """Copy a whole table as of `as_of` (rows with time_column before it, when given)."""
    table = reflect_table(engine, name)
    query = sa.select(table)
    if time_column:
        query = query.where(column_of(table, time_column) < as_of)
    return write_partition(engine, query, table, name, ds, {"as_of": as_of})


def extract_for_run(
    cfg: MlgateConfig, ds: date, as_of: datetime, *, refresh_history: bool = False
) -> dict:
    """Land everything a run on `ds` needs and return its data manifest.

    The run's own day is always re-imported (a rerun overwrites it); older days of the
    window are imported only when missing, unless `refresh_history`. Labels and dimensions
    are snapshots as of the end of the data interval.
    """
    engine = sa.create_engine(cfg.source.resolved_url())
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        raise ExtractError(
            f"cannot connect to the source database {engine.url!r}: {error.orig}; "
            "check source.url in the config or MLGATE_SOURCE_URL"
        ) from None

    events: list[dict] = []
    try:
        for day in extract_days(cfg, ds):
            name, key = cfg.source.events.table, day.isoformat()
            existing = partition_rows(name, key)
            if day == ds or refresh_history or existing is None:
                info = extract_events_day(engine, cfg, day)
                log.info("extracted %s ds=%s: %d rows", name, key, info.rows)
                events.append(info.to_dict())
            else:
                events.append(
                    PartitionInfo(name, key, existing, str(table_partition(name, key))).to_dict()
                )
        labels = cfg.source.labels
        snapshots = [
            extract_snapshot(
                engine, labels.table, ds.isoformat(), time_column=labels.time_column, as_of=as_of
            ).to_dict()
        ]
        snapshots += [
            extract_snapshot(engine, dim.table, ds.isoformat(), as_of=as_of).to_dict()
            for dim in cfg.source.dimensions
        ]
    finally:
        engine.dispose()

    own_day = events[-1]
    if own_day["rows"] == 0:
        raise ExtractError(
            f"the source has no {cfg.source.events.table} rows for {ds} "
            f"({cfg.source.events.time_column} in [{ds}, {ds + timedelta(days=1)})); "
            "is the feed late, or is the date wrong?"
        )
    return {
        "ds": ds.isoformat(),
        "as_of": as_of.isoformat(),
        "events": events,
        "snapshots": snapshots,
        "event_rows": sum(p["rows"] for p in events),
    }
