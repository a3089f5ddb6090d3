"""The data-check tasks: record rules and the raw suite (check_raw), the feature suite,
the label rate and its freshness (check_features), each folded into the run's gate report."""

from __future__ import annotations

from datetime import date

from mlgate import gates
from mlgate.config import PipelineConfig
from mlgate.ingest.lake import partition_rows
from mlgate.ingest.status import (
    ACCEPTED,
    REJECTED,
    Decider,
    days_to_judge,
    select_days,
    set_status,
    status_of,
)
from mlgate.paths import features_partition, table_partition
from mlgate.runs import (
    CHECK_FEATURES_FILE,
    CHECK_RAW_FILE,
    MANIFEST_FILE,
    QUARANTINE_FILE,
    read_run_file,
    run_file,
    write_run_file,
)
from mlgate.stages.common import RunOptions, enforce, log_run_artifact, record_gates
from mlgate.window import days_before


def recent_volumes(cfg: PipelineConfig, ds: date) -> list[int]:
    """Row counts of the days before `ds` in the lake (for the volume band), oldest first."""
    expectations = cfg.gates.data_expectations
    days = expectations.volume_history_days if expectations else 7
    counts = []
    table = cfg.source.events.table
    for day in days_before(ds, days):
        if status_of(cfg.name, table, day) == REJECTED:
            continue  # a rejected day (a junk load, a partial one) is no baseline either
        rows = partition_rows(cfg.name, table, day.isoformat())
        if rows:  # a missing or empty earlier day is no baseline
            counts.append(rows)
    return counts


def day_record_gates(cfg: PipelineConfig, day: date) -> tuple[list[gates.GateResult], dict | None]:
    """Reconciliation and the record rules (quarantine, bad_record_ratio) of one lake day;
    the quarantine summary, or None without record rules."""
    results = []
    if cfg.gates.reconciliation is not None:  # source window vs lake partition
        from mlgate.ingest.reconcile import reconcile_day

        results.append(reconcile_day(cfg.gates.reconciliation, cfg, day))
    if cfg.records is None:
        return results, None
    from mlgate.ingest.records import quarantine_day

    quarantine = quarantine_day(cfg, day)
    if cfg.gates.bad_record_ratio is not None:
        results.append(
            gates.bad_record_ratio(
                cfg.gates.bad_record_ratio,
                quarantine.total_rows,
                quarantine.bad_rows,
                quarantine.reasons,
            )
        )
    return results, quarantine.to_dict()


def _verdict_of(results: list[gates.GateResult]) -> tuple[str, str]:
    """A day's partition status and its reason, from its data gates' results."""
    blocking = [r for r in results if r.blocks()]
    if blocking:
        return REJECTED, "; ".join(f"{r.name}: {r.reason}" for r in blocking)
    overridden = [r.name for r in results if r.overridden]
    judged = ", ".join(r.name for r in results) or "no data gate configured"
    if overridden:
        return ACCEPTED, f"data gates passed or overridden ({', '.join(overridden)}): {judged}"
    return ACCEPTED, f"data gates passed: {judged}"


def judge_earlier_days(cfg: PipelineConfig, ds: date, decider: Decider) -> list[dict]:
    """Judge the days of the run's window before `ds` that were imported but never judged
    (a first run, a re-imported rejected day): reconciliation and bad_record_ratio decide
    whether each becomes accepted or rejected. They never fail the run; a rejected day is
    left out of its training and listed in its manifest."""
    table = cfg.source.events.table
    window = [d for d in cfg.window_spec().extract_days(ds) if d != ds]
    judged = []
    for day in days_to_judge(cfg.name, table, window):
        if partition_rows(cfg.name, table, day.isoformat()) is None:
            continue  # not in the lake: nothing to judge
        results, _ = day_record_gates(cfg, day)
        status, reason = _verdict_of(results)
        set_status(cfg.name, table, [day], status, decider, reason=reason)
        judged.append(
            {
                "ds": day.isoformat(),
                "status": status,
                "reason": reason,
                "gates": {r.name: f"{r.verdict}: {r.reason}" for r in results},
            }
        )
    return judged


def record_lake_days(cfg: PipelineConfig, ds: date, judged: list[dict]) -> dict:
    """Add to the run's manifest which lake days its jobs read and which they skip, why."""
    selection = select_days(cfg.name, cfg.source.events.table, cfg.window_spec().extract_days(ds))
    lake_days = {
        "read": len(selection.read),
        "skipped": selection.skipped,
        "judged_by_this_run": judged,
    }
    if run_file(cfg.name, ds.isoformat(), MANIFEST_FILE).exists():
        manifest = read_run_file(cfg.name, ds.isoformat(), MANIFEST_FILE)
        write_run_file(
            cfg.name, ds.isoformat(), MANIFEST_FILE, {**manifest, "lake_days": lake_days}
        )
    return lake_days


def check_raw(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """Reconciliation, record rules + quarantine (bad_record_ratio), the raw suite + volume.

    Their verdict decides the status of the day's partition (accepted / rejected); the
    window's days never judged are judged too (`judge_earlier_days`), and the manifest lists
    the days training will leave out.
    """
    results, quarantine = day_record_gates(cfg, ds)
    own_rows = None
    if quarantine is not None:
        write_run_file(cfg.name, ds.isoformat(), QUARANTINE_FILE, quarantine)
        own_rows = quarantine["total_rows"]
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
    decider = Decider(cfg.name, ds.isoformat(), opts.airflow_run_id)
    status, reason = _verdict_of(report.results)
    set_status(cfg.name, cfg.source.events.table, [ds], status, decider, reason=reason)
    lake_days = record_lake_days(cfg, ds, judge_earlier_days(cfg, ds, decider))
    if run_file(cfg.name, ds.isoformat(), MANIFEST_FILE).exists():
        log_run_artifact(cfg, ds, opts, MANIFEST_FILE, folder="data")
    enforce(report, opts, "check_raw")
    return {
        "rows": own_rows,
        "gates": {r.name: r.verdict for r in report.results},
        "status": status,
        "skipped_days": len(lake_days["skipped"]),
    }


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
