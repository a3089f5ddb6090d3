"""Parallel, streamed reads from a SQL source into Parquet files: the engine of the imports.

One read = a table (or a free-form query over it) under a condition (the window of a day,
the range of an incremental import), split into N ranges of a numeric or time column:

* **Boundaries** come from `SELECT min(c), max(c)` under the same condition, or from a
  user-given boundary query (Sqoop's `--boundary-query`). The first range also takes the
  rows whose split column is NULL, the last one includes the maximum, so every row of the
  condition is read exactly once (Sqoop silently dropped NULL split values).
* **Parallel connections**: each range is read by its own thread on its own connection and
  written to its own file, `part-<i>.parquet`, in bounded memory (streamed in blocks).
* **One snapshot on PostgreSQL**: a coordinator transaction (REPEATABLE READ, READ ONLY)
  exports its snapshot and every range's connection adopts it (`SET TRANSACTION
  SNAPSHOT`), so the ranges, the boundaries and the reconciliation count see the same
  data even while the source is written to. Every transaction is READ ONLY: the source is
  never written, and a role that may only SELECT is enough.
* **Reading paths**, chosen by measuring (docs/benchmarks.md): on PostgreSQL,
  `COPY (SELECT ...) TO STDOUT (FORMAT csv)` read by asyncpg (its protocol code hands
  over chunks of many rows: no per-row Python work) and parsed by Arrow's multi-threaded
  CSV reader into the lake types (decimals, timestamps with time zones, nullable
  integers); without asyncpg, the same COPY read row by row through psycopg's libpq
  wrapper (about twice the client CPU). A range whose values Arrow cannot parse (numeric
  'NaN' in a decimal column, a year past 9999) is read again on the row path. Elsewhere
  (SQLite, other databases, and a PostgreSQL database with encoding SQL_ASCII, whose text
  is selected as its bytes and decoded by us: such a database can hold text that is not
  UTF-8) the row path: a server-side cursor streamed in chunks of
  CHUNK_ROWS rows, converted by `mlgate.ingest.lake.convert_rows` (unconvertible values
  become null and are named in `_unparsable`). SQLite's text is decoded by
  `lake.decode_source_text`, so text that is not valid UTF-8 marks its row
  (`invalid_utf8:<column>`) instead of stopping the import.
* **Nothing user-given is pasted into SQL text**: names come from the validated config and
  are quoted by SQLAlchemy; values (window bounds, range bounds, watermarks) are bound
  parameters. COPY takes no parameters: asyncpg (values passed apart from the SQL) or
  psycopg (`ClientCursor.mogrify`) quote them into it with the driver's own quoting. A
  free-form query keeps its `$CONDITIONS` placeholder, which is replaced by the
  generated (parameterised) condition.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from mlgate.config import CONDITIONS_PLACEHOLDER
from mlgate.ingest import pgcopy
from mlgate.ingest.lake import (
    UNPARSABLE_COLUMN,
    ExtractError,
    Measure,
    arrow_schema,
    convert_rows,
    decode_source_text,
    free_form_schema,
)

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000  # rows fetched and converted at once on the row path
MAX_SPLITS = 32


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


def raw_columns(engine: sa.Engine, table: sa.Table) -> list:
    """The table's columns to select, without SQLAlchemy's result processing on SQLite.

    SQLite's dialect parses DATETIME text and formats NUMERIC values itself and raises on a
    malformed value ('garbage', 'abc'), which would stop the whole import. Selected as
    String (no processor), the driver's raw value reaches `_to_arrow`, which converts it.
    Other databases type their columns, so their values are used as SQLAlchemy gives them.
    """
    if not is_sqlite(engine):
        return list(table.columns)
    return [sa.type_coerce(c, sa.String()).label(c.name) for c in table.columns]


def create_source_engine(url: str | sa.URL, *, splits: int = 1) -> sa.Engine:
    """An engine for the source with room for `splits` parallel reads, checked to connect.

    Raises ExtractError naming the database (without its password) when it cannot be
    reached or refuses the login.
    """
    try:
        engine = sa.create_engine(
            url, pool_size=max(5, splits + 1), max_overflow=splits + 1, **pgcopy.utf8_client(url)
        )
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


def part_file(index: int) -> str:
    return f"part-{index:05d}.parquet"


@dataclass
class Source:
    """What to read: a reflected table, or a free-form query whose columns it describes.

    `condition` is built from `column(...)` references (unqualified names, so that it
    applies to the table and to a free-form query alike) with bound values.
    """

    engine: sa.Engine
    table: sa.Table
    condition: sa.ColumnElement | None = None
    free_form: str | None = None
    order_by: tuple[str, ...] = ()
    schema: pa.Schema = field(init=False)
    raw_text: bool = field(init=False)  # text read as bytes, decoded here (SQL_ASCII)

    def __post_init__(self) -> None:
        if self.free_form is not None and CONDITIONS_PLACEHOLDER not in self.free_form:
            raise ExtractError(f"the free-form query has no {CONDITIONS_PLACEHOLDER} placeholder")
        self.raw_text = pgcopy.holds_unchecked_text(self.engine, free_form=self.free_form)
        self.schema = (
            free_form_schema(self.engine, self.free_form, self.table)
            if self.free_form
            else arrow_schema(self.table)
        )

    def column(self, name: str) -> sa.ColumnClause:
        """An unqualified, quoted reference to a column, typed like the table's column."""
        if self.free_form is None and name not in self.table.columns:
            raise ExtractError(
                f"column {name!r} is not in source table {self.table.name!r} "
                f"(columns: {list(self.table.columns.keys())}); check the config"
            )
        if self.free_form is not None and name not in self.schema.names:
            raise ExtractError(
                f"column {name!r} is not in the result of the free-form query "
                f"(columns: {self.schema.names[:-1]}); check the config"
            )
        kind = self.table.columns[name].type if name in self.table.columns else sa.String()
        return sa.column(name, kind)

    def where(self, extra: sa.ColumnElement | None = None) -> sa.ColumnElement | None:
        parts = [c for c in (self.condition, extra) if c is not None]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else sa.and_(*parts)

    def _free_form_text(self, condition: sa.ColumnElement | None) -> sa.TextClause:
        if condition is None:
            return sa.text(self.free_form.replace(CONDITIONS_PLACEHOLDER, "(1 = 1)"))
        text, binds = _condition_text(self.engine, condition)
        return sa.text(self.free_form.replace(CONDITIONS_PLACEHOLDER, f"({text})")).bindparams(
            *binds
        )

    def statement(self, extra: sa.ColumnElement | None = None, *, raw: bool = True):
        """The SELECT of the rows under the condition and `extra` (a range)."""
        condition = self.where(extra)
        if self.free_form is not None:
            return self._free_form_text(condition)
        columns = raw_columns(self.engine, self.table) if raw else list(self.table.columns)
        if self.raw_text:
            columns = [pgcopy.text_as_bytes(c) for c in self.table.columns]
        query = sa.select(*columns).select_from(self.table)
        if condition is not None:
            query = query.where(condition)
        if self.order_by:
            query = query.order_by(*(self.column(name) for name in self.order_by))
        return query

    def from_clause(self) -> sa.FromClause:
        """The rows under the condition, as something to select aggregates from."""
        if self.free_form is None:
            query = sa.select(self.table).select_from(self.table)
            condition = self.where()
            return (query.where(condition) if condition is not None else query).subquery("q")
        names = self.schema.names[:-1]
        return (
            self._free_form_text(self.where()).columns(*(sa.column(n) for n in names)).subquery("q")
        )

    def aggregate_from(self) -> sa.FromClause:
        """Like `from_clause`, without a subquery for a plain table (simpler plans)."""
        return self.table if self.free_form is None else self.from_clause()


