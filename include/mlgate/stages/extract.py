"""The extract task: land the run's window in the lake and record its data manifest."""

from __future__ import annotations

from datetime import date, datetime

from mlgate.config import PipelineConfig, pipeline_path
from mlgate.ingest.extract import extract_for_run
from mlgate.ingest.lake import SourceMismatchError
from mlgate.ingest.source_check import check_source
from mlgate.runs import MANIFEST_FILE, write_run_file
from mlgate.stages.common import RunOptions, log_run_artifact
from mlgate.window import refuse_unended_day


def extract(cfg: PipelineConfig, ds: date, as_of: datetime, opts: RunOptions) -> dict:
    """Land the run's window in the lake; write and return a short data manifest.

    A day that has not ended is refused before anything is written (DayNotEnded).
    """
    refuse_unended_day(ds, time_zone=cfg.features.time_zone)
    opts.validate()
    problems = check_source(cfg)
    if problems:
        raise SourceMismatchError(
            f"pipeline {cfg.name} does not fit its source database: {'; '.join(problems)}; "
            f"fix {pipeline_path(cfg.name)} or the source, then run again"
        )
    try:
        manifest = extract_for_run(cfg, ds, as_of)
    except SourceMismatchError as error:
        raise SourceMismatchError(f"{error} ({pipeline_path(cfg.name)})") from error
    write_run_file(cfg.name, ds.isoformat(), MANIFEST_FILE, manifest)
    log_run_artifact(cfg, ds, opts, MANIFEST_FILE, folder="data")
    return {
        "ds": manifest["ds"],
        "event_rows": manifest["event_rows"],
        "own_day_rows": manifest["events"][-1]["rows"],
        "partitions": len(manifest["events"]) + len(manifest["snapshots"]),
        "dimensions": len(manifest["dimensions"]),
    }
