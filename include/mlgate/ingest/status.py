"""The status of each lake partition of a table: pending, accepted or rejected, and by whom.

A day's rows reach training only once that day's data gates accepted them. The statuses of
a table live in one file next to its partitions, ``lake/<table>/_status.json`` (a partition
folder is replaced whole on re-import, so its status cannot live inside it)::

    {"partitions": {"2026-10-30": {"status": "rejected", "reason": "reconciliation: ...",
                                   "pipeline": "fraud", "run_ds": "2026-10-31",
                                   "airflow_run_id": "scheduled__...",
                                   "decided_at": "2026-11-01T00:05:12+00:00"}}}

- the extract marks a day ``pending`` before it (re-)imports it, so new rows are never
  read under an older verdict, even after a crash between the two;
- check_raw judges every pending day of its window (the run's own day with all its data
  gates, older days with reconciliation and bad_record_ratio) and marks it ``accepted``
  or ``rejected``; a day without a status (a lake from before statuses) counts as pending;
- jobs read ``accepted`` days only (``select_days``), and the next run whose window holds
  a rejected day imports it again from the source, so its gates judge it again.

Each change is a read-modify-write under an exclusive lock (``_status.lock``), written
whole through a temporary file and a rename.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from mlgate.paths import partition_status_lock, partition_status_path, write_json
from mlgate.runs import MANIFEST_FILE, read_run_file, run_file, write_run_file

if TYPE_CHECKING:
    from mlgate.config import PipelineConfig

PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
STATUSES = (PENDING, ACCEPTED, REJECTED)


@dataclass(frozen=True)
class Decider:
    """The run that set a status: its pipeline, its day and its Airflow run id."""

    pipeline: str
    run_ds: str
    airflow_run_id: str = "manual"

    def to_dict(self) -> dict:
        return {
            "pipeline": self.pipeline,
            "run_ds": self.run_ds,
            "airflow_run_id": self.airflow_run_id,
        }


@dataclass(frozen=True)
class DaySelection:
    """The days a job reads (accepted) and those it leaves out, each with why."""

    read: list[date]
    skipped: list[dict]  # {"ds", "status", "reason", and the deciding run when known}


def read_statuses(pipeline: str, table: str) -> dict[str, dict]:
    """Every recorded partition status of the table, by day (YYYY-MM-DD)."""
    path = partition_status_path(pipeline, table)
    if not path.exists():
        return {}
    return json.loads(path.read_text()).get("partitions", {})


def status_of(pipeline: str, table: str, ds: date | str) -> str:
    """The status of one day's partition; a day never judged is pending."""
    day = ds if isinstance(ds, str) else ds.isoformat()
    return read_statuses(pipeline, table).get(day, {}).get("status", PENDING)


@contextmanager
def _locked(pipeline: str, table: str) -> Iterator[None]:
    lock = partition_status_lock(pipeline, table)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def set_status(
    pipeline: str,
    table: str,
    days: Iterable[date | str],
    status: str,
    decider: Decider,
    *,
    reason: str = "",
    now: datetime | None = None,
) -> None:
    """Record `status` for each of `days`, with the run that decided it and when."""
    if status not in STATUSES:
        raise ValueError(f"partition status must be one of {STATUSES}, not {status!r}")
    keys = [day if isinstance(day, str) else day.isoformat() for day in days]
    if not keys:
        return
    entry = {
        "status": status,
        "reason": reason,
        **decider.to_dict(),
        "decided_at": (now or datetime.now(UTC)).isoformat(),
    }
    with _locked(pipeline, table):
        partitions = read_statuses(pipeline, table)
        for key in keys:
            partitions[key] = dict(entry)
        _write_statuses(pipeline, table, partitions)


def _write_statuses(pipeline: str, table: str, partitions: dict[str, dict]) -> None:
    write_json(
        partition_status_path(pipeline, table),
        {"table": table, "partitions": dict(sorted(partitions.items()))},
    )


def update_status(
    pipeline: str,
    table: str,
    day: date,
    decider: Decider,
    decide: Callable[[dict], tuple[str, str] | None],
    *,
    now: datetime | None = None,
) -> dict:
    """Read, decide and write one day's status under the lock, so that no other run's
    decision lands in between: `decide(entry)` gets the day's current entry ({} when never
    judged) and returns the new (status, reason), or None to leave it. The entry after."""
    key = day.isoformat()
    with _locked(pipeline, table):
        partitions = read_statuses(pipeline, table)
        current = partitions.get(key, {})
        decided = decide(dict(current))
        if decided is None:
            return current
        status, reason = decided
        if status not in STATUSES:
            raise ValueError(f"partition status must be one of {STATUSES}, not {status!r}")
        partitions[key] = {
            "status": status,
            "reason": reason,
            **decider.to_dict(),
            "decided_at": (now or datetime.now(UTC)).isoformat(),
        }
        _write_statuses(pipeline, table, partitions)
        return partitions[key]


def days_to_judge(pipeline: str, table: str, days: Iterable[date]) -> list[date]:
    """The days whose gates have not run since they were imported (pending or no status)."""
    statuses = read_statuses(pipeline, table)
    return [d for d in days if statuses.get(d.isoformat(), {}).get("status", PENDING) == PENDING]


def select_days(pipeline: str, table: str, days: Iterable[date]) -> DaySelection:
    """Which of `days` a job may read: the accepted ones. The others are listed with their
    status and the reason recorded for it (a day never judged: pending, no reason)."""
    statuses = read_statuses(pipeline, table)
    read, skipped = [], []
    for day in days:
        entry = statuses.get(day.isoformat(), {})
        status = entry.get("status", PENDING)
        if status == ACCEPTED:
            read.append(day)
            continue
        skipped.append(
            {
                "ds": day.isoformat(),
                "status": status,
                "reason": entry.get("reason") or "its data gates have not judged it yet",
                **{k: entry[k] for k in ("run_ds", "airflow_run_id", "decided_at") if k in entry},
            }
        )
    return DaySelection(read, skipped)


def record_lake_days(cfg: PipelineConfig, ds: date, judged: list[dict] | None = None) -> dict:
    """Write into the run's manifest which lake days its jobs read and which they skip, why
    (check_raw, and the features job again when the raw suite rejects the run's day).
    `judged`: the days this run judged; None keeps those the manifest lists already."""
    selection = select_days(cfg.name, cfg.source.events.table, cfg.window_spec().extract_days(ds))
    manifest_path = run_file(cfg.name, ds.isoformat(), MANIFEST_FILE)
    manifest = (
        read_run_file(cfg.name, ds.isoformat(), MANIFEST_FILE) if manifest_path.exists() else None
    )
    if judged is None:
        judged = ((manifest or {}).get("lake_days") or {}).get("judged_by_this_run", [])
    lake_days = {
        "read": len(selection.read),
        "skipped": selection.skipped,
        "judged_by_this_run": judged,
    }
    if manifest is not None:
        write_run_file(
            cfg.name, ds.isoformat(), MANIFEST_FILE, {**manifest, "lake_days": lake_days}
        )
    return lake_days
