"""The DAGs of one pipeline, built from its YAML file: <name>_retrain, <name>_score,
<name>_rollback, <name>_monitor, and <name>_rollout where a rollout is configured.

Each pipeline gets a generated two-line Airflow DAG file in dags/pipelines/ (written by
`mlgate pipelines sync`, which `mlgate run-day`, `mlgate services start` and the tests
call), so a broken pipeline file shows as an import error of that pipeline alone. Only
the pipeline config (a small YAML file) is read at parse time; every task imports the
rest of mlgate when it runs.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import Asset, AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, task
from mlgate_alerts import GateAlertNotifier

from mlgate.config import GATE_NAMES, MODEL_FAMILIES, PipelineConfig, load_pipeline, pipeline_path
from mlgate.config.promotion import APPROVE, REJECT
from mlgate.jobs.submit import (
    DS,
    JOBS_DIR,
    TRIGGERED_BY,
    driver_memory,
    spark_conf,
    spark_env,
    template_macros,
)
from mlgate.runs import context_day
from mlgate.window import duration_seconds

START_DATE = datetime(2026, 1, 1)
DAILY = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")

RETRAIN_DOC = """
### {dag_id}: daily retraining of `{model_name}`, promoted only through gates

Pipeline `{name}` ({description}); config `include/pipelines/{name}.yaml`. Each run covers
one data interval (a UTC day) and is reproducible from that date alone. Runs daily, and
also when `{monitor}` asks for a retrain (asset `{request}`: drift or realised performance
breached on several days in a row); such a run covers the day the monitor judged and
records the request as its trigger.

| task | what | gates |
|---|---|---|
| extract | the day (and any missing or rejected day of the window) from the source DB into the Parquet lake, marked pending; label snapshot; dimensions as their history says; refuses a day that has not ended | |
| check_raw | record rules, bad rows to quarantine with a reason; day volume; each judged day accepted or rejected | reconciliation, bad_record_ratio, data_expectations |
| features | spark-submit: the raw Great Expectations suite on the day (a failure rejects it); the rows the model scores ({rows}) with the features of the spec, from strictly earlier rows of accepted days; matured labels; the feature-table suite and label counts on Spark | |
| check_features | judges the features job's reports: raw and feature suites, label rate and freshness | data_expectations |
| train | spark-submit: seeded search, time-gapped holdout, all logged to MLflow with the model's ONNX twin; then, with the model in memory, candidate and champion score the same holdout, the assertion set and the latest day, the ONNX twin scores the holdout too, and the model gates are computed there | training_iterations, assertion_set, quality, shadow, export_parity (computed) |
| gates | the model gates with the run's overrides and gate mode, registered version tagged with them | training_iterations, assertion_set, quality, shadow, export_parity |
| approve | only with `approval: required`: a person approves or rejects in Required Actions (UI) or over the REST API; no answer within {approval_timeout} rejects | |
| promote | `champion` alias moves (and `previous`), history appended, unless dry run or rejected (the rejection is recorded too) | |

A blocking gate failure fails the run, leaves the champion untouched and emails the gate
table. Trigger form: gate mode (`enforce` / `dry_run`), model family, and an override of
named failed gates that needs a written reason (recorded in the history and the email).
"""

SCORE_DOC = """
### {dag_id}: the champion of `{model_name}` scores every row of the day, written back

