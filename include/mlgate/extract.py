"""Import from the source database into the Parquet lake, one day partition at a time.

Each partition is written to a hidden temporary folder and renamed into place, so a
reader never sees half a partition and a rerun replaces a day instead of appending to it.
Table and column names come from the validated config and reach SQL only through
SQLAlchemy's reflected `Table` objects, which quote them; values are bound parameters.

A value the lake type cannot hold (SQLite is dynamically typed: 'abc' in a NUMERIC column,
'2026-13-45' in a DATETIME column) does not stop the import: it is written as null and
the row's extra column `_unparsable` names the column(s) it happened in, so the record
rules (`mlgate.records`) quarantine the row with reason `unparsable:<column>`.

SQLite keeps datetimes as text, so a day is selected by the text of its time column:
rows whose time starts with the day's date ("YYYY-MM-DD...") belong to that day, even
when the rest does not parse ('2026-10-30 25:61:00'). A time that does not start with a
date at all ('garbage', a number, '2026-13-45 ...') belongs to no day and is never
imported; `extract_for_run` logs a warning with how many such rows the table has.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from mlgate.config import MlgateConfig
from mlgate.paths import swap_into_place, table_partition, temporary_sibling

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
MANIFEST_FILE = "_manifest.json"  # Spark and pyarrow skip files starting with "_"
PART_FILE = "part-00000.parquet"
# Extra column of every events and snapshot partition: comma-joined names of the columns
# whose source value could not be converted to the lake type (null when all parsed).
UNPARSABLE_COLUMN = "_unparsable"


class ExtractError(RuntimeError):
    """The source could not be read as the config describes; the message says why."""


@dataclass(frozen=True)
class PartitionInfo:
    table: str
    ds: str
    rows: int
    path: str
    source: dict | None = None  # {"rows", "key_sum"} measured in the source (reconciliation)

    def to_dict(self) -> dict:
        out = {"table": self.table, "ds": self.ds, "rows": self.rows, "path": self.path}
        if self.source is not None:
            out["source"] = self.source
        return out


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min)
    return start, start + timedelta(days=1)


def extract_days(cfg: MlgateConfig, ds: date) -> list[date]:
    """The days a run on `ds` needs in the lake: its training window plus feature history."""
    span = cfg.window.training_days + cfg.window.feature_history_days
    return [ds - timedelta(days=offset) for offset in range(span - 1, -1, -1)]


def arrow_type(column: sa.Column | sa.types.TypeEngine) -> pa.DataType:
    """The lake (Arrow) type of a column or SQL type: nullable ints stay ints, decimals
    keep precision and scale, timestamps with a time zone are UTC instants."""
    kind = column.type if isinstance(column, sa.Column) else column
    if isinstance(kind, sa.Boolean):
        return pa.bool_()
    if isinstance(kind, sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.Float):
        return pa.float64()
    if isinstance(kind, sa.Numeric):
        if kind.precision is None:
            return pa.float64()
        if kind.precision > 38:  # beyond decimal128 (and Spark's decimals): exact as text
            return pa.string()
        return pa.decimal128(kind.precision, kind.scale or 0)
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us", tz="UTC" if kind.timezone else None)
    if isinstance(kind, sa.Date):
        return pa.date32()
    return pa.string()


def arrow_schema(table: sa.Table) -> pa.Schema:
    """The lake schema of a source table, from its declared SQL types (stable across chunks).

    Every column is nullable in the lake, NOT NULL ones included: a value that cannot be
    converted is written as null (and named in the trailing `_unparsable` column).
    """
    if UNPARSABLE_COLUMN in table.columns:
        raise ExtractError(
            f"source table {table.name!r} has a column named {UNPARSABLE_COLUMN!r}, "
            "which the lake reserves for the names of unparsable columns"
        )
    fields = [pa.field(c.name, arrow_type(c), nullable=True) for c in table.columns]
    return pa.schema([*fields, pa.field(UNPARSABLE_COLUMN, pa.string(), nullable=True)])


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


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


_is_sqlite = is_sqlite


def raw_columns(engine: sa.Engine, table: sa.Table) -> list:
    """The table's columns to select, without SQLAlchemy's result processing on SQLite.

    SQLite's dialect parses DATETIME text and formats NUMERIC values itself and raises on a
    malformed value ('garbage', 'abc'), which would stop the whole import. Selected as
    String (no processor), the driver's raw value reaches `_to_arrow`, which converts it.
    Other databases type their columns, so their values are used as SQLAlchemy gives them.
    """
    if not _is_sqlite(engine):
        return list(table.columns)
    return [sa.type_coerce(c, sa.String()).label(c.name) for c in table.columns]


_raw_columns = raw_columns


# --- conversion of one column of a chunk to its lake type ------------------------------

_NOT_CONVERTIBLE = object()


def _to_datetime(value, target: pa.TimestampType):
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time.min)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return _NOT_CONVERTIBLE
    else:
        return _NOT_CONVERTIBLE
    if parsed.tzinfo is not None:  # an offset: the instant in UTC
        parsed = parsed.astimezone(UTC)
        return parsed if target.tz else parsed.replace(tzinfo=None)
    return parsed.replace(tzinfo=UTC) if target.tz else parsed  # naive means UTC


def _to_date(value, target):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return _NOT_CONVERTIBLE
    return _NOT_CONVERTIBLE


def _to_decimal(value, target: pa.Decimal128Type):
    if isinstance(value, bool):
        return _NOT_CONVERTIBLE
    try:
        if isinstance(value, Decimal | int):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))  # its shortest text: 12.34, not 12.339999...
        elif isinstance(value, str):
            number = Decimal(value.strip())
        else:
            return _NOT_CONVERTIBLE
        if not number.is_finite():
            return _NOT_CONVERTIBLE
        number = number.quantize(Decimal(1).scaleb(-target.scale), rounding=ROUND_HALF_EVEN)
    except (InvalidOperation, ValueError):
        return _NOT_CONVERTIBLE
    if len(number.as_tuple().digits) > target.precision:
        return _NOT_CONVERTIBLE
    return number


def _to_int(value, target):
    if isinstance(value, bool):
        return int(value)
    try:
        if isinstance(value, int):
            number = value
        elif isinstance(value, float | Decimal):
            number = int(value) if value == int(value) else _NOT_CONVERTIBLE
        elif isinstance(value, str):
            number = int(value.strip())
        else:
            return _NOT_CONVERTIBLE
    except (ValueError, OverflowError, InvalidOperation):  # 'abc', inf, nan
        return _NOT_CONVERTIBLE
    if number is _NOT_CONVERTIBLE or not -(2**63) <= number < 2**63:
        return _NOT_CONVERTIBLE
    return number


def _to_float(value, target):
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return _NOT_CONVERTIBLE
    return _NOT_CONVERTIBLE


_BOOLEAN_TEXT = {"1": True, "true": True, "t": True, "0": False, "false": False, "f": False}


def _to_bool(value, target):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return _BOOLEAN_TEXT.get(value.strip().lower(), _NOT_CONVERTIBLE)
    return _NOT_CONVERTIBLE


def _to_string(value, target):
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return _NOT_CONVERTIBLE
    if isinstance(value, int | float | Decimal | date):
        return value.isoformat() if isinstance(value, date) else str(value)
    return _NOT_CONVERTIBLE


def _value_converter(target: pa.DataType):
    if pa.types.is_timestamp(target):
        return _to_datetime
    if pa.types.is_date(target):
        return _to_date
    if pa.types.is_decimal(target):
        return _to_decimal
    if pa.types.is_integer(target):
        return _to_int
    if pa.types.is_floating(target):
        return _to_float
    if pa.types.is_boolean(target):
        return _to_bool
    return _to_string


def _fast_array(values, target: pa.DataType) -> pa.Array:
    """The whole column at once: let Arrow infer the values' type, then cast it (checked).

    Raises (ArrowInvalid, ArrowTypeError, ...) when any value does not convert losslessly,
    e.g. mixed types, 'abc' among numbers, an unparsable date string, 1.5 for an integer.
    """
    inferred = pa.array(values)
    if pa.types.is_decimal(target) and pa.types.is_floating(inferred.type):
        inferred = pc.round(inferred, ndigits=target.scale, round_mode="half_to_even")
    return inferred.cast(target, safe=True)


def _to_arrow(values, target: pa.DataType) -> tuple[pa.Array, list[int]]:
    """Convert one column of a chunk; return the array and the rows that did not convert.

    Fast path first (vectorised in Arrow); if any value fails, value by value: a value
    that cannot be converted becomes null and its row is returned.
    """
    try:
        return _fast_array(values, target), []
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    convert = _value_converter(target)
    converted, bad = [], []
    for row, value in enumerate(values):
        if value is None:
            converted.append(None)
            continue
        result = convert(value, target)
        if result is _NOT_CONVERTIBLE:
            converted.append(None)
            bad.append(row)
        else:
            converted.append(result)
    return pa.array(converted, type=target), bad


def convert_rows(rows: list, schema: pa.Schema) -> pa.RecordBatch:
    """Rows as fetched from the source -> a record batch of `schema` (see `arrow_schema`).

    Values that cannot be converted become null; the last column, `_unparsable`, holds
    for each row the comma-joined names of those columns (null when every value parsed).
    """
    fields = [field for field in schema if field.name != UNPARSABLE_COLUMN]
    columns = list(zip(*rows)) if rows else [() for _ in fields]
    arrays: list[pa.Array] = []
    unparsable: dict[int, list[str]] = {}
    for values, field in zip(columns, fields):
        array, bad = _to_arrow(values, field.type)
        arrays.append(array)
        for row in bad:
            unparsable.setdefault(row, []).append(field.name)
    marks = [None] * len(rows)
    for row, names in unparsable.items():
        marks[row] = ",".join(names)
    arrays.append(pa.array(marks, type=pa.string()))
    return pa.record_batch(arrays, schema=schema)


def _schema_text(schema: pa.Schema) -> dict[str, str]:
    return {f.name: str(f.type) for f in schema}


def check_source_schema(name: str, ds: str, schema: pa.Schema) -> None:
    """Refuse a source whose columns or types changed since the lake's newest partition.

    The partitions of a table are read together (a training window, a Spark job), so they
    must share one schema: a column that became text, a decimal whose scale changed or a
    column that disappeared stops the import with the differences, instead of landing a
    partition that breaks every reader later.
    """
    folder = table_partition(name, ds).parent
    if not folder.is_dir():
        return
    for other in sorted(folder.glob("ds=*"), reverse=True):
        if other.name == f"ds={ds}" or not (other / MANIFEST_FILE).exists():
            continue
        try:
            existing = pq.read_schema(other / PART_FILE)
        except (OSError, pa.ArrowInvalid):
            continue
        if UNPARSABLE_COLUMN not in existing.names:
            continue  # an old layout, re-imported anyway (see partition_rows)
        old, new = _schema_text(existing), _schema_text(schema)
        if old == new:
            return
        changes = [
            f"{column}: {old.get(column, 'absent')} -> {new.get(column, 'absent')}"
            for column in dict.fromkeys([*old, *new])
            if old.get(column) != new.get(column)
        ]
        raise ExtractError(
            f"the source of {name!r} changed since the lake's partition {other.name}: "
            + "; ".join(changes)
            + f". The partitions of a table must share one schema: fix the source, or "
            f"re-import the table's whole lake folder ({folder}) after moving it away"
        )
    return


def write_partition(
    source,
    name: str,
    ds: str,
    extra: dict,
    *,
    split_by: str | None = None,
    splits: int = 1,
    boundary_query: str | None = None,
    measure_key: str | None = None,
) -> PartitionInfo:
    """Read `source` (a `mlgate.sqlread.Source`) and atomically replace lake/<name>/ds=<ds>.

    The ranges are written as part-<i>.parquet into a hidden folder that is renamed into
    place when every range is complete, with a `_manifest.json` that records the rows, the
    ranges and, with `measure_key`, the source's count and key sum in the same snapshot.
    """
    from mlgate.sqlread import read_to_folder

    check_source_schema(name, ds, source.schema)
    target = table_partition(name, ds)
    tmp = temporary_sibling(target)
    tmp.mkdir()
    try:
        result = read_to_folder(
            source,
            tmp,
            split_by=split_by,
            splits=splits,
            boundary_query=boundary_query,
            measure_key=measure_key,
        )
        if result.unparsable:
            log.warning(
                "%s ds=%s: %d of %d rows have values that could not be converted (null in "
                "the lake, named in %s)",
                name,
                ds,
                result.unparsable,
                result.rows,
                UNPARSABLE_COLUMN,
            )
        measured = result.source.to_dict() if result.source else None
        manifest = {
            "table": name,
            "ds": ds,
            "rows": result.rows,
            **extra,
            "files": [Path(f).name for f in result.files],
            "read": {
                "method": result.method,
                "split_by": result.split_by,
                "bounds": result.bounds,
                "range_rows": result.range_rows,
            },
        }
        if measured is not None:
            manifest["source"] = {**measured, "key": measure_key}
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
        swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return PartitionInfo(name, ds, result.rows, str(target), measured)


def partition_manifest(name: str, ds: str) -> dict | None:
    """The `_manifest.json` of a complete partition, or None."""
    path = table_partition(name, ds) / MANIFEST_FILE
    return json.loads(path.read_text()) if path.exists() else None


def measure_partition(name: str, ds: str, key: str | None):
    """Rows and sum of the key column actually in the partition's Parquet files."""
    from mlgate.sqlread import measure_files

    folder = table_partition(name, ds)
    return measure_files(sorted(folder.glob("*.parquet")), key)


