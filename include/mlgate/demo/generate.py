"""`mlgate generate`: the demo source database, simulated (`mlgate.demo.simulate`) and
written through SQLAlchemy into the tables of `mlgate.demo.schema` at any URL."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Table, create_engine, inspect, literal, select
from sqlalchemy.engine import make_url
from tqdm import tqdm

from mlgate.demo import schema
from mlgate.demo.simulate import (
    DEFAULT_DAYS,
    DEFAULT_END_DATE,
    DEFAULT_SEED,
    DEFAULT_TRANSACTIONS,
    as_date,
    check_sizes,
    simulate,
)

INSERT_CHUNK_ROWS = 50_000


class SourceExistsError(RuntimeError):
    """The target database already holds the demo tables with data (pass --replace)."""


def _python_columns(frame: pd.DataFrame, columns: list[str]) -> list[list]:
    """Column values as plain Python objects (int, float, str, None, datetime)."""
    out = []
    for name in columns:
        values = frame[name].to_numpy()
        if np.issubdtype(values.dtype, np.datetime64):
            out.append(values.astype("datetime64[s]").astype(object).tolist())
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


def _tables_with_data(engine) -> list[str]:
    existing = set(inspect(engine).get_table_names())
    found = []
    with engine.connect() as conn:
        for name in schema.TABLE_NAMES:
            if name in existing:
                table = schema.metadata.tables[name]
                if conn.execute(select(literal(1)).select_from(table).limit(1)).first():
                    found.append(name)
    return found


def generate(
    url: str,
    *,
    days: int = DEFAULT_DAYS,
    end_date: dt.date | str = DEFAULT_END_DATE,
    transactions: int = DEFAULT_TRANSACTIONS,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
    progress: bool = True,
) -> dict:
    """Simulate the demo source data and write it to the database at `url`.

    Transactions cover `days` whole days ending with `end_date` (inclusive), about
    `transactions` rows in all. Raises SourceExistsError if the tables already hold data,
    unless `replace` is true (then they are dropped and created again).
    Returns a summary: url, rows per table, fraud_rate, labelled_fraud_rate, start, end.
    """
    check_sizes(days, transactions)
    end_date = as_date(end_date)
    start_date = end_date - dt.timedelta(days=days - 1)
    shown_url = make_url(url).render_as_string(hide_password=True)
    _prepare_sqlite_folder(url)
    engine = create_engine(url)
    try:
        if not replace:
            filled = _tables_with_data(engine)
            if filled:
                raise SourceExistsError(
                    f"{shown_url} already holds source data (tables: {', '.join(filled)}); "
                    "pass --replace (replace=True) to drop those tables and generate them again"
                )
        began = time.monotonic()
        if progress:
            print(
                f"simulating ~{transactions:,} transactions, {start_date} .. {end_date} "
                f"(seed {seed})",
                file=sys.stderr,
            )
        frames = simulate(days=days, end_date=end_date, transactions=transactions, seed=seed)
        total = sum(len(f) for f in frames.values())
        with tqdm(
            total=total,
            desc="writing source tables",
            unit="row",
            unit_scale=True,
            file=sys.stderr,
            disable=not progress,
        ) as bar:
            schema.metadata.drop_all(engine, checkfirst=True)
            schema.metadata.create_all(engine)
            with engine.begin() as conn:
                for name, table in schema.metadata.tables.items():
                    bar.set_postfix_str(name)
                    _insert(conn, table, frames[name], bar)
    finally:
        engine.dispose()

    tx = frames["transactions"]
    labelled = frames["chargebacks"]["transaction_id"].nunique()
    summary = {
        "url": shown_url,
        "rows": {name: len(frame) for name, frame in frames.items()},
        "fraud_rate": round(float(tx["is_fraud"].mean()), 6),
        "labelled_fraud_rate": round(labelled / len(tx), 6),
        "start": start_date.isoformat(),
        "end": end_date.isoformat(),
    }
    if progress:
        print(f"done in {time.monotonic() - began:.1f}s", file=sys.stderr)
    return summary


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _iso_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-10-31") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the `generate` command: url, days, end_date, transactions, seed, replace
    (generate()'s keywords) and quiet (call generate with progress=not quiet).
    --url defaults to None: the caller substitutes the configured source URL."""
    parser.add_argument(
        "--url",
        default=None,
        help="SQLAlchemy URL of the database to fill (default: the pipeline's source URL, "
        "i.e. $MLGATE_SOURCE_URL or source.url of its YAML file)",
    )
    parser.add_argument(
        "--days",
        type=_positive_int,
        default=DEFAULT_DAYS,
        help=f"number of whole days of transactions, ending with --end-date "
        f"(default: {DEFAULT_DAYS})",
    )
    parser.add_argument(
        "--end-date",
        type=_iso_date,
        default=DEFAULT_END_DATE,
        metavar="YYYY-MM-DD",
        help="last day of generated transactions, inclusive; fixed by default so runs are "
        f"reproducible (default: {DEFAULT_END_DATE.isoformat()})",
    )
    parser.add_argument(
        "--events",
        "--transactions",
        dest="events",
        type=_positive_int,
        default=None,
        help="approximate number of events (transactions, page events) to generate "
        f"(default: the demo's own, {DEFAULT_TRANSACTIONS:,} for the fraud demo)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="random seed; the same seed and options give identical data "
        f"(default: {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="drop and recreate the source tables if they already hold data "
        "(without it, existing data is an error)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar or messages on stderr",
    )


def demo_generate(url: str, *, days, end_date, events, seed, replace, progress) -> dict:
    """The demo registry's entry point (mlgate.demo.DEMOS): the card-fraud database."""
    return generate(
        url,
        days=days,
        end_date=end_date,
        transactions=events or DEFAULT_TRANSACTIONS,
        seed=seed,
        replace=replace,
        progress=progress,
    )


def demo_summary(summary: dict) -> str:
    """What `mlgate generate` prints after writing the fraud demo."""
    return (
        f"days {summary['start']} .. {summary['end']}; fraud rate {summary['fraud_rate']:.3%} "
        f"(labelled by chargebacks so far: {summary['labelled_fraud_rate']:.3%})"
    )
