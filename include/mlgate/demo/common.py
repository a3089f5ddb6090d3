"""What every demo shares: its period's dates, and writing its simulated tables through
SQLAlchemy into any database (with a progress bar), refusing to overwrite data unasked."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import MetaData, Table, create_engine, inspect, literal, select
from sqlalchemy.engine import make_url
from tqdm import tqdm

INSERT_CHUNK_ROWS = 50_000


class SourceExistsError(RuntimeError):
    """The target database already holds the demo tables with data (pass --replace)."""


def as_date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def demo_period(days: int, end_date: dt.date | str) -> tuple[dt.date, dt.date]:
    """The first and the last of `days` whole days ending with `end_date` (inclusive)."""
    end_date = as_date(end_date)
    return end_date - dt.timedelta(days=days - 1), end_date


def _python_columns(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Column values as plain Python objects (int, float, str, datetime; None for a null)."""
    out = []
    for name in columns:
        column = frame[name]
        values = column.to_numpy()
        if np.issubdtype(values.dtype, np.datetime64):
            out.append(values.astype("datetime64[s]").astype(object).tolist())
        elif column.hasnans:  # NaN or NA is NULL, not a number
            out.append(column.astype(object).where(column.notna(), None).tolist())
        elif values.dtype == object:
            out.append(list(values))
        else:
            out.append(values.tolist())
    return out


def _insert(conn, table: Table, frame: pd.DataFrame, bar: tqdm) -> None:
    columns = [c.name for c in table.columns]
    for first in range(0, len(frame), INSERT_CHUNK_ROWS):
        values = _python_columns(frame.iloc[first : first + INSERT_CHUNK_ROWS], columns)
        rows = [dict(zip(columns, row)) for row in zip(*values)]
        conn.execute(table.insert(), rows)
        bar.update(len(rows))


def _prepare_sqlite_folder(url: str) -> None:
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return
    if database.startswith("file:"):  # a URI filename (?uri=true)
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _tables_with_data(engine, metadata: MetaData) -> list[str]:
    existing = set(inspect(engine).get_table_names())
    found = []
    with engine.connect() as conn:
        for name, table in metadata.tables.items():
            if name in existing:
                if conn.execute(select(literal(1)).select_from(table).limit(1)).first():
                    found.append(name)
    return found


def write_demo_database(
    url: str,
    metadata: MetaData,
    simulate: Callable[[], dict[str, pd.DataFrame]],
    *,
    replace: bool,
    progress: bool,
    announce: str,
) -> tuple[str, dict[str, pd.DataFrame]]:
    """Simulate a demo's tables and write them to the database at `url`.

    Refuses (SourceExistsError) before simulating anything when the tables of `metadata`
    already hold data, unless `replace` (then they are dropped and created again). A SQLite
    file's folder is created. `simulate()` returns a frame per table of `metadata` (extra
    columns, e.g. a ground truth, are not written). With `progress`, `announce` and a
    progress bar go to stderr. Returns the URL as shown (password hidden) and the frames.
    """
    shown_url = make_url(url).render_as_string(hide_password=True)
    _prepare_sqlite_folder(url)
    engine = create_engine(url)
    try:
        if not replace:
            filled = _tables_with_data(engine, metadata)
            if filled:
                raise SourceExistsError(
                    f"{shown_url} already holds source data (tables: {', '.join(filled)}); "
                    "pass --replace (replace=True) to drop those tables and generate them again"
                )
        began = time.monotonic()
        if progress:
            print(announce, file=sys.stderr)
        frames = simulate()
        total = sum(len(frames[name]) for name in metadata.tables)
        with tqdm(
            total=total,
            desc="writing source tables",
            unit="row",
            unit_scale=True,
            file=sys.stderr,
            disable=not progress,
        ) as bar:
            metadata.drop_all(engine, checkfirst=True)
            metadata.create_all(engine)
            with engine.begin() as conn:
                for name, table in metadata.tables.items():
                    bar.set_postfix_str(name)
                    _insert(conn, table, frames[name], bar)
    finally:
        engine.dispose()
    if progress:
        print(f"done in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return shown_url, frames
