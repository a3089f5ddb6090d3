"""`mlgate monitor-day`: the monitor DAG for one day, and what it found."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from mlgate.cli.common import add_pipeline_option, add_verbose_option, load_pipeline_or_exit


def cmd_monitor_day(args) -> int:
    from mlgate.cli.progress import run_dag_day
    from mlgate.local.embedded import EnvironmentError_, embedded_env
    from mlgate.paths import MONITOR_FILE, monitor_partition

    cfg = load_pipeline_or_exit(args)
    try:
        env = embedded_env()
    except EnvironmentError_ as error:
        print(error, file=sys.stderr)
        return 2
    dag_id = cfg.dag_id("monitor")
    day = args.date.isoformat()
    folder = monitor_partition(cfg.name, day)
    record_path = folder / MONITOR_FILE
    before = record_path.stat().st_mtime if record_path.exists() else None
    print(f"running DAG {dag_id} for {day}", flush=True)
    result = run_dag_day(
        dag_id, args.date, env, command="monitor-day", pipeline=cfg.name, verbose=args.verbose
    )
    if result.code != 0:
        print(f"{dag_id} for {day} FAILED (exit {result.code})", file=sys.stderr)
        if result.log_path is not None:
            print(f"full Airflow output: {result.log_path}", file=sys.stderr)
        return result.code
    if not record_path.exists() or record_path.stat().st_mtime == before:
        print(f"nothing judged for {day}: no champion yet, or the day is not scored")
        return 0
    record = json.loads(record_path.read_text())
    drifted = [d["feature"] for d in record["drift"] if d["drifted"]]
    print(f"day {day}, version {record['model_version']}, {record['rows']:,} rows scored")
    print(
        f"  drifted: {', '.join(drifted) or 'nothing'}"
        + (f" ({record['drift_note']})" if record["drift_note"] else "")
    )
    for found in record["realised"]:
        shown = ", ".join(
            f"{name} {m['value']:.3f} [{m['lower']:.3f}, {m['upper']:.3f}]"
            for name, m in found["metrics"].items()
        )
        short = f"; SHORT: {', '.join(found['short'])}" if found["short"] else ""
        print(f"  realised on {found['day']}: {shown}{short}")
    streaks = record["streaks"]
    print(
        f"  days in a row: drift {streaks['drift']}, realised short {streaks['realised']} "
        f"(a retrain is asked at {record['retrain_after_days']})"
    )
    if record["retrain"]:
        print(
            f"  RETRAIN REQUESTED: {record['reason']}. With the services running, the "
            f"scheduler starts {cfg.dag_id('retrain')} by itself; here: mlgate run-day "
            f"--pipeline {cfg.name} --date {day}"
        )
    print(f"report: {folder / 'report.html'}")
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "monitor-day",
        help="watch one served day: drift, realised performance, freshness (the "
        "<pipeline>_monitor DAG)",
        description="Run the pipeline's monitor DAG for one UTC day with `airflow dags test`, "
        "once the day is scored (mlgate score-day): drift of every model input and of the "
        "score against the champion's reference rows, realised performance of the scoring "
        "days whose labels matured, freshness of the inputs, and whether the streaks ask "
        "for a retrain (monitoring.retrain_after_days). Writes an HTML report with plots "
        "and logs the day to MLflow (experiment <model>.monitor). docs/monitoring.md "
        "explains each statistic.",
    )
    add_pipeline_option(parser)
    parser.add_argument(
        "--date", required=True, type=date.fromisoformat, help="the day (YYYY-MM-DD) to judge"
    )
    add_verbose_option(parser)
    parser.set_defaults(func=cmd_monitor_day)
    return parser
