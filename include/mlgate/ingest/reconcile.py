"""Reconciliation (Sqoop's --validate): what the source held vs what landed in the lake.

The extract measures the source's count and key sum for the window in the same snapshot
it reads (recorded in the partition's `_manifest.json`); here they are compared with the
rows and key sum actually in the partition's Parquet files, by the `reconciliation` gate.
"""

from __future__ import annotations

from datetime import date

from mlgate import gates
from mlgate.config import MlgateConfig, ReconciliationGate
from mlgate.ingest.extract import create_source_engine, extract_events_day
from mlgate.ingest.lake import PartitionInfo, measure_partition, partition_manifest


def reconcile_day(gate: ReconciliationGate, cfg: MlgateConfig, ds: date) -> gates.GateResult:
    """The reconciliation gate for the run's own day of the events table."""
    spec, day = cfg.source.events, ds.isoformat()
    manifest = partition_manifest(spec.table, day) or {}
    measured = manifest.get("source") or {}
    lake = measure_partition(spec.table, day, measured.get("key") or spec.key)
    return gates.reconciliation(
        gate,
        measured.get("rows"),
        lake.rows,
        source_key_sum=measured.get("key_sum"),
        lake_key_sum=lake.key_sum,
        window=f"{spec.table} ds={day}",
    )


def import_window(
    cfg: MlgateConfig, day: date, *, splits: int | None = None
) -> tuple[PartitionInfo, gates.GateResult]:
    """`mlgate import --window DAY`: import one day of the events table and reconcile it.

    An empty window is imported (an empty partition) and reported by the gate, not
    silently accepted. Without a configured reconciliation gate, its defaults apply.
    """
    engine = create_source_engine(
        cfg.source.resolved_url(), splits=splits or cfg.source.events.splits
    )
    try:
        info = extract_events_day(engine, cfg, day, splits=splits)
    finally:
        engine.dispose()
    return info, reconcile_day(cfg.gates.reconciliation or ReconciliationGate(), cfg, day)
