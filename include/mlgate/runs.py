"""The run folder: the files one DAG run writes and its next tasks read (core).

Each run of a pipeline's retrain DAG for a day ``ds`` keeps its hand-over files in
``pipelines/<pipeline>/runs/ds=<ds>/`` (``mlgate.paths.run_dir``); only small summaries
travel through XCom.
A later run of the same day (a rerun, a manual trigger) reuses the folder, so every JSON
file carries the ``airflow_run_id`` of the run that wrote it, and a reader that must not
mistake an earlier run's file for its own asks ``run_file_of``.

This module is the one owner of those file names, of reading and writing them, of the
same-run check, of the MLflow tag names that tie runs and model versions to a DAG run, and
of what a run's day and trigger are (``run_day``, ``run_trigger``).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from mlgate.errors import is_permanent
from mlgate.paths import REPO_ROOT, run_dir, write_json

# --- the files of runs/ds=<ds>/, in the order the tasks write them -----------------------
TRACKING_FILE = "tracking.json"  # extract: the DAG run's MLflow run (experiment, run id)
MANIFEST_FILE = "manifest.json"  # extract: the lake partitions the run reads
QUARANTINE_FILE = "quarantine.json"  # check_raw: rows that failed the record rules
CHECK_RAW_FILE = "check_raw.json"  # features job: the raw Great Expectations report
CHECK_FEATURES_FILE = "check_features.json"  # features job: the feature-table report
# features job: the label rate of the mature rows and the positive labels per newest day
LABEL_STATS_FILE = "label_stats.json"
GATES_FILE = "gates.json"  # every stage with gates: the gate report so far
CANDIDATE_FILE = "candidate.json"  # train: the candidate's run, model URI, metrics
# train, its evaluation: the evidence the model gates judged, and their results
HOLDOUT_SCORES = "holdout_scores.parquet"  # candidate and champion on the holdout
ASSERTION_SCORES = "assertion_scores.parquet"  # the assertion set, candidate
SHADOW_SCORES = "shadow_scores.parquet"  # the latest day, both models
PARITY_SCORES = "parity_scores.parquet"  # the holdout, Spark and ONNX
ONLINE_PARITY_ROWS = "online_parity.parquet"  # the newest labelled day, Spark and online
EVALUATION_FILE = "evaluation.json"  # champion compared, row counts
DISAGREEMENTS_FILE = "shadow_top_disagreements.csv"  # where the two models differ most
MODEL_GATES_FILE = "model_gates.json"  # every model gate's result, before overrides
DECISION_FILE = "decision.json"  # gates, promote: registered version, promoted or why not
FAILURE_FILE = "failure.json"  # the task that failed: its error, and whether a retry can help
JOB_PHASES_FILE = "job_phases.json"  # each Spark job: seconds per phase (PhaseClock)
# features: the feature table's row and label counts, next to it in features/ds=<ds>/
# (Spark and pyarrow skip files whose names start with "_")
FEATURE_SUMMARY_FILE = "_feature_summary.json"

# The reports the train job logs with the model as data/ artefacts.
DATA_FILES = (
    MANIFEST_FILE,
    CHECK_RAW_FILE,
    CHECK_FEATURES_FILE,
    LABEL_STATS_FILE,
    QUARANTINE_FILE,
)
RUN_ID_KEY = "airflow_run_id"

# --- MLflow tags --------------------------------------------------------------------------
TAG_PREFIX = "mlgate."  # every tag mlgate sets on a run or a model version
TAG_PIPELINE = "mlgate.pipeline"
TAG_DS = "mlgate.ds"
TAG_DAG_ID = "mlgate.airflow.dag_id"
TAG_AIRFLOW_RUN_ID = "mlgate.airflow.run_id"
TAG_TRIGGERED_BY = "mlgate.triggered_by"
TAG_GATE_MODE = "mlgate.gate_mode"
TAG_GIT_COMMIT = "mlgate.git_commit"
TAG_GATES_PASSED = "mlgate.gates_passed"
TAG_ONNX_EXPORT = "mlgate.onnx_export"
# host:pid:start of the process that owns a RUNNING run; a later run fails it once it is gone
TAG_OWNER = "mlgate.owner"
TAG_INTERRUPTED = "mlgate.interrupted"  # why a run was marked FAILED, and which run did it
# Set by `mlgate run-day` for the processes it starts: the command owns the whole DAG run.
OWNER_ENV = "MLGATE_RUN_OWNER"
WINDOW_TAG_PREFIX = "mlgate.window."  # + train_start, train_end, holdout_start, holdout_end
# train: a sample of the holdout (model inputs, label, score), the reference the monitor
# measures the served days' drift against (an artifact of the version's MLflow run)
REFERENCE_ARTIFACT = "reference/holdout.parquet"


# --- a run's day and trigger -----------------------------------------------------------------
# A scheduled or manual run covers its data interval's day. A run the monitor's retrain
# request started (an Airflow asset event) has no data interval: the event's extra names the
# day the monitor judged and why it asked.
REQUEST_DAY, REQUEST_REASON = "ds", "reason"


def retrain_request(asset_events) -> dict | None:
    """The newest retrain request (by day) among a run's triggering asset events (a mapping
    of asset to events, as Airflow's ``triggering_asset_events``), or None."""
    requests = [
        dict(getattr(event, "extra", None) or {})
        for events in (asset_events or {}).values()
        for event in events
    ]
    requests = [r for r in requests if r.get(REQUEST_DAY)]
    return max(requests, key=lambda r: r[REQUEST_DAY]) if requests else None


