"""mlgate's alert email on the Airflow side: a notifier for on_failure_callback.

    from mlgate_alerts import GateAlertNotifier
    cfg = load_pipeline("fraud")
    @dag(..., on_failure_callback=GateAlertNotifier(
        cfg.alerts.model_dump(), cfg.model_name, pipeline=cfg.name))

The gates task can call `send_gate_alert(alerts, model_name, context, pipeline=...)`. Either way
the email goes to `alerts["recipients"]` through the SMTP connection `alerts["smtp_conn_id"]`
(extras as in the SMTP provider: disable_tls, disable_ssl, timeout), and a failure to send is
logged at ERROR ("ALERT EMAIL NOT SENT") but never changes the outcome of the task or run.

Imported by the DAG at parse time: only airflow.sdk at module level; mlgate, smtplib and
jinja2 are imported when an alert is actually sent.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseNotifier

log = logging.getLogger("mlgate.alerts")


def _context_ds(context: dict) -> str | None:
    start = context.get("data_interval_start") or context.get("logical_date")
    if start is not None:
        return start.date().isoformat()
    try:  # a run a retrain request started: the day the request names
        from mlgate.runs import REQUEST_DAY, retrain_request

        request = retrain_request(context.get("triggering_asset_events"))
        return request[REQUEST_DAY] if request else context.get("ds")
    except Exception:
        return context.get("ds")


def _context_ids(context: dict) -> tuple[str | None, str | None, str | None]:
    """(dag_id, run_id, task_id) from a task context, a DAG-callback context or a hand-made one."""
    ti = context.get("task_instance") or context.get("ti")
    dag = context.get("dag")
    dag_run = context.get("dag_run")
    dag_id = (
        context.get("dag_id")
        or getattr(ti, "dag_id", None)
        or getattr(dag, "dag_id", None)
        or getattr(dag_run, "dag_id", None)
    )
    run_id = (
        context.get("run_id") or getattr(ti, "run_id", None) or getattr(dag_run, "run_id", None)
    )
    task_id = getattr(ti, "task_id", None) or getattr(context.get("task"), "task_id", None)
    return dag_id, run_id, task_id


def _describe(exception, limit: int = 4000) -> str | None:
    """The error for the email: 'Type: message' first, then the traceback's tail if any."""
    if exception is None or exception == "":
        return None
    if not isinstance(exception, BaseException):
        return str(exception)
    import traceback

    summary = f"{type(exception).__name__}: {exception}"
    if exception.__traceback__ is None:
        return summary
    trace = "".join(traceback.format_exception(exception)).strip()
    if len(trace) > limit:
        trace = "...\n" + trace[-limit:]
    return f"{summary}\n\n{trace}"


def _smtp_settings(conn_id: str) -> dict[str, Any]:
    """send_message() keywords from an Airflow connection, read like the SMTP provider does."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    return {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login or None,
        "password": conn.password or None,
        "starttls": not bool(extra.get("disable_tls", False)),
        "use_ssl": not bool(extra.get("disable_ssl", False)),
        "timeout": float(extra.get("timeout", 10)),
    }


def build_gate_alert(alerts: dict, model_name: str, context: dict, pipeline: str):
    """The alert EmailMessage for the run in `context` (gate variant or task-failure variant)."""
    from mlgate.alerts import alert_for_run

    dag_id, run_id, task_id = _context_ids(context)
    return alert_for_run(
        alerts,
        model_name,
        pipeline=pipeline,
        ds=_context_ds(context),
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        error=_describe(context.get("exception") or context.get("reason")),
        interval={
            "start": context.get("data_interval_start"),
            "end": context.get("data_interval_end"),
        },
    )


def send_gate_alert(alerts: dict, model_name: str, context: dict, *, pipeline: str) -> bool:
    """Render and send the alert for the run in `context`; True if sent. Never raises."""
    if hasattr(alerts, "model_dump"):  # an AlertsConfig
        alerts = alerts.model_dump()
    try:
        from mlgate.alerts import send_alert_safely, send_message
    except Exception:
        log.exception("ALERT EMAIL NOT SENT: cannot import mlgate.alerts")
        return False

    try:
        dag_id, run_id, task_id = _context_ids(context)
        what = f"{model_name} alert for {dag_id}/{run_id}"
        what += f" (task {task_id})" if task_id else ""
    except Exception:
        what = f"{model_name} alert (unreadable context)"

    def send() -> None:
        message = build_gate_alert(alerts, model_name, context, pipeline)
        send_message(message, **_smtp_settings(alerts.get("smtp_conn_id") or "smtp_default"))

    return send_alert_safely(send, what)


def send_monitor_alert(alerts: dict, model_name: str, summary: dict, *, pipeline: str) -> bool:
    """Email the retrain request of the monitor (``summary``); True if sent. Never raises."""
    from mlgate.alerts import monitor_alert, send_alert_safely, send_message

    def send() -> None:
        message = monitor_alert(alerts, model_name, pipeline=pipeline, summary=summary)
        send_message(message, **_smtp_settings(alerts.get("smtp_conn_id") or "smtp_default"))

    return send_alert_safely(send, f"{model_name} retrain request of {summary.get('ds')}")


def send_rollout_alert(alerts: dict, model_name: str, record: dict, *, pipeline: str) -> bool:
    """Email a canary rolled back by the rollout (``record``); True if sent. Never raises."""
    from mlgate.alerts import rollout_alert, send_alert_safely, send_message

    def send() -> None:
        message = rollout_alert(alerts, model_name, pipeline=pipeline, record=record)
        send_message(message, **_smtp_settings(alerts.get("smtp_conn_id") or "smtp_default"))

    return send_alert_safely(send, f"{model_name} canary rollback of {record.get('ds')}")


class GateAlertNotifier(BaseNotifier):
    """on_failure_callback (DAG or task level) that emails the gate results of the run."""

    template_fields = ()

    def __init__(self, alerts: dict, model_name: str, *, pipeline: str):
        super().__init__()
        self.alerts = alerts.model_dump() if hasattr(alerts, "model_dump") else dict(alerts)
        self.model_name = model_name
        self.pipeline = pipeline

    def notify(self, context) -> None:
        send_gate_alert(self.alerts, self.model_name, context, pipeline=self.pipeline)
