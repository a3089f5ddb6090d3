"""Reconciliation (Sqoop's --validate): what the source held vs what landed in the lake.

The extract measures the source's count and key sum for the window in the same snapshot
it reads (recorded in the partition's `_manifest.json`); here they are compared with the
rows and key sum actually in the partition's Parquet files, by the `reconciliation` gate.
"""

from __future__ import annotations

from datetime import date

from mlgate import gates
from mlgate.config import PipelineConfig, ReconciliationGate
from mlgate.ingest.extract import extract_events_day
from mlgate.ingest.lake import PartitionInfo, measure_partition, partition_manifest
from mlgate.ingest.sqlread import create_source_engine
from mlgate.ingest.status import PENDING, Decider, set_status


def reconcile_day(gate: ReconciliationGate, cfg: PipelineConfig, ds: date) -> gates.GateResult:
    """The reconciliation gate for the run's own day of the events table."""
    spec, day = cfg.source.events, ds.isoformat()
    manifest = partition_manifest(cfg.name, spec.table, day) or {}
    measured = manifest.get("source") or {}
    lake = measure_partition(cfg.name, spec.table, day, measured.get("key") or spec.key)
    return gates.reconciliation(
        gate,
        measured.get("rows"),
        lake.rows,
        source_key_sum=measured.get("key_sum"),
        lake_key_sum=lake.key_sum,
        window=f"{spec.table} ds={day}",
        since_previous_import=manifest.get("since_previous_import"),
    )


def import_window(
    cfg: PipelineConfig, day: date, *, splits: int | None = None
) -> tuple[PartitionInfo, gates.GateResult]:
    """`mlgate import --window DAY`: import one day of the events table and reconcile it.

    An empty window is imported (an empty partition) and reported by the gate, not
    silently accepted. Without a configured reconciliation gate, its defaults apply.
    """
    # the new rows are read by training only once a run's check_raw has judged them
    set_status(
        cfg.name,
        cfg.source.events.table,
        [day],
        PENDING,
        Decider(cfg.name, day.isoformat(), "mlgate import"),
        reason="imported by mlgate import, not judged yet",
    )
    engine = create_source_engine(cfg.source_url(), splits=splits or cfg.source.events.splits)
    try:
        info = extract_events_day(engine, cfg, day, splits=splits)
    finally:
        engine.dispose()
    return info, reconcile_day(cfg.gates.reconciliation or ReconciliationGate(), cfg, day)
