"""The spark-submit entry points: `main()` plus the pure transforms of ``mlgate.ml``.

- ``features_job``, ``train_job``, ``evaluate_job``, ``score_job``: one Spark job each,
  started by the DAGs' SparkSubmitOperator (or by hand: ``python -m mlgate.jobs.<name>``);
- ``common``: their arguments, Spark session and lake reads;
- ``submit``: what the DAG files pass to spark-submit (imported at parse time: no Spark).

May import every product package but ``stages``; never ``local``, ``demo``, ``cli`` or
Airflow (the import contracts in pyproject.toml check it).
"""
