"""The shop pipeline's target computed plainly from the demo's tables with pandas, apart
from the Spark code that computes it for training: the tests compare the two."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd


def observation_labels(
    page_events: pd.DataFrame,
    orders: pd.DataFrame,
    *,
    start: dt.date,
    days: int,
    active_days: int = 7,
    horizon_days: int = 7,
) -> pd.DataFrame:
    """The shop pipeline's target computed plainly from the tables, at every midnight d of
    the period whose lookback and horizon lie inside it: (visitor_id, day, label), one row
    per visitor with a page event in [d - active_days, d), label 1 when the visitor placed
    a paid order in [d, d + horizon_days). `day` counts days from `start`."""
    origin = pd.Timestamp(start)

    def day_of(times: pd.Series) -> np.ndarray:
        return ((pd.to_datetime(times) - origin) // pd.Timedelta(days=1)).to_numpy()

    def spread(visitor: np.ndarray, first: np.ndarray, count: int) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "visitor_id": np.repeat(visitor, count),
                "day": np.add.outer(first, np.arange(count)).ravel(),
            }
        )
        return frame.drop_duplicates()

    active = pd.DataFrame(
        {"visitor_id": page_events["visitor_id"], "day": day_of(page_events["occurred_at"])}
    )
    active = active.drop_duplicates()
    # An event on day e makes the visitor observed at the midnights e+1 .. e+active_days.
    observed = spread(active["visitor_id"].to_numpy(), active["day"].to_numpy() + 1, active_days)
    observed = observed[(observed["day"] >= active_days) & (observed["day"] <= days - horizon_days)]
    paid = orders[orders["status"] == "paid"]
    # A paid order on day k is in the horizon of the midnights k-horizon_days+1 .. k.
    positive = spread(
        paid["visitor_id"].to_numpy(), day_of(paid["created_at"]) - horizon_days + 1, horizon_days
    ).assign(label=1)
    labelled = observed.merge(positive, on=["visitor_id", "day"], how="left")
    labelled["label"] = labelled["label"].fillna(0).astype(int)
    return labelled.sort_values(["day", "visitor_id"]).reset_index(drop=True)
