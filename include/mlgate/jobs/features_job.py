"""spark-submit job: the feature table of one run, from its lake partitions, and its checks.

Reads the events of the run's window plus feature history (only the lake days their data
gates accepted: mlgate.ingest.status; the run's manifest lists the others), its
dimensions and the label snapshot of the run's day, computes the rows it scores (events,
or an entity's observations) with the features of the spec (strictly past data only) and
their labels as of the end of the data interval, and atomically replaces features/ds=<ds>.

With ``gates.data_expectations`` configured, the Great Expectations suites run here, on
Spark, where the data is: the raw suite on the run day's lake partition first (a failure
rejects the day, so the table is built without it), then the feature suite on the written
table, and the label rate and the positive labels of the newest matured days. Their
reports (runs/ds=<ds>/check_raw.json, check_features.json, label_stats.json) are what the
check_features task judges.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from mlgate import gates
from mlgate.checks.derived import joined_column_expectations
from mlgate.checks.expectations import import_gx, quiet_gx_environment, run_suite
from mlgate.config import PipelineConfig
from mlgate.ingest.status import (
    ACCEPTED,
    REJECTED,
    Decider,
    read_statuses,
    record_lake_days,
    update_status,
)
from mlgate.jobs.common import (
    JobInputError,
    job_arguments,
    read_dimensions,
    read_events,
    read_labels,
    run_job,
    setup,
    spark_session,
)
from mlgate.ml.labels import MATURE_COLUMN
from mlgate.ml.rows import feature_rows, label_rows
from mlgate.paths import (
    features_partition,
    swap_into_place,
    table_partition,
    temporary_sibling,
    write_json,
)
from mlgate.runs import (
    CHECK_FEATURES_FILE,
    CHECK_RAW_FILE,
    FEATURE_SUMMARY_FILE,
    LABEL_STATS_FILE,
    RUN_ID_KEY,
    PhaseClock,
    write_run_file,
)
from mlgate.window import as_of

log = logging.getLogger("mlgate.features_job")


def read_inputs(
    spark, cfg: PipelineConfig, ds
) -> tuple[DataFrame, dict[str, DataFrame], DataFrame]:
    """The run's events (every day of its window and feature history), its dimensions and
    the label snapshot of its day."""
    days = cfg.window_spec().extract_days(ds)
    events = read_events(spark, cfg, days, required=days)
    return events, read_dimensions(spark, cfg, ds), read_labels(spark, cfg, ds)


def build_feature_table(cfg: PipelineConfig, events, dimensions, labels, ds) -> DataFrame:
    """The rows of the run's training window with their features and labels; rows before the
    window only served as history."""
    window = cfg.window_spec()
    rows = feature_rows(cfg, events, dimensions, start=window.window_start(ds), end=as_of(ds))
    return label_rows(cfg, rows, labels, as_of=as_of(ds), mature_until=window.mature_end(ds))


def start_gx_import() -> threading.Thread:
    """Import Great Expectations (seconds of CPU) in the background while the JVM starts.

    A failed import is only logged here: the suite imports GX again and raises the error
    where it matters."""

    def work():
        try:
            import_gx()
        except Exception:
            log.exception("background import of great_expectations failed")

    quiet_gx_environment()  # here, not in the thread: pyspark copies os.environ meanwhile
    thread = threading.Thread(target=work, name="gx-import", daemon=True)
    thread.start()
    return thread


def check_raw_partition(
    spark, cfg: PipelineConfig, ds: date, decider: Decider, override_gates: list[str]
) -> dict:
    """The raw suite on the run day's lake partition (as imported, quarantined rows
    included), written to check_raw.json. When it fails and data_expectations blocks (and
    is not overridden), the day becomes rejected with the failed expectations as reason,
    so the feature table is built without it."""
    expectations = cfg.gates.data_expectations
    table = cfg.source.events.table
    partition = table_partition(cfg.name, table, ds.isoformat())
    if not partition.exists():
        raise JobInputError(
            f"lake partition {partition} is missing: run the extract for {ds} first"
        )
    report = run_suite(spark.read.parquet(str(partition)), expectations.raw_suite).to_dict()
    write_run_file(
        cfg.name, ds.isoformat(), CHECK_RAW_FILE, {**report, RUN_ID_KEY: decider.airflow_run_id}
    )
    verdict = gates.data_expectations(
        expectations, [report], label_rate=None, volume=None, volume_history=[]
    )
    settle_run_day(cfg, ds, decider, verdict, override_gates)
    return report


def settle_run_day(
    cfg: PipelineConfig, ds: date, decider: Decider, verdict, override_gates: list[str]
) -> None:
    """The run day's status after its raw suite, decided under the status lock.

    A blocking suite (not overridden) rejects the day, keeping the reason check_raw of this
    run gave when it rejected it too; a retry does not repeat the suite's reason. A rerun
    with the suite's gate overridden accepts again a day that only this run's suite had
    rejected. Then the manifest's list of read and skipped days is brought up to date."""
    suite_reason = f"{verdict.name}: {verdict.reason}"
    blocks = verdict.blocks() and verdict.name not in override_gates

    def decide(entry: dict) -> tuple[str, str] | None:
        this_run = entry.get("airflow_run_id") == decider.airflow_run_id
        rejected = entry.get("status") == REJECTED
        earlier = entry.get("reason", "") if this_run and rejected else ""
        if blocks:
            if suite_reason in earlier:
                return None  # a retry: already said
            return REJECTED, f"{earlier}; {suite_reason}" if earlier else suite_reason
        if earlier.startswith(f"{verdict.name}:"):  # this run's suite alone rejected it
            return ACCEPTED, f"{verdict.name} overridden by this run"
        return None

    before = read_statuses(cfg.name, cfg.source.events.table).get(ds.isoformat(), {})
    after = update_status(cfg.name, cfg.source.events.table, ds, decider, decide)
    if after.get("status") != before.get("status"):
        log.warning("lake day %s %s by the raw suite: %s", ds, after["status"], after["reason"])
        record_lake_days(cfg, ds)