def run_day(interval_start, asset_events=None) -> date:
    """The day a DAG run covers: its data interval's start, or the day a retrain request
    names."""
    if interval_start is not None:
        return interval_start.date()
    request = retrain_request(asset_events)
    if request is None:
        raise ValueError(
            "the run has no data interval and no retrain request naming its day: trigger it "
            "with a logical date (the UI's trigger form, or `mlgate run-day --date DAY`)"
        )
    return date.fromisoformat(request[REQUEST_DAY])


def run_ds(interval_start, asset_events=None) -> str:
    """``run_day`` as YYYY-MM-DD (the DAGs' templates call it)."""
    return run_day(interval_start, asset_events).isoformat()


def run_trigger(run_type: str, user: str | None, asset_events=None) -> str:
    """What started a run, as recorded with its model: ``<run type>:<user>``, or for a retrain
    request ``asset_triggered:monitor of <day>: <reason>``."""
    request = retrain_request(asset_events)
    if request is not None:
        return f"{run_type}:monitor of {request[REQUEST_DAY]}: {request.get(REQUEST_REASON, '')}"
    return f"{run_type}:{user or '-'}"


def context_day(context: dict) -> date:
    """``run_day`` of an Airflow task context."""
    return run_day(context.get("data_interval_start"), context.get("triggering_asset_events"))


def monitor_experiment(model_name: str) -> str:
    """The MLflow experiment of the monitor's daily runs (kept apart from training's)."""
    return f"{model_name}.monitor"


def lineage_tags(
    pipeline: str, ds: str, dag_id: str, airflow_run_id: str, triggered_by: str
) -> dict:
    """The tags that tie an MLflow run to the DAG run that made it (git commit included)."""
    return {
        TAG_PIPELINE: pipeline,
        TAG_DS: ds,
        TAG_DAG_ID: dag_id,
        TAG_AIRFLOW_RUN_ID: airflow_run_id,
        TAG_TRIGGERED_BY: triggered_by,
        TAG_GIT_COMMIT: git_commit(),
        TAG_OWNER: run_owner(),
    }


# --- who owns a run: a process on a host, alive or gone ---------------------------------


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs and is not a zombie (an exited child of ours is reaped first)."""
    try:
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our exited child
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    status = Path(f"/proc/{pid}/status")
    try:
        for line in status.read_text().splitlines():
            if line.startswith("State:"):
                return "Z" not in line.split(":", 1)[1]
    except OSError:
        pass
    return True


def process_start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks after boot), from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its ")" are plain.
    return int(stat.rsplit(")", 1)[1].split()[19])


def process_identity(pid: int | None = None) -> str:
    """host:pid:start ticks of a process (this one by default): a pid alone can be reused."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{process_start_ticks(pid) or 0}"


