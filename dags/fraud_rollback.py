"""
### fraud_rollback: put the previous fraud model back into production

Manual only. Moves the registry alias `champion` back to the version behind `previous`,
and records who did it, when and why in the promotion history (`mlgate history`). The same
as `mlgate rollback --reason TEXT` on the command line.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task
from mlgate_alerts import GateAlertNotifier

from mlgate.config import ROLLBACK_DAG_ID, load_config

CONFIG = load_config()


@dag(
    dag_id=ROLLBACK_DAG_ID,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "owner": "mlgate",
        "on_failure_callback": GateAlertNotifier(
            alerts=CONFIG.alerts.model_dump(), model_name=CONFIG.model_name
        ),
    },
    tags=["mlgate", "rollback", "fraud"],
    doc_md=__doc__,
    params={
        "reason": Param(
            type="string",
            minLength=10,
            maxLength=1000,
            description="Why the current champion is being rolled back (recorded).",
        ),
    },
)
def fraud_rollback():
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
                load_config().model_name,
                reason=context["params"]["reason"],
                by=f"{context['run_id']} ({who})",
            )
        except PromotionError as error:
            raise AirflowFailException(str(error)) from error

    rollback()


fraud_rollback()
