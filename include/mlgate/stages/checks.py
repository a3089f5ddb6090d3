"""The data-check tasks: record rules and the day's volume (check_raw); the raw and feature
suites and the label rate and its freshness, as the features job computed them on Spark
(check_features); each folded into the run's gate report. Neither task reads a whole table
into memory (check_raw streams the day in batches) or imports Great Expectations."""

from __future__ import annotations

from datetime import date

from mlgate import gates
from mlgate.config import PipelineConfig
from mlgate.errors import PermanentError
from mlgate.ingest.lake import partition_rows
from mlgate.ingest.status import (
    ACCEPTED,
    REJECTED,
    Decider,
    days_to_judge,
    record_lake_days,
    set_status,
    status_of,
)
from mlgate.runs import (
    CHECK_FEATURES_FILE,
    CHECK_RAW_FILE,
    LABEL_STATS_FILE,
    MANIFEST_FILE,
    QUARANTINE_FILE,
    RUN_ID_KEY,
    run_file,
    run_file_of,
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


def check_raw(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """Reconciliation, record rules + quarantine (bad_record_ratio) and the day's volume.

    Their verdict decides the status of the day's partition (accepted / rejected); the
    window's days never judged are judged too (`judge_earlier_days`), and the manifest lists
    the days training will leave out. The raw suite runs in the features job, on Spark (a
    failure there rejects the day too); check_features judges its report.
    """
    results, quarantine = day_record_gates(cfg, ds)
    table = cfg.source.events.table
    own_rows = partition_rows(cfg.name, table, ds.isoformat())
    if quarantine is not None:
        write_run_file(cfg.name, ds.isoformat(), QUARANTINE_FILE, quarantine)
        own_rows = quarantine["total_rows"]
    expectations = cfg.gates.data_expectations
    if expectations is not None:
        results.append(
            gates.data_expectations(
                expectations,
                None,  # the suites: the features job runs them, check_features judges them
                label_rate=None,
                volume=own_rows,
                volume_history=recent_volumes(cfg, ds),
            )
        )
    report = record_gates(cfg, ds, opts, results, "check_raw")
    decider = Decider(cfg.name, ds.isoformat(), opts.airflow_run_id)
    status, reason = _verdict_of(report.results)
    set_status(cfg.name, table, [ds], status, decider, reason=reason)
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


class ChecksMissingError(RuntimeError, PermanentError):
    """A report the features job writes is missing or from another run."""


def _job_file(cfg: PipelineConfig, ds: date, opts: RunOptions, name: str) -> dict:
    """A file the features job of this DAG run wrote (not one of an earlier run)."""
    payload = run_file_of(cfg.name, ds.isoformat(), name, opts.airflow_run_id)
    if payload is None:
        raise ChecksMissingError(
            f"{run_file(cfg.name, ds.isoformat(), name)} is missing or was written by another "
            f"run than {opts.airflow_run_id}: the features job of this run writes it; "
            "clear the run's features task and let it run again"
        )
    return {k: v for k, v in payload.items() if k != RUN_ID_KEY}


def check_features(cfg: PipelineConfig, ds: date, opts: RunOptions) -> dict:
    """The raw and feature suites' reports and the label statistics the features job wrote,
    folded into data_expectations with the day's volume; reads no table."""
    expectations = cfg.gates.data_expectations
    if expectations is None:
        return {"gates": {}}
    reports = [
        _job_file(cfg, ds, opts, CHECK_RAW_FILE),
        _job_file(cfg, ds, opts, CHECK_FEATURES_FILE),
    ]
    stats = _job_file(cfg, ds, opts, LABEL_STATS_FILE)
    label_rate = stats["label_rate"]
    result = gates.data_expectations(
        expectations,
        reports,
        label_rate=label_rate if stats["mature_rows"] else 0.0,
        volume=partition_rows(cfg.name, cfg.source.events.table, ds.isoformat()),
        volume_history=recent_volumes(cfg, ds),
        labels_by_day=stats["labels_by_day"],
    )
    report = record_gates(cfg, ds, opts, [result], "check_features")
    enforce(report, opts, "check_features")
    return {"label_rate": label_rate, "gates": {r.name: r.verdict for r in report.results}}
