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
for folder in (INCLUDE, PLUGINS):  # as Airflow sets them up for DAG files
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
