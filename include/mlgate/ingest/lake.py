"""The Parquet lake: its types, the conversion of source values to them, its partitions.

A table lands in ``lake/<table>/ds=<YYYY-MM-DD>/`` as ``part-<i>.parquet`` files plus a
``_manifest.json`` written last (Spark and pyarrow skip files that start with "_"), so a
partition without a manifest was never completely written.

Every column of the lake is nullable, and every events and snapshot partition has an extra
last column, ``_unparsable``: a value the lake type cannot hold (SQLite is dynamically
typed: 'abc' in a NUMERIC column, '2026-13-45' in a DATETIME column) does not stop the
import; it is written as null and ``_unparsable`` names the column(s) it happened in, so the
record rules (``mlgate.ingest.records``) quarantine the row with reason
``unparsable:<column>``. Text whose bytes are not valid UTF-8 (SQLite stores what it is
given) is named as ``invalid_utf8:<column>`` instead, and quarantined with that reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from mlgate.config import CONDITIONS_PLACEHOLDER
from mlgate.errors import PermanentError
from mlgate.paths import table_partition

MANIFEST_FILE = "_manifest.json"  # Spark and pyarrow skip files starting with "_"
PART_FILE = "part-00000.parquet"
# Extra column of every events and snapshot partition: comma-joined names of the columns
# whose source value could not be converted to the lake type (null when all parsed).
UNPARSABLE_COLUMN = "_unparsable"
# How `_unparsable` names a column whose source text was not valid UTF-8.
INVALID_UTF8_MARK = "invalid_utf8:"
# Rows a task process outside Spark reads from a lake partition at once (the record rules,
# the reconciliation's key sum): its memory stays flat however large the day is.
READ_BATCH_ROWS = 10_000


class InvalidText(bytes):
    """The raw bytes of a source text that is not valid UTF-8 (see `decode_source_text`)."""


def decode_source_text(raw: bytes) -> str | InvalidText:
    """A text value from the driver: its UTF-8 decoding, or its bytes kept as InvalidText,
    so one bad row is quarantined instead of stopping the import."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return InvalidText(raw)


class ExtractError(RuntimeError):
    """The source could not be read as the config describes; the message says why."""


class SourceMismatchError(ExtractError, PermanentError):
    """The source lacks what the pipeline names, or rejects its query: a retry fails alike."""


def rejected_by_source(error: sa.exc.DBAPIError) -> bool:
    """The database refused the statement itself (unknown table or column, bad syntax), as
    it will on every retry; a busy, locked or unreachable database is not this."""
    if isinstance(error, sa.exc.ProgrammingError):  # PostgreSQL's SQLSTATE class 42
        return True
    # sqlite3 raises OperationalError for both; its error code tells them apart
    return getattr(error.orig, "sqlite_errorname", None) == "SQLITE_ERROR"


@dataclass(frozen=True)
class Measure:
    """Rows and the sum of the (integer) key column; key_sum is None for other keys."""

    rows: int
    key_sum: int | None

    def to_dict(self) -> dict:
        return {"rows": self.rows, "key_sum": self.key_sum}


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
    if isinstance(value, InvalidText):
        return _NOT_CONVERTIBLE
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
    for each row the comma-joined names of those columns (null when every value parsed),
    a column whose text was not valid UTF-8 as `invalid_utf8:<column>`.
    """
    fields = [field for field in schema if field.name != UNPARSABLE_COLUMN]
    columns = list(zip(*rows)) if rows else [() for _ in fields]
    arrays: list[pa.Array] = []
    unparsable: dict[int, list[str]] = {}
    for values, field in zip(columns, fields):
        array, bad = _to_arrow(values, field.type)
        arrays.append(array)
        for row in bad:
            invalid = isinstance(values[row], InvalidText)
            mark = f"{INVALID_UTF8_MARK}{field.name}" if invalid else field.name
            unparsable.setdefault(row, []).append(mark)
    marks = [None] * len(rows)
    for row, names in unparsable.items():
        marks[row] = ",".join(names)
    arrays.append(pa.array(marks, type=pa.string()))
    return pa.record_batch(arrays, schema=schema)


def _schema_text(schema: pa.Schema) -> dict[str, str]:
    return {f.name: str(f.type) for f in schema}


def check_source_schema(pipeline: str, name: str, ds: str, schema: pa.Schema) -> None:
    """Refuse a source whose columns or types changed since the lake's newest partition.

    The partitions of a table are read together (a training window, a Spark job), so they
    must share one schema: a column that became text, a decimal whose scale changed or a
    column that disappeared stops the import with the differences, instead of landing a
    partition that breaks every reader later.
    """
    folder = table_partition(pipeline, name, ds).parent
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


def partition_manifest(pipeline: str, name: str, ds: str) -> dict | None:
    """The `_manifest.json` of a complete partition, or None."""
    path = table_partition(pipeline, name, ds) / MANIFEST_FILE
    return json.loads(path.read_text()) if path.exists() else None


def partition_rows(pipeline: str, name: str, ds: str) -> int | None:
    """Rows recorded for a complete partition, or None when it was never fully written.

    A partition written before the lake had the `_unparsable` column also counts as
    missing, so the days of one window always share one schema.
    """
    folder = table_partition(pipeline, name, ds)
    manifest = folder / MANIFEST_FILE
    if not manifest.exists():
        return None
    try:
        if UNPARSABLE_COLUMN not in pq.read_schema(folder / PART_FILE).names:
            return None
    except (OSError, pa.ArrowInvalid):
        return None
    return json.loads(manifest.read_text())["rows"]


def read_batches(
    paths: list[Path], columns: list[str] | None = None, batch_rows: int = READ_BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The rows of these Parquet files in their order, at most `batch_rows` at a time.

    One row group at a time: letting pyarrow read across row groups held several times
    more memory (about 100 MB against 30 on a 3M-row day of 50k-row groups).
    """
    for path in paths:
        parquet = pq.ParquetFile(path)
        for group in range(parquet.num_row_groups):
            yield from parquet.iter_batches(
                batch_size=batch_rows, row_groups=[group], columns=columns, use_threads=False
            )


