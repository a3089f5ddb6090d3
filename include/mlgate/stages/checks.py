"""The data-check tasks: record rules and the raw suite (check_raw), the feature suite,
the label rate and its freshness (check_features), each folded into the run's gate report."""

from __future__ import annotations

from datetime import date

from mlgate import gates
from mlgate.config import PipelineConfig
from mlgate.ingest.lake import partition_rows
from mlgate.paths import features_partition, table_partition
from mlgate.runs import (
    CHECK_FEATURES_FILE,
    CHECK_RAW_FILE,
    QUARANTINE_FILE,
    read_run_file,
    run_file,
    write_run_file,
)
from mlgate.stages.common import RunOptions, enforce, record_gates
from mlgate.window import days_before


def recent_volumes(cfg: PipelineConfig, ds: date) -> list[int]:
    """Row counts of the days before `ds` in the lake (for the volume band), oldest first."""
    expectations = cfg.gates.data_expectations
    days = expectations.volume_history_days if expectations else 7
    counts = []
    for day in days_before(ds, days):
        rows = partition_rows(cfg.name, cfg.source.events.table, day.isoformat())
        if rows:  # a missing or empty earlier day is no baseline
            counts.append(rows)
    return counts


def check_raw(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """Reconciliation, record rules + quarantine (bad_record_ratio), the raw suite + volume."""
    results = []
    own_rows = None
    if cfg.gates.reconciliation is not None:  # source window vs lake partition
        from mlgate.ingest.reconcile import reconcile_day

        results.append(reconcile_day(cfg.gates.reconciliation, cfg, ds))
    if cfg.records is not None:
        from mlgate.ingest.records import quarantine_day

        quarantine = quarantine_day(cfg, ds)
        write_run_file(cfg.name, ds.isoformat(), QUARANTINE_FILE, quarantine.to_dict())
        own_rows = quarantine.total_rows
        if cfg.gates.bad_record_ratio is not None:
            results.append(
                gates.bad_record_ratio(
                    cfg.gates.bad_record_ratio,
                    quarantine.total_rows,
                    quarantine.bad_rows,
                    quarantine.reasons,
                )
            )
    expectations = cfg.gates.data_expectations
    if expectations is not None:
        import pandas as pd

        from mlgate.checks.expectations import run_suite

        frame = pd.read_parquet(table_partition(cfg.name, cfg.source.events.table, ds.isoformat()))
        own_rows = len(frame)
        report = run_suite(frame, expectations.raw_suite).to_dict()
        write_run_file(cfg.name, ds.isoformat(), CHECK_RAW_FILE, report)
        results.append(
            gates.data_expectations(
                expectations,
                [report],
                label_rate=None,
                volume=own_rows,
                volume_history=recent_volumes(cfg, ds),
            )
        )
    report = record_gates(cfg, ds, opts, results, "check_raw")
    enforce(report, opts, "check_raw")
    return {"rows": own_rows, "gates": {r.name: r.verdict for r in report.results}}


def recent_labels_by_day(cfg: PipelineConfig, ds: date, mature) -> dict[str, int] | None:
    """Positive labels on each of the newest matured days (label_freshness_days), from the
    feature table's mature rows; a day without any row counts 0. None when switched off."""
    count = cfg.gates.data_expectations.label_freshness_days
    days = cfg.window_spec().recent_mature_days(ds, count)
    if not days:
        return None
    import pandas as pd

    moments = pd.to_datetime(mature[cfg.row_time], utc=True)
    positives = mature[cfg.target.name].groupby(moments.dt.date).sum()
    return {day.isoformat(): int(positives.get(day, 0)) for day in days}


def check_features(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """The feature-table suite and the label rate, folded into data_expectations."""
    expectations = cfg.gates.data_expectations
    if expectations is None:
        return {"gates": {}}
    import pandas as pd

    from mlgate.checks.expectations import joined_column_expectations, run_suite
    from mlgate.ml.labels import MATURE_COLUMN

    frame = pd.read_parquet(features_partition(cfg.name, ds.isoformat()))
    features_report = run_suite(
        frame, expectations.features_suite, extra=joined_column_expectations(cfg)
    ).to_dict()
    write_run_file(cfg.name, ds.isoformat(), CHECK_FEATURES_FILE, features_report)
    mature = frame[frame[MATURE_COLUMN]]
    label_rate = float(mature[cfg.target.name].mean()) if len(mature) else None
    raw = run_file(cfg.name, ds.isoformat(), CHECK_RAW_FILE)
    reports = [read_run_file(cfg.name, ds.isoformat(), CHECK_RAW_FILE)] if raw.exists() else []
    result = gates.data_expectations(
        expectations,
        [*reports, features_report],
        label_rate=label_rate if len(mature) else 0.0,
        volume=partition_rows(cfg.name, cfg.source.events.table, ds.isoformat()),
        volume_history=recent_volumes(cfg, ds),
        labels_by_day=recent_labels_by_day(cfg, ds, mature),
    )
    report = record_gates(cfg, ds, opts, [result], "check_features")
    enforce(report, opts, "check_features")
    return {"label_rate": label_rate, "gates": {r.name: r.verdict for r in report.results}}
