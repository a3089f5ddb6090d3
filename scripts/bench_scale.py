"""Benchmark: the daily retrain DAG at growing sizes, time and peak memory of every task.

    python scripts/bench_scale.py --label after --rows 250000 1000000 4000000 \
        --shop-rows 200000 800000 --write docs/benchmarks.md
    python scripts/bench_scale.py --label before --checkout /path/to/old/checkout ...
    python scripts/bench_scale.py --label cluster --spark cluster --rows 4000000 ...

For each (pipeline, rows): a fresh state folder, `mlgate generate` (timed on its own, not
part of the DAG figures), then `mlgate run-day` for the last generated day, all with the
interpreter of the checkout under test (its .venv), so the code measured is that checkout's
and only the measuring is this script's. Measured from outside, so it works on any version
of the DAG (with or without an evaluate task, with or without job_phases.json):

- per task wall time: the task instance's start and end in Airflow's metadata DB;
- peak memory: the process tree of run-day sampled every SAMPLE_SECONDS from /proc. The
  Airflow process that runs the Python tasks: the highest RSS sampled within the task's
  window (its VmHWM is cumulative over the whole run). The spark-submit JVM, the job's
  Python driver and Spark's Python workers: each process's own VmHWM, attributed to the
  task whose window it was first seen in. With --spark cluster, also the executor JVMs.

Results go to docs/bench/scale-<label>.json (a run replaces the same pipeline and size,
others stay); the "Scale" section of docs/benchmarks.md and docs/bench/scale.png are
regenerated from every scale-*.json present. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from bench_docs import publish

from mlgate.local.embedded import SPARK_MASTER_ENV  # read by embedded run-day
from mlgate.local.processes import free_port

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "docs" / "bench"
HEADING = "Scale"
END_DATE = "2026-10-31"
SAMPLE_SECONDS = 0.15
# New processes are looked for less often than memory is read: walking the tree reads a
# file per thread, and a JVM has a hundred threads.
TREE_SECONDS = 1.0
MB = 1024 * 1024

# What counts as checking and evaluating, and what as training, in the overhead ratio.
# Task times, when the task exists in the DAG measured:
CHECK_TASKS = ("check_raw", "check_features", "evaluate", "gates")
TRAIN_TASK = "train"
# In-job phases of runs/ds=<ds>/job_phases.json (runs.PhaseClock), when the file exists:
CHECK_PHASES = {
    "features": ("raw_suite", "features_suite", "label_stats", "gx_import_wait"),
    "train": ("evaluate", "gates"),
}
# The in-job checking phases of the train task come off its time in the denominator.
TRAIN_CHECK_PHASES = CHECK_PHASES["train"]
OVERHEAD_GOALS = {1_000_000: 0.20, 4_000_000: 0.10}
EXPONENT_GOAL = 1.1
LARGE_FROM = 1_000_000  # the exponent the goal is about: sizes from 1M rows up
DAG = "DAG"  # the whole run: first task start to last task end

# Process kinds, from a process's command line.
AIRFLOW, SPARK_JVM, DRIVER, PY_WORKERS, EXECUTOR, OTHER = (
    "airflow",
    "spark_jvm",
    "driver",
    "python_workers",
    "executor_jvm",
    "other",
)
MEMORY_COLUMNS = (AIRFLOW, SPARK_JVM, DRIVER)
JOB_SCRIPT = re.compile(r"(^|/)[a-z_]+_job\.py$")


# --- sampling the process tree -------------------------------------------------------------


def process_kind(argv: list[str]) -> str:
    """What a process of the run is, from its command line."""
    if not argv:
        return OTHER
    program = Path(argv[0]).name
    if program == "java" or program.startswith("java"):
        joined = " ".join(argv)
        if "org.apache.spark.launcher.Main" in joined:  # spark-class building the command
            return OTHER
        if "CoarseGrainedExecutorBackend" in joined:
            return EXECUTOR
        if "SparkSubmit" in joined:
            return SPARK_JVM
        return OTHER
    if any(JOB_SCRIPT.search(arg) for arg in argv[1:3]):
        return DRIVER
    if "pyspark.daemon" in argv or "pyspark.worker" in argv:
        return PY_WORKERS
    # `airflow dags test` itself, or a task process it forks (its title starts "airflow")
    if program.startswith("airflow") or any(Path(arg).name == "airflow" for arg in argv[:2]):
        return AIRFLOW
    return OTHER


@dataclass
class Sample:
    """One process at one moment: RSS now and VmHWM (its peak so far), in bytes."""

    at: datetime
    pid: int
    kind: str
    rss: int
    hwm: int


def read_status(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of `pid` in bytes; None when it is gone or a kernel thread."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, number, _unit = line.split()
            values[key[:-1]] = int(number) * 1024
    if "VmRSS" not in values:
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


def read_argv(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except OSError:
            continue
    return found


def process_tree(roots: list[int]) -> list[int]:
    seen: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo += children_of(pid)
    return seen


class Sampler:
    """Samples the memory of a process tree; remembers each process's kind once known."""

    def __init__(self, roots: list[int]):
        self.roots = roots
        self.samples: list[Sample] = []
        self._kinds: dict[int, str] = {}
        self._tree: list[int] = []
        self._tree_read = 0.0

    def sample(self) -> None:
        now = datetime.now(UTC)
        if time.monotonic() - self._tree_read >= TREE_SECONDS:
            self._tree = process_tree(self.roots)
            self._tree_read = time.monotonic()
        for pid in self._tree:
            status = read_status(pid)
            if status is None:
                continue
            kind = self._kinds.get(pid) or process_kind(read_argv(pid))
            if kind != OTHER:  # an OTHER may still exec into one (spark-class execs java)
                self._kinds[pid] = kind
            self.samples.append(Sample(now, pid, kind, *status))


