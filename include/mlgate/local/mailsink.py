"""A real local SMTP server that keeps every message it receives as an .eml file.

The embedded default has no mail server, yet a failed gate must produce an email a person
can open. This sink speaks SMTP (aiosmtpd does the protocol) on a local port and writes each
message, byte for byte as received, to `<dir>/<UTC timestamp>-<pid>-<counter>.eml` (written
to a temporary file first and renamed, so a reader never sees half a message; the pid keeps
two sinks writing to one folder apart). Open the files with any mail client, or list them
with `read_messages`.

    python -m mlgate.local.mailsink --dir state/mail --port 8025     # foreground, Ctrl-C stops it

`start_background` / `stop_background` run the same command as a detached process with a
pid file (used by the embedded default and by tests). With `--owner-pid PID` the sink stops
by itself once that process is gone: `mlgate run-day` starts one sink per run on a free
port, and a run killed outside its control leaves no sink behind.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import itertools
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from mlgate.local.processes import pid_alive, port_open, process_start_ticks, read_pid, tail
from mlgate.paths import INCLUDE_DIR

log = logging.getLogger("mlgate.mailsink")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8025
SERVER_NAME = "mlgate-mailsink.localhost"  # EHLO name; avoids a slow socket.getfqdn()
LOG_NAME = "sink.log"
PID_NAME = "sink.pid"


class MailSink:
    """aiosmtpd handler: every accepted message becomes one .eml file in `directory`."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def save(self, raw: bytes) -> Path:
        """Write one raw message atomically; returns the final path."""
        with self._lock:
            while True:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
                target = self.directory / f"{stamp}-{os.getpid()}-{next(self._counter):06d}.eml"
                if not target.exists():
                    break
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{target.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(raw)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return target

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd hook)
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            path = self.save(raw)
        except OSError as error:
            log.error("could not save message from %s: %s", envelope.mail_from, error)
            return "451 Requested action aborted: could not store the message"
        log.info(
            "saved message from %s to %s as %s",
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
            path.name,
        )
        return "250 Message accepted for delivery"


def _controller(directory: Path | str, host: str, port: int):
    from aiosmtpd.controller import Controller

    return Controller(MailSink(directory), hostname=host, port=port, server_hostname=SERVER_NAME)


def serve(
    directory: Path | str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    owner_pid: int | None = None,
) -> None:
    """Run the sink in the foreground until SIGTERM or SIGINT, or until `owner_pid` ends."""
    directory = Path(directory).resolve()
    controller = _controller(directory, host, port)
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("mail sink got %s, shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, _stop)
    owner_started = process_start_ticks(owner_pid) if owner_pid else None
    controller.start()
    log.info("mail sink listening on %s:%d, saving to %s", host, port, directory)
    try:
        while not stop.wait(0.5):
            if owner_pid and not _owner_alive(owner_pid, owner_started):
                log.info("mail sink's owner (pid %d) is gone, shutting down", owner_pid)
                break
    finally:
        controller.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        log.info("mail sink stopped")


def _owner_alive(pid: int, start_ticks: int | None) -> bool:
    """The owner still runs: its pid is alive and was not reused by a newer process."""
    return pid_alive(pid) and (start_ticks is None or process_start_ticks(pid) == start_ticks)


def _is_sink(pid: int) -> bool:
    """Best effort: the process runs mlgate.local.mailsink (guards against a recycled pid)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return b"mlgate.local.mailsink" in cmdline.read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the pid file


def start_background(
    directory: Path | str,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    pidfile: Path | str | None = None,
    *,
    wait_seconds: float = 15.0,
    owner_pid: int | None = None,
) -> int:
    """Start `python -m mlgate.local.mailsink` detached; returns its pid once the port accepts.

    Output goes to `<dir>/sink.log`; the pid to `pidfile` (default `<dir>/sink.pid`). When
    the pid file names a live sink and the port answers, that sink is reused. With
    `owner_pid`, the sink stops by itself when that process ends.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    pidfile = Path(pidfile) if pidfile else directory / PID_NAME

    pid = read_pid(pidfile)
    if pid is not None:
        if pid_alive(pid) and _is_sink(pid) and port_open(host, port):
            log.info("mail sink already running (pid %d) on %s:%d", pid, host, port)
            return pid
        pidfile.unlink(missing_ok=True)  # stale
    if port_open(host, port):
        raise RuntimeError(
            f"cannot start the mail sink: {host}:{port} is already in use by another "
            f"process (not the one in {pidfile}); choose another port"
        )

    include_dir = str(INCLUDE_DIR)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (include_dir, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    command = [
        sys.executable,
        "-m",
        "mlgate.local.mailsink",
        "--dir",
        str(directory),
        "--host",
        host,
        "--port",
        str(port),
        *(["--owner-pid", str(owner_pid)] if owner_pid else []),
    ]
    log_path = directory / LOG_NAME
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # detached: not killed with the caller's terminal
            close_fds=True,
        )

    deadline = time.monotonic() + wait_seconds
    while not port_open(host, port, timeout=0.2):
        code = process.poll()
        if code is not None:
            raise RuntimeError(
                f"mail sink exited with code {code} before listening on {host}:{port}; "
                f"last lines of {log_path}:\n{tail(log_path)}"
            )
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise RuntimeError(
                f"mail sink did not accept connections on {host}:{port} within "
                f"{wait_seconds:.0f}s; last lines of {log_path}:\n{tail(log_path)}"
            )
        time.sleep(0.1)

    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{process.pid}\n")
    log.info(
        "mail sink started (pid %d) on %s:%d, saving to %s", process.pid, host, port, directory
    )
    return process.pid


def stop_background(pidfile: Path | str, *, wait_seconds: float = 10.0) -> bool:
    """Stop the sink named by `pidfile` (SIGTERM, then SIGKILL); False if none was running."""
    pidfile = Path(pidfile)
    pid = read_pid(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    try:
        if not (pid_alive(pid) and _is_sink(pid)):
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + wait_seconds
        while pid_alive(pid):
            if time.monotonic() > deadline:
                log.warning("mail sink (pid %d) ignored SIGTERM; killing it", pid)
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + wait_seconds
            time.sleep(0.05)
        return True
    except ProcessLookupError:
        return True
    finally:
        pidfile.unlink(missing_ok=True)


def read_messages(directory: Path | str) -> list[EmailMessage]:
    """Every saved message, oldest first (file names sort by arrival)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    messages = []
    for path in sorted(directory.glob("*.eml")):
        with open(path, "rb") as handle:
            messages.append(email.message_from_binary_file(handle, policy=email.policy.default))
    return messages


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlgate.local.mailsink",
        description=(
            "Local SMTP mail sink: accepts every message sent to HOST:PORT and saves it, "
            "unchanged, as DIR/<UTC timestamp>-<counter>.eml. Nothing is delivered anywhere. "
            "Point the Airflow connection smtp_default at it (with the extras disable_tls and "
            "disable_ssl) to read mlgate's alert emails locally. Runs in the foreground "
            "until SIGTERM or Ctrl-C."
        ),
    )
    parser.add_argument(
        "--dir", required=True, type=Path, help="folder for the .eml files (created)"
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--owner-pid",
        type=int,
        help="stop when this process ends (the command that started the sink for its run)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    serve(args.dir, args.host, args.port, owner_pid=args.owner_pid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
