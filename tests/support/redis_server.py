"""A throwaway Redis server on loopback, for the online-state tests and `make bench-online`.

Started from Debian's `redis-server` in a fresh temporary folder, on a free port of
127.0.0.1 only, with a generated password (no anonymous access), every write appended to
its log and flushed before the reply (`appendfsync always`, as docker-compose.yaml runs
it); stopped and deleted by `stop()`.

    with RedisServer.start() as server:
        store = RedisStore(server.url, namespace="mlgate:test")
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from support.pgserver import free_port


class RedisUnavailable(RuntimeError):
    """redis-server is not installed; the message says how to get it."""


@dataclass
class RedisServer:
    root: Path
    port: int
    password: str
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @classmethod
    def start(cls, *, durable: bool = True) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisUnavailable(
                "redis-server is not installed: sudo apt-get install -y redis-server "
                "(scripts/prerequisites test does it)"
            )
        root = Path(tempfile.mkdtemp(prefix="mlgate-redis-"))
        port, password = free_port(), secrets.token_hex(16)
        config = root / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    f"dir {root}",
                    f'requirepass "{password}"',
                    'save ""',
                    f"appendonly {'yes' if durable else 'no'}",
                    "appendfsync always",
                    "protected-mode yes",
                    f"logfile {root / 'redis.log'}",
                ]
            )
            + "\n"
        )
        config.chmod(0o600)
        process = subprocess.Popen([binary, str(config)], stdout=subprocess.DEVNULL)
        server = cls(root, port, password, process)
        server._wait()
        return server

    def _wait(self, seconds: float = 20.0) -> None:
        import redis

        deadline = time.monotonic() + seconds
        while True:
            try:
                redis.Redis.from_url(self.url).ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.root / "redis.log").read_text(errors="replace")[-2000:]
                    self.stop()
                    raise RuntimeError(f"redis-server did not start:\n{log}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
