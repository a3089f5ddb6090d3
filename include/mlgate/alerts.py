"""The gate-failure email: rendered from the gate results, sent over plain SMTP.

A person reads this email when a candidate was not promoted (or a task of the run failed),
so it leads with what failed and why, then shows every gate, the data window and links to
the Airflow run and the MLflow run. Two parts carry the same information: plain text with a
fixed-width table, and HTML (jinja2, autoescaped, inline CSS only).

The gate rows come from ``mlgate.gates.GateReport``, the one owner of how gates are
ordered and judged. ``alert_for_run`` gathers what the email says about one DAG run from
its run folder (``mlgate.runs``). No Airflow import here: the Airflow side (connection
lookup, task context) lives in plugins/mlgate_alerts.py.
"""

from __future__ import annotations

import email.policy
import json
import logging
import smtplib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from mlgate.gates import GateReport

log = logging.getLogger("mlgate.alerts")

VERDICT_COLOURS = {"fail": "#c62828", "pass": "#2e7d32", "other": "#757575"}
MISSING = "—"


# ---------------------------------------------------------------------------------------------
# Rendering


def _verdict_label(row: dict) -> str:
    label = row["verdict"].upper() if row["verdict"] == "fail" else row["verdict"]
    if row["overridden"]:
        label += " (overridden)"
    return label


def format_value(value) -> str:
    """A cell: floats to 4 significant digits, None as a dash, containers as JSON."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def _rows(gates: list[dict]) -> list[dict]:
    """Display rows in the gate report's own order (failures first, blocking before warn)."""
    return [
        {
            "name": row["name"],
            "mode": row["mode"],
            "value": format_value(row["value"]),
            "threshold": format_value(row["threshold"]),
            "champion": format_value(row["champion_value"]),
            "verdict": _verdict_label(row),
            "kind": row["verdict"] if row["verdict"] in ("fail", "pass") else "other",
            "blocking": row["blocks"],
            "reason": row["reason"],
        }
        for row in GateReport.from_dict({"results": gates}).table()
    ]


