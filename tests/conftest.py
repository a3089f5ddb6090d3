"""Shared test setup: `include` on sys.path and one local Spark session for the whole run."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

# py4j logs "Closing down clientserver connection" from __del__ after pytest has closed
# its log capture, which prints a logging traceback after the summary line.
logging.getLogger("py4j").setLevel(logging.WARNING)

REPO = Path(__file__).resolve().parents[1]
INCLUDE = REPO / "include"
PLUGINS = REPO / "plugins"
for folder in (INCLUDE, PLUGINS, REPO / "dags"):  # as Airflow sets them up for DAG files
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(PLUGINS))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


@pytest.fixture(scope="session")
def spark():
    """A small local SparkSession shared by all tests (starting one takes seconds)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[1]")
        .appName("mlgate-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's `postgresql` binaries) on 127.0.0.1, in a new temp
    folder, for the whole session; stopped and deleted at the end (tests/support/pgserver.py).

    Skipped only when the binaries are not installed and we are not in CI; in CI
    (CI=true) missing binaries are an error: `.ci/run` installs them.
    """
    from support.pgserver import PostgresServer, PostgresUnavailable

    server = _started_or_skipped(PostgresServer.start, PostgresUnavailable, "PostgreSQL")
    yield server
    server.stop()


def _started_or_skipped(start, unavailable: type[Exception], name: str):
    """``start()``, or the test skipped when the server's binaries are missing; in CI
    (CI=true) a missing binary fails: the make targets install them."""
    try:
        return start()
    except unavailable as error:
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"CI must run the {name} tests: {error}", pytrace=False)
        pytest.skip(f"{name} tests skipped: {error}")


@pytest.fixture
def postgres_db(postgres_server, request):
    """A fresh database on the session's server for one test (dropped afterwards); yields
    its superuser SQLAlchemy URL (a URL object: str() of it hides the password)."""
    import re
    import uuid

    name = re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    url = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def redis_server():
    """A real Redis server (Debian's `redis-server`) on 127.0.0.1 with a generated password,
    for the whole session (tests/support/redis_server.py). Skipped only when the binary is
    not installed and we are not in CI; in CI a missing binary is an error."""
    from support.redis_server import RedisServer, RedisUnavailable

    server = _started_or_skipped(RedisServer.start, RedisUnavailable, "Redis")
    yield server
    server.stop()
