"""Local launchers: the embedded default and the services on one machine.

- ``embedded``: the environment of real Airflow, Spark and MLflow on the state folder, and
  ``airflow dags test`` for one day (``mlgate run-day``, ``make run``); ``dagrun``: that
  run's task states, read from Airflow's metadata DB while it goes;
- ``services``: ``mlgate services start|stop|status``, the Airflow api-server, scheduler,
  dag-processor and triggerer, the MLflow UI and the mail sink as background processes
  (``spark_cluster``: the optional Spark standalone cluster; ``airflow_api``: the REST
  API as the launchers use it; ``processes``: pids, ports and logs);
- ``mailsink``: the local SMTP server that keeps alert emails as files.

Only ``cli`` (and tests) import this package; the product never does (the import contracts
in pyproject.toml check it).
"""
