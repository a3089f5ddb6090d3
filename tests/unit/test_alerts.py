"""The gate-failure email: rendering, and sending through the Airflow notifier to a real sink."""

from __future__ import annotations

import json
import logging
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from mlgate import alerts
from mlgate.config import AlertsConfig
from mlgate.local import mailsink

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"

GATES = [
    {
        "name": "data_expectations",
        "mode": "block",
        "verdict": "pass",
        "value": 0.0,
        "threshold": "0 failed expectations",
        "champion_value": None,
        "reason": "all 14 expectations met",
        "overridden": False,
    },
    {
        "name": "quality",
        "mode": "block",
        "verdict": "pass",
        "value": 0.41234567,
        "threshold": ">= 0.3000",
        "champion_value": 0.4018,
        "reason": "auc_pr above the floor, no significant drop",
        "overridden": False,
    },
    {
        "name": "bad_record_ratio",
        "mode": "block",
        "verdict": "fail",
        "value": 0.23,
        "threshold": "<= 0.0100",
        "champion_value": 0.0042,
        "reason": "23% of rows bad: <script>alert('x')</script> in currency",
        "overridden": False,
    },
]


def render(**overrides):
    arguments = {
        "model_name": "fraud_detector",
        "ds": "2026-11-01",
        "gates": GATES,
        "data_window": {"start": "2026-09-08", "end": "2026-11-01", "rows": 123456},
        "airflow_run_url": "http://127.0.0.1:8080/dags/fraud_retrain/runs/scheduled__x",
        "mlflow_run_url": "http://127.0.0.1:5000/#/experiments/1/runs/abc",
    }
    arguments.update(overrides)
    return alerts.render_gate_email(**arguments)


def test_subject_names_model_day_and_failed_gate():
    subject, _, _ = render()
    assert subject == (
        "[mlgate] fraud_detector 2026-11-01: gate bad_record_ratio FAILED — not promoted"
    )


def test_failed_gate_comes_first_in_both_parts():
    _, text, html = render()
    for body in (text, html):
        assert body.index("bad_record_ratio") < body.index("data_expectations")
        assert body.index("bad_record_ratio") < body.index("quality")
        assert "2026-09-08" in body and "123456" in body
        assert "http://127.0.0.1:5000/#/experiments/1/runs/abc" in body
        assert "/dags/fraud_retrain/runs/scheduled__x" in body


def test_html_escapes_values_and_colours_verdicts():
    _, text, html = render()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "<script>alert('x')</script>" in text  # plain text carries it verbatim
    assert "#c62828" in html and "#2e7d32" in html  # red fail cell, green pass cells
    assert "<style" not in html  # inline CSS only


def test_text_part_has_fixed_width_table_with_threshold_and_champion():
    _, text, _ = render()
    assert "<= 0.0100" in text
    assert ">= 0.3000" in text
    assert "0.4018" in text  # champion value
    assert "0.4123" in text  # floats to 4 significant digits
    table = text[text.index("ALL GATES") :].split("\n\n")[0].splitlines()[1:]
    header = table[0]
    for line in table[2:]:  # every row's verdict column starts under the header's
        assert line[header.index("verdict")] != " "


def test_override_and_warn_only_failures():
    gates = [dict(GATES[2], mode="warn")]
    subject, text, html = render(gates=gates, overrides={"reason": "known <bad> feed", "by": "ana"})
    assert "FAILED (not blocking)" in subject
    assert "not promoted" not in subject
    assert "known <bad> feed" in text and "known &lt;bad&gt; feed" in html


def test_task_failure_variant_names_task_and_error():
    subject, text, html = render(
        gates=[], failed_task="train", error="SparkSubmitError: exit code 1", data_window=None
    )
    assert subject == "[mlgate] fraud_detector 2026-11-01: task train FAILED — not promoted"
    for body in (text, html):
        assert "train" in body
        assert "SparkSubmitError: exit code 1" in body
        assert "No gate results" in body


def test_build_message_is_multipart_alternative():
    subject, text, html = render()
    message = alerts.build_message(
        subject, text, html, sender="mlgate@localhost", recipients=["a@example.com", "b@x.org"]
    )
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message["To"] == "a@example.com, b@x.org"
    with pytest.raises(ValueError, match="recipients"):
        alerts.build_message(subject, text, html, sender="s@x", recipients=[])


def test_send_alert_safely_swallows_and_logs(caplog):
    def boom():
        raise ConnectionRefusedError("nobody home")

    with caplog.at_level(logging.ERROR, logger="mlgate.alerts"):
        assert alerts.send_alert_safely(boom, "test alert") is False
    (record,) = [r for r in caplog.records if "ALERT EMAIL NOT SENT" in r.getMessage()]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert alerts.send_alert_safely(lambda: None, "fine") is True


# ---------------------------------------------------------------------------------------------
# Through Airflow: notifier, SMTP connection from the environment, real sink


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.syspath_prepend(str(PLUGINS))
    sys.modules.pop("mlgate_alerts", None)
    import mlgate_alerts

    return mlgate_alerts


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


@pytest.fixture
def sink(tmp_path, monkeypatch):
    port = free_port()
    directory = tmp_path / "mail"
    pidfile = tmp_path / "sink.pid"
    mailsink.start_background(directory, "127.0.0.1", port, pidfile)
    set_smtp_conn(monkeypatch, port)
    yield directory
    mailsink.stop_background(pidfile)