def _condition_text(engine: sa.Engine, condition: sa.ColumnElement):
    """A condition as SQL text with :named placeholders, and its typed bound values."""
    from sqlalchemy.engine.interfaces import BindTyping

    dialect = type(engine.dialect)(paramstyle="named")
    dialect.bind_typing = BindTyping.NONE  # no ":p::TYPE" casts: text() would not see ":p"
    compiled = condition.compile(dialect=dialect)
    binds = [
        sa.bindparam(name, value, type_=compiled.binds[name].type)
        for name, value in compiled.params.items()
    ]
    return compiled.string, binds


# --- connections: one snapshot, read only ------------------------------------------------


@contextmanager
def source_connection(engine: sa.Engine, snapshot: str | None = None):
    """A read-only connection; on PostgreSQL a REPEATABLE READ transaction in UTC that
    adopts `snapshot` when given (exported by the coordinator's `export_snapshot`)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if snapshot is not None:
                if not pgcopy.SNAPSHOT_ID.match(snapshot):
                    raise ExtractError(f"unexpected snapshot id from the server: {snapshot!r}")
                conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'UTC'")
        elif is_sqlite(engine):
            conn.exec_driver_sql("PRAGMA query_only = ON")
            raw = conn.connection.dbapi_connection
            # sqlite3's own decoding raises on bytes that are not UTF-8 and ends the read
            previous_factory, raw.text_factory = raw.text_factory, decode_source_text
        try:
            yield conn
        finally:
            if is_sqlite(engine):
                conn.rollback()
                conn.exec_driver_sql("PRAGMA query_only = OFF")
                raw.text_factory = previous_factory


def export_snapshot(conn: sa.Connection) -> str | None:
    if conn.dialect.name != "postgresql":
        return None
    return conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()


# --- boundaries and ranges ---------------------------------------------------------------


def _kind_of(source: Source, name: str) -> str:
    """'int', 'number' or 'time': how a split column's values are divided into ranges."""
    if name in source.table.columns:
        kind = source.table.columns[name].type
        if isinstance(kind, sa.Integer):
            return "int"
        if isinstance(kind, sa.Numeric):
            return "number"
        if isinstance(kind, sa.DateTime | sa.Date):
            return "time"
    else:
        arrow = source.schema.field(name).type
        if pa.types.is_integer(arrow):
            return "int"
        if pa.types.is_floating(arrow) or pa.types.is_decimal(arrow):
            return "number"
        if pa.types.is_timestamp(arrow) or pa.types.is_date(arrow):
            return "time"
    raise ExtractError(
        f"split_by column {name!r} must be numeric, a date or a timestamp "
        f"(it is {source.schema.field(name).type})"
    )


