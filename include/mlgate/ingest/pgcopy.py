"""The PostgreSQL fast path of `mlgate.ingest.sqlread`: COPY into Parquet, parsed by Arrow.

`COPY (SELECT ...) TO STDOUT (FORMAT csv)` is read by asyncpg (its protocol code hands
over chunks of many rows: no per-row Python work) or, without asyncpg, row by row through
psycopg's libpq wrapper (about twice the client CPU), and parsed by Arrow's multi-threaded
CSV reader into the lake types. A range whose values Arrow cannot parse raises an
ArrowException; the caller then reads it again on the row path.
"""

from __future__ import annotations

import os
import re
import select
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import sqlalchemy as sa

from mlgate.ingest.lake import UNPARSABLE_COLUMN, ExtractError

CSV_BLOCK_BYTES = 1 << 20  # COPY data parsed at once: bounds one range's read memory
ROW_GROUP_ROWS = 32_768  # parsed blocks are gathered into row groups of about this size
SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f]+-[0-9A-Fa-f]+(-[0-9]+)?$")  # pg_export_snapshot()


def _copy_blocks(pgconn, size: int, blocking: bool = False) -> Iterator[bytes]:
    """The data of a running `COPY ... TO STDOUT`, as blocks of whole rows of ~`size` bytes.

    Rows arrive one protocol message each; they are gathered here (no per-row Python
    object beyond libpq's buffer) and handed on as one block, so the parser sees few large
    pieces. Waiting on the socket (select) releases the GIL for the other ranges; a read
    with a single range lets libpq block instead (measured: about 20% less CPU).
    """
    get = pgconn.get_copy_data
    mode = 0 if blocking else 1
    parts: list = []
    have = 0
    while True:
        count, data = get(mode)
        if count > 0:
            parts.append(data)
            have += count
            if have >= size:
                yield b"".join(parts)
                parts, have = [], 0
        elif count == 0:
            select.select([pgconn.socket], [], [])
            pgconn.consume_input()
        else:  # -1: the COPY is complete (-2: an error, reported by the final result)
            break
    if parts:
        yield b"".join(parts)


def _wait_result(pg):
    while True:
        while pg.is_busy():
            select.select([pg.socket], [], [])
            pg.consume_input()
        return pg.get_result()


