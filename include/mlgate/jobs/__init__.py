"""The spark-submit entry points: `main()` plus the pure transforms of ``mlgate.ml``.

- ``features_job``, ``train_job``, ``score_job``: one Spark job each, started by the
  DAGs' SparkSubmitOperator (or by hand: ``python -m mlgate.jobs.<name>``);
- ``evaluation``: the train job's evaluation of its candidate against the champion, and
  the model gates computed from those scores;
- ``common``: their arguments, Spark session and lake reads;
- ``submit``: what the DAG files pass to spark-submit (imported at parse time: no Spark).

May import every product package but ``stages``; never ``local``, ``demo``, ``cli`` or
Airflow (the import contracts in pyproject.toml check it).
"""
