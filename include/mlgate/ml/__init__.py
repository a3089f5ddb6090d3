"""The model side: features, labels, the split, training, plots, the assertion set.

Pure Spark transforms and helpers (DataFrames in, DataFrames out, no lake or MLflow I/O):
the spark-submit jobs (``mlgate.jobs``) read and write around them.

- ``features``: joins and windowed per-entity features, strictly from earlier rows;
- ``labels``: labels as of an instant, with their maturity;
- ``split``: the time-gapped train / holdout split;
- ``training``: the Spark ML pipeline, its search, effort and importances;
- ``plots``: the PNG plots logged with each candidate;
- ``assertions``: the curated examples of the assertion_set gate.

May import the core and ``mlgate.gates`` (metrics); never ``ingest``, MLflow or Airflow.
"""
