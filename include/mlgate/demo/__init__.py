"""The shipped demos: source databases of the shipped pipelines, and the broken feeds that
gates catch.

- ``schema``: the fraud demo's tables (a landing table with loose types, like real feeds);
- ``simulate``: customers, cards, merchants, transactions and late chargebacks, seeded;
- ``generate``: ``mlgate generate`` of the fraud demo, the simulation written to a database;
- ``shop``: the web-shop demo (page events, orders, SCD2 visitors), the same way;
- ``common``: what the demos share: writing their tables through SQLAlchemy;
- ``faults``: ``mlgate inject-fault``, a day broken the way real feeds break.

Only ``cli`` (and tests) import this package; the product never does (the import contracts
in pyproject.toml check it).
"""

from importlib import import_module
from types import ModuleType

# The pipelines a demo database ships with: pipeline name -> the module that writes it.
# Each module has demo_generate(url, *, days, end_date, events, seed, replace, progress)
# -> summary dict (url, rows per table, start, end, ...) and demo_summary(summary) -> str.
DEMOS = {"fraud": "mlgate.demo.generate", "shop": "mlgate.demo.shop"}


def demo_for(pipeline: str) -> ModuleType:
    """The demo data module of a shipped pipeline; KeyError naming the demos otherwise."""
    if pipeline not in DEMOS:
        raise KeyError(
            f"pipeline {pipeline!r} has no demo data (demos: {', '.join(sorted(DEMOS))}); "
            "point its source.url at your own database instead"
        )
    return import_module(DEMOS[pipeline])
