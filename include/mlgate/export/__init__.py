"""The portable twin of a Spark model: ONNX export at training time, and its scorer.

- ``to_onnx``: a fitted Spark ``PipelineModel`` -> one faithful ONNX graph (float64), logged
  with the candidate's MLflow run;
- ``portable``: the graph's input spec and the ONNX Runtime scorer (no Spark, no MLflow
  at import: the scoring service imports it).

May import the core and ``mlgate.ml``; never ``ingest``, ``stages`` or Airflow.
"""