Pipeline `{name}`. Each run covers one data interval (a UTC day). It waits for that day's
extract (landed by `{retrain}`'s extract task and checked by its record rules), recomputes
the day's rows ({rows}) and features with the code training uses (`mlgate.ml.rows`),
scores them with the Spark model behind the registry alias `champion`, and writes the
scores with the model version to the table `{table}` (one day replaced per run).

| task | what |
|---|---|
| wait_for_extract | sensor: the day's lake partition and its quarantine partition exist |
| champion | the version behind `champion` now, pinned for the whole run; skipped when there is none |
| score | spark-submit `score_job.py`: the day's features scored by the pinned champion |
| write_scores | delete the day's rows and insert the new ones in one transaction |
"""

MONITOR_DOC = """
### {dag_id}: how the champion of `{model_name}` does after its promotion

Pipeline `{name}`. Each run covers one data interval (a UTC day), once `{score}` has scored
it. docs/monitoring.md says what each statistic means and why.

| task | what |
|---|---|
| wait_for_scores | sensor: the day's scores (model inputs kept) exist; skipped without a champion |
| monitor | drift of each model input and of the score against the version's reference rows; realised performance of every scoring day whose labels matured; freshness; the streaks; `monitor/ds=<day>/report.html`, logged to the MLflow experiment `{model_name}.monitor` |
| request_retrain | when drift or realised performance breached on `monitoring.retrain_after_days` days in a row: the asset event `{request}` (which starts `{retrain}`) and an email with the report's link; skipped otherwise |
"""

ROLLOUT_DOC = """
### {dag_id}: the canary of `{model_name}` promoted or rolled back, by the evidence

Pipeline `{name}` (rollout mode `{rollout_mode}`). Each run covers one data interval (a UTC
day), once `{score}` has scored it with the champion and the canary. docs/monitoring.md
says why each rule.

| task | what |
|---|---|
| wait_for_scores | sensor: the day's scores with the canary's beside the champion's; skipped without a canary |
| decide | guardrails on the day (decisions alike, flagged rows); the AUC-PR difference of every labelled day, combined into a confidence sequence valid under daily looks; promote (the canary becomes champion), roll back, or wait; the ending goes into the promotion history with its evidence |
| alert | a rolled-back canary: an email with the reason and the evidence; skipped otherwise |
"""

ROLLBACK_DOC = """
### {dag_id}: put the previous `{model_name}` back into production

Manual only. Moves the registry alias `champion` back to the version behind `previous`,
and records who did it, when and why in the promotion history (`mlgate history --pipeline
{name}`). The same as `mlgate rollback --pipeline {name} --reason TEXT`.
"""


def _doc(template: str, cfg: PipelineConfig, kind: str) -> str:
    return template.format(
        dag_id=cfg.dag_id(kind),
        retrain=cfg.dag_id("retrain"),
        score=cfg.dag_id("score"),
        monitor=cfg.dag_id("monitor"),
        request=cfg.retrain_request,
        approval_timeout=cfg.approval_timeout,
        rollout_mode=cfg.rollout.mode,
        name=cfg.name,
        model_name=cfg.model_name,
        description=cfg.description or "no description",
        rows="events"
        if cfg.target.kind == "event"
        else f"observations of {cfg.target.entity.entity}",
        table=cfg.scores_table,
    )


class PipelineSparkSubmitOperator(SparkSubmitOperator):
    """spark-submit of an mlgate job: an error the job recorded as permanent (its input
    cannot give a model) fails the task without retries; any other failure is retried."""

    def __init__(self, *, pipeline: str, **kwargs):
        super().__init__(**kwargs)
        self.pipeline = pipeline

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowFailException

        from mlgate.runs import FAILURE_FILE, clear_failure, run_file_of

        ds = context_day(context).isoformat()
        # what the job records now is this try's reason
        clear_failure(self.pipeline, ds, context["run_id"])
        try:
            return super().execute(context)
        except Exception as error:
            failure = run_file_of(self.pipeline, ds, FAILURE_FILE, context["run_id"])
            if failure and failure["task"] == self.task_id and failure["permanent"]:
                raise AirflowFailException(failure["message"]) from error
            raise


def _spark_job(cfg: PipelineConfig, task_id: str, doc: str, script: str, extra: list[str]):
    return PipelineSparkSubmitOperator(
        pipeline=cfg.name,
        task_id=task_id,
        doc=doc,
        conn_id="spark_default",
        application=str(JOBS_DIR / script),
        application_args=[
            *("--ds", DS, "--pipeline", cfg.name, "--dag-run-id", "{{ run_id }}"),
            *extra,
        ],
        conf=spark_conf(),
        env_vars=spark_env(),
        driver_memory=driver_memory(),
        name=f"mlgate-{cfg.name}-{task_id}",
    )


def _fail_as_task(name: str, context: dict, work):
    """Run `work()` for a task; when it fails, record why in the run folder (for `mlgate
    run-day`), and fail at once, without retries, on an error no retry can fix (a bad
    config, a source that does not fit, a failed gate, a refused promotion)."""
    from airflow.sdk.exceptions import AirflowFailException

    from mlgate.errors import is_permanent
    from mlgate.runs import write_failure

    try:
        return work()
    except Exception as error:
        day = context_day(context).isoformat()
        write_failure(name, day, context["ti"].task_id, error, context["run_id"])
        if is_permanent(error):
            raise AirflowFailException(str(error)) from error
        raise


def _run_stage(name: str, stage: str, context: dict, **asked):
    """Call mlgate.stages.STAGES[stage] for this run (see _fail_as_task for its failures);
    ``asked``: run options from earlier tasks (the approval)."""
    from dataclasses import replace

    from mlgate import stages

    day = context_day(context)
    options = replace(stages.RunOptions.from_context(context), **asked)

    def work():
        cfg = load_pipeline(name)
        return cfg, stages.STAGES[stage](cfg, day, options)

    cfg, result = _fail_as_task(name, context, work)
    if stage == "evaluate_gates" and options.gate_mode == stages.DRY_RUN and not result["passed"]:
        # A dry run does not stop on a failed gate, but a person still hears about it.
        from mlgate_alerts import send_gate_alert

        send_gate_alert(cfg.alerts.model_dump(), cfg.model_name, context, pipeline=name)
    return result


class PipelineApprovalOperator(HITLOperator):
    """The approval step (approval: required): Approve or Reject, in the UI's Required
    Actions or over the REST API; no answer within approval_timeout rejects. The request's
    text (gate table, links) is written from the run's files when the step starts."""

    def __init__(self, *, pipeline: str, **kwargs):
        super().__init__(**kwargs)
        self.pipeline = pipeline

    def execute(self, context):
        from airflow.sdk.exceptions import AirflowSkipException

        from mlgate.stages import DRY_RUN, RunOptions
        from mlgate.stages.approval import approval_request

        options = RunOptions.from_context(context)
        if options.gate_mode == DRY_RUN:
            raise AirflowSkipException("dry run: nothing is promoted, nothing to approve")
        cfg = load_pipeline(self.pipeline)
        if cfg.rollout.mode != "none":
            from mlgate.registry import canary_version

            in_rollout = canary_version(cfg.name)
            if in_rollout is not None:  # the candidate waits: promote says so
                raise AirflowSkipException(
                    f"version {in_rollout} is in rollout: this candidate waits, nothing to approve"
                )
        request = _fail_as_task(
            self.pipeline,
            context,
            lambda: approval_request(cfg, context_day(context), options),
        )
        self.subject, self.body = request["subject"], request["body"]
        return super().execute(context)


def _approval_step(cfg: PipelineConfig) -> PipelineApprovalOperator:
    from mlgate.stages.approval import COMMENT

    return PipelineApprovalOperator(
        pipeline=cfg.name,
        task_id="approve",
        doc="A person approves (or rejects) the candidate that passed every gate; no answer "
        f"within {cfg.approval_timeout} rejects. Recorded in the promotion history.",
        subject=f"Promote {cfg.model_name}?",
        options=[APPROVE, REJECT],
        defaults=[REJECT],
        response_timeout=timedelta(seconds=duration_seconds(cfg.approval_timeout)),
        params={
            COMMENT: Param(
                "",
                type=["string", "null"],
                maxLength=1000,
                description="Why (recorded in the promotion history with your name)",
            )
        },
        retries=0,
    )


def retrain_dag(cfg: PipelineConfig):
    name = cfg.name
    alert = GateAlertNotifier(cfg.alerts.model_dump(), cfg.model_name, pipeline=name)

    @dag(
        dag_id=cfg.dag_id("retrain"),
        # daily, and whenever the monitor asks (drift or realised performance, N days)
        schedule=AssetOrTimeSchedule(timetable=DAILY, assets=[Asset(cfg.retrain_request)]),
        user_defined_macros=template_macros(),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={
            "retries": 2,
            "retry_delay": timedelta(minutes=2),
            "owner": "mlgate",
            "on_failure_callback": alert,
        },
        tags=["mlgate", "training", name],
        doc_md=_doc(RETRAIN_DOC, cfg, "retrain"),
        params={
            "gate_mode": Param(
                "enforce",
                enum=["enforce", "dry_run"],
                description="enforce: a failed blocking gate stops the run. dry_run: every gate "
                "is evaluated and reported, nothing is promoted.",
            ),
            "model_family": Param(
                None,
                type=["null", "string"],
                enum=[None, *MODEL_FAMILIES],
                values_display={"null": "(training.family from the pipeline)"},
                description="Model family for this run; empty: training.family of the pipeline.",
            ),
            # Optional fields must admit null: the UI form marks any non-nullable field
            # required and will not submit it empty. `examples` makes it a multi-select.
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
    def retrain():
        @task
        def extract(**context) -> dict:
            """Import the run's window from the source DB into the lake; a short manifest."""
            from mlgate.stages import RunOptions
            from mlgate.stages import extract as run_extract
            from mlgate.window import day_bounds

            return _fail_as_task(
                name,
                context,
                lambda: run_extract(
                    load_pipeline(name),
                    context_day(context),
                    day_bounds(context_day(context))[1],
                    RunOptions.from_context(context),
                ),
            )

        @task(retries=0)
        def check_raw(**context) -> dict:
            """Record rules with quarantine (bad_record_ratio) and the day's volume."""
            return _run_stage(name, "check_raw", context)

        @task(retries=0)
        def check_features(**context) -> dict:
            """The features job's suite reports and label rate, judged (data_expectations)."""
            return _run_stage(name, "check_features", context)

        @task(retries=0)
        def gates(**context) -> dict:
            """Record the model gates the train job computed, with this run's overrides and
            gate mode; register the candidate and tag it with every verdict."""
            return _run_stage(name, "evaluate_gates", context)

        # with an approval step: runs after a dry run skipped it (to record the dry run)
        @task(retries=0, trigger_rule="none_failed")
        def promote(**context) -> dict:
            """Move `champion` to the candidate when all blocking gates passed (not dry run)
            and, with approval: required, a person approved it."""
            answer = None
            if load_pipeline(name).approval == "required":
                answer = context["ti"].xcom_pull(task_ids="approve")
            return _run_stage(name, "promote", context, approval=answer)

        features = _spark_job(
            cfg,
            "features",
            "Spark job: the raw suite, the rows the model scores, their features and matured "
            "labels, the feature suite.",
            "features_job.py",
            # an overridden data_expectations keeps a day the raw suite fails in training
            ["--override-gates", "{{ (params.override_gates or []) | join(',') }}"],
        )
        train = _spark_job(
            cfg,
            "train",
            "Spark job: seeded search, time-gapped holdout, everything logged to MLflow; "
            "then champion and candidate score the evidence and the model gates are computed.",
            "train_job.py",
            [
                "--family",
                "{{ params.model_family or '' }}",
                "--dag-id",
                "{{ dag.dag_id }}",
                "--triggered-by",
                TRIGGERED_BY,
            ],
        )
        judged = extract() >> check_raw() >> features >> check_features() >> train >> gates()
        if cfg.approval == "required":
            judged >> _approval_step(cfg) >> promote()
        else:
            judged >> promote()

    return retrain()


def score_dag(cfg: PipelineConfig):
    name = cfg.name

    @dag(
        dag_id=cfg.dag_id("score"),
        schedule=DAILY,
        user_defined_macros=template_macros(),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 2, "retry_delay": timedelta(minutes=2), "owner": "mlgate"},
        tags=["mlgate", "scoring", name],
        doc_md=_doc(SCORE_DOC, cfg, "score"),
    )
    def score_day():
        @task.sensor(poke_interval=300, timeout=12 * 3600, mode="reschedule")
        def wait_for_extract(**context) -> bool:
            """Wait until the day's lake partition has landed and its record check has run."""
            import logging

            from mlgate.stages.score import day_ready

            ready, why = day_ready(load_pipeline(name), context_day(context))
            logging.getLogger("mlgate.score").info(why)
            return ready

        @task
        def champion(**context) -> str:
            """The version behind `champion` now: every later task of the run uses this one.

            Refused, without retries, while an alias is moved outside mlgate."""
            from airflow.sdk.exceptions import AirflowSkipException

            from mlgate.registry import trusted_champion

            cfg = load_pipeline(name)
            current = _fail_as_task(
                name, context, lambda: trusted_champion(cfg.name, cfg.model_name)
            )
            if current is None:
                raise AirflowSkipException("no champion yet: nothing to score with")
            return current["version"]

        @task
        def write_scores(**context) -> dict:
            """Replace the day's rows in the scores table (delete + insert, one transaction)."""
            from mlgate.stages.score import write_scores as run_write_scores

            return run_write_scores(load_pipeline(name), context_day(context))

        @task
        def canary() -> str:
            """The version in rollout now (empty: none): it scores the same rows."""
            from mlgate.registry import canary_version

            return canary_version(name) or ""

        in_rollout = cfg.rollout.mode != "none"
        score = _spark_job(
            cfg,
            "score",
            "Spark job: the day's rows and features (mlgate.ml.rows) scored by the champion "
            + ("and by the canary in rollout." if in_rollout else "."),
            "score_job.py",
            ["--model-version", "{{ ti.xcom_pull(task_ids='champion') }}"]
            + (["--canary-version", "{{ ti.xcom_pull(task_ids='canary') }}"] if in_rollout else []),
        )
        pinned = wait_for_extract() >> champion()
        if in_rollout:
            pinned >> canary() >> score
        else:
            pinned >> score
        score >> write_scores()

    return score_day()


def _after_promotion_dag(cfg: PipelineConfig, kind: str, tag: str, doc: str) -> dict:
    """The @dag arguments (but the schedule: daily, kept in sight) the monitor and rollout
    DAGs share: one run at a time, two retries, a failure emailed."""
    return {
        "dag_id": cfg.dag_id(kind),
        "start_date": START_DATE,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": {
            "retries": 2,
            "retry_delay": timedelta(minutes=2),
            "owner": "mlgate",
            "on_failure_callback": GateAlertNotifier(
                cfg.alerts.model_dump(), cfg.model_name, pipeline=cfg.name
            ),
        },
        "tags": ["mlgate", tag, cfg.name],
        "doc_md": _doc(doc, cfg, kind),
    }


def monitor_dag(cfg: PipelineConfig):
    name = cfg.name
    request = Asset(cfg.retrain_request)

    @dag(schedule=DAILY, **_after_promotion_dag(cfg, "monitor", "monitoring", MONITOR_DOC))
    def monitor_day():
        @task.sensor(poke_interval=300, timeout=12 * 3600, mode="reschedule")
        def wait_for_scores(**context) -> bool:
            """Wait for the day's scores; skip the run while there is no champion."""
            import logging

            from airflow.sdk.exceptions import AirflowSkipException

            from mlgate.paths import scores_partition
            from mlgate.registry import champion_version
            from mlgate.serving.batch import SCORES_META

            cfg = load_pipeline(name)
            day = context_day(context).isoformat()
            if (scores_partition(name, day) / SCORES_META).exists():
                return True
            if champion_version(cfg.model_name) is None:
                raise AirflowSkipException("no champion yet: nothing is served to watch")
            logging.getLogger("mlgate.monitor").info("waiting for the scores of %s", day)
            return False

        @task(retries=0)
        def monitor(**context) -> dict:
            """Judge the day: drift, realised performance, freshness, streaks; the report."""
            from mlgate.stages.monitor import monitor as run_monitor

            return _fail_as_task(
                name, context, lambda: run_monitor(load_pipeline(name), context_day(context))
            )

        @task(outlets=[request])
        def request_retrain(summary: dict, **context) -> dict:
            """Publish the retrain request (asset event) and email it, when the streak says so."""
            from airflow.sdk.exceptions import AirflowSkipException
            from mlgate_alerts import send_monitor_alert

            from mlgate.runs import REQUEST_DAY, REQUEST_REASON

            if not summary["retrain"]:
                raise AirflowSkipException(
                    f"no retrain needed: days in a row {summary['streaks']}, asks at "
                    f"{load_pipeline(name).monitoring.retrain_after_days}"
                )
            context["outlet_events"][request].extra = {
                REQUEST_DAY: summary["ds"],
                REQUEST_REASON: summary["reason"],
            }
            cfg = load_pipeline(name)
            send_monitor_alert(cfg.alerts.model_dump(), cfg.model_name, summary, pipeline=name)
            return {"requested": summary["ds"], "reason": summary["reason"]}

        request_retrain(wait_for_scores() >> monitor())

    return monitor_day()


def rollout_dag(cfg: PipelineConfig):
    name = cfg.name

    @dag(schedule=DAILY, **_after_promotion_dag(cfg, "rollout", "rollout", ROLLOUT_DOC))
    def rollout_day():
        @task.sensor(poke_interval=300, timeout=12 * 3600, mode="reschedule")
        def wait_for_scores(**context) -> bool:
            """Wait for the day's scores by both models; skip the run without a canary."""
            from airflow.sdk.exceptions import AirflowSkipException

            from mlgate.paths import scores_partition
            from mlgate.registry import canary_version
            from mlgate.serving.batch import SCORES_META

            canary = canary_version(name)
            if canary is None:
                raise AirflowSkipException("no canary in rollout")
            meta = scores_partition(name, context_day(context).isoformat()) / SCORES_META
            return meta.exists() and json.loads(meta.read_text()).get("canary_version") == canary

        @task(retries=0)
        def decide(**context) -> dict:
            """Guardrails and labelled evidence: promote, roll back or wait."""
            from mlgate.stages import RunOptions
            from mlgate.stages.rollout import rollout_day as run_rollout_day

            return _fail_as_task(
                name,
                context,
                lambda: run_rollout_day(
                    load_pipeline(name), context_day(context), RunOptions.from_context(context)
                ),
            )

        @task
        def alert(record: dict) -> str:
            """Email a rolled-back canary (the reason and the evidence)."""
            from airflow.sdk.exceptions import AirflowSkipException
            from mlgate_alerts import send_rollout_alert

            from mlgate.gates.sequential import ROLL_BACK

            if record["action"] != ROLL_BACK:
                raise AirflowSkipException(f"{record['action']}: {record['reason']}")
            cfg = load_pipeline(name)
            send_rollout_alert(cfg.alerts.model_dump(), cfg.model_name, record, pipeline=name)
            return record["reason"]

        alert(wait_for_scores() >> decide())

    return rollout_day()


def rollback_dag(cfg: PipelineConfig):
    name = cfg.name

    @dag(
        dag_id=cfg.dag_id("rollback"),
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args={
            "retries": 2,
            "retry_delay": timedelta(minutes=1),
            "owner": "mlgate",
            "on_failure_callback": GateAlertNotifier(
                cfg.alerts.model_dump(), cfg.model_name, pipeline=name
            ),
        },
        tags=["mlgate", "rollback", name],
        doc_md=_doc(ROLLBACK_DOC, cfg, "rollback"),
        params={
            "reason": Param(
                type="string",
                minLength=10,
                maxLength=1000,
                description="Why the current champion is being rolled back (recorded).",
            ),
        },
    )
    def rollback_champion():
        @task(retries=0)
        def rollback(**context) -> dict:
            """Move `champion` back to `previous` and append the rollback to the history."""
            from airflow.sdk.exceptions import AirflowFailException

            from mlgate.registry import PromotionError
            from mlgate.registry import rollback as run_rollback

            dag_run = context["dag_run"]
            who = dag_run.triggering_user_name or dag_run.run_type.value
            try:
                return run_rollback(
                    name,
                    load_pipeline(name).model_name,
                    reason=context["params"]["reason"],
                    by=f"{context['run_id']} ({who})",
                )
            except PromotionError as error:
                raise AirflowFailException(str(error)) from error

        rollback()

    return rollback_champion()


def pipeline_dags(name: str) -> dict:
    """The pipeline's DAGs by variable name, for the generated DAG file's globals().

    A pipeline file that does not load raises here: the import error of that DAG file.
    A DAG file whose pipeline is not in this deployment's pipelines folder makes no DAGs:
    the dags/ folder of a checkout is shared by every process started from it, and one
    with another pipelines folder (a test, a second deployment) may have synced it.
    """
    if not pipeline_path(name).exists():
        return {}
    cfg = load_pipeline(name)
    return {
        f"{name}_retrain": retrain_dag(cfg),
        f"{name}_score": score_dag(cfg),
        f"{name}_rollback": rollback_dag(cfg),
        f"{name}_monitor": monitor_dag(cfg),
        # only where a rollout is configured: a DAG that would skip every day helps no one
        **({f"{name}_rollout": rollout_dag(cfg)} if cfg.rollout.mode != "none" else {}),
    }
