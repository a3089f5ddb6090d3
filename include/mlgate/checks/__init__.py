"""Data checks with Great Expectations: suites kept as JSON, run on a table.

- ``expectations``: load and validate a suite file, run it on a pandas frame or a Spark
  DataFrame, and report each failed expectation with its column and examples
  (``CheckReport``); the ``data_expectations`` gate (``mlgate.gates``) judges the reports;
- ``derived``: the suite entries the pipeline config implies (the joined columns' checks).

May import the core; never ``ml``, ``ingest``, MLflow or Airflow. Spark only inside
``run_suite``, for a Spark DataFrame a Spark job passes in.
"""