def measure_files(paths: list[Path], key: str | None) -> Measure:
    """Rows (from the Parquet metadata) and sum of the integer key column over Parquet files
    (read in batches)."""
    rows, total, integer_key = 0, 0, False
    for path in paths:
        parquet = pq.ParquetFile(path)
        rows += parquet.metadata.num_rows
        if key is None or key not in parquet.schema_arrow.names:
            continue
        if not pa.types.is_integer(parquet.schema_arrow.field(key).type):
            continue
        integer_key = True
        for batch in read_batches([path], [key]):
            summed = pc.sum(batch.column(0).cast(pa.decimal128(38, 0))).as_py()
            total += int(summed or 0)
    return Measure(rows, total if integer_key else None)


def key_values(paths: list[Path], key: str) -> set:
    """Every value of the key column in these Parquet files."""
    values: set = set()
    for path in paths:
        parquet = pq.ParquetFile(path)
        if key in parquet.schema_arrow.names:
            values.update(parquet.read(columns=[key]).column(key).to_pylist())
    return values


def partition_keys(pipeline: str, name: str, ds: str, key: str) -> set | None:
    """The keys of a complete partition (None when there is none), read before a re-import
    replaces it, so the rows deleted at the source since then can be named."""
    folder = table_partition(pipeline, name, ds)
    if not (folder / MANIFEST_FILE).exists():
        return None
    return key_values(sorted(folder.glob("*.parquet")), key)


def key_changes(previous: set, current: set, *, sample: int = 20) -> dict:
    """What a re-import changed: rows of the previous import whose key is gone from the
    source now (deleted after import) and rows it did not have."""
    deleted = sorted((k for k in previous - current if k is not None), key=str)
    return {
        "previous_rows": len(previous),
        "deleted": len(deleted),
        "added": len(current - previous),
        "deleted_keys": deleted[:sample],
    }


def measure_partition(pipeline: str, name: str, ds: str, key: str | None):
    """Rows and sum of the key column actually in the partition's Parquet files."""
    folder = table_partition(pipeline, name, ds)
    return measure_files(sorted(folder.glob("*.parquet")), key)


# --- schema of a free-form query ---------------------------------------------------------

_PG_TYPES = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    700: pa.float64(),
    701: pa.float64(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


def free_form_schema(engine: sa.Engine, query: str, table: sa.Table) -> pa.Schema:
    """The lake schema of a free-form query's result, read from `WHERE (1 = 0)` (no rows).

    PostgreSQL names the result's types (numeric precision and scale included); on other
    databases a column named like one of `table`'s takes its declared type, others are text.
    """
    with engine.connect() as conn:
        try:
            result = conn.execute(sa.text(query.replace(CONDITIONS_PLACEHOLDER, "(1 = 0)")))
        except sa.exc.DBAPIError as error:
            if rejected_by_source(error):
                raise SourceMismatchError(
                    f"the source rejects the free-form query source.events.query: {error.orig}; "
                    "fix the query in the pipeline file"
                ) from None
            raise ExtractError(f"the free-form query failed: {error.orig}") from None
        names = list(result.keys())
        description = result.cursor.description or []
        result.close()
    if UNPARSABLE_COLUMN in names:
        raise SourceMismatchError(
            f"the free-form query returns a column named {UNPARSABLE_COLUMN!r}; rename it"
        )
    if len(set(names)) != len(names):
        raise ExtractError(f"the free-form query returns duplicate column names: {names}")
    fields = []
    for name, column in zip(names, description):
        kind = None
        if engine.dialect.name == "postgresql":
            code = getattr(column, "type_code", None) or column[1]
            kind = _PG_TYPES.get(code)
            if code == 1700:  # numeric
                precision, scale = getattr(column, "precision", None), getattr(column, "scale", 0)
                kind = arrow_type(sa.Numeric(precision, scale or 0))
        if kind is None:
            kind = arrow_type(table.columns[name]) if name in table.columns else pa.string()
        fields.append(pa.field(name, kind, nullable=True))
    return pa.schema([*fields, pa.field(UNPARSABLE_COLUMN, pa.string(), nullable=True)])