# --- attribution to tasks ------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    task: str
    start: datetime
    end: datetime

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment <= self.end


def window_of(moment: datetime, windows: list[Window]) -> Window | None:
    """The task window holding `moment`; between tasks, the one that starts next."""
    for window in windows:
        if window.holds(moment):
            return window
    later = [w for w in windows if w.start > moment]
    return min(later, key=lambda w: w.start) if later else None


def attribute_memory(samples: list[Sample], windows: list[Window]) -> dict[str, dict[str, int]]:
    """Peak bytes per task and process kind.

    The Airflow process runs every Python task one after the other, so its peak for a task
    is the highest RSS sampled within that task's window (VmHWM would carry an earlier
    task's peak over). Every other process (JVM, driver, Python workers, executors) lives
    for one task: its own VmHWM, attributed to the window it was first seen in; several
    processes of one kind in one task add up when they overlap, so the sum of each one's
    peak is an upper bound, and the highest single peak a lower one: the highest is kept.
    """
    peaks: dict[str, dict[str, int]] = {w.task: {} for w in windows}
    first_seen: dict[int, Sample] = {}
    last_hwm: dict[int, int] = {}
    for sample in samples:
        if sample.kind == AIRFLOW:
            for window in windows:
                if window.holds(sample.at):
                    task = peaks[window.task]
                    task[AIRFLOW] = max(task.get(AIRFLOW, 0), sample.rss)
            continue
        if sample.kind == OTHER:
            continue
        first_seen.setdefault(sample.pid, sample)
        last_hwm[sample.pid] = max(last_hwm.get(sample.pid, 0), sample.hwm)
    for pid, first in first_seen.items():
        window = window_of(first.at, windows)
        if window is None:
            continue
        task = peaks[window.task]
        task[first.kind] = max(task.get(first.kind, 0), last_hwm[pid])
    return peaks


# --- Airflow's record of the run -----------------------------------------------------------


