"""The work of each non-Spark task of the daily DAG, as plain functions (no Airflow needed).

Tasks exchange files under the state folder, keyed by the run's day `ds` (the start of
its data interval); only small summaries travel through XCom.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime

from mlgate.config import MlgateConfig
from mlgate.paths import run_dir, table_partition, write_json

log = logging.getLogger(__name__)

MANIFEST_FILE = "manifest.json"
CHECK_RAW_FILE = "check_raw.json"
CANDIDATE_FILE = "candidate.json"
DECISION_FILE = "decision.json"


def write_run_file(ds: str, name: str, payload: dict) -> None:
    write_json(run_dir(ds) / name, payload)


def read_run_file(ds: str, name: str) -> dict:
    path = run_dir(ds) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: has the task that writes it run for {ds}?")
    return json.loads(path.read_text())


def extract(cfg: MlgateConfig, ds: date, as_of: datetime) -> dict:
    """Land the run's window in the lake; write and return a short data manifest."""
    from mlgate.extract import extract_for_run

    manifest = extract_for_run(cfg, ds, as_of)
    write_run_file(ds.isoformat(), MANIFEST_FILE, manifest)
    return {
        "ds": manifest["ds"],
        "event_rows": manifest["event_rows"],
        "own_day_rows": manifest["events"][-1]["rows"],
        "partitions": len(manifest["events"]) + len(manifest["snapshots"]),
    }


def check_raw(cfg: MlgateConfig, ds: date) -> dict:
    """Run the raw-data expectation suite on the run's own day; raise when it fails."""
    import pandas as pd

    from mlgate.checks import SUITES_DIR, DataCheckFailed, run_suite

    partition = table_partition(cfg.source.events.table, ds.isoformat())
    frame = pd.read_parquet(partition)
    report = run_suite(frame, SUITES_DIR / "raw_transactions.json")
    write_run_file(ds.isoformat(), CHECK_RAW_FILE, report.to_dict())
    if not report.success:
        raise DataCheckFailed(report)
    return {"rows": report.rows, "expectations": report.evaluated}


def register_and_promote(cfg: MlgateConfig, ds: date, promoted_by: str) -> dict:
    """Register the run's candidate; move `champion` to it when it meets the quality floor."""
    from mlgate import registry

    candidate = read_run_file(ds.isoformat(), CANDIDATE_FILE)
    version = registry.register_candidate(
        cfg.model_name,
        candidate["model_uri"],
        candidate["run_id"],
        tags={"ds": candidate["ds"], "family": candidate["family"]},
    )
    failures = registry.quality_floor_failures(
        candidate["metrics"], cfg.gates.quality.floor
    )
    decision = {
        "ds": candidate["ds"],
        "model_name": cfg.model_name,
        "version": version,
        "run_id": candidate["run_id"],
        "promoted": not failures,
        "reasons": failures,
        "metrics": {k: candidate["metrics"].get(k) for k in ("auc_pr", "roc_auc")},
    }
    if failures:
        log.warning("version %s not promoted: %s", version, "; ".join(failures))
    else:
        decision["promoted_at"] = registry.promote(cfg.model_name, version, promoted_by)
        log.info("version %s is now the champion of %s", version, cfg.model_name)
    write_run_file(ds.isoformat(), DECISION_FILE, decision)
    return decision