def label_stats(cfg: PipelineConfig, table: DataFrame, ds: date) -> dict:
    """The label rate of the mature rows (None without any) and the positive labels on each
    of the newest matured days (label_freshness_days; a day without rows counts 0, None
    when switched off), computed by Spark on the feature table."""
    target = cfg.target.name
    mature = table.where(F.col(MATURE_COLUMN))
    rows, rate = mature.agg(F.count(F.lit(1)), F.avg(F.col(target).cast("double"))).first()
    count = cfg.gates.data_expectations.label_freshness_days
    days = cfg.window_spec().recent_mature_days(ds, count)
    by_day = None
    if days:
        # the session time zone is UTC (spark_session): to_date gives the UTC day
        day = F.to_date(F.col(cfg.row_time))
        positives = {
            row["day"]: int(row["positives"])
            for row in mature.where(day.between(days[0], days[-1]))
            .groupBy(day.alias("day"))
            .agg(F.sum(F.col(target).cast("long")).alias("positives"))
            .collect()
        }
        by_day = {d.isoformat(): positives.get(d, 0) for d in days}
    return {
        "mature_rows": int(rows),
        "label_rate": float(rate) if rows else None,
        "labels_by_day": by_day,
    }


def main(argv: list[str] | None = None) -> None:
    parser = job_arguments(__doc__.splitlines()[0])
    parser.add_argument(
        "--override-gates",
        default="",
        help="comma-separated gates this run overrides: a raw suite failure overridden "
        "(data_expectations) does not reject the day",
    )
    args = parser.parse_args(argv)
    cfg = setup(args)
    expectations = cfg.gates.data_expectations
    # before the Spark session: the import overlaps the JVM start
    gx_import = start_gx_import() if expectations is not None else None
    ds = args.ds.isoformat()
    clock = PhaseClock(cfg.name, ds, "features")
    spark = spark_session(f"mlgate-features-{ds}")
    if expectations is not None:
        with clock.phase("gx_import_wait"):
            gx_import.join()
        with clock.phase("raw_suite"):
            overrides = [g for g in args.override_gates.split(",") if g]
            decider = Decider(cfg.name, ds, args.dag_run_id)
            check_raw_partition(spark, cfg, args.ds, decider, overrides)

    target = features_partition(cfg.name, ds)
    with clock.phase("build_features"):
        events, dimensions, labels = read_inputs(spark, cfg, args.ds)
        table = build_feature_table(cfg, events, dimensions, labels, args.ds)
        tmp = temporary_sibling(target)
        table.write.mode("overwrite").parquet(str(tmp))
        swap_into_place(tmp, target)
        written = spark.read.parquet(str(target))
        label = cfg.target.name
        summary = (
            written.agg(
                F.count(F.lit(1)).alias("rows"),
                F.sum(F.col(MATURE_COLUMN).cast("int")).alias("mature_rows"),
                F.sum(F.when(F.col(MATURE_COLUMN), F.col(label)).otherwise(0)).alias(
                    "mature_positives"
                ),
            )
            .first()
            .asDict()
        )
        write_json(target / FEATURE_SUMMARY_FILE, {"ds": ds, **summary})
        log.info("feature table %s: %s", target, summary)

    if expectations is not None:
        with clock.phase("features_suite"):
            report = run_suite(
                written, expectations.features_suite, extra=joined_column_expectations(cfg)
            ).to_dict()
            write_run_file(
                cfg.name, ds, CHECK_FEATURES_FILE, {**report, RUN_ID_KEY: args.dag_run_id}
            )
        with clock.phase("label_stats"):
            stats = label_stats(cfg, written, args.ds)
            write_run_file(cfg.name, ds, LABEL_STATS_FILE, {**stats, RUN_ID_KEY: args.dag_run_id})
    clock.write()
    spark.stop()


if __name__ == "__main__":
    run_job(main, "features")