def boundaries(
    conn: sa.Connection, source: Source, name: str, boundary_query: str | None = None
) -> tuple:
    """(min, max) of the split column under the source's condition (None, None if no rows)."""
    kind = _kind_of(source, name)
    if kind == "time" and is_sqlite(source.engine):
        raise ExtractError(
            f"split_by {name!r}: SQLite keeps times as text, so it cannot be split by time; "
            "split by an integer column (such as the key) instead"
        )
    if boundary_query:
        text = boundary_query
        if CONDITIONS_PLACEHOLDER in text:
            condition = source.where()
            if condition is None:
                text = text.replace(CONDITIONS_PLACEHOLDER, "(1 = 1)")
                query = sa.text(text)
            else:
                fragment, binds = _condition_text(source.engine, condition)
                query = sa.text(text.replace(CONDITIONS_PLACEHOLDER, f"({fragment})")).bindparams(
                    *binds
                )
        else:
            query = sa.text(text)
        row = conn.execute(query).first()
        if row is None or len(row) != 2:
            raise ExtractError("the boundary query must return one row of two values (min, max)")
    else:
        origin = source.aggregate_from()
        column = origin.columns[name] if name in origin.columns else sa.column(name)
        query = sa.select(
            sa.type_coerce(sa.func.min(column), sa.String()),
            sa.type_coerce(sa.func.max(column), sa.String()),
        ).select_from(origin)
        condition = source.where() if source.free_form is None else None
        if condition is not None:
            query = query.where(condition)
        row = conn.execute(query).one()
    low, high = row[0], row[1]
    if low is None or high is None:
        return None, None
    for value in (low, high):
        ok = (
            isinstance(value, int | float | Decimal) and not isinstance(value, bool)
            if kind in ("int", "number")
            else isinstance(value, datetime | date)
        )
        if not ok:
            raise ExtractError(
                f"split_by column {name!r} holds a value that is not a {kind}: {value!r} "
                "(text in a numeric column?); choose another split column"
            )
    if kind == "int":
        low, high = int(low), int(high)
    if low > high:
        raise ExtractError(f"the boundary query returned min {low!r} above max {high!r}")
    return low, high


