"""A throwaway PostgreSQL server on loopback, for the tests and the extraction benchmark.

Started from the Debian packages' binaries (`initdb`, `pg_ctl` from `postgresql`, found on
the PATH or under /usr/lib/postgresql/*/bin) in a fresh temporary folder, on a free port of
127.0.0.1 only, with password (SCRAM) authentication; stopped and deleted by `stop()`.
PostgreSQL refuses to run as root, so when we are root the server runs as the `postgres`
OS user (which the Debian package creates).

    with PostgresServer.start() as server:
        engine = sqlalchemy.create_engine(server.url("mydb"))
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL

SUPERUSER = "postgres"
_BINARIES = ("initdb", "pg_ctl")
# A throwaway server: durability is not needed, speed is.
_FAST_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "40",
}


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries are not installed; the message says how to get them."""


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: on the PATH, else Debian's newest version."""
    on_path = [shutil.which(name) for name in _BINARIES]
    if all(on_path):
        return Path(os.path.realpath(on_path[1])).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    for pg_ctl in reversed(candidates):
        folder = Path(pg_ctl).parent
        if (folder / "initdb").exists():
            return folder
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path  # temporary folder: data directory, socket, log, password file
    port: int
    password: str
    run_as: str | None  # OS user the server runs as (None: ourselves)
    _stopped: bool = field(default=False, repr=False)

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start(
        cls, *, settings: dict[str, str] | None = None, timeout: float = 60
    ) -> PostgresServer:
        """initdb + pg_ctl start in a new temporary folder; raises PostgresUnavailable."""
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise PostgresUnavailable(
                "PostgreSQL server binaries (initdb, pg_ctl) not found on the PATH or under "
                "/usr/lib/postgresql/*/bin; install them: apt-get install -y postgresql"
            )
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SUPERUSER)
            except KeyError:
                raise PostgresUnavailable(
                    "running as root, and there is no 'postgres' OS user to run the server "
                    "as (PostgreSQL refuses root); install the Debian package postgresql"
                ) from None
            run_as = SUPERUSER
        # The server's OS user must reach the folder: under root, use /tmp (world-traversable)
        # rather than a $TMPDIR that may be private to root.
        root = Path(tempfile.mkdtemp(prefix="mlgate-pg-", dir="/tmp" if run_as else None))
        if run_as:
            entry = pwd.getpwnam(run_as)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        server = cls(bin_dir, root, 0, secrets.token_hex(16), run_as)
        try:
            server._initdb()
            server._start(settings or {}, timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
            env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{args[0]} failed ({done.returncode}): {done.stderr.strip() or done.stdout}"
            )
        return done

    def _write(self, path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o600)
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        pwfile = self.root / "pwfile"
        self._write(pwfile, self.password + "\n")
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "--pwfile",
            str(pwfile),
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "--encoding=UTF8",
            "--no-instructions",
        )
        pwfile.unlink()

    def _start(self, settings: dict[str, str], timeout: float) -> None:
        options = {
            **_FAST_SETTINGS,
            **settings,
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "timezone": "UTC",
        }
        for attempt in range(5):
            self.port = free_port()
            options["port"] = str(self.port)
            flags = " ".join(f"-c {key}={value}" for key, value in options.items())
            try:
                self._run(
                    "pg_ctl",
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.root / "server.log"),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "-o",
                    flags,
                    timeout=timeout + 10,
                )
                return
            except RuntimeError:
                if attempt == 4:
                    log = self.root / "server.log"
                    tail = log.read_text()[-2000:] if log.exists() else ""
                    raise RuntimeError(f"PostgreSQL did not start:\n{tail}") from None
                time.sleep(0.2)  # the port was taken in between: try another

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ use

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(
        self,
        database: str = "postgres",
        *,
        user: str = SUPERUSER,
        password: str | None = None,
        driver: str = "postgresql+psycopg",
    ) -> URL:
        """A SQLAlchemy URL (an object: str() of it hides the password, render it with
        `url.render_as_string(hide_password=False)`)."""
        return URL.create(
            driver,
            username=user,
            password=self.password if password is None else password,
            host="127.0.0.1",
            port=self.port,
            database=database,
        )

    def create_database(self, name: str) -> URL:
        """CREATE DATABASE `name` (a plain identifier) and return its superuser URL."""
        import sqlalchemy as sa

        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{_plain(name)}"'))
        finally:
            engine.dispose()
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{_plain(name)}" WITH (FORCE)'))
        finally:
            engine.dispose()


def _plain(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"{name!r} is not a plain database name")
    return name
