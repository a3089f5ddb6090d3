"""What the spark-submit entry points share: arguments, the Spark session, lake reads."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import date, datetime, timedelta

from mlgate.config import MlgateConfig, load_config


def job_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--ds",
        required=True,
        type=date.fromisoformat,
        help="data interval start (YYYY-MM-DD): the day this run is for",
    )
    parser.add_argument(
        "--config", help="pipeline config YAML (default: $MLGATE_CONFIG or the repo's)"
    )
    parser.add_argument("--state", help="state folder (default: $MLGATE_STATE or ./state)")
    return parser


def setup(args: argparse.Namespace) -> MlgateConfig:
    """Apply --state before anything builds a path, then load the config."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.state:
        os.environ["MLGATE_STATE"] = args.state
    return load_config(args.config)


def as_of(ds: date) -> datetime:
    """End of the data interval: everything known strictly before it may be used."""
    return datetime.combine(ds + timedelta(days=1), datetime.min.time())


def spark_session(app_name: str):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark
