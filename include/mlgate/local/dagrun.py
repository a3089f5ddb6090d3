"""Follow an `airflow dags test` run from outside, through Airflow's metadata DB.

`airflow dags test` records every task instance of its run (state, try, start, end) in the
metadata DB as the run goes. `mlgate run-day` and `score-day` read those rows, read-only,
about once a second, to show each task as it finishes: no log text is parsed, so a change
in Airflow's or Spark's log format cannot break the display.

Only the embedded default's SQLite metadata DB is read (`embedded_env`); with any other
database there is nothing to follow and the commands just wait for the run to end.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Task-instance states after which the try will not run again; up_for_retry ends a try.
FINISHED_STATES = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
RETRY_STATE = "up_for_retry"
SQLITE_PREFIX = "sqlite:///"


@dataclass(frozen=True)
class TaskRun:
    """One try of one task instance of the run, as the metadata DB has it now."""

    task_id: str
    state: str | None
    try_number: int = 0
    max_tries: int = 0
    start: datetime | None = None
    end: datetime | None = None
    map_index: int = -1

    @property
    def name(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"

    @property
    def ended(self) -> bool:
        """The try is over: the task finished, or failed and will be retried."""
        return self.state in FINISHED_STATES or self.state == RETRY_STATE

    def seconds(self, now: datetime) -> float | None:
        """How long the try ran (until `now` while it still runs); None before it started."""
        if self.start is None:
            return None
        return max(0.0, ((self.end or now) - self.start).total_seconds())


def metadata_db(env: dict[str, str]) -> Path | None:
    """The SQLite file of Airflow's metadata DB in `env`, or None for another database."""
    url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    return Path(url[len(SQLITE_PREFIX) :]) if url.startswith(SQLITE_PREFIX) else None


def utc_time(text: str | None) -> datetime | None:
    """A timestamp column as Airflow stores it in SQLite (naive UTC text), made aware."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _read_only(db: Path) -> closing[sqlite3.Connection]:
    # mode=ro: this side never writes or creates the file; a short busy timeout, because a
    # poll that meets a write in progress is simply retried at the next tick.
    return closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=0.5))


def newest_run_id(
    db: Path, dag_id: str, logical_date: datetime, not_before: datetime
) -> str | None:
    """The newest run of `dag_id` for `logical_date` created at `not_before` or later.

    `dags test` replaces an earlier run of the same logical date; its `run_after` is the
    moment the command started, which tells the new run from the one it replaces.
    """
    with _read_only(db) as conn:
        rows = conn.execute(
            "SELECT run_id, logical_date, run_after FROM dag_run WHERE dag_id = ? ORDER BY id DESC",
            (dag_id,),
        ).fetchall()
    for run_id, stored_date, run_after in rows:
        created = utc_time(run_after)
        if utc_time(stored_date) == logical_date and created and created >= not_before:
            return run_id
    return None


def task_runs(db: Path, dag_id: str, run_id: str) -> list[TaskRun]:
    """Every task instance of one DAG run, in the order they started (unstarted last)."""
    with _read_only(db) as conn:
        rows = conn.execute(
            "SELECT task_id, state, try_number, max_tries, start_date, end_date, map_index "
            "FROM task_instance WHERE dag_id = ? AND run_id = ?",
            (dag_id, run_id),
        ).fetchall()
    tasks = [
        TaskRun(
            task_id=task_id,
            state=state,
            try_number=try_number or 0,
            max_tries=max_tries or 0,
            start=utc_time(start),
            end=utc_time(end),
            map_index=map_index if map_index is not None else -1,
        )
        for task_id, state, try_number, max_tries, start, end, map_index in rows
    ]
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(tasks, key=lambda t: (t.start or never, t.task_id, t.map_index))


class RunFollower:
    """The tasks of the run an `airflow dags test` started, and which of them ended when.

    Made just before the command starts: `started` tells its run from an earlier run of
    the same day (which `dags test` deletes and replaces).
    """

    def __init__(self, db: Path, dag_id: str, logical_date: datetime, started: datetime):
        self.db = db
        self.dag_id = dag_id
        self.logical_date = logical_date
        # the run's run_after is taken by the command after this moment (slack: rounding)
        self.not_before = started - timedelta(seconds=1)
        self.run_id: str | None = None
        self._reported: set[tuple[str, int, int, str | None]] = set()

    def poll(self) -> list[TaskRun] | None:
        """The run's task instances now; [] before the run exists, None if the DB was busy."""
        try:
            if self.run_id is None:
                if not self.db.exists():
                    return []
                self.run_id = newest_run_id(
                    self.db, self.dag_id, self.logical_date, self.not_before
                )
                if self.run_id is None:
                    return []
            return task_runs(self.db, self.dag_id, self.run_id)
        except sqlite3.Error:  # locked by a writer, or the tables not migrated yet
            return None

    def newly_ended(self, tasks: list[TaskRun]) -> list[TaskRun]:
        """The tries in `tasks` that ended since the last call, in the order they ended."""
        fresh = []
        for task in tasks:
            key = (task.task_id, task.map_index, task.try_number, task.state)
            if task.ended and key not in self._reported:
                self._reported.add(key)
                fresh.append(task)
        never = datetime.max.replace(tzinfo=UTC)
        return sorted(fresh, key=lambda t: (t.end or never, t.start or never))
