"""The web-shop demo (pipeline `shop`): will an active visitor place a paid order within 7 days?

- ``schema``: page events (a landing table), orders, visitors (SCD2) and products;
- ``simulate``: visitors, their visits and shopping journeys, promotions, orders, seeded;
- ``labels``: the target computed plainly with pandas (what the Spark labels are checked against);
- this module: the demo registry's entry points (``mlgate.demo.DEMOS``), the simulation
  written through SQLAlchemy by ``mlgate.demo.common``.
"""

from __future__ import annotations

import datetime as dt

from mlgate.demo.common import demo_period, write_demo_database
from mlgate.demo.shop import schema
from mlgate.demo.shop.labels import observation_labels
from mlgate.demo.shop.simulate import (
    DEFAULT_DAYS,
    DEFAULT_END_DATE,
    DEFAULT_EVENTS,
    DEFAULT_SEED,
    check_sizes,
    simulate,
)


def demo_generate(
    url: str,
    *,
    days: int = DEFAULT_DAYS,
    end_date: dt.date | str = DEFAULT_END_DATE,
    events: int | None = None,
    seed: int = DEFAULT_SEED,
    replace: bool = False,
    progress: bool = True,
) -> dict:
    """Simulate the shop's tables and write them to the database at `url`: the demo
    registry's entry point (mlgate.demo.DEMOS).

    Page events cover `days` whole days ending with `end_date` (inclusive), about `events`
    rows (None: DEFAULT_EVENTS). Raises SourceExistsError if the tables already hold data,
    unless `replace`. Returns a summary: url, rows per table, start, end, visitors (seen in
    the page events), paid_share (of the orders), observations and label_rate (the target
    at every midnight of the period with a whole week before and after it; see
    `observation_labels`)."""
    events = events or DEFAULT_EVENTS
    check_sizes(days, events)
    start_date, end_date = demo_period(days, end_date)
    shown_url, frames = write_demo_database(
        url,
        schema.metadata,
        lambda: simulate(days=days, end_date=end_date, events=events, seed=seed),
        replace=replace,
        progress=progress,
        announce=f"simulating ~{events:,} page events, {start_date} .. {end_date} (seed {seed})",
    )
    page_events, orders = frames["page_events"], frames["orders"]
    observed = observation_labels(page_events, orders, start=start_date, days=days)
    return {
        "url": shown_url,
        "rows": {name: len(frames[name]) for name in schema.TABLE_NAMES},
        "start": start_date.isoformat(),
        "end": end_date.isoformat(),
        "visitors": int(page_events["visitor_id"].nunique()),
        "paid_share": round(float((orders["status"] == "paid").mean()), 6) if len(orders) else 0.0,
        "observations": len(observed),
        "label_rate": round(float(observed["label"].mean()), 6) if len(observed) else None,
    }


def demo_summary(summary: dict) -> str:
    """What `mlgate generate --pipeline shop` prints after writing the shop demo."""
    rate = summary["label_rate"]
    observed = (
        f"{rate:.2%} of {summary['observations']:,} daily observations of active visitors "
        "see a paid order within 7 days"
        if rate is not None
        else "too few days for a week of activity and a week of horizon"
    )
    return (
        f"days {summary['start']} .. {summary['end']}; {summary['visitors']:,} visitors seen; "
        f"{summary['paid_share']:.1%} of orders paid; {observed}"
    )
