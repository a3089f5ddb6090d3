"""What `mlgate run-day` and `score-day` show while a DAG runs: one line per task.

Airflow's and Spark's own output (hundreds of lines per run) goes to a log file under the
state folder, ``logs/<command>-<pipeline>-<day>-<UTC time>.log``, whose path is printed
first. The terminal gets one line per task as it ends: its name, status, duration and key
figure, read from the files the task left (``figure_*``: one small function per task, of
the files alone, so each is tested without Airflow). On a terminal, the running task is
shown with a spinner and its elapsed time, updated in place; elsewhere (CI, tests, a pipe)
only the lines are printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO

from mlgate.config import DATA_GATES, MODEL_GATES
from mlgate.local.dagrun import RETRY_STATE, RunFollower, TaskRun, metadata_db
from mlgate.paths import features_partition, logs_dir, run_dir, scores_partition
from mlgate.runs import (
    CANDIDATE_FILE,
    DECISION_FILE,
    EVALUATION_FILE,
    FEATURE_SUMMARY_FILE,
    GATES_FILE,
    MANIFEST_FILE,
    QUARANTINE_FILE,
)
from mlgate.serving.batch import SCORES_META

POLL_SECONDS = 1.0
# A file counts as written by a task if modified at most this long before the task's
# recorded start (file and database clocks round differently).
CLOCK_SLACK_SECONDS = 1.0


# --- the key figure of each task, from the files it left -----------------------------------


@dataclass(frozen=True)
class RunFiles:
    """Where a run's tasks leave their files, and since when a file counts as this task's.

    A day's folders are reused by every run of that day, so a file older than the task
    (``since``, its start) is an earlier run's and is not read.
    """

    run_dir: Path
    features_dir: Path
    scores_dir: Path
    since: datetime | None = None

    @classmethod
    def of(cls, pipeline: str, day: date) -> RunFiles:
        ds = day.isoformat()
        return cls(
            run_dir(pipeline, ds), features_partition(pipeline, ds), scores_partition(pipeline, ds)
        )

    def written_since(self, since: datetime | None) -> RunFiles:
        return replace(self, since=since)

    def json(self, path: Path) -> dict | None:
        """The JSON object at `path` if it was written since `since`, else None."""
        try:
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            if (
                self.since is not None
                and (self.since - modified).total_seconds() > CLOCK_SLACK_SECONDS
            ):
                return None
            payload = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return payload if isinstance(payload, dict) else None

    def run_file(self, name: str) -> dict | None:
        return self.json(self.run_dir / name)


def gate_verdicts(gates: dict, names: tuple[str, ...]) -> str | None:
    """The verdicts of the gates `names` in a gates.json payload, grouped, failures first.

    e.g. "FAIL: bad_record_ratio; pass: reconciliation, data_expectations".
    """
    groups: dict[str, list[str]] = {}
    for result in gates.get("results", []):
        if result.get("name") not in names:
            continue
        verdict = result.get("verdict", "?")
        if verdict == "fail":
            if result.get("overridden"):
                verdict = "fail, overridden"
            elif result.get("blocks", True):
                verdict = "FAIL"
            else:
                verdict = "fail, warn only"
        groups.setdefault(verdict, []).append(result["name"])
    order = ["FAIL", "fail, overridden", "fail, warn only", "pass", "skipped"]
    ordered = sorted(groups, key=lambda v: order.index(v) if v in order else len(order))
    return "; ".join(f"{v}: {', '.join(groups[v])}" for v in ordered) or None


def _gate(gates: dict | None, name: str) -> dict | None:
    return next((r for r in (gates or {}).get("results", []) if r.get("name") == name), None)


def figure_extract(files: RunFiles) -> str | None:
    """Rows extracted for the run's window, the day's own rows, partitions written."""
    manifest = files.run_file(MANIFEST_FILE)
    if manifest is None:
        return None
    events = manifest.get("events", [])
    partitions = len(events) + len(manifest.get("snapshots", []))
    partitions += len(manifest.get("dimensions", []))
    own_day = f" ({events[-1]['rows']:,} on {events[-1]['ds']})" if events else ""
    return f"{manifest['event_rows']:,} rows extracted{own_day}, {partitions} partitions"


def figure_check_raw(files: RunFiles) -> str | None:
    """The bad-record ratio and the verdicts of the data gates at check_raw."""
    parts = []
    quarantine = files.run_file(QUARANTINE_FILE)
    if quarantine is not None:
        parts.append(
            f"bad records {quarantine['ratio']:.2%} "
            f"({quarantine['bad_rows']:,} of {quarantine['total_rows']:,})"
        )
    gates = files.run_file(GATES_FILE)
    verdicts = gate_verdicts(gates, DATA_GATES) if gates else None
    if verdicts:
        parts.append(verdicts)
    return "; ".join(parts) or None


def figure_features(files: RunFiles) -> str | None:
    """Rows of the feature table, how many have a matured label, how many are positive."""
    summary = files.json(files.features_dir / FEATURE_SUMMARY_FILE)
    if summary is None:
        return None
    return (
        f"{summary['rows']:,} rows in the feature table, {summary['mature_rows']:,} with a "
        f"matured label ({summary['mature_positives']:,} positive)"
    )


def figure_check_features(files: RunFiles) -> str | None:
    """The label rate among matured rows (and its accepted band), data_expectations' verdict."""
    gates = files.run_file(GATES_FILE)
    expectations = _gate(gates, "data_expectations")
    if expectations is None:
        return None
    verdicts = gate_verdicts(gates, ("data_expectations",))
    label = (expectations.get("details") or {}).get("label_rate") or {}
    if label.get("value") is None:
        return verdicts
    return (
        f"label rate {label['value']:.2%} (accepted {label['low']:.2%} to {label['high']:.2%}); "
        f"{verdicts}"
    )


