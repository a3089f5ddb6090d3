"""mlgate: daily retraining in Airflow, promoted only through validation gates.

The package is laid out by concern; docs/architecture.md draws the layers and says where
to go for each kind of change. From the bottom up:

- core: ``paths`` (the state folder), ``window`` (every date range), ``config`` (the YAML
  config), ``runs`` (the run folder's files and the MLflow tag names);
- ``gates`` (pure verdict logic), ``registry`` (MLflow registry, champion, history);
- ``ingest`` (source -> lake, record rules), ``checks`` (Great Expectations), ``ml``
  (features, labels, split, training), ``export`` (ONNX twin), ``serving``, ``alerts``;
- ``stages`` (what each DAG task does) and ``jobs`` (the spark-submit entry points);
- beside the product: ``local`` (launchers of the embedded default) and ``demo`` (the
  shipped demo data and faults), imported only by ``cli``, the top.

The import contracts in pyproject.toml check these layers on every ``make test``.
"""