def _pairs(mapping: dict | None, first: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    if not mapping:
        return []
    keys = [k for k in first if k in mapping] + [k for k in mapping if k not in first]
    return [(str(k).replace("_", " "), format_value(mapping[k])) for k in keys]


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links become clickable; anything else is shown as text."""
    if url and url.split(":", 1)[0].lower() in ("http", "https"):
        return url
    return None


def _subject(model_name: str, ds: str, rows: list[dict], failed_task: str | None) -> str:
    prefix = f"[mlgate] {model_name} {ds}:"
    blocking = [r["name"] for r in rows if r["blocking"]]
    other_failed = [r["name"] for r in rows if r["kind"] == "fail" and not r["blocking"]]
    if blocking:
        noun = "gate" if len(blocking) == 1 else "gates"
        return f"{prefix} {noun} {', '.join(blocking)} FAILED — not promoted"
    if other_failed:
        noun = "gate" if len(other_failed) == 1 else "gates"
        return f"{prefix} {noun} {', '.join(other_failed)} FAILED (not blocking)"
    if failed_task:
        return f"{prefix} task {failed_task} FAILED — not promoted"
    if rows:
        return f"{prefix} all {len(rows)} gates passed"
    return f"{prefix} run FAILED — not promoted"


def _text_table(rows: list[dict]) -> list[str]:
    columns = [
        ("gate", "name"),
        ("mode", "mode"),
        ("value", "value"),
        ("threshold", "threshold"),
        ("champion", "champion"),
        ("verdict", "verdict"),
    ]
    widths = [max([len(title)] + [len(r[key]) for r in rows]) for title, key in columns]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()

    out = [line([title for title, _ in columns]), line(["-" * w for w in widths])]
    out += [line([r[key] for _, key in columns]) for r in rows]
    return out


def _indent(text: str, prefix: str = "    ") -> list[str]:
    return [prefix + part for part in (text.splitlines() or [""])]


def _render_text(view: dict) -> str:
    out = [view["headline"], ""]
    if view["failed_task"] or view["error"]:
        out.append(f"FAILED TASK: {view['failed_task'] or MISSING}")
        if view["error"]:
            out.append("Error:")
            out += _indent(view["error"])
        out.append("")
    if view["failed"]:
        out.append("FAILED GATES")
        for row in view["failed"]:
            effect = "blocks promotion" if row["blocking"] else f"{row['mode']} mode, not blocking"
            out.append(f"  * {row['name']} ({effect}): {row['verdict']}")
            out.append(
                f"    value {row['value']}, threshold {row['threshold']}, "
                f"champion {row['champion']}"
            )
            if row["reason"]:
                out += _indent(f"reason: {row['reason']}")
        out.append("")
    if view["rows"]:
        out.append("ALL GATES")
        out += ["  " + line for line in _text_table(view["rows"])]
        out.append("")
    if view["overrides"]:
        out.append("OVERRIDE")
        out += [f"  {key}: {value}" for key, value in view["overrides"]]
        out.append("")
    out.append("DATA WINDOW")
    out += [f"  {key}: {value}" for key, value in view["window"]] or [f"  {MISSING}"]
    out.append("")
    out.append("LINKS")
    out.append(f"  Airflow run: {view['airflow_run_url'] or MISSING}")
    out.append(f"  MLflow run:  {view['mlflow_run_url'] or MISSING}")
    out.append("")
    out.append("-- mlgate")
    return "\n".join(out) + "\n"


_HTML = """\
<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: Arial, Helvetica, sans-serif; font-size: 14px; color: #212121;">
<p style="font-size: 16px; font-weight: bold; margin: 0 0 12px 0;">{{ headline }}</p>
{% if failed_task or error %}
<h3 style="margin: 16px 0 6px 0;">Failed task: {{ failed_task or missing }}</h3>
{% if error %}<pre style="background: #f5f5f5; border: 1px solid #e0e0e0; padding: 8px; \
white-space: pre-wrap; font-size: 12px;">{{ error }}</pre>{% endif %}
{% endif %}
{% if failed %}
<h3 style="margin: 16px 0 6px 0; color: {{ colours.fail }};">Failed gates</h3>
<ul style="margin: 0; padding-left: 20px;">
{% for row in failed %}
<li style="margin-bottom: 6px;"><b>{{ row.name }}</b>
({{ "blocks promotion" if row.blocking else row.mode ~ " mode, not blocking" }}):
{{ row.verdict }}<br>
value {{ row.value }}, threshold {{ row.threshold }}, champion {{ row.champion }}
{% if row.reason %}<br><span style="color: #424242;">reason: {{ row.reason }}</span>{% endif %}
</li>
{% endfor %}
</ul>
{% endif %}
{% if rows %}
<h3 style="margin: 16px 0 6px 0;">All gates</h3>
<table style="border-collapse: collapse; font-size: 13px;">
<tr>{% for title in ["Gate", "Mode", "Value", "Threshold", "Champion", "Verdict"] %}\
<th style="border: 1px solid #bdbdbd; padding: 4px 8px; background: #eeeeee; \
text-align: left;">{{ title }}</th>{% endfor %}</tr>
{% for row in rows %}
<tr>
<td style="{{ cell }}">{{ row.name }}</td>
<td style="{{ cell }}">{{ row.mode }}</td>
<td style="{{ cell }} text-align: right;">{{ row.value }}</td>
<td style="{{ cell }}">{{ row.threshold }}</td>
<td style="{{ cell }} text-align: right;">{{ row.champion }}</td>
<td style="{{ cell }} background: {{ colours[row.kind] }}; color: #ffffff; \
font-weight: bold;">{{ row.verdict }}</td>
</tr>
{% endfor %}
</table>
{% endif %}
{% if overrides %}
<h3 style="margin: 16px 0 6px 0;">Override</h3>
<ul style="margin: 0; padding-left: 20px;">
{% for key, value in overrides %}<li>{{ key }}: {{ value }}</li>{% endfor %}
</ul>
{% endif %}
<h3 style="margin: 16px 0 6px 0;">Data window</h3>
{% if window %}<ul style="margin: 0; padding-left: 20px;">
{% for key, value in window %}<li>{{ key }}: {{ value }}</li>{% endfor %}
</ul>{% else %}<p style="margin: 0;">{{ missing }}</p>{% endif %}
<h3 style="margin: 16px 0 6px 0;">Links</h3>
<ul style="margin: 0; padding-left: 20px;">
<li>Airflow run: {% if airflow_href %}<a href="{{ airflow_href }}">{{ airflow_run_url }}</a>\
{% else %}{{ airflow_run_url or missing }}{% endif %}</li>
<li>MLflow run: {% if mlflow_href %}<a href="{{ mlflow_href }}">{{ mlflow_run_url }}</a>\
{% else %}{{ mlflow_run_url or missing }}{% endif %}</li>
</ul>
<p style="color: #757575; font-size: 12px; margin-top: 20px;">mlgate</p>
</body></html>
"""


def _render_html(view: dict) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_HTML).render(
        **view,
        colours=VERDICT_COLOURS,
        missing=MISSING,
        cell="border: 1px solid #bdbdbd; padding: 4px 8px;",
        airflow_href=_safe_url(view["airflow_run_url"]),
        mlflow_href=_safe_url(view["mlflow_run_url"]),
    )


def render_gate_email(
    *,
    model_name: str,
    ds: str,
    gates: list[dict],
    data_window: dict | None,
    airflow_run_url: str | None,
    mlflow_run_url: str | None,
    failed_task: str | None = None,
    error: str | None = None,
    overrides: dict | None = None,
) -> tuple[str, str, str]:
    """(subject, plain text, html) of the alert for one run.

    With gate results: failed gates first (with their reasons), then the whole table.
    Without any (a task failed before the gates ran): the task-failure variant naming the
    task and the error.
    """
    rows = _rows(list(gates or []))
    failed = [row for row in rows if row["kind"] == "fail"]
    blocking = [row for row in failed if row["blocking"]]
    subject = _subject(model_name, ds, rows, failed_task)
    if blocking:
        noun = "gate" if len(blocking) == 1 else "gates"
        headline = (
            f"The {model_name} candidate for {ds} was NOT promoted: "
            f"{len(blocking)} blocking {noun} failed."
        )
    elif failed:
        headline = (
            f"{len(failed)} gate(s) failed for the {model_name} candidate of {ds}, "
            "none of them blocking."
        )
    elif failed_task or not rows:
        what = f"Task {failed_task}" if failed_task else "A task"
        tail = "" if rows else " No gate results exist for this run."
        headline = f"{what} of the {model_name} run for {ds} FAILED.{tail}"
    else:
        headline = f"All {len(rows)} gates passed for the {model_name} candidate of {ds}."
    view = {
        "subject": subject,
        "headline": headline,
        "rows": rows,
        "failed": failed,
        "failed_task": failed_task,
        "error": str(error).strip() if error else None,
        "window": _pairs(data_window, first=("start", "end")),
        "overrides": _pairs(overrides, first=("reason", "by", "gates")),
        "airflow_run_url": airflow_run_url,
        "mlflow_run_url": mlflow_run_url,
    }
    return subject, _render_text(view), _render_html(view)


# ---------------------------------------------------------------------------------------------
# One DAG run's alert, from its run folder


def alert_for_run(
    alerts: dict,
    model_name: str,
    *,
    pipeline: str,
    ds: str | None,
    dag_id: str | None,
    run_id: str | None,
    task_id: str | None = None,
    error: str | None = None,
    interval: dict | None = None,
) -> EmailMessage:
    """The alert EmailMessage for one DAG run: the gate variant or the task-failure variant.

    Reads the run's gate report and MLflow run from its run folder, ignoring files an
    earlier run of the same day left there. ``interval`` (start, end of the data interval)
    is shown when the gate report carries no data window (the run stopped before gates).
    """
    from urllib.parse import quote

    from mlgate.runs import GATES_FILE, TRACKING_FILE, run_file_of

    def of_this_run(name: str) -> dict:
        found = run_file_of(pipeline, ds, name, run_id) if ds and run_id else None
        return found or {}

    gates_doc, tracking = of_this_run(GATES_FILE), of_this_run(TRACKING_FILE)

    airflow_url = None
    if alerts.get("airflow_url") and dag_id and run_id:
        base = alerts["airflow_url"].rstrip("/")
        airflow_url = f"{base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
    mlflow_url = None
    if alerts.get("mlflow_url") and tracking.get("experiment_id") and tracking.get("run_id"):
        base = alerts["mlflow_url"].rstrip("/")
        mlflow_url = f"{base}/#/experiments/{tracking['experiment_id']}/runs/{tracking['run_id']}"

    gates = list(gates_doc.get("results") or [])
    data_window = gates_doc.get("data_window") or (
        {k: v for k, v in (interval or {}).items() if v} or None
    )
    if data_window:
        data_window = {key: str(value) for key, value in data_window.items()}
    gate_stop = any(g.get("blocks") for g in gates)
    overridden = [g["name"] for g in gates if g.get("overridden")]
    overrides = (
        {"gates": ", ".join(overridden), "reason": gates_doc.get("override_reason", "")}
        if overridden
        else None
    )
    subject, text, html = render_gate_email(
        model_name=model_name,
        ds=ds or "(unknown day)",
        gates=gates,
        data_window=data_window,
        airflow_run_url=airflow_url,
        mlflow_run_url=mlflow_url,
        # When gates stopped the run, the gate table is the message; a traceback is noise.
        failed_task=None if gate_stop else task_id,
        error=None if gate_stop else error,
        overrides=overrides,
    )
    return build_message(
        subject,
        text,
        html,
        sender=alerts.get("sender") or "mlgate@localhost",
        recipients=list(alerts.get("recipients") or []),
    )


def monitor_alert(alerts: dict, model_name: str, *, pipeline: str, summary: dict) -> EmailMessage:
    """The email of a retrain the monitor requested: why, what drifted, where the report is.

    ``summary``: what ``mlgate.stages.monitor.monitor`` returns."""
    import html as html_lib

    subject = f"[mlgate] {model_name}: retrain requested by the monitor on {summary['ds']}"
    lines = [
        f"The monitor of pipeline {pipeline} asks for a retrain of {model_name}:",
        f"  {summary['reason']}.",
        "",
        f"Served version: {summary['model_version']}",
        f"Drifted on {summary['ds']}: {', '.join(summary['drifted']) or 'nothing'}",
        f"Days in a row: drift {summary['streaks']['drift']}, realised performance short "
        f"{summary['streaks']['realised']}",
        "",
        f"Report: {summary['report_url']}",
        f"(on the host: {summary['report']})",
        "",
        f"The retrain DAG {pipeline}_retrain starts on this request; its candidate goes "
        "through every gate before it can replace the champion.",
    ]
    text = "\n".join(lines)
    url = _safe_url(summary["report_url"])
    body = "".join(f"<p>{html_lib.escape(line)}</p>" for line in lines[:6] if line)
    link = f'<p><a href="{html_lib.escape(url)}">The day\'s report</a></p>' if url else ""
    return build_message(
        subject,
        text,
        f"<html><body>{body}{link}</body></html>",
        sender=alerts.get("sender") or "mlgate@localhost",
        recipients=list(alerts.get("recipients") or []),
    )


def rollout_alert(alerts: dict, model_name: str, *, pipeline: str, record: dict) -> EmailMessage:
    """The email of a canary the rollout rolled back: why, the evidence, the champion kept.

    ``record``: what ``mlgate.stages.rollout.rollout_day`` returns."""
    import html as html_lib

    guard = record["guardrails"]
    evidence = record.get("evidence")
    lines = [
        f"The rollout of {model_name} version {record['canary']} (pipeline {pipeline}, since "
        f"{record['started']}) was rolled back on {record['ds']}:",
        f"  {record['reason']}.",
        "",
        f"The champion stays version {record['champion']}; nothing else changed.",
        f"Guardrails on {record['ds']}: decisions alike on {guard['agreement']:.2%} of "
        f"{guard['rows']} rows; flagged: canary {guard['flagged_canary']}, champion "
        f"{guard['flagged_champion']}.",
        (
            f"AUC-PR difference canary - champion over {evidence['days']} labelled days: "
            f"{evidence['estimate']:+.4f}, confidence sequence [{evidence['lower']:+.4f}, "
            f"{evidence['upper']:+.4f}]."
            if evidence
            else "No labelled day yet."
        ),
        "",
        f"History: mlgate history --pipeline {pipeline}",
    ]
    text = "\n".join(lines)
    body = "".join(f"<p>{html_lib.escape(line)}</p>" for line in lines if line)
    return build_message(
        f"[mlgate] {model_name}: canary version {record['canary']} rolled back on {record['ds']}",
        text,
        f"<html><body>{body}</body></html>",
        sender=alerts.get("sender") or "mlgate@localhost",
        recipients=list(alerts.get("recipients") or []),
    )


# ---------------------------------------------------------------------------------------------
# Sending


def build_message(
    subject: str, text: str, html: str, *, sender: str, recipients: list[str]
) -> EmailMessage:
    """multipart/alternative with a text/plain and a text/html part."""
    if isinstance(recipients, str):
        recipients = [recipients]
    recipients = [r for r in recipients if r]
    if not recipients:
        raise ValueError("no recipients: set alerts.recipients in the mlgate config")
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "mlgate.localhost")
    # quoted-printable keeps the body 7-bit clean for any server
    message.set_content(text, cte="quoted-printable")
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    # Headers are folded only past 998 characters: Python's folding of a subject with an
    # encoded word ("—") leaves a doubled space in what mail clients display.
    message.policy = email.policy.default.clone(max_line_length=998)
    return message


def send_message(
    message: EmailMessage,
    *,
    host: str,
    port: int | None,
    user: str | None = None,
    password: str | None = None,
    starttls: bool = False,
    timeout: float = 10,
    use_ssl: bool = False,
) -> None:
    """Deliver over SMTP (SMTP_SSL when `use_ssl`, else plain with optional STARTTLS)."""
    if not host:
        raise ValueError("no SMTP host configured")
    context = ssl.create_default_context()
    if use_ssl:
        client = smtplib.SMTP_SSL(host, port or 0, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, port or 0, timeout=timeout)
    with client:
        client.ehlo()
        if starttls and not use_ssl:
            client.starttls(context=context)
            client.ehlo()
        if user and password:
            client.login(user, password)
        refused = client.send_message(message)
    if refused:
        log.warning("alert email refused for some recipients: %s", refused)


def send_alert_safely(send: Callable[[], None], what: str) -> bool:
    """Run `send`; on any exception log it at ERROR with the traceback and return False.

    An alert that cannot be sent must never change the outcome of the task or run that
    tried to send it. (KeyboardInterrupt and SystemExit still propagate.)
    """
    try:
        send()
    except Exception as error:
        log.error(
            "ALERT EMAIL NOT SENT: %s: %s: %s", what, type(error).__name__, error, exc_info=True
        )
        return False
    log.info("alert email sent: %s", what)
    return True