def figure_train(files: RunFiles) -> str | None:
    """The candidate's holdout AUC-PR and ROC AUC, and the champion its evaluation compared
    it with."""
    candidate = files.run_file(CANDIDATE_FILE)
    if candidate is None:
        return None
    metrics = candidate["metrics"]
    figure = (
        f"holdout AUC-PR {metrics['auc_pr']:.3f}, ROC AUC {metrics['roc_auc']:.3f} "
        f"({candidate['family']}, {candidate['holdout_rows']:,} holdout rows)"
    )
    evaluation = files.run_file(EVALUATION_FILE)
    if evaluation is None:  # the job failed between logging and evaluating
        return figure
    champion = evaluation.get("champion")
    compared = (
        f"compared with champion version {champion['version']}"
        if champion
        else "no champion yet to compare with"
    )
    return f"{figure}; {compared}"


def figure_gates(files: RunFiles) -> str | None:
    """The registered version and the verdict of each model gate."""
    gates = files.run_file(GATES_FILE)
    decision = files.run_file(DECISION_FILE)
    parts = []
    if decision is not None:
        parts.append(f"version {decision['version']} registered")
    verdicts = gate_verdicts(gates, MODEL_GATES) if gates else None
    if verdicts:
        parts.append(verdicts)
    return "; ".join(parts) or None


def figure_promote(files: RunFiles) -> str | None:
    """Whether the candidate was promoted, its version, and why not."""
    decision = files.run_file(DECISION_FILE)
    if decision is None:
        return None
    if decision.get("promoted"):
        return f"version {decision['version']} promoted to champion"
    reasons = decision.get("reasons") or []
    why = f": {reasons[0]}" if reasons else ""
    return f"version {decision['version']} NOT promoted{why}"


def figure_score(files: RunFiles) -> str | None:
    """Rows of the day scored, by which version, how many flagged."""
    meta = files.json(files.scores_dir / SCORES_META)
    if meta is None:
        return None
    return (
        f"{meta['rows']:,} rows scored by version {meta['model_version']}, "
        f"{meta['flagged']:,} flagged (probability >= {meta['threshold']})"
    )


