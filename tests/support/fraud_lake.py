"""A simulated fraud lake ($MLGATE_STATE must be set): for the online tests, which read the
lake as the Spark feature job does without running an import."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd

from mlgate.config import PipelineConfig
from mlgate.ingest import status
from mlgate.paths import table_partition


def write_fraud_lake(cfg: PipelineConfig, run: date, *, days: int = 20, events: int = 6_000):
    """``days`` simulated days of transactions up to ``run``, every day accepted, and the
    dimensions as the run of ``run`` landed them."""
    from mlgate.demo.simulate import simulate

    data = simulate(days=days, end_date=run, transactions=events, seed=11)
    tx = data["transactions"].drop(columns=["is_fraud"])
    tx["created_at"] = pd.to_datetime(tx["created_at"])
    # decimal, as the extract lands a SQL NUMERIC: both paths must read it as a double
    tx["amount"] = [Decimal(f"{v:.2f}") for v in tx["amount"]]
    landed = sorted(tx["created_at"].dt.date.unique())
    for day in landed:
        folder = table_partition(cfg.name, "transactions", day.isoformat())
        folder.mkdir(parents=True)
        rows = tx[tx["created_at"].dt.date == day]
        rows.to_parquet(folder / "part-0.parquet", index=False, coerce_timestamps="us")
    decider = status.Decider(cfg.name, run.isoformat(), "test")
    status.set_status(cfg.name, "transactions", landed, status.ACCEPTED, decider)
    for table in ("cards", "merchants", "customers"):
        folder = table_partition(cfg.name, table, run.isoformat())
        folder.mkdir(parents=True)
        data[table].to_parquet(folder / "part-0.parquet", index=False)
    return landed