def utc(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class TaskTime:
    task: str
    state: str | None
    start: datetime | None
    end: datetime | None

    @property
    def seconds(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        return (self.end - self.start).total_seconds()


def task_times(db: Path) -> list[TaskTime]:
    """The task instances of the newest DAG run in Airflow's SQLite metadata DB (the state
    folder is fresh: it holds the one run measured), in the order they started."""
    if not db.exists():
        return []
    try:
        uri = f"{db.resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True, timeout=0.5)) as conn:
            run = conn.execute("SELECT dag_id, run_id FROM dag_run ORDER BY id DESC").fetchone()
            if run is None:
                return []
            rows = conn.execute(
                "SELECT task_id, state, start_date, end_date FROM task_instance "
                "WHERE dag_id = ? AND run_id = ?",
                run,
            ).fetchall()
    except sqlite3.Error:  # busy, or not migrated yet: the next poll reads it
        return []
    times = [TaskTime(task, state, utc(start), utc(end)) for task, state, start, end in rows]
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(times, key=lambda t: (t.start or never, t.task))


# --- the figures ---------------------------------------------------------------------------


def overhead(task_seconds: dict[str, float], phases: dict[str, dict[str, float]]) -> dict:
    """Checks + evaluation + gates against training, as docs/benchmarks.md defines it:
    (check_raw + check_features + gates (+ evaluate) task times + in-job check and
    evaluation phases) / (train task time - its in-job evaluate and gates phases)."""
    in_job = sum(
        float(phases.get(job, {}).get(phase, 0.0))
        for job, names in CHECK_PHASES.items()
        for phase in names
    )
    checks = sum(task_seconds.get(task, 0.0) for task in CHECK_TASKS) + in_job
    train_in_job = sum(float(phases.get("train", {}).get(p, 0.0)) for p in TRAIN_CHECK_PHASES)
    training = task_seconds.get(TRAIN_TASK, 0.0) - train_in_job
    return {
        "checks_seconds": round(checks, 2),
        "in_job_seconds": round(in_job, 2),
        "training_seconds": round(training, 2),
        "ratio": round(checks / training, 4) if training > 0 else None,
    }


def growth_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(time) on log(rows): time ~ rows^exponent. None with
    fewer than two sizes or a time that is not positive."""
    pairs = [
        (math.log(rows), math.log(seconds)) for rows, seconds in points if seconds and seconds > 0
    ]
    xs = [x for x, _ in pairs]
    if len(set(xs)) < 2:
        return None
    mean_x = sum(xs) / len(xs)
    mean_y = sum(y for _, y in pairs) / len(pairs)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in pairs) / spread


def task_order(runs: list[dict]) -> list[str]:
    order: list[str] = []
    for run in runs:
        for task in run["tasks"]:
            if task not in order:
                order.append(task)
    return order


def exponents(runs: list[dict], pipeline: str = "fraud", from_rows: int = 0) -> dict:
    """The growth exponent of the whole DAG and of each task over `pipeline`'s sizes from
    `from_rows` up."""
    chosen = [r for r in runs if r["pipeline"] == pipeline and r["rows"] >= from_rows]
    result = {DAG: growth_exponent([(r["rows"], r["dag_seconds"]) for r in chosen])}
    for task in task_order(chosen):
        points = [(r["rows"], r["tasks"][task]["seconds"]) for r in chosen if task in r["tasks"]]
        result[task] = growth_exponent(points)
    return result


# --- writing the docs ----------------------------------------------------------------------


def load_results(folder: Path) -> dict[str, dict]:
    """Every scale-<label>.json in `folder`, by label, before / after / cluster first."""
    results = {}
    for path in sorted(folder.glob("scale-*.json")):
        payload = json.loads(path.read_text())
        results[payload["label"]] = payload
    known = ["before", "after", "cluster"]
    return dict(
        sorted(results.items(), key=lambda kv: (known.index(kv[0]) if kv[0] in known else 9, kv[0]))
    )


def _mb(value: int | None) -> str:
    return "–" if not value else f"{value / MB:,.0f}"


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def _exponent(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _size(rows: int) -> str:
    if rows >= 1_000_000 and rows % 1_000_000 == 0:
        return f"{rows // 1_000_000}M"
    if rows >= 1000 and rows % 1000 == 0:
        return f"{rows // 1000}k"
    return f"{rows:,}"


def airflow_peak(run: dict) -> int:
    """The highest RSS of the Airflow task process over every task of one run."""
    return max((t.get(AIRFLOW) or 0 for t in run["tasks"].values()), default=0)


def label_section(payload: dict) -> list[str]:
    runs = sorted(
        payload["runs"], key=lambda r: (r["pipeline"] != "fraud", r["pipeline"], r["rows"])
    )
    heads = [f"{r['pipeline']} {_size(r['rows'])}" for r in runs]
    lines = [
        f"### {payload['label']}",
        "",
        f"{payload['checkout']} @ {payload['commit']}, {payload['date']}, Spark "
        f"{payload['spark']}, {payload['cores']} cores, load {payload['load']:.1f} at the start, "
        f"gate mode {', '.join(sorted({r.get('gate_mode', 'enforce') for r in runs}))}. "
        "Each cell: seconds · peak MB of the Airflow task process / spark-submit JVM / "
        "job's Python driver.",
        "",
        "| task | " + " | ".join(heads) + " |",
        "|---|" + "---:|" * len(runs),
    ]
    for task in task_order(runs):
        cells = []
        for run in runs:
            figures = run["tasks"].get(task)
            if figures is None:
                cells.append("")
                continue
            memory = "/".join(_mb(figures.get(kind)) for kind in MEMORY_COLUMNS)
            cells.append(f"{_seconds(figures['seconds'])} · {memory}")
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines.append(
        f"| **{DAG}** | " + " | ".join(f"**{_seconds(r['dag_seconds'])}**" for r in runs) + " |"
    )
    airflow_peaks = [airflow_peak(r) for r in runs]
    lines.append(
        "| Airflow process, highest MB | " + " | ".join(_mb(p) for p in airflow_peaks) + " |"
    )
    if any(r["tasks"].get(task, {}).get(EXECUTOR) for r in runs for task in r["tasks"]):
        peaks = [max((t.get(EXECUTOR) or 0 for t in r["tasks"].values()), default=0) for r in runs]
        lines.append("| executor JVM, highest MB | " + " | ".join(_mb(p) for p in peaks) + " |")
    ratio_cells = []
    for run in runs:
        ratio = run["overhead"]["ratio"]
        goal = OVERHEAD_GOALS.get(run["rows"]) if run["pipeline"] == "fraud" else None
        text = "–" if ratio is None else f"{ratio:.0%}"
        if goal is not None and ratio is not None:
            text += f" (goal ≤ {goal:.0%}: {'met' if ratio <= goal else 'NOT met'})"
        ratio_cells.append(text)
    lines.append("| checks + evaluation + gates / training | " + " | ".join(ratio_cells) + " |")
    lines.append(
        "| generate (s, not in the DAG) | "
        + " | ".join(_seconds(r["generate_seconds"]) for r in runs)
        + " |"
    )
    lines.append("")
    fraud = [r for r in runs if r["pipeline"] == "fraud"]
    if len({r["rows"] for r in fraud}) >= 2:  # one size has no growth to fit
        large = exponents(runs, from_rows=LARGE_FROM)
        every = exponents(runs)
        lines += [
            f"Growth exponent (time ~ rows^k, least squares on log-log), fraud; goal for the "
            f"{DAG} from 1M to 4M rows: k ≤ {EXPONENT_GOAL}.",
            "",
            "| task | k, 1M..4M | k, all fraud sizes |",
            "|---|---:|---:|",
        ]
        for task in [DAG, *task_order(fraud)]:
            k = large.get(task)
            mark = ""
            if task == DAG and k is not None:
                mark = f" ({'met' if k <= EXPONENT_GOAL else 'NOT met'})"
            lines.append(f"| {task} | {_exponent(k)}{mark} | {_exponent(every.get(task))} |")
    memory = [(r["rows"], airflow_peak(r)) for r in fraud if airflow_peak(r)]
    if len(memory) >= 2:
        (low, low_mb), (high, high_mb) = memory[0], memory[-1]
        lines += [
            "",
            f"Airflow task process, highest peak over the tasks (goal: flat): {_mb(low_mb)} MB "
            f"at {_size(low)} rows, {_mb(high_mb)} MB at {_size(high)} "
            f"(k = {_exponent(growth_exponent(memory))}).",
        ]
    failed = [f"{r['pipeline']} {_size(r['rows'])}" for r in runs if r["exit_code"] != 0]
    if failed:
        lines += ["", f"**The run failed** (exit code not 0) at: {', '.join(failed)}."]
    return lines + [""]


def scale_section(results: dict[str, dict], plot: str | None) -> str:
    """The "Scale" section; `plot`: the PNG's path relative to the markdown file."""
    lines = [
        f"## {HEADING}",
        "",
        "`make bench-scale` (scripts/bench_scale.py): the retrain DAG for the last day of the "
        "demo (`mlgate run-day`, embedded Airflow) on a fresh state folder per pipeline and "
        "size, rows = generated events; `--gate-mode dry_run` by default (every gate "
        "computed in full; a small demo's model failing one cannot cut the DAG short). "
        "Task times from Airflow's metadata DB (task instance start to end); DAG = first "
        "task start to last task end. Peak memory sampled every "
        f"{SAMPLE_SECONDS} s from /proc: the Airflow process that runs the Python tasks "
        "(highest RSS within the task), the spark-submit JVM and the job's Python driver "
        "(their VmHWM).",
        "",
        "Overhead ratio = (check_raw + check_features + gates (+ evaluate, when the task "
        "exists) task times + the in-job phases "
        + ", ".join(f"{job}.{p}" for job, names in CHECK_PHASES.items() for p in names)
        + " of job_phases.json, when present) / (train task time − its in-job "
        + " and ".join(TRAIN_CHECK_PHASES)
        + " phases). Goals: ≤ 20% at 1M rows, ≤ 10% at 4M; the DAG's growth exponent ≤ "
        f"{EXPONENT_GOAL} from 1M to 4M; Airflow task memory flat.",
        "",
    ]
    if plot is not None:
        lines += [f"![time against rows per task]({plot})", ""]
    for payload in results.values():
        lines += label_section(payload)
    return "\n".join(lines).rstrip("\n") + "\n"


LINE_STYLES = {"before": "--", "after": "-", "cluster": ":"}


def write_plot(results: dict[str, dict], path: Path) -> Path | None:
    """Log-log seconds against rows per fraud task (and the DAG): before dashed, after
    solid, cluster dotted; one colour per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks: list[str] = [DAG]
    for payload in results.values():
        for task in task_order([r for r in payload["runs"] if r["pipeline"] == "fraud"]):
            if task not in tasks:
                tasks.append(task)
    colours = {task: plt.get_cmap("tab10")(i % 10) for i, task in enumerate(tasks)}
    figure, axes = plt.subplots(figsize=(8, 5.5))
    drew = False
    for label, payload in results.items():
        runs = sorted(
            (r for r in payload["runs"] if r["pipeline"] == "fraud"), key=lambda r: r["rows"]
        )
        style = LINE_STYLES.get(label, "-.")
        for task in tasks:
            points = [
                (r["rows"], r["dag_seconds"] if task == DAG else r["tasks"][task]["seconds"])
                for r in runs
                if task == DAG or task in r["tasks"]
            ]
            points = [(x, y) for x, y in points if y]
            if not points:
                continue
            drew = True
            axes.plot(
                *zip(*points),
                style,
                marker="o",
                color=colours[task],
                linewidth=2.5 if task == DAG else 1.5,
            )
    if not drew:
        plt.close(figure)
        return None
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows (generated fraud transactions)")
    axes.set_ylabel("seconds")
    axes.set_title("Retrain DAG per task: time against rows (log-log)")
    axes.grid(True, which="both", alpha=0.3)
    # one entry per task (its colour) and one per label (its line style), not their product
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colours[task], label=task) for task in tasks]
    handles += [
        Line2D([], [], color="black", linestyle=LINE_STYLES.get(label, "-."), label=label)
        for label in results
    ]
    axes.legend(handles=handles, fontsize=7, ncol=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_docs(folder: Path, markdown: Path | None) -> str:
    results = load_results(folder)
    plot = write_plot(results, folder / "scale.png")
    if plot is not None:
        plot = os.path.relpath(plot, (markdown or REPO / "docs" / "benchmarks.md").parent)
    section = scale_section(results, plot)
    publish(section, HEADING, markdown)
    return section


# --- running one size ----------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench-scale {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


@dataclass
class Checkout:
    root: Path
    bin: Path = field(init=False)

    def __post_init__(self):
        self.root = self.root.resolve()
        self.bin = self.root / ".venv" / "bin"
        if not (self.bin / "mlgate").exists():
            raise SystemExit(f"{self.bin / 'mlgate'} is missing: run `make install` in {self.root}")

    def env(self, state: Path, extra: dict[str, str]) -> dict[str, str]:
        home = subprocess.run(
            ["bash", str(self.root / "scripts" / "java-home"), str(self.bin / "python")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        env = {**os.environ, "MLGATE_STATE": str(state), "JAVA_HOME": home, **extra}
        for inherited in ("MLGATE_PIPELINES", "MLGATE_SOURCE_URL", "PYTHONPATH", "VIRTUAL_ENV"):
            env.pop(inherited, None)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return env

    def knows_spark_master(self) -> bool:
        embedded = self.root / "include" / "mlgate" / "local" / "embedded.py"
        return embedded.exists() and SPARK_MASTER_ENV in embedded.read_text()

    def commit(self) -> str:
        head = subprocess.run(
            ["git", "-C", str(self.root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(self.root), "status", "--porcelain", "--", "include", "dags"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return (head or "?") + ("+" if dirty else "")


class SparkCluster:
    """A standalone master and two workers for the bench (this checkout's recipe, the one
    `mlgate services start --spark-cluster` uses), without the Airflow services."""

    def __init__(self, state: Path, env: dict[str, str]):
        from mlgate.local.spark_cluster import (
            SPARK_DAEMON_MEMORY,
            SPARK_WORKERS,
            master_argv,
            spark_conf_dir,
            worker_argv,
            write_spark_defaults,
        )

        self.workers = SPARK_WORKERS
        write_spark_defaults(state, env)
        port, ui = free_port(), free_port()
        self.url = f"spark://127.0.0.1:{port}"
        self.ui_url = f"http://127.0.0.1:{ui}"
        self.env = {
            **env,
            "SPARK_CONF_DIR": str(spark_conf_dir(state)),
            "SPARK_DAEMON_MEMORY": SPARK_DAEMON_MEMORY,
        }
        logs = state / "spark" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen] = []
        try:
            self.processes.append(
                self._start(master_argv("127.0.0.1", port, ui), logs / "master.log")
            )
            self._wait(lambda s: s.get("status") == "ALIVE", "the master")
            for i in range(SPARK_WORKERS):
                work = state / "spark" / "work" / f"worker-{i + 1}"
                work.mkdir(parents=True, exist_ok=True)
                argv = worker_argv("127.0.0.1", free_port(), work, self.url)
                self.processes.append(self._start(argv, logs / f"worker-{i + 1}.log"))
            self._wait(lambda s: s.get("aliveworkers", 0) >= SPARK_WORKERS, "the workers")
        except BaseException:  # never leave a JVM behind
            self.stop()
            raise

    def _start(self, argv: list[str], output: Path) -> subprocess.Popen:
        with open(output, "w") as handle:
            return subprocess.Popen(argv, env=self.env, stdout=handle, stderr=subprocess.STDOUT)

    def _wait(self, ready, what: str, timeout: float = 120) -> None:
        from mlgate.local.spark_cluster import spark_master_state

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ready(spark_master_state(self.ui_url) or {}):
                    return
            except OSError:  # the status page is not listening yet
                pass
            time.sleep(1)
        raise SystemExit(f"the bench's Spark cluster did not come up ({what}): see its logs")

    def run_env(self) -> dict[str, str]:
        return {SPARK_MASTER_ENV: self.url, "SPARK_CONF_DIR": self.env["SPARK_CONF_DIR"]}

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def read_phases(state: Path, pipeline: str) -> dict:
    """The run's job_phases.json (runs.PhaseClock); {} from code that writes none."""
    from mlgate.runs import JOB_PHASES_FILE

    # paths.run_dir's layout, under this size's state folder rather than $MLGATE_STATE
    path = state / "pipelines" / pipeline / "runs" / f"ds={END_DATE}" / JOB_PHASES_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_size(checkout: Checkout, pipeline: str, rows: int, args, work: Path) -> dict:
    state = work / f"state-{pipeline}-{rows}"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    cluster = run = None
    extra: dict[str, str] = {}
    env = checkout.env(state, extra)
    if args.spark == "cluster":
        cluster = SparkCluster(state, env)
        extra = cluster.run_env()
        env = checkout.env(state, extra)
    try:
        log(f"{pipeline} {rows:,}: generating {args.days} days")
        began = time.perf_counter()
        subprocess.run(
            [str(checkout.bin / "mlgate"), "generate", "--pipeline", pipeline,
             "--events", str(rows), "--days", str(args.days), "--end-date", END_DATE, "--quiet"],
            env=env, check=True,
        )  # fmt: skip
        generate_seconds = time.perf_counter() - began
        log(f"{pipeline} {rows:,}: generated in {generate_seconds:.1f} s; run-day {END_DATE}")
        output = state / "run-day.log"
        began = time.perf_counter()
        with open(output, "w") as handle:
            run = subprocess.Popen(
                [str(checkout.bin / "mlgate"), "run-day", "--pipeline", pipeline,
                 "--date", END_DATE, "--gate-mode", args.gate_mode],
                env=env, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        sampler = Sampler([run.pid, *(cluster.pids() if cluster else [])])
        db = state / "airflow" / "airflow.db"
        reported: set[str] = set()
        next_poll = 0.0
        while run.poll() is None:
            sampler.sample()
            if time.monotonic() >= next_poll:
                next_poll = time.monotonic() + 2
                for task in task_times(db):
                    if task.end is not None and task.task not in reported:
                        reported.add(task.task)
                        log(f"{pipeline} {rows:,}: {task.task} {task.state} {task.seconds:.1f} s")
            time.sleep(SAMPLE_SECONDS)
        run_seconds = time.perf_counter() - began
    finally:
        if run is not None and run.poll() is None:  # interrupted: end the run it started
            run.terminate()
            run.wait()
        if cluster is not None:
            cluster.stop()
    times = [t for t in task_times(db) if t.start is not None]
    windows = [Window(t.task, t.start, t.end or datetime.now(UTC)) for t in times]
    memory = attribute_memory(sampler.samples, windows)
    tasks = {
        t.task: {"seconds": t.seconds, "state": t.state, **memory.get(t.task, {})} for t in times
    }
    phases = read_phases(state, pipeline)
    dag_seconds = (
        (max(w.end for w in windows) - min(w.start for w in windows)).total_seconds()
        if windows
        else None
    )
    result = {
        "pipeline": pipeline,
        "rows": rows,
        "days": args.days,
        "gate_mode": args.gate_mode,
        "generate_seconds": round(generate_seconds, 2),
        "run_day_seconds": round(run_seconds, 2),
        "dag_seconds": dag_seconds,
        "exit_code": run.returncode,
        "tasks": tasks,
        "phases": phases,
        "overhead": overhead({k: v["seconds"] or 0.0 for k, v in tasks.items()}, phases),
    }
    verdict = "ok" if run.returncode == 0 else f"FAILED (exit {run.returncode}, see {output})"
    log(
        f"{pipeline} {rows:,}: DAG {_seconds(dag_seconds)} s, "
        f"run-day {run_seconds:.1f} s, {verdict}"
    )
    if not args.keep_state and run.returncode == 0:
        shutil.rmtree(state, ignore_errors=True)
    else:
        result["state"] = str(state)
    return result


def merge_results(path: Path, header: dict, runs: list[dict]) -> dict:
    """The label's JSON with `runs` replacing earlier runs of the same pipeline and size."""
    previous = json.loads(path.read_text()) if path.exists() else {"runs": []}
    fresh = {(r["pipeline"], r["rows"]) for r in runs}
    kept = [r for r in previous["runs"] if (r["pipeline"], r["rows"]) not in fresh]
    return {**header, "runs": kept + runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--label", default="after", help="before, after, cluster, ... (the JSON's name)"
    )
    parser.add_argument("--rows", type=int, nargs="*", default=[250_000, 1_000_000, 4_000_000],
                        help="fraud sizes (generated transactions)")  # fmt: skip
    parser.add_argument("--shop-rows", type=int, nargs="*", default=[200_000, 800_000],
                        help="shop sizes (generated page events)")  # fmt: skip
    parser.add_argument("--days", type=int, default=60, help="days of generated events")
    parser.add_argument(
        "--checkout", type=Path, default=REPO, help="the checkout to run (its .venv)"
    )
    parser.add_argument("--spark", choices=["local", "cluster"], default="local",
                        help="cluster: a standalone master, two workers")  # fmt: skip
    # dry_run: every gate is computed in full, but a small demo's weaker model failing one
    # (assertion_set at 20k rows) does not cut the DAG short of promote.
    parser.add_argument("--gate-mode", choices=["enforce", "dry_run"], default="dry_run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mlgate-bench-scale"))
    parser.add_argument("--keep-state", action="store_true", help="keep each size's state folder")
    parser.add_argument("--results", type=Path, default=BENCH_DIR, help="folder of scale-*.json")
    parser.add_argument(
        "--write", type=Path, help="write the Scale section into this markdown file"
    )
    parser.add_argument(
        "--docs-only", action="store_true", help="only regenerate the section and plot"
    )
    args = parser.parse_args()

    if not args.docs_only:
        checkout = Checkout(args.checkout)
        if args.spark == "cluster" and not checkout.knows_spark_master():
            raise SystemExit(
                f"{checkout.root}'s run-day cannot use a standalone master "
                f"(no {SPARK_MASTER_ENV}): run --spark cluster on newer code"
            )
        header = {
            "label": args.label,
            "checkout": checkout.root.name,
            "commit": checkout.commit(),
            "date": date.today().isoformat(),
            "cores": os.cpu_count(),
            "load": os.getloadavg()[0],
            "spark": args.spark,
        }
        runs = []
        for pipeline, sizes in (("fraud", args.rows), ("shop", args.shop_rows)):
            for rows in sizes:
                runs.append(run_size(checkout, pipeline, rows, args, args.work / args.label))
        args.results.mkdir(parents=True, exist_ok=True)
        path = args.results / f"scale-{args.label}.json"
        path.write_text(json.dumps(merge_results(path, header, runs), indent=1) + "\n")
        log(f"written {path}")
    write_docs(args.results, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
