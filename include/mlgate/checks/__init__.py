"""Data checks with Great Expectations: suites kept as JSON, run on a table.

- ``expectations``: load and validate a suite file, run it on a frame, and report each
  failed expectation with its column and examples (``CheckReport``); the
  ``data_expectations`` gate (``mlgate.gates``) judges the reports.

May import the core; never ``ml``, ``ingest``, Spark, MLflow or Airflow.
"""
