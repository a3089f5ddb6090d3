"""The validation gates: pure verdict logic on numbers, arrays and small frames.

Each gate function takes its config object from ``mlgate.config`` and the facts measured by
the pipeline, and returns a ``GateResult``: a name, a mode (block / warn), a verdict
(pass / fail / skipped), the measured value, the threshold as text, the champion's value
where there is one, a one-line reason a person can act on, and JSON-ready details.
``GateReport`` collects the results; its ``passed`` is False when any blocking gate failed
(and was not overridden) and also when no gate was evaluated at all: a model with no gate is
never promoted.

What lives here (and may import only numpy, pandas, scipy and ``mlgate.config``; no Spark,
MLflow, Airflow, Great Expectations or SQL: the import contracts in pyproject.toml check it):

* ``verdict``: ``GateResult``, ``GateReport``, the table and summary every reader shows;
* ``data``: the gates on data (reconciliation, bad_record_ratio, data_expectations);
* ``model``: the gates on the candidate model (training_iterations, assertion_set,
  quality, shadow, export_parity);
* ``online``: the online_parity gate (``mlgate.online`` replays the day);
* ``candidate``: every configured model gate of a candidate from its ``ModelEvidence``
  (``model_gate_results``; the train job calls it where the scores are);
* ``metrics``: the holdout metrics training logs and the quality gate judges, the paired
  bootstrap and the PSI;
* ``drift``: drift of a feature or the score against the training reference, significant
  for its sample size and large enough to matter, and the streak of breached days;
* ``realised``: a served model's realised metrics of a scoring day, with intervals, and
  those short of what its holdout promised;
* ``sequential``: the rollout decision, a canary against the champion day by day (an
  always-valid confidence sequence of their AUC-PR difference: promote, roll back, go on).

Gates and the seeds that ask for them (see shared/DESIGN.md):

* ``reconciliation``: rows and key sum in the source window vs the lake (Sqoop --validate).
* ``bad_record_ratio``: share of raw rows failing record rules (seed 002, accumulators).
* ``data_expectations``: Great Expectations suites, label rate and freshness, day volume
  (seed 003).
* ``training_iterations``: trees / nodes / iterations vs recent accepted runs (seed 002).
* ``assertion_set``: examples the model must never get wrong, 100% required (seed 003).
* ``quality``: holdout floor and ceiling, paired bootstrap vs the champion, leakage jump
  (002-004).
* ``shadow``: champion and candidate score the same traffic: PSI and decision flips (002).
* ``export_parity``: the portable ONNX twin reproduces Spark's probabilities (001, 003).
* ``online_parity``: raw events through the online state and the ONNX twin give the Spark
  features and decisions of the newest labelled day (the same prediction offline and online).
"""

from mlgate.gates.candidate import ModelEvidence, OnlineEvidence, effort_of, model_gate_results
from mlgate.gates.data import (
    bad_record_ratio,
    data_expectations,
    days_short_of_labels,
    label_feed_stalled,
    reconciliation,
)
from mlgate.gates.metrics import (
    average_precision,
    decision_cost,
    holdout_metrics,
    paired_bootstrap,
    psi,
    roc_auc,
)
from mlgate.gates.model import assertion_set, export_parity, quality, shadow, training_iterations
from mlgate.gates.online import online_parity
from mlgate.gates.verdict import (
    MIN_OVERRIDE_REASON,
    NO_CHAMPION,
    GateReport,
    GateResult,
    skipped,
)

__all__ = [
    "MIN_OVERRIDE_REASON",
    "NO_CHAMPION",
    "GateReport",
    "GateResult",
    "ModelEvidence",
    "OnlineEvidence",
    "assertion_set",
    "average_precision",
    "bad_record_ratio",
    "data_expectations",
    "days_short_of_labels",
    "decision_cost",
    "effort_of",
    "export_parity",
    "holdout_metrics",
    "label_feed_stalled",
    "model_gate_results",
    "online_parity",
    "paired_bootstrap",
    "psi",
    "quality",
    "reconciliation",
    "roc_auc",
    "shadow",
    "skipped",
    "training_iterations",
]