def run_owner() -> str:
    """Who owns the runs this process starts: the `mlgate run-day` that started it, if any,
    else this process."""
    return os.environ.get(OWNER_ENV) or process_identity()


def owner_gone(owner: str) -> bool:
    """The owning process has ended. False when that cannot be known here: another host,
    or an owner in an unknown format (a run is never failed on a guess)."""
    try:
        host, pid_text, ticks_text = owner.rsplit(":", 2)
        pid, ticks = int(pid_text), int(ticks_text)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if not pid_alive(pid):
        return True
    return bool(ticks) and process_start_ticks(pid) not in (None, ticks)


def git_commit() -> str:
    """The checkout's commit, recorded with every run ("unknown" outside a git checkout)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_file(pipeline: str, ds: str, name: str) -> Path:
    return run_dir(pipeline, ds) / name


def write_run_file(pipeline: str, ds: str, name: str, payload: dict) -> None:
    """Write one hand-over file whole or not at all."""
    write_json(run_file(pipeline, ds, name), payload)


def read_run_file(pipeline: str, ds: str, name: str) -> dict:
    path = run_file(pipeline, ds, name)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: has the task that writes it run for {ds}?")
    return json.loads(path.read_text())


def run_file_of(pipeline: str, ds: str, name: str, airflow_run_id: str) -> dict | None:
    """A run file only if this DAG run wrote it (not an earlier run of the same day).

    None when the file is missing, unreadable, or was written by another run.
    """
    path = run_file(pipeline, ds, name)
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get(RUN_ID_KEY) != airflow_run_id:
        return None
    return payload


# --- why a run failed -----------------------------------------------------------------------


def write_failure(
    pipeline: str, ds: str, task: str, error: BaseException, airflow_run_id: str
) -> dict:
    """Record why `task` of this DAG run failed, for `mlgate run-day`'s last line.

    Written by the task itself (the DAG's task wrapper, a Spark job's entry point), so the
    reason is the error's own message, not a line found in a log.
    """
    message = str(error).strip() or type(error).__name__
    payload = {
        RUN_ID_KEY: airflow_run_id,
        "task": task,
        "error": type(error).__name__,
        "message": message,
        "permanent": is_permanent(error),
    }
    write_run_file(pipeline, ds, FAILURE_FILE, payload)
    return payload


def clear_failure(pipeline: str, ds: str, airflow_run_id: str) -> None:
    """Forget the failure an earlier try of this DAG run recorded (a new try is starting);
    another DAG run's record (the score DAG's, the retrain DAG's) is left alone."""
    if run_file_of(pipeline, ds, FAILURE_FILE, airflow_run_id) is not None:
        run_file(pipeline, ds, FAILURE_FILE).unlink(missing_ok=True)


class PhaseClock:
    """Seconds a Spark job spends in each named phase, kept in runs/ds=<ds>/job_phases.json
    under the job's name (``{"train": {"fit": 61.2, "evaluate": 7.9}}``).

    A check or an evaluation that runs inside a job adds to that job's task time; its
    phases say how much, so the run report and the scale benchmark can tell the checks and
    the evaluation apart from the work around them. A rerun replaces the job's entry.
    """

    def __init__(self, pipeline: str, ds: str, job: str):
        self.pipeline, self.ds, self.job = pipeline, ds, job
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            took = time.monotonic() - started
            self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)

    def write(self) -> None:
        path = run_file(self.pipeline, self.ds, JOB_PHASES_FILE)
        phases = json.loads(path.read_text()) if path.exists() else {}
        phases[self.job] = dict(self.seconds)
        write_run_file(self.pipeline, self.ds, JOB_PHASES_FILE, phases)
