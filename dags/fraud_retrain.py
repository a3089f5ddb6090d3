"""
### fraud_retrain: daily retraining of the fraud model, promoted only through gates

Each run covers one data interval (a UTC day) and is reproducible from that date alone.

| task | what | gates |
|---|---|---|
| extract | the day (and any missing day of the window) from the source DB into the Parquet lake; label and dimension snapshots | |
| check_raw | record rules, bad rows to quarantine with a reason; raw Great Expectations suite; day volume | bad_record_ratio, data_expectations |
| features | spark-submit: per-card windowed features from strictly earlier rows, matured labels | |
| check_features | feature-table suite (invariants) and label rate | data_expectations |
| train | spark-submit: seeded search, time-gapped holdout, all logged to MLflow with the model's ONNX twin | |
| evaluate | spark-submit: candidate and champion score the same holdout, the assertion set and the latest day; the ONNX twin scores the holdout too | |
| gates | verdicts, registered version tagged with them | training_iterations, assertion_set, quality, shadow, export_parity |
| promote | `champion` alias moves (and `previous`), history appended, unless dry run | |

A blocking gate failure fails the run, leaves the champion untouched and emails the gate
table. Trigger form: gate mode (`enforce` / `dry_run`), model family, and an override of
named failed gates that needs a written reason (recorded in the history and the email).
Config: `include/config/mlgate.yaml` (or `$MLGATE_CONFIG`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from mlgate_alerts import GateAlertNotifier

from mlgate.config import GATE_NAMES, MODEL_FAMILIES, RETRAIN_DAG_ID, load_config
from mlgate.jobs.submit import DS, JOBS_DIR, spark_conf, spark_env

CONFIG = load_config()  # a small YAML file: cheap, and a bad config shows as an import error
SPARK_CONF = spark_conf()
SPARK_ENV = spark_env()
ALERT = GateAlertNotifier(alerts=CONFIG.alerts.model_dump(), model_name=CONFIG.model_name)


def spark_job(task_id: str, doc: str, script: str, extra_args: list[str] | None = None):
    return SparkSubmitOperator(
        task_id=task_id,
        doc=doc,
        conn_id="spark_default",
        application=str(JOBS_DIR / script),
        application_args=["--ds", DS, *(extra_args or [])],
        conf=SPARK_CONF,
        env_vars=SPARK_ENV,
        driver_memory="4g",
        name=f"mlgate-{task_id}",
    )


def run_stage(stage: str, context: dict):
    """Call mlgate.stages.STAGES[stage] for this run; a failed gate fails the task, no retries."""
    from airflow.sdk.exceptions import AirflowFailException

    from mlgate import stages

    options = stages.RunOptions.from_context(context)
    day = context["data_interval_start"].date()
    try:
        result = stages.STAGES[stage](load_config(), day, options)
    except stages.GateFailed as failure:
        raise AirflowFailException(str(failure)) from failure
    if stage == "evaluate_gates" and options.gate_mode == stages.DRY_RUN and not result["passed"]:
        # A dry run does not stop on a failed gate, but a person still hears about it.
        from mlgate_alerts import send_gate_alert

        send_gate_alert(CONFIG.alerts.model_dump(), CONFIG.model_name, context)
    return result


@dag(
    dag_id=RETRAIN_DAG_ID,
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "owner": "mlgate",
        "on_failure_callback": ALERT,
    },
    tags=["mlgate", "training", "fraud"],
    doc_md=__doc__,
    params={
        "gate_mode": Param(
            "enforce",
            enum=["enforce", "dry_run"],
            description="enforce: a failed blocking gate stops the run. dry_run: every gate is "
            "evaluated and reported, nothing is promoted.",
        ),
        "model_family": Param(
            None,
            type=["null", "string"],
            enum=[None, *MODEL_FAMILIES],
            values_display={"null": "(training.family from the config)"},
            description="Model family for this run; empty means training.family from the config.",
        ),
        # Optional fields must admit null: the UI form marks any non-nullable field required
        # and will not submit it empty. `examples` makes the form a multi-select of gates.
        "override_gates": Param(
            [],
            type=["array", "null"],
            items={"type": "string", "enum": list(GATE_NAMES)},
            examples=list(GATE_NAMES),
            uniqueItems=True,
            description="Failed gates to let through anyway. Needs override_reason.",
        ),
        "override_reason": Param(
            "",
            type=["string", "null"],
            maxLength=1000,
            description="Why the named gates may be overridden (at least 10 characters); "
            "recorded in the promotion history and the alert email.",
        ),
    },
)
def fraud_retrain():
    @task
    def extract(**context) -> dict:
        """Import the run's window from the source DB into the lake; returns a short manifest."""
        from mlgate.stages import RunOptions
        from mlgate.stages import extract as run_extract

        interval_end = context["data_interval_end"].replace(tzinfo=None)
        return run_extract(
            load_config(),
            context["data_interval_start"].date(),
            interval_end,
            RunOptions.from_context(context),
        )

    @task(retries=0)
    def check_raw(**context) -> dict:
        """Record rules with quarantine (bad_record_ratio) and the raw data suite."""
        return run_stage("check_raw", context)

    @task(retries=0)
    def check_features(**context) -> dict:
        """Feature-table invariants and label rate (data_expectations)."""
        return run_stage("check_features", context)

    @task(retries=0)
    def gates(**context) -> dict:
        """Evaluate the model gates, register the candidate and tag it with every verdict."""
        return run_stage("evaluate_gates", context)

    @task(retries=0)
    def promote(**context) -> dict:
        """Move `champion` to the candidate when all blocking gates passed (not in dry run)."""
        return run_stage("promote", context)

    features = spark_job(
        "features",
        "Spark job: per-card windowed features and matured labels for the run's window.",
        "features_job.py",
    )
    train = spark_job(
        "train",
        "Spark job: seeded search, time-gapped holdout, everything logged to MLflow.",
        "train_job.py",
        [
            "--family",
            "{{ params.model_family or '' }}",
            "--dag-id",
            "{{ dag.dag_id }}",
            "--dag-run-id",
            "{{ run_id }}",
            "--triggered-by",
            "{{ dag_run.run_type.value }}:{{ dag_run.triggering_user_name or '-' }}",
        ],
    )
    evaluate = spark_job(
        "evaluate",
        "Spark job: candidate and champion score the holdout, assertion set and latest day.",
        "evaluate_job.py",
    )

    (
        extract()
        >> check_raw()
        >> features
        >> check_features()
        >> train
        >> evaluate
        >> gates()
        >> promote()
    )


fraud_retrain()
