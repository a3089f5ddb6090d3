"""Processes and ports of the local launchers: is it alive, does the port answer, its log.

Shared by the mail sink (``mlgate.local.mailsink``) and the services
(``mlgate.local.services``); Linux's /proc where it helps, plain signals otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

# one owner of process liveness for the product and the launchers
from mlgate.runs import pid_alive, process_start_ticks

# Set in the environment of every process `mlgate services` starts (and so of their
# children): how `stop` finds what they started.
TAG_ENV = "MLGATE_SERVICES_TAG"


class ServicesError(RuntimeError):
    """The services could not be started or stopped; the message says why and what to do."""


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on now (the OS picks it; another process may take it
    before it is used, so the caller retries when binding fails)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def read_pid(pidfile: Path) -> int | None:
    """The pid in a pid file, or None."""
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def tagged_pids(tag: str) -> list[int]:
    """Processes whose environment carries our tag: the services and what they started."""
    marker = f"{TAG_ENV}={tag}".encode() + b"\0"
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        pid = int(proc.name)
        if pid == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes() and pid_alive(pid):
                found.append(pid)
        except OSError:
            continue
    return found


def is_ours(pid: int, tag: str, start_ticks: int | None = None) -> bool:
    """The recorded process itself: same start time, or our tag in its environment.

    Airflow's processes rename themselves (setproctitle), which blanks what
    /proc/<pid>/environ shows, so the start time is the main check.
    """
    if start_ticks and process_start_ticks(pid) == start_ticks:
        return True
    try:
        return f"{TAG_ENV}={tag}".encode() + b"\0" in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def terminate(pids: list[int], wait_seconds: float) -> list[int]:
    """SIGTERM each process group, then SIGKILL what is left; returns the survivors."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.killpg(pid, sig)
            except (ProcessLookupError, PermissionError):
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
        deadline = time.monotonic() + wait_seconds
        while time.monotonic() < deadline and any(pid_alive(pid) for pid in pids):
            time.sleep(0.2)
        pids = [pid for pid in pids if pid_alive(pid)]
        if not pids:
            break
    return pids


def wait_until(what: str, ready, *, timeout: float, name: str, log: Path, pid: int | None = None):
    """Poll `ready()` every second until it returns a true value, and return it.

    Fails with the tail of `log` when the process `pid` exits first or `timeout` passes;
    an OSError, ValueError or URL error from `ready` counts as "not yet".
    """
    import urllib.error

    deadline = time.monotonic() + timeout
    while True:
        try:
            value = ready()
        except (OSError, ValueError, urllib.error.URLError):
            value = None
        if value:
            return value
        if pid is not None and not pid_alive(pid):
            raise ServicesError(f"{name} exited before {what}; last lines of {log}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise ServicesError(
                f"{name}: no {what} within {timeout:.0f}s; last lines of {log}:\n{tail(log)}"
            )
        time.sleep(1.0)