# Task ids of the retrain and score DAGs (dags/mlgate_pipeline_dags.py).
FIGURES: dict[str, Callable[[RunFiles], str | None]] = {
    "extract": figure_extract,
    "check_raw": figure_check_raw,
    "features": figure_features,
    "check_features": figure_check_features,
    "train": figure_train,
    "gates": figure_gates,
    "promote": figure_promote,
    "score": figure_score,
}


def key_figure(task: TaskRun, files: RunFiles) -> str | None:
    """The key figure of a task that ended, from the files it wrote; None if there are none."""
    figure = FIGURES.get(task.task_id)
    if figure is None or task.start is None:
        return None
    try:
        return figure(files.written_since(task.start))
    except Exception:  # a file of an unexpected shape must not stop the run
        return None


# --- the lines ------------------------------------------------------------------------------


def format_duration(seconds: float | None, tenths: bool = True) -> str:
    """'0.5s', '18.5s', '1m 26s', '1h 02m'; '-' for a task that never started.

    tenths=False: whole seconds ('42s'), for a clock that ticks once a second.
    """
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s" if tenths else f"{int(seconds)}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def task_status(task: TaskRun) -> str:
    if task.state == RETRY_STATE:
        return f"{RETRY_STATE} (try {task.try_number} of {task.max_tries + 1})"
    return task.state or "none"


def task_line(task: TaskRun, figure: str | None, now: datetime, name_width: int) -> str:
    """One line for a task that ended: name, status, duration, key figure."""
    # an upstream_failed task never ran: Airflow stamps its start and end alike
    seconds = None if task.state == "upstream_failed" else task.seconds(now)
    line = f"  {task.name:<{name_width}}  {task_status(task):<7}  {format_duration(seconds):>7}"
    return f"{line}  {figure}" if figure else line


def running_text(tasks: list[TaskRun], now: datetime, since_start: float) -> str:
    """The in-place progress text: the running task and its time, step of steps."""
    total = format_duration(since_start, tenths=False)
    if not tasks:
        return f"starting Airflow ({total})"
    ended = sum(1 for t in tasks if t.ended)
    running = [t for t in tasks if t.state == "running"]
    if ended == len(tasks):  # callbacks (the alert email) run after the last task
        return f"finishing the run ({total} since the start)"
    if not running:
        return f"next task ({ended} of {len(tasks)} ended; {total} since the start)"
    names = ", ".join(f"{t.name} {format_duration(t.seconds(now), tenths=False)}" for t in running)
    return f"{names}  (task {ended + 1} of {len(tasks)}; {total} since the start)"