def set_smtp_conn(monkeypatch, port: int) -> None:
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 5},
    }
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))


ALERTS = AlertsConfig(recipients=["ml-oncall@example.com"]).model_dump()


RUN_ID = "scheduled__2026-11-01T00:00:00+00:00"


def context(exception: BaseException | None = None) -> dict:
    return {
        "dag_id": "fraud_retrain",
        "run_id": RUN_ID,
        "task_instance": SimpleNamespace(task_id="gates", dag_id="fraud_retrain"),
        "data_interval_start": datetime(2026, 11, 1, tzinfo=UTC),
        "data_interval_end": datetime(2026, 11, 2, tzinfo=UTC),
        "exception": exception,
    }


def write_run_files(state: Path, airflow_run_id: str = RUN_ID) -> None:
    """The gate report and tracking file as the DAG run's stages write them."""
    run = state / "pipelines" / "fraud" / "runs" / "ds=2026-11-01"
    run.mkdir(parents=True, exist_ok=True)
    ours = {"airflow_run_id": airflow_run_id}
    (run / "gates.json").write_text(json.dumps({**ours, "passed": False, "results": GATES}))
    (run / "tracking.json").write_text(json.dumps({**ours, "experiment_id": "7", "run_id": "r42"}))


def test_notifier_sends_gate_email_to_the_sink(plugin, state, sink):
    write_run_files(state)
    notifier = plugin.GateAlertNotifier(ALERTS, "fraud_detector", pipeline="fraud")
    notifier(context())  # how Airflow calls an on_failure_callback

    (message,) = mailsink.read_messages(sink)
    assert message["Subject"] == (
        "[mlgate] fraud_detector 2026-11-01: gate bad_record_ratio FAILED — not promoted"
    )
    assert message["To"] == "ml-oncall@example.com"
    assert message["From"] == "mlgate@localhost"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "&lt;script&gt;" in html
    for body in (text, html):
        assert (
            "http://127.0.0.1:8080/dags/fraud_retrain/runs/scheduled__2026-11-01T00%3A00%3A00%2B00%3A00"
            in body
        )
        assert "http://127.0.0.1:5000/#/experiments/7/runs/r42" in body


def test_files_of_an_earlier_run_of_the_day_are_not_reported(plugin, state, sink):
    write_run_files(state, airflow_run_id="manual__2026-11-02T08:00:00+00:00")
    plugin.send_gate_alert(
        ALERTS, "fraud_detector", context(RuntimeError("disk full")), pipeline="fraud"
    )
    (message,) = mailsink.read_messages(sink)
    # the earlier run's failed gate and MLflow run are not this run's
    assert "bad_record_ratio" not in message["Subject"]
    assert "task gates FAILED" in message["Subject"]
    assert "runs/r42" not in message.get_body(("plain",)).get_content()


def test_gate_email_shows_the_data_window_of_the_gate_report(plugin, state, sink):
    write_run_files(state)
    path = state / "pipelines" / "fraud" / "runs" / "ds=2026-11-01" / "gates.json"
    report = json.loads(path.read_text())
    path.write_text(json.dumps({**report, "data_window": {"start": "2026-09-23T00:00:00"}}))
    plugin.send_gate_alert(ALERTS, "fraud_detector", context(), pipeline="fraud")
    (message,) = mailsink.read_messages(sink)
    assert "start: 2026-09-23T00:00:00" in message.get_body(("plain",)).get_content()


def test_send_gate_alert_task_failure_variant(plugin, state, sink):
    sent = plugin.send_gate_alert(
        ALERTS, "fraud_detector", context(RuntimeError("disk full")), pipeline="fraud"
    )
    assert sent is True
    (message,) = mailsink.read_messages(sink)
    assert (
        message["Subject"] == "[mlgate] fraud_detector 2026-11-01: task gates FAILED — not promoted"
    )
    text = message.get_body(("plain",)).get_content()
    assert "RuntimeError: disk full" in text
    assert "MLflow run:  —" in text  # no tracking.json, no link


def test_closed_smtp_port_is_logged_never_raised(plugin, state, monkeypatch, caplog):
    write_run_files(state)
    set_smtp_conn(monkeypatch, free_port())  # nothing listens there
    with caplog.at_level(logging.ERROR):
        assert (
            plugin.send_gate_alert(ALERTS, "fraud_detector", context(), pipeline="fraud") is False
        )
        plugin.GateAlertNotifier(ALERTS, "fraud_detector", pipeline="fraud")(
            context(ValueError("x"))
        )
    errors = [r for r in caplog.records if "ALERT EMAIL NOT SENT" in r.getMessage()]
    assert len(errors) == 2
    assert all(r.levelno == logging.ERROR and r.exc_info for r in errors)
    assert "ConnectionRefusedError" in errors[0].getMessage()


def test_missing_connection_or_recipients_is_logged_never_raised(plugin, state, caplog):
    with caplog.at_level(logging.ERROR):
        assert (
            plugin.send_gate_alert(
                {**ALERTS, "smtp_conn_id": "nope"}, "m", context(), pipeline="fraud"
            )
            is False
        )
        assert (
            plugin.send_gate_alert({**ALERTS, "recipients": []}, "m", context(), pipeline="fraud")
            is False
        )
    messages = [r.getMessage() for r in caplog.records if "ALERT EMAIL NOT SENT" in r.getMessage()]
    assert len(messages) == 2
    assert "recipients" in messages[1]