def partition_rows(name: str, ds: str) -> int | None:
    """Rows recorded for a complete partition, or None when it was never fully written.

    A partition written before the lake had the `_unparsable` column also counts as
    missing, so the days of one window always share one schema.
    """
    folder = table_partition(name, ds)
    manifest = folder / MANIFEST_FILE
    if not manifest.exists():
        return None
    try:
        if UNPARSABLE_COLUMN not in pq.read_schema(folder / PART_FILE).names:
            return None
    except (OSError, pa.ArrowInvalid):
        return None
    return json.loads(manifest.read_text())["rows"]


def _day_condition(engine: sa.Engine, time_col, day: date):
    """Rows of `day`: time in [day 00:00, day+1 00:00).

    On SQLite the time column is text, so the condition is on the text: it starts with
    the day's date. The range on the text lets the index on the column be used; the
    prefix test keeps out text that sorts inside the range without being a date of that
    day ('2026-10-32', '2026-10-3x'). A row whose time starts with the day's date is
    imported even when the rest does not parse; it is then marked unparsable.
    """
    if not _is_sqlite(engine):
        start, end = day_bounds(day)
        return sa.and_(time_col >= start, time_col < end)
    text = sa.type_coerce(time_col, sa.String())
    first, after = day.isoformat(), (day + timedelta(days=1)).isoformat()
    return sa.and_(text >= first, text < after, sa.func.substr(text, 1, 10) == first)


