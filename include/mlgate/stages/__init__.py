"""What each DAG task does, as plain functions of (config, day, run options): no Airflow.

- ``common``: the run's options (Params), its one MLflow run, its gate report;
- ``extract``, ``checks``, ``evaluate`` (the gates task), ``promote``: the retrain DAG's
  non-Spark tasks, in order;
- ``score``: the batch-scoring DAG's non-Spark tasks.

The DAG files call ``STAGES[name]`` inside their tasks. May import every product package
(ingest, checks, gates, ml, export, serving, registry, alerts); never ``local``, ``demo``
or ``cli``, and never Airflow (the import contracts in pyproject.toml check it).
"""

from mlgate.stages.checks import check_features, check_raw
from mlgate.stages.common import DRY_RUN, ENFORCE, GateFailed, RunOptions
from mlgate.stages.evaluate import evaluate_gates
from mlgate.stages.extract import extract
from mlgate.stages.promote import promote

# The retrain DAG's stages that take (config, day, options), by task.
STAGES = {
    "check_raw": check_raw,
    "check_features": check_features,
    "evaluate_gates": evaluate_gates,
    "promote": promote,
}

__all__ = [
    "DRY_RUN",
    "ENFORCE",
    "STAGES",
    "GateFailed",
    "RunOptions",
    "check_features",
    "check_raw",
    "evaluate_gates",
    "extract",
    "promote",
]
