"""Benchmark: the feature job on the fraud demo, this checkout against a baseline checkout.

    python scripts/bench_features.py --rows 1000000 --repeats 3 \
        --baseline /path/to/an/older/checkout --write docs/benchmarks.md

Generates the fraud demo once (a SQLite file), lands the run's window in each checkout's
own state folder with that checkout's extract, then times that checkout's feature job
(`python -m mlgate.jobs.features_job`, Spark local[*], as spark-submit runs it) `repeats`
times, interleaved: baseline, current, baseline, current, ... Each checkout runs with its
own interpreter (its .venv), so the two code versions never mix. Prints and writes the
wall times (median and best) and the rows of the feature table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from bench_docs import publish

REPO = Path(__file__).resolve().parents[1]
DAY = "2026-10-31"

# Run inside a checkout's interpreter: land the window with that checkout's own extract.
EXTRACT = """
import sys
from datetime import date, datetime, time, timedelta
from mlgate import stages
try:
    from mlgate.config import load_pipeline
    cfg = load_pipeline("fraud")
except ImportError:  # before pipelines: one config file
    from mlgate.config import load_config
    cfg = load_config()
day = date.fromisoformat(sys.argv[1])
stages.extract(cfg, day, datetime.combine(day + timedelta(days=1), time.min), stages.RunOptions())
"""


def java_env(python: Path) -> dict:
    home = subprocess.run(
        ["bash", str(REPO / "scripts" / "java-home"), str(python)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return {"JAVA_HOME": home, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": str(python)}


def checkout_env(checkout: Path, state: Path, source_url: str) -> tuple[Path, dict]:
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} is missing: run `make install` in {checkout} first")
    env = {
        **os.environ,
        **java_env(python),
        "MLGATE_STATE": str(state),
        "MLGATE_SOURCE_URL": source_url,
        "PYTHONPATH": str(checkout / "include"),
    }
    env.pop("MLGATE_PIPELINES", None)
    return python, env


def job_args(checkout: Path) -> list[str]:
    pipelines = (checkout / "include" / "pipelines").is_dir()
    return ["--ds", DAY, *(["--pipeline", "fraud"] if pipelines else [])]


def feature_rows(state: Path) -> int:
    for summary in state.rglob("features/ds=*/_feature_summary.json"):
        return int(json.loads(summary.read_text())["rows"])
    return 0


def commit_of(checkout: Path) -> str:
    """The checkout's commit, with a + when it has uncommitted changes."""
    head = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(checkout), "status", "--porcelain", "--", "include", "scripts"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return (head or "?") + ("+" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions to generate")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with")
    parser.add_argument("--work", type=Path, default=Path("/tmp/mlgate-bench-features"))
    parser.add_argument("--write", type=Path, help="write the section into this markdown file")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    source = args.work / "source.db"
    url = f"sqlite:///{source}"
    if not source.exists():
        subprocess.run(
            [str(REPO / ".venv" / "bin" / "mlgate"), "generate", "--pipeline", "fraud",
             "--url", url, "--days", str(args.days), "--events", str(args.rows),
             "--end-date", DAY, "--quiet"],
            check=True,
        )  # fmt: skip
    contenders = {"current": REPO}
    if args.baseline:
        contenders = {"baseline": args.baseline.resolve(), **contenders}
    setups = {}
    for name, checkout in contenders.items():
        state = args.work / f"state-{name}"
        python, env = checkout_env(checkout, state, url)
        if not feature_rows(state) and not any(state.rglob("transactions/ds=*")):
            print(f"{name}: landing the window with {checkout}'s extract", flush=True)
            subprocess.run([str(python), "-c", EXTRACT, DAY], env=env, check=True)
        setups[name] = (checkout, python, env, state)

    times: dict[str, list[float]] = {name: [] for name in contenders}
    for repeat in range(args.repeats):
        for name, (checkout, python, env, _) in setups.items():
            began = time.perf_counter()
            subprocess.run(
                [str(python), "-m", "mlgate.jobs.features_job", *job_args(checkout)],
                env=env,
                check=True,
                capture_output=True,
            )
            took = time.perf_counter() - began
            times[name].append(took)
            print(f"{name} run {repeat + 1}: {took:.1f} s", flush=True)

    rows = {name: feature_rows(setup[3]) for name, setup in setups.items()}
    load = os.getloadavg()[0]
    lines = [
        "## Feature job",
        "",
        f"`make bench-features` ({date.today().isoformat()}, {os.cpu_count()} cores, load "
        f"{load:.1f}): the feature job of the fraud demo, {args.rows:,} transactions over "
        f"{args.days} days, for the run of {DAY} (its 54-day window), Spark local[*], each "
        f"contender {args.repeats} times, interleaved.",
        "",
        "| checkout | median (s) | best (s) | feature rows |",
        "|---|---:|---:|---:|",
    ]
    for name, values in times.items():
        lines.append(
            f"| {name} ({contenders[name].name} @ {commit_of(contenders[name])}) | "
            f"{statistics.median(values):.1f} | "
            f"{min(values):.1f} | {rows[name]:,} |"
        )
    if "baseline" in times:
        ratio = statistics.median(times["current"]) / statistics.median(times["baseline"])
        lines += ["", f"current / baseline (medians): {ratio:.2f}"]
    section = "\n".join(lines) + "\n"
    publish(section, "Feature job", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