def _csv_options(schema: pa.Schema):
    fields = [f for f in schema if f.name != UNPARSABLE_COLUMN]
    read = pcsv.ReadOptions(column_names=[f.name for f in fields], use_threads=True)
    convert = pcsv.ConvertOptions(
        column_types={f.name: f.type for f in fields},
        null_values=[""],  # COPY csv: NULL is an unquoted empty field, "" an empty string
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    parse = pcsv.ParseOptions(newlines_in_values=True)
    return read, parse, convert


def psycopg_copy_to_parquet(
    conn: sa.Connection, statement, schema: pa.Schema, path: Path, *, alone: bool = False
) -> tuple:
    """PostgreSQL + psycopg: COPY (statement) TO STDOUT as CSV, parsed by Arrow, to `path`.

    One loop, few hand-offs: gather a block of whole rows, parse it (Arrow, in parallel,
    without the GIL), gather parsed blocks into a row group of about ROW_GROUP_ROWS rows,
    write it. Memory is a block plus a row group, whatever the size of the table.
    """
    import psycopg
    from psycopg import pq as libpq

    compiled = statement.compile(dialect=conn.dialect)
    driver = conn.connection.driver_connection
    copy_sql = psycopg.ClientCursor(driver).mogrify(
        f"COPY ({compiled.string}) TO STDOUT WITH (FORMAT csv)", compiled.params
    )
    pg = driver.pgconn
    pg.send_query(copy_sql.encode(driver.info.encoding))
    while pg.flush() != 0:
        select.select([], [pg.socket], [])
    result = _wait_result(pg)
    if result is None or result.status != libpq.ExecStatus.COPY_OUT:
        message = (result.error_message.decode(errors="replace") if result else "").strip()
        while _wait_result(pg) is not None:
            pass
        raise ExtractError(f"the source refused the read: {message or 'no result'}")
    read, parse, convert = _csv_options(schema)
    rows = 0
    pending: list[pa.Table] = []

    def flush(writer: pq.ParquetWriter) -> None:
        table = pa.concat_tables(pending)
        marks = pa.nulls(table.num_rows, pa.string())
        writer.write_table(
            pa.Table.from_arrays([*table.columns, marks], schema=schema),
            row_group_size=table.num_rows,
        )
        pending.clear()

    was_nonblocking = pg.nonblocking
    if alone:
        pg.nonblocking = 0
    try:
        with pq.ParquetWriter(path, schema) as writer:
            for block in _copy_blocks(pg, CSV_BLOCK_BYTES, blocking=alone):
                parsed = pcsv.read_csv(
                    pa.py_buffer(block),
                    read_options=read,
                    parse_options=parse,
                    convert_options=convert,
                )
                pending.append(parsed)
                rows += parsed.num_rows
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    flush(writer)
            if pending:
                flush(writer)
    except BaseException:
        # The COPY may still be streaming: drop this connection rather than drain it.
        conn.invalidate()
        raise
    finally:
        if alone and not conn.invalidated:
            pg.nonblocking = was_nonblocking
    final = _wait_result(pg)
    while _wait_result(pg) is not None:
        pass
    if final is None or final.status != libpq.ExecStatus.COMMAND_OK:
        message = final.error_message.decode(errors="replace") if final else "no result"
        raise ExtractError(f"the COPY from the source failed: {message.strip()}")
    return rows, 0


class _ParquetSink:
    """Whole-row CSV chunks in, Parquet row groups out: gathers chunks into blocks of about
    CSV_BLOCK_BYTES, parses each with Arrow (in parallel, without the GIL) into the lake
    types, gathers parsed blocks into row groups of about ROW_GROUP_ROWS rows. Memory is
    one block plus one row group, whatever the size of the table."""

    def __init__(self, path: Path, schema: pa.Schema):
        self.schema = schema
        self.options = _csv_options(schema)
        self.writer = pq.ParquetWriter(path, schema)
        self.chunks: list = []
        self.size = 0
        self.parsed: list[pa.Table] = []
        self.parsed_rows = 0
        self.rows = 0

    def add(self, chunk) -> None:
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size >= CSV_BLOCK_BYTES:
            self._parse()

    def _parse(self) -> None:
        if not self.chunks:
            return
        read, parse, convert = self.options
        block = pa.py_buffer(b"".join(self.chunks))
        self.chunks, self.size = [], 0
        table = pcsv.read_csv(
            block, read_options=read, parse_options=parse, convert_options=convert
        )
        self.parsed.append(table)
        self.parsed_rows += table.num_rows
        self.rows += table.num_rows
        if self.parsed_rows >= ROW_GROUP_ROWS:
            self._write()

    def _write(self) -> None:
        if not self.parsed:
            return
        table = pa.concat_tables(self.parsed)
        marks = pa.nulls(table.num_rows, pa.string())
        self.writer.write_table(
            pa.Table.from_arrays([*table.columns, marks], schema=self.schema),
            row_group_size=table.num_rows,
        )
        self.parsed, self.parsed_rows = [], 0
        del table, marks
        # Hand freed blocks back to the OS: Arrow's allocator keeps them cached otherwise
        # (measured: about 20 MiB less peak memory per range).
        pa.default_memory_pool().release_unused()

    def close(self) -> int:
        self._parse()
        self._write()
        self.writer.close()
        return self.rows


def _asyncpg_dsn(engine: sa.Engine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def asyncpg_copy_to_parquet(
    engine: sa.Engine, statement, schema: pa.Schema, path: Path, snapshot: str | None
) -> tuple:
    """PostgreSQL: `COPY (statement) TO STDOUT (FORMAT csv)` read by asyncpg, whose
    protocol code hands over many rows per chunk (no per-row Python work), parsed by Arrow.

    The statement is compiled by SQLAlchemy's asyncpg dialect ($n placeholders) and its
    values are passed separately (asyncpg quotes them for COPY). The connection runs a
    REPEATABLE READ, READ ONLY transaction on the coordinator's snapshot, in UTC.
    """
    import asyncio

    import asyncpg
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    compiled = statement.compile(dialect=PGDialect_asyncpg())
    values = [compiled.params[name] for name in compiled.positiontup or []]

    async def run() -> int:
        conn = await asyncpg.connect(_asyncpg_dsn(engine), server_settings={"TimeZone": "UTC"})
        sink = _ParquetSink(path, schema)
        try:
            transaction = conn.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            if snapshot is not None:
                if not SNAPSHOT_ID.match(snapshot):
                    raise ExtractError(f"unexpected snapshot id from the server: {snapshot!r}")
                await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")

            async def output(chunk) -> None:
                sink.add(chunk)

            await conn.copy_from_query(compiled.string, *values, output=output, format="csv")
            await transaction.rollback()
            return sink.close()
        except BaseException:
            sink.writer.close()
            raise
        finally:
            await conn.close()

    try:
        return asyncio.run(run()), 0
    except asyncpg.PostgresError as error:
        raise ExtractError(f"the source refused the read: {error}") from None


def copy_driver(engine: sa.Engine) -> str | None:
    """Which COPY reader a PostgreSQL source gets: asyncpg, psycopg, or None (row path).

    MLGATE_EXTRACT_ROW_PATH=1 forces the row path; MLGATE_EXTRACT_COPY=psycopg the
    psycopg reader (both for comparisons and tests)."""
    if engine.dialect.name != "postgresql" or os.environ.get("MLGATE_EXTRACT_ROW_PATH") == "1":
        return None
    wanted = os.environ.get("MLGATE_EXTRACT_COPY", "")
    if wanted != "psycopg":
        try:
            import asyncpg  # noqa: F401

            return "asyncpg"
        except ImportError:
            pass
    return "psycopg" if engine.dialect.driver == "psycopg" else None


def holds_unchecked_text(engine: sa.Engine, *, free_form: str | None = None) -> bool:
    """A PostgreSQL database with encoding SQL_ASCII: it stores any bytes as text, and the
    server refuses to send text that is not UTF-8 to a UTF-8 client (the whole read fails),
    so its text columns are read as bytes (`text_as_bytes`); a free-form query's cannot be.
    """
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as conn:
        unchecked = conn.exec_driver_sql("SHOW server_encoding").scalar_one() == "SQL_ASCII"
    if unchecked and free_form is not None:
        raise ExtractError(
            "the source is a PostgreSQL database with encoding SQL_ASCII, whose text may hold "
            "bytes that are not UTF-8; a free-form query cannot be read safely from it: "
            "import the table (remove source.events.query) or convert the database to UTF8"
        )
    return unchecked


def text_as_bytes(column: sa.Column):
    """A text column as its stored bytes (bytea: no encoding check on the way out)."""
    if not isinstance(column.type, sa.String):
        return column
    return sa.func.convert_to(column, "SQL_ASCII", type_=sa.LargeBinary).label(column.name)


def utf8_client(url: str | sa.URL) -> dict:
    """create_engine options that make a libpq client (psycopg) talk UTF-8: a SQL_ASCII
    database would otherwise hand every text to the driver as bytes, and SQLAlchemy could
    not even read the server version; its text is read as bytes on purpose instead
    (`holds_unchecked_text`)."""
    try:
        driver = sa.make_url(url).get_dialect().driver
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError):
        return {}  # create_engine says what is wrong with the URL
    return (
        {"connect_args": {"client_encoding": "utf8"}} if driver in ("psycopg", "psycopg2") else {}
    )