class TaskDisplay:
    """Lines for the ended tasks; on a terminal, a spinner line for the running one too."""

    def __init__(self, out: IO[str] | None = None, live: bool | None = None):
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self._status = None
        if self.live:
            from rich.console import Console

            self._console = Console(file=self.out, highlight=False, emoji=False, markup=False)
            self._status = self._console.status("starting Airflow", spinner="dots")
            self._status.start()

    def line(self, text: str) -> None:
        if self._status is not None:
            self._console.print(text, soft_wrap=True)
        else:
            print(text, file=self.out, flush=True)

    def running(self, text: str) -> None:
        if self._status is not None:
            self._status.update(text)

    def close(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


def follow_run(
    process: subprocess.Popen,
    follower: RunFollower | None,
    files: RunFiles,
    display: TaskDisplay,
    poll_seconds: float = POLL_SECONDS,
    started: float | None = None,
) -> int:
    """Show the run's tasks until `process` ends; its exit code (130 when interrupted).

    started: when the command started (time.monotonic()), for the time shown in all.
    """
    started = time.monotonic() if started is None else started
    tasks: list[TaskRun] = []
    name_width = 0
    try:
        while True:
            code = process.poll()  # before the poll: an ended run's final states are read
            snapshot = follower.poll() if follower else []
            if snapshot is None and code is not None:  # the DB was busy: the last look
                time.sleep(poll_seconds)
                snapshot = follower.poll() if follower else []
            tasks = snapshot if snapshot is not None else tasks
            name_width = max([name_width, *(len(t.name) for t in tasks)])
            now = datetime.now(UTC)
            for task in follower.newly_ended(tasks) if follower else []:
                display.line(task_line(task, key_figure(task, files), now, name_width))
            if code is not None:
                return code
            display.running(running_text(tasks, now, time.monotonic() - started))
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        # The terminal sent SIGINT to `airflow dags test` as well; give it time to stop.
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait()
        return 130
    finally:
        display.close()


# --- one DAG run of one day, from the command line ---------------------------------------


def run_log_path(command: str, pipeline: str, day: date, at: datetime | None = None) -> Path:
    """logs/<command>-<pipeline>-<day>-<UTC time>.log under the state folder."""
    stamp = (at or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return logs_dir() / f"{command}-{pipeline}-{day.isoformat()}-{stamp}.log"


@dataclass(frozen=True)
class DagRunResult:
    """How a DAG run of one day ended, and where to look."""

    code: int  # the exit code of `airflow dags test`
    log_path: Path | None  # Airflow's and Spark's output (None with --verbose)
    run_id: str | None  # the DAG run's id; None if Airflow stopped before the run began
    started_at: datetime  # when the command started (UTC)
    failed_task: str | None = None  # the first task that failed, from the metadata DB


def run_dag_day(
    dag_id: str,
    day: date,
    env: dict[str, str],
    *,
    command: str,
    pipeline: str,
    conf: dict | None = None,
    verbose: bool = False,
) -> DagRunResult:
    """Run a daily DAG for one day, one line per task as it ends.

    verbose: Airflow's and Spark's output streams to the terminal instead of a log file.
    """
    from mlgate.local.embedded import logical_date_for, start_dag_test
    from mlgate.runs import OWNER_ENV, process_identity

    # this command owns the MLflow run its DAG run starts: a later run fails it when the
    # command is gone, never while it runs (mlgate.registry.fail_interrupted_runs)
    env = {**env, OWNER_ENV: process_identity()}
    started, started_at = time.monotonic(), datetime.now(UTC)
    db = metadata_db(env)
    logical = datetime.fromisoformat(logical_date_for(day)).replace(tzinfo=UTC)
    follower = RunFollower(db, dag_id, logical, started_at) if db is not None else None
    files = RunFiles.of(pipeline, day)
    log_path = None
    if verbose:
        process = start_dag_test(dag_id, day, env, conf)
        code = follow_run(process, follower, files, TaskDisplay(live=False), started=started)
    else:
        log_path = run_log_path(command, pipeline, day)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        print(f"full Airflow and Spark output: {log_path}", flush=True)
        display = TaskDisplay()  # the spinner turns while DAG files sync and the DB migrates
        try:
            with open(log_path, "w") as log:
                process = start_dag_test(dag_id, day, env, conf, output=log)
                code = follow_run(process, follower, files, display, started=started)
        finally:
            display.close()
    run_id = follower.run_id if follower is not None else None
    failed = None
    if code != 0 and run_id is not None:
        failed = next((t.name for t in follower.poll() or [] if t.state == "failed"), None)
    if code != 0 and run_id is None and log_path is not None:
        # Airflow stopped before the run began (a DAG import error, a rejected Param): no
        # task line says why, the end of its output does.
        print(f"{dag_id} stopped before its run began; the end of its output:", file=sys.stderr)
        print("\n".join(log_tail(log_path)), file=sys.stderr)
    return DagRunResult(code, log_path, run_id, started_at, failed)


def log_tail(path: Path, lines: int = 20) -> list[str]:
    """The last `lines` lines of a log file ([] when it cannot be read)."""
    try:
        with open(path, errors="replace") as handle:
            return [line.rstrip("\n") for line in deque(handle, maxlen=lines)]
    except OSError:
        return []
