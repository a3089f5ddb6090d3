"""The local SMTP mail sink: real SMTP in, one .eml file per message out."""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from mlgate.local import mailsink

INCLUDE = Path(__file__).resolve().parents[2] / "include"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def multipart(subject: str = "hello") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "mlgate@localhost"
    message["To"] = "oncall@example.com"
    message.set_content("plain body\n")
    message.add_alternative("<p>html <b>body</b></p>", subtype="html")
    return message


def parts(message: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in message.iter_parts()}


@pytest.fixture
def sink(tmp_path):
    """A sink started the way the embedded default starts it (detached process)."""
    port = free_port()
    pidfile = tmp_path / "sink.pid"
    directory = tmp_path / "mail"
    pid = mailsink.start_background(directory, "127.0.0.1", port, pidfile)
    yield directory, port, pidfile, pid
    mailsink.stop_background(pidfile)


def test_background_sink_saves_each_message_as_eml(sink):
    directory, port, pidfile, pid = sink
    assert int(pidfile.read_text()) == pid
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(multipart("first"))
        client.send_message(multipart("second"))

    files = sorted(directory.glob("*.eml"))
    assert len(files) == 2
    assert not list(directory.glob(".*.tmp"))
    assert b"Subject: first" in files[0].read_bytes()

    messages = mailsink.read_messages(directory)
    assert [m["Subject"] for m in messages] == ["first", "second"]
    assert messages[0].get_content_type() == "multipart/alternative"
    body = parts(messages[0])
    assert body["text/plain"] == "plain body\n"
    assert "<b>body</b>" in body["text/html"]
    assert f"mail sink listening on 127.0.0.1:{port}" in (directory / "sink.log").read_text()


def test_start_background_reuses_a_live_sink_and_stop_closes_the_port(sink):
    directory, port, pidfile, pid = sink
    assert mailsink.start_background(directory, "127.0.0.1", port, pidfile) == pid
    assert mailsink.stop_background(pidfile) is True
    assert not pidfile.exists()
    assert not mailsink.port_open("127.0.0.1", port)
    assert mailsink.stop_background(pidfile) is False


def test_start_background_refuses_a_port_taken_by_something_else(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match="already in use"):
            mailsink.start_background(tmp_path, "127.0.0.1", port, tmp_path / "sink.pid")


def test_in_process_controller_and_atomic_save(tmp_path):
    from aiosmtpd.controller import Controller

    handler = mailsink.MailSink(tmp_path / "mail")
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as client:
            client.send_message(multipart("in process"))
    finally:
        controller.stop()
    (message,) = mailsink.read_messages(tmp_path / "mail")
    assert message["Subject"] == "in process"
    assert set(parts(message)) == {"text/plain", "text/html"}
    assert mailsink.read_messages(tmp_path / "absent") == []


def test_module_help_exits_zero():
    result = subprocess.run(
        [sys.executable, "-m", "mlgate.local.mailsink", "--help"],
        capture_output=True,
        text=True,
        cwd=INCLUDE,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "--dir" in result.stdout and ".eml" in result.stdout


# --- one sink per `mlgate run-day`, on a free port, never outliving its run (issue 12) -----

# A run as `mlgate run-day` holds the sink: enter mail_sink_running, say so, wait for an
# event of the other run, send this run's alert through the port Airflow would be given,
# leave, say so.
RUN = """
import json, smtplib, sys, time
from email.message import EmailMessage
from pathlib import Path
from mlgate.cli.run import mail_sink_running
from mlgate.local.embedded import smtp_port

configured, name, entered, wait_for, left = sys.argv[1:]
env = {"AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({"conn_type": "smtp", "host": "127.0.0.1",
                                                "port": int(configured)})}
with mail_sink_running(env) as run_env:
    run_env = run_env or env
    Path(entered).write_text(str(smtp_port(run_env)))
    while wait_for != "-" and not Path(wait_for).exists():
        time.sleep(0.05)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = f"alert of {name}", "a@b.c", "d@e.f"
    message.set_content(name)
    with smtplib.SMTP("127.0.0.1", smtp_port(run_env), timeout=10) as smtp:
        smtp.send_message(message)
Path(left).write_text("left")
"""


def start_run(tmp_path, configured: int, name: str, wait_for: str) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(INCLUDE), "MLGATE_STATE": str(tmp_path)}
    args = [str(configured), name, str(tmp_path / f"{name}.in"), wait_for]
    return subprocess.Popen(
        [sys.executable, "-c", RUN, *args, str(tmp_path / f"{name}.left")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_file(path: Path, process: subprocess.Popen, seconds: float = 60) -> str:
    import time

    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)
    return path.read_text()


def test_two_runs_at_once_both_get_their_alert_emails(tmp_path):
    """Run b starts while run a holds its sink, and sends its alert after a has ended."""
    configured = free_port()  # nothing listens there: each run needs a sink of its own
    first = start_run(tmp_path, configured, "a", str(tmp_path / "b.in"))
    wait_for_file(tmp_path / "a.in", first)
    second = start_run(tmp_path, configured, "b", str(tmp_path / "a.left"))
    for run in (first, second):
        output, _ = run.communicate(timeout=60)
        assert run.returncode == 0, output
    subjects = sorted(m["Subject"] for m in mailsink.read_messages(tmp_path / "mail"))
    assert subjects == ["alert of a", "alert of b"]
    assert (tmp_path / "a.in").read_text() != (tmp_path / "b.in").read_text()  # two ports


def test_a_killed_run_leaves_no_sink_behind(tmp_path):
    import time

    configured = free_port()
    run = start_run(tmp_path, configured, "killed", str(tmp_path / "never"))
    port = int(wait_for_file(tmp_path / "killed.in", run))
    assert mailsink.port_open("127.0.0.1", port)
    run.kill()  # SIGKILL: no cleanup code of the run gets to run
    run.wait()
    deadline = time.monotonic() + 15
    while mailsink.port_open("127.0.0.1", port):
        assert time.monotonic() < deadline, "the killed run's mail sink is still listening"
        time.sleep(0.2)
    # the next run finds no live sink of it and removes its stale pid file
    after = start_run(tmp_path, configured, "next", "-")
    output, _ = after.communicate(timeout=60)
    assert after.returncode == 0, output
    assert list((tmp_path / "mail").glob("sink-*.pid")) == []


def test_a_sink_already_on_the_configured_port_is_shared_and_left_running(sink, tmp_path):
    from mlgate.cli.run import mail_sink_running

    directory, port, _, pid = sink
    env = {"AIRFLOW_CONN_SMTP_DEFAULT": json.dumps({"conn_type": "smtp", "port": port})}
    with mail_sink_running(env) as run_env:
        assert run_env == env
    assert mailsink.port_open("127.0.0.1", port)
    assert mailsink.pid_alive(pid)
