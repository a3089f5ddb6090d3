"""The batch-scoring tasks of the score DAG: wait for the day, write its scores."""

from __future__ import annotations

import json
from datetime import date

from mlgate.config import PipelineConfig
from mlgate.ingest.lake import MANIFEST_FILE
from mlgate.paths import quarantine_partition, scores_partition, table_partition
from mlgate.serving.batch import PROBABILITY, SCORES_META, write_day_scores


def day_ready(cfg: PipelineConfig, ds: date) -> tuple[bool, str]:
    """Whether the day's extract has landed and (if record rules exist) been checked.

    The extract writes ``_manifest.json`` last (after the atomic rename); the record check
    of the retrain DAG's check_raw always writes the quarantine partition, even when empty.
    """
    day = ds.isoformat()
    manifest = table_partition(cfg.name, cfg.source.events.table, day) / MANIFEST_FILE
    if not manifest.exists():
        return False, f"waiting for the extract of {day}: {manifest} does not exist yet"
    if cfg.records is not None:
        quarantine = quarantine_partition(cfg.name, cfg.source.events.table, day)
        if not quarantine.is_dir():
            return False, f"waiting for the record check of {day}: {quarantine} does not exist"
    return True, f"the extract of {day} has landed and was checked"


def write_scores(cfg: PipelineConfig, ds: date) -> dict:
    """The write_scores task: the score job's output for `ds` into the configured table."""
    import pandas as pd

    folder = scores_partition(cfg.name, ds.isoformat())
    meta_path = folder / SCORES_META
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} is missing: has the score job run for {ds}?")
    meta = json.loads(meta_path.read_text())
    rows = pd.read_parquet(folder, columns=[cfg.row_key, cfg.row_time, PROBABILITY])
    written = write_day_scores(
        cfg.scores_url(),
        cfg.scores_table,
        ds,
        rows,
        key=cfg.row_key,
        time_column=cfg.row_time,
        model_name=meta["model_name"],
        model_version=meta["model_version"],
        threshold=meta["threshold"],
    )
    flagged = int((rows[PROBABILITY] >= meta["threshold"]).sum())
    return {
        "ds": ds.isoformat(),
        "rows": written,
        "flagged": flagged,
        "model_version": meta["model_version"],
        "table": cfg.scores_table,
    }
