"""The shipped demo: a card-fraud source database and the broken feeds that gates catch.

- ``schema``: the demo source tables (a landing table with loose types, like real feeds);
- ``simulate``: customers, cards, merchants, transactions and late chargebacks, seeded;
- ``generate``: ``mlgate generate``, the simulation written through SQLAlchemy;
- ``faults``: ``mlgate inject-fault``, a day broken the way real feeds break.

Only ``cli`` (and tests) import this package; the product never does (the import contracts
in pyproject.toml check it).
"""