def undated_rows(engine: sa.Engine, table: sa.Table, time_column: str) -> int:
    """SQLite only: rows whose time does not start with a date, so no day imports them."""
    if not _is_sqlite(engine):
        return 0
    text = sa.type_coerce(column_of(table, time_column), sa.String())
    prefix = sa.func.substr(text, 1, 10)
    query = (
        sa.select(sa.func.count())
        .select_from(table)
        .where(sa.or_(text.is_(None), sa.func.coalesce(sa.func.date(prefix), "") != prefix))
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def events_source(engine: sa.Engine, cfg: MlgateConfig, day: date):
    """The day's rows of the events table (or of its free-form query) as a read source."""
    from mlgate.sqlread import Source

    spec = cfg.source.events
    table = reflect_table(engine, spec.table)
    free_form = getattr(spec, "query", None)
    if free_form is None:
        column_of(table, spec.time_column)
        column_of(table, spec.key)
    source = Source(
        engine,
        table,
        free_form=free_form,
        order_by=() if free_form else (spec.time_column, spec.key),
    )
    source.condition = _day_condition(engine, source.column(spec.time_column), day)
    source.column(spec.key)
    return source


def extract_events_day(
    engine: sa.Engine, cfg: MlgateConfig, day: date, *, splits: int | None = None
) -> PartitionInfo:
    """Import one day of the events table into lake/<table>/ds=<day> (atomic replace),
    split into `source.events.splits` parallel ranges, measured for reconciliation."""
    spec = cfg.source.events
    source = events_source(engine, cfg, day)
    splits = splits or getattr(spec, "splits", 1)
    split_by = getattr(spec, "split_by", None) or (spec.key if splits > 1 else None)
    start, end = day_bounds(day)
    return write_partition(
        source,
        spec.table,
        day.isoformat(),
        {"window": [start, end]},
        split_by=split_by,
        splits=splits,
        boundary_query=getattr(spec, "boundary_query", None),
        measure_key=spec.key,
    )


def extract_snapshot(
    engine: sa.Engine, name: str, ds: str, *, time_column: str | None = None, as_of: datetime
) -> PartitionInfo:
    """Copy a whole table as of `as_of` (rows with time_column before it, when given)."""
    from mlgate.sqlread import Source

    table = reflect_table(engine, name)
    source = Source(engine, table)
    if time_column:
        column_of(table, time_column)
        source.condition = source.column(time_column) < as_of
    return write_partition(source, name, ds, {"as_of": as_of})


def create_source_engine(url: str | sa.URL, *, splits: int = 1) -> sa.Engine:
    """An engine for the source with room for `splits` parallel reads, checked to connect.

    Raises ExtractError naming the database (without its password) when it cannot be
    reached or refuses the login.
    """
    try:
        engine = sa.create_engine(url, pool_size=max(5, splits + 1), max_overflow=splits + 1)
    except TypeError:  # a pool without a size (in-memory SQLite)
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        raise ExtractError(f"invalid source URL: {error}") from None
    try:
        with engine.connect():
            pass
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
        engine.dispose()
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise ExtractError(
            f"cannot connect to the source database {engine.url!r}: {reason}; "
            "check source.url in the config or MLGATE_SOURCE_URL"
        ) from None
    return engine


def extract_for_run(
    cfg: MlgateConfig, ds: date, as_of: datetime, *, refresh_history: bool = False
) -> dict:
    """Land everything a run on `ds` needs and return its data manifest.

    The run's own day is always re-imported (a rerun overwrites it); older days of the
    window are imported only when missing, unless `refresh_history`. Labels and dimensions
    are snapshots as of the end of the data interval.
    """
    engine = create_source_engine(
        cfg.source.resolved_url(), splits=getattr(cfg.source.events, "splits", 1)
    )

    events: list[dict] = []
    try:
        undated = undated_rows(
            engine, reflect_table(engine, cfg.source.events.table), cfg.source.events.time_column
        )
        if undated:
            log.warning(
                "%d rows of %s have a %s that does not start with a date; they belong to no "
                "day and are not imported",
                undated,
                cfg.source.events.table,
                cfg.source.events.time_column,
            )
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

    if events[-1]["rows"] == 0:  # reported by the bad_record_ratio gate, not an error here
        log.warning(
            "the source has no %s rows for %s; is the feed late, or is the date wrong?",
            cfg.source.events.table,
            ds,
        )
    return {
        "ds": ds.isoformat(),
        "as_of": as_of.isoformat(),
        "events": events,
        "snapshots": snapshots,
        "event_rows": sum(p["rows"] for p in events),
    }


def reconcile_day(cfg: MlgateConfig, ds: date):
    """The reconciliation gate for the run's own day: the source's count and key sum,
    measured by the extract in its snapshot (the partition's manifest), vs the rows and
    key sum actually in the partition's Parquet files."""
    from mlgate import gates

    spec, day = cfg.source.events, ds.isoformat()
    manifest = partition_manifest(spec.table, day) or {}
    measured = manifest.get("source") or {}
    lake = measure_partition(spec.table, day, measured.get("key") or spec.key)
    return gates.reconciliation(
        cfg.gates.reconciliation,
        measured.get("rows"),
        lake.rows,
        source_key_sum=measured.get("key_sum"),
        lake_key_sum=lake.key_sum,
        window=f"{spec.table} ds={day}",
    )


def import_window(cfg: MlgateConfig, day: date, *, splits: int | None = None):
    """`mlgate import --window DAY`: import one day of the events table and reconcile it.

    Returns (PartitionInfo, the reconciliation GateResult). An empty window is imported
    (an empty partition) and reported by the gate, not silently accepted.
    """
    from mlgate.config import ReconciliationGate

    engine = create_source_engine(
        cfg.source.resolved_url(), splits=splits or cfg.source.events.splits
    )
    try:
        info = extract_events_day(engine, cfg, day, splits=splits)
    finally:
        engine.dispose()
    gate_cfg = cfg.gates.reconciliation or ReconciliationGate()
    gates = cfg.gates.model_copy(update={"reconciliation": gate_cfg})
    return info, reconcile_day(cfg.model_copy(update={"gates": gates}), day)
