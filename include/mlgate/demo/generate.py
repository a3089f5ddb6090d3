"""`mlgate generate`: the demo source database, simulated (`mlgate.demo.simulate`) and
written through SQLAlchemy into the tables of `mlgate.demo.schema` at any URL."""

from __future__ import annotations

import argparse
import datetime as dt

from mlgate.demo import schema
from mlgate.demo.common import SourceExistsError, demo_period, write_demo_database
from mlgate.demo.shop.simulate import DEFAULT_EVENTS as DEFAULT_SHOP_EVENTS
from mlgate.demo.simulate import (
    DEFAULT_DAYS,
    DEFAULT_END_DATE,
    DEFAULT_SEED,
    DEFAULT_TRANSACTIONS,
    check_sizes,
    simulate,
)

__all__ = ["SourceExistsError", "add_arguments", "demo_generate", "demo_summary", "generate"]


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
    start_date, end_date = demo_period(days, end_date)
    shown_url, frames = write_demo_database(
        url,
        schema.metadata,
        lambda: simulate(days=days, end_date=end_date, transactions=transactions, seed=seed),
        replace=replace,
        progress=progress,
        announce=f"simulating ~{transactions:,} transactions, {start_date} .. {end_date} "
        f"(seed {seed})",
    )
    tx = frames["transactions"]
    labelled = frames["chargebacks"]["transaction_id"].nunique()
    return {
        "url": shown_url,
        "rows": {name: len(frame) for name, frame in frames.items()},
        "fraud_rate": round(float(tx["is_fraud"].mean()), 6),
        "labelled_fraud_rate": round(labelled / len(tx), 6),
        "start": start_date.isoformat(),
        "end": end_date.isoformat(),
    }


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
        help=f"number of whole days of events, ending with --end-date (default: {DEFAULT_DAYS})",
    )
    parser.add_argument(
        "--end-date",
        type=_iso_date,
        default=DEFAULT_END_DATE,
        metavar="YYYY-MM-DD",
        help="last day of generated events, inclusive; fixed by default so runs are "
        f"reproducible (default: {DEFAULT_END_DATE.isoformat()})",
    )
    parser.add_argument(
        "--events",
        "--transactions",
        dest="events",
        type=_positive_int,
        default=None,
        help="approximate number of events (transactions, page events) to generate "
        f"(default: the demo's own: {DEFAULT_TRANSACTIONS:,} for fraud, "
        f"{DEFAULT_SHOP_EVENTS:,} for shop)",
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
