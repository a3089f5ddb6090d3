"""Where the embedded default keeps its state: one git-ignored folder, `rm -rf` resets it.

The folder is `$MLGATE_STATE`, or `state/` in the checkout. Every path any task reads or
writes is built here, so the layout is written down once::

    state/
      source/                       demo source databases
      pipelines/<pipeline>/         everything of one pipeline:
        lake/<table>/ds=<day>/        imported partitions (lake/quarantine/...: bad rows)
        lake/<table>/_status.json     each partition's status: pending, accepted, rejected
        features/ds=<day>/            the feature table of a run
        runs/ds=<day>/                the hand-over files of a run (mlgate.runs)
        scores/ds=<day>/              batch scores of a day
        imports/<target>.json         incremental-import watermarks
        promotions.jsonl              the promotion ledger (history of promotions, rollbacks)
      mlflow/  airflow/  mail/  services/   shared by every pipeline
      logs/                         the full Airflow and Spark output of each run-day, score-day
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = REPO_ROOT / "include"  # what Airflow, Spark and helpers put on sys.path


def state_dir() -> Path:
    return Path(os.environ.get("MLGATE_STATE", REPO_ROOT / "state")).resolve()


def pipeline_dir(pipeline: str) -> Path:
    """Everything one pipeline writes: pipelines/<pipeline>."""
    return state_dir() / "pipelines" / pipeline


def lake_dir(pipeline: str) -> Path:
    return pipeline_dir(pipeline) / "lake"


def table_partition(pipeline: str, table: str, ds: str) -> Path:
    """The lake partition of one table for one day: lake/<table>/ds=<YYYY-MM-DD>."""
    return lake_dir(pipeline) / table / f"ds={ds}"


def partition_status_path(pipeline: str, table: str) -> Path:
    """The status (pending / accepted / rejected) of each partition of a table
    (mlgate.ingest.status); "_" so Spark and pyarrow skip it."""
    return lake_dir(pipeline) / table / "_status.json"


def partition_status_lock(pipeline: str, table: str) -> Path:
    return lake_dir(pipeline) / table / "_status.lock"


def quarantine_partition(pipeline: str, table: str, ds: str) -> Path:
    """Rows of one day that failed the record rules, each with its reasons."""
    return lake_dir(pipeline) / "quarantine" / table / f"ds={ds}"


def features_partition(pipeline: str, ds: str) -> Path:
    return pipeline_dir(pipeline) / "features" / f"ds={ds}"


def scores_partition(pipeline: str, ds: str) -> Path:
    """Where the score job writes one day's batch scores: scores/ds=<day>."""
    return pipeline_dir(pipeline) / "scores" / f"ds={ds}"


MONITOR_FILE = "monitor.json"  # in monitor/ds=<day>/: the monitor's record of the day


def monitor_partition(pipeline: str, ds: str) -> Path:
    """The monitor's findings of one day (record, HTML report): monitor/ds=<day>."""
    return pipeline_dir(pipeline) / "monitor" / f"ds={ds}"


def realised_path(pipeline: str, ds: str) -> Path:
    """A scoring day's realised performance, written once its labels matured."""
    return pipeline_dir(pipeline) / "monitor" / "realised" / f"ds={ds}.json"


def reference_cache(pipeline: str, run_id: str) -> Path:
    """A model version's reference rows (an MLflow artifact), kept after the first download."""
    return pipeline_dir(pipeline) / "monitor" / "reference" / f"{run_id}.parquet"


def rollout_dir(pipeline: str, version: str) -> Path:
    """The evidence of one canary's rollout: a file per labelled day and per decision."""
    return pipeline_dir(pipeline) / "rollout" / f"v{version}"


def serving_outputs(pipeline: str, ds: str) -> Path:
    """Both models' outputs of each row `mlgate serve` scored during a rollout, one UTC day."""
    return pipeline_dir(pipeline) / "serving" / "outputs" / f"ds={ds}.jsonl"


ONLINE_STATE_ENV = "MLGATE_ONLINE_STATE"  # a file path or redis://[:password@]host:port/db


def online_state_path(pipeline: str) -> Path:
    """The pipeline's embedded online state (``mlgate online bootstrap``, ``mlgate serve``)."""
    return pipeline_dir(pipeline) / "online" / "state.db"


def online_state_location(pipeline: str, given: str | None = None) -> str:
    """Where the online state is: ``given``, else $MLGATE_ONLINE_STATE (keeps a Redis
    password off the command line), else the pipeline's embedded file."""
    return given or os.environ.get(ONLINE_STATE_ENV) or str(online_state_path(pipeline))


def run_dir(pipeline: str, ds: str) -> Path:
    """Per data-interval hand-over files of a run (model files, metrics, manifest)."""
    return pipeline_dir(pipeline) / "runs" / f"ds={ds}"


def imports_dir(pipeline: str) -> Path:
    """Watermarks of the incremental imports."""
    return pipeline_dir(pipeline) / "imports"


def promotion_history_path(pipeline: str) -> Path:
    """The promotion ledger: append-only JSON lines (mlgate.ledger), the history."""
    return pipeline_dir(pipeline) / "promotions.jsonl"


def promotion_lock_path(pipeline: str) -> Path:
    return pipeline_dir(pipeline) / "promotion.lock"


def mlflow_dir() -> Path:
    return state_dir() / "mlflow"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{mlflow_dir() / 'mlflow.db'}"


def artifact_root() -> str:
    return (mlflow_dir() / "artifacts").as_uri()


def logs_dir() -> Path:
    """The full output of each `mlgate run-day` and `score-day` (one file per command)."""
    return state_dir() / "logs"


def mail_dir() -> Path:
    """Where the embedded SMTP sink keeps every message it receives (.eml files)."""
    return state_dir() / "mail"


def temporary_sibling(target: Path) -> Path:
    """A hidden folder next to `target` to write into before `swap_into_place`."""
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")


def swap_into_place(tmp: Path, target: Path) -> None:
    """Replace `target` by the fully written folder `tmp`, so readers never see half of it.

    The old copy is moved aside first and deleted last; a crash in between leaves the
    old copy as a hidden `.old-*` folder, never a mix of the two.
    """
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex}")
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, payload: dict) -> None:
    """Write a JSON file whole or not at all (temporary file, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str))
    tmp.replace(path)
