"""The local SMTP mail sink: real SMTP in, one .eml file per message out."""

from __future__ import annotations

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
