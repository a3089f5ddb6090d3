"""What the spark-submit entry points share: arguments, the Spark session, lake reads."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import date

from mlgate.config import PipelineConfig, load_pipeline
from mlgate.errors import PermanentError
from mlgate.ingest.extract import versions_folder
from mlgate.ingest.records import quarantined_keys
from mlgate.ingest.status import select_days
from mlgate.paths import lake_dir, table_partition
from mlgate.runs import write_failure

log = logging.getLogger(__name__)


def job_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--ds",
        required=True,
        type=date.fromisoformat,
        help="data interval start (YYYY-MM-DD): the day this run is for",
    )
    parser.add_argument(
        "--pipeline", required=True, help="the pipeline (a file of include/pipelines)"
    )
    parser.add_argument("--state", help="state folder (default: $MLGATE_STATE or ./state)")
    parser.add_argument("--dag-run-id", default="manual", help="the Airflow run this job is for")
    return parser


class JobInputError(RuntimeError, PermanentError):
    """The job's input cannot give a model (a missing partition, one class only): a retry
    reads the same input; the message says what to do."""


def run_job(main, task: str) -> None:
    """Run a job's `main`; when it fails, record why in the run folder (`runs.write_failure`)
    for the DAG, which then retries only what a retry can fix, and for `mlgate run-day`."""
    args, _ = job_arguments(task).parse_known_args()
    try:
        main()
    except Exception as error:
        if args.state:
            os.environ["MLGATE_STATE"] = args.state
        write_failure(args.pipeline, args.ds.isoformat(), task, error, args.dag_run_id)
        raise


def setup(args: argparse.Namespace) -> PipelineConfig:
    """Apply --state before anything builds a path, then load the pipeline."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.state:
        os.environ["MLGATE_STATE"] = args.state
    return load_pipeline(args.pipeline)


def spark_session(app_name: str):
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark


def readable_days(
    cfg: PipelineConfig, days: list[date], *, required: list[date], any_status: list[date] = ()
) -> list[date]:
    """The days of `days` a job reads: present in the lake and accepted by their data gates
    (`mlgate.ingest.status`); the days of `any_status` are read whatever their status.

    A missing day of `required` stops the job (run the extract first); other missing
    days and days not accepted are left out with a warning that says why.
    """
    spec = cfg.source.events
    present, missing = [], []
    for day in days:
        folder = table_partition(cfg.name, spec.table, day.isoformat())
        (present if folder.exists() else missing).append(day)
    lacking = [day.isoformat() for day in required if day in missing]
    if lacking:
        raise JobInputError(
            f"lake partitions of {spec.table} missing for {lacking[:3]}: run the extract first"
        )
    if missing:
        log.warning("history days missing from the lake: %s", [d.isoformat() for d in missing])
    selection = select_days(cfg.name, spec.table, [d for d in present if d not in any_status])
    for skipped in selection.skipped:
        log.warning(
            "lake day %s left out: %s (%s)", skipped["ds"], skipped["status"], skipped["reason"]
        )
    return sorted([*selection.read, *(d for d in present if d in any_status)])


def read_events(
    spark,
    cfg: PipelineConfig,
    days: list[date],
    *,
    required: list[date],
    any_status: list[date] = (),
):
    """The events of the `readable_days` among `days` from the lake, time column as a
    timestamp, without the rows that failed the record rules (their quarantine partitions
    are anti-joined on the key). A rejected or never judged day is not read."""
    from pyspark.sql import functions as F

    spec = cfg.source.events
    present = readable_days(cfg, days, required=required, any_status=any_status)
    if not present:
        raise JobInputError(
            f"no lake day of {spec.table} from {days[0]} to {days[-1]} is accepted by its "
            "data gates: run the retrain DAG's extract and check_raw for this window first"
        )
    paths = [str(table_partition(cfg.name, spec.table, day.isoformat())) for day in present]
    # Parquet timestamps without zone read as TIMESTAMP_NTZ; the session zone is UTC.
    events = spark.read.parquet(*paths).withColumn(
        spec.time_column, F.col(spec.time_column).cast("timestamp")
    )
    quarantined = quarantined_keys(cfg, present)
    if quarantined:
        # Rows that failed the record rules never reach features, training or scores.
        bad_keys = spark.read.parquet(*quarantined).select(spec.key).distinct()
        events = events.join(bad_keys, on=spec.key, how="left_anti")
    return events


def read_dimensions(spark, cfg: PipelineConfig, ds: date) -> dict:
    """The dimensions as the run of `ds` landed them, by table name: the day's snapshot of a
    static or SCD2 table, every version appended so far of a last-modified one."""
    out = {}
    for dim in cfg.source.dimensions:
        if dim.history == "lastmodified":
            path = lake_dir(cfg.name) / versions_folder(dim.table)
        else:
            path = table_partition(cfg.name, dim.table, ds.isoformat())
        out[dim.table] = spark.read.parquet(str(path))
    return out


def read_labels(spark, cfg: PipelineConfig, ds: date):
    """The label snapshot taken by the run of `ds`, its time column as a timestamp."""
    from pyspark.sql import functions as F

    table, time_column = cfg.target.label_table, cfg.target.label_time_column
    path = table_partition(cfg.name, table, ds.isoformat())
    return spark.read.parquet(str(path)).withColumn(
        time_column, F.col(time_column).cast("timestamp")
    )
