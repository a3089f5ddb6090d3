"""Where the embedded default keeps its state: one git-ignored folder, `rm -rf` resets it.

The folder is `$MLGATE_STATE`, or `state/` in the checkout. Every path any task reads or
writes is built here, so the layout is written down once.
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


def lake_dir() -> Path:
    return state_dir() / "lake"


def table_partition(table: str, ds: str) -> Path:
    """The lake partition of one table for one day: lake/<table>/ds=<YYYY-MM-DD>."""
    return lake_dir() / table / f"ds={ds}"


def features_partition(ds: str) -> Path:
    return state_dir() / "features" / f"ds={ds}"


def scores_partition(ds: str) -> Path:
    """Where the score job writes one day's batch scores: scores/ds=<day>."""
    return state_dir() / "scores" / f"ds={ds}"


def run_dir(ds: str) -> Path:
    """Per data-interval outputs of training (model files, metrics, manifest)."""
    return state_dir() / "runs" / f"ds={ds}"


def mlflow_dir() -> Path:
    return state_dir() / "mlflow"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{mlflow_dir() / 'mlflow.db'}"


def artifact_root() -> str:
    return (mlflow_dir() / "artifacts").as_uri()


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


def quarantine_partition(table: str, ds: str) -> Path:
    """Rows of one day that failed the record rules, each with its reasons."""
    return lake_dir() / "quarantine" / table / f"ds={ds}"


def mail_dir() -> Path:
    """Where the embedded SMTP sink keeps every message it receives (.eml files)."""
    return state_dir() / "mail"


def promotion_history_path() -> Path:
    """The append-only promotion and rollback history (JSON lines)."""
    return state_dir() / "promotions.jsonl"
