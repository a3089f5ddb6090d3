"""Getting data in: from a SQL source into the Parquet lake, checked row by row.

- ``lake``: the lake's types, the conversion of source values to them, partitions and
  their manifests;
- ``sqlread`` (+ ``pgcopy``, its PostgreSQL COPY path): parallel, streamed, read-only
  reads of a table or query into Parquet files, in one snapshot;
- ``extract``: the windowed import of a run (the days of its window, label and dimension
  snapshots); ``incremental``: Sqoop's append and lastmodified imports;
- ``reconcile``: the source's count and key sum vs the lake (the reconciliation gate);
- ``records``: the record rules and the quarantine of the rows that break them.

May import the core (config, paths, window, runs) and ``mlgate.gates``; never ``ml``,
Spark, MLflow or Airflow (the import contracts in pyproject.toml check it).
"""