def split_ranges(low, high, splits: int) -> list[tuple]:
    """`splits` contiguous ranges [lower, upper) covering [low, high]; the last is closed.

    Integers split on integer edges (never more ranges than values), numbers and times
    evenly; equal edges are merged. Returns [(lower, upper, upper_inclusive), ...].
    """
    if splits < 1:
        raise ValueError("splits must be at least 1")
    if isinstance(low, int) and isinstance(high, int):
        splits = max(1, min(splits, high - low + 1))
        span = high - low + 1
        edges = [low + span * i // splits for i in range(splits)] + [high]
    elif isinstance(low, datetime | date) and not (
        isinstance(low, datetime) != isinstance(high, datetime)
    ):
        if isinstance(low, datetime):
            span = high - low
            edges = [low + span * i / splits for i in range(splits)] + [high]
        else:
            days = (high - low).days
            splits = max(1, min(splits, days + 1))
            edges = [low + timedelta(days=(days + 1) * i // splits) for i in range(splits)]
            edges.append(high)
    else:
        low_d, high_d = Decimal(str(low)), Decimal(str(high))
        span = high_d - low_d
        edges = [low_d + span * i / splits for i in range(splits)] + [high_d]
        if isinstance(low, float):
            edges = [float(e) for e in edges]
    ranges = []
    for i in range(len(edges) - 1):
        lower, upper = edges[i], edges[i + 1]
        last = i == len(edges) - 2
        if not last and lower == upper:
            continue
        ranges.append((lower, upper, last))
    return ranges or [(low, high, True)]


def range_condition(column: sa.ColumnClause, lower, upper, inclusive: bool, first: bool):
    top = column <= upper if inclusive else column < upper
    condition = sa.and_(column >= lower, top)
    return sa.or_(condition, column.is_(None)) if first else condition


# --- measuring the source and the lake ---------------------------------------------------


def measure_source(conn: sa.Connection, source: Source, key: str | None) -> Measure:
    """count(*) and sum(key) of the rows under the source's condition (same snapshot)."""
    origin = source.aggregate_from()
    has_key = key is not None and _kind_of_safe(source, key) == "int"
    columns = [sa.func.count()]
    if has_key:
        column = origin.columns[key] if key in origin.columns else sa.column(key)
        columns.append(sa.func.sum(column))
    query = sa.select(*columns).select_from(origin)
    condition = source.where() if source.free_form is None else None
    if condition is not None:
        query = query.where(condition)
    row = conn.execute(query).one()
    key_sum = None
    if has_key:
        key_sum = int(row[1]) if row[1] is not None else 0
    return Measure(int(row[0]), key_sum)


def _kind_of_safe(source: Source, name: str) -> str | None:
    try:
        return _kind_of(source, name)
    except ExtractError:
        return None


# --- reading one range into one file -----------------------------------------------------


def _decoded(row) -> tuple:
    return tuple(decode_source_text(v) if isinstance(v, bytes) else v for v in row)


def _rows_to_parquet(
    conn: sa.Connection, statement, schema: pa.Schema, path: Path, *, raw_text: bool = False
) -> tuple:
    """Any database: a server-side cursor in chunks, converted row by row where needed.

    `raw_text`: text columns arrive as bytes (see `Source.raw_text`) and are decoded here.
    """
    rows = unparsable = 0
    result = conn.execution_options(stream_results=True, yield_per=CHUNK_ROWS).execute(statement)
    with pq.ParquetWriter(path, schema) as writer:
        for chunk in result.partitions():
            if raw_text:
                chunk = [_decoded(row) for row in chunk]
            batch = convert_rows(chunk, schema)
            writer.write_batch(batch)
            rows += batch.num_rows
            unparsable += batch.num_rows - batch.column(UNPARSABLE_COLUMN).null_count
    return rows, unparsable


@dataclass
class RangeResult:
    index: int
    rows: int
    unparsable: int
    method: str
    path: str


def _read_range(
    source: Source, index: int, extra, path: Path, snapshot: str | None, alone: bool = False
) -> RangeResult:
    driver = None if source.raw_text else pgcopy.copy_driver(source.engine)
    if driver is not None:
        try:
            statement = source.statement(extra, raw=False)
            if driver == "asyncpg":
                rows, bad = pgcopy.asyncpg_copy_to_parquet(
                    source.engine, statement, source.schema, path, snapshot
                )
                return RangeResult(index, rows, bad, "copy", str(path))
            with source_connection(source.engine, snapshot) as conn:
                rows, bad = pgcopy.psycopg_copy_to_parquet(
                    conn, statement, source.schema, path, alone=alone
                )
            return RangeResult(index, rows, bad, "copy", str(path))
        except pa.ArrowException as error:
            log.info("range %d: COPY values Arrow cannot parse (%s); row path", index, error)
    with source_connection(source.engine, snapshot) as conn:
        rows, bad = _rows_to_parquet(
            conn, source.statement(extra), source.schema, path, raw_text=source.raw_text
        )
    return RangeResult(index, rows, bad, "rows", str(path))


@dataclass
class ReadResult:
    rows: int
    unparsable: int
    files: list[str]
    ranges: list[dict]
    method: str
    source: Measure | None = None
    split_by: str | None = None
    bounds: list = field(default_factory=list)

    @property
    def range_rows(self) -> list[int]:
        return [r["rows"] for r in self.ranges]


def read_to_folder(
    source: Source,
    folder: Path,
    *,
    split_by: str | None = None,
    splits: int = 1,
    boundary_query: str | None = None,
    measure_key: str | None = None,
    connection: sa.Connection | None = None,
) -> ReadResult:
    """Read the source's rows into `folder`/part-<i>.parquet, one file per range.

    With `measure_key`, the source's count(*) and sum(key) under the same condition are
    measured in the same snapshot (for the reconciliation gate). `connection`: an open
    `source_connection` whose snapshot the read joins (an incremental import reads its
    upper bound there first); by default a new one.
    """
    if not 1 <= splits <= MAX_SPLITS:
        raise ExtractError(f"splits must be between 1 and {MAX_SPLITS}, not {splits}")
    if splits > 1 and not split_by:
        raise ExtractError("splits > 1 needs a split_by column")
    folder.mkdir(parents=True, exist_ok=True)
    with _joined(source.engine, connection) as coordinator:
        snapshot = export_snapshot(coordinator)
        ranges: list = [None]
        bounds: list = []
        if splits > 1:
            column = source.column(split_by)
            low, high = boundaries(coordinator, source, split_by, boundary_query)
            if low is not None:
                parts = split_ranges(low, high, splits)
                bounds = [[lower, upper] for lower, upper, _ in parts]
                ranges = [
                    range_condition(column, lower, upper, inclusive, i == 0)
                    for i, (lower, upper, inclusive) in enumerate(parts)
                ]
        measured = measure_source(coordinator, source, measure_key) if measure_key else None
        jobs = [(i, extra, folder / part_file(i)) for i, extra in enumerate(ranges)]
        if len(jobs) == 1:
            results = [_read_range(source, 0, ranges[0], jobs[0][2], snapshot, alone=True)]
        else:
            results = _parallel(source, jobs, snapshot)
    methods = {r.method for r in results}
    return ReadResult(
        rows=sum(r.rows for r in results),
        unparsable=sum(r.unparsable for r in results),
        files=[r.path for r in results],
        ranges=[{"rows": r.rows, "method": r.method} for r in results],
        method=methods.pop() if len(methods) == 1 else "mixed",
        source=measured,
        split_by=split_by if splits > 1 else None,
        bounds=bounds,
    )


@contextmanager
def _joined(engine: sa.Engine, connection: sa.Connection | None):
    if connection is not None:
        yield connection
        return
    with source_connection(engine) as conn:
        yield conn


def _parallel(source: Source, jobs: list, snapshot: str | None) -> list[RangeResult]:
    failed = threading.Event()

    def run(job):
        if failed.is_set():
            return None
        try:
            return _read_range(source, job[0], job[1], job[2], snapshot)
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="mlgate-read") as pool:
        futures = [pool.submit(run, job) for job in jobs]
        results, first_error = [], None
        for future in futures:
            try:
                results.append(future.result())
            except BaseException as error:  # noqa: BLE001 - re-raised below
                first_error = first_error or error
    if first_error is not None:
        raise first_error
    return results
