"""`mlgate monitor-day` and `mlgate rollout-day`: the after-promotion DAGs for one day."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from mlgate.cli.common import add_pipeline_option, add_verbose_option, load_pipeline_or_exit


def run_after_promotion_dag(cfg, kind: str, day: date, args) -> int:
    """Run <pipeline>_<kind> for ``day`` with `airflow dags test` and the local mail sink
    (a retrain request or a rollback is emailed); 0, or the failure's exit code (said why)."""
    from mlgate.cli.progress import run_dag_day
    from mlgate.cli.run import mail_sink_running
    from mlgate.local.embedded import EnvironmentError_, embedded_env

    try:
        env = embedded_env()
    except EnvironmentError_ as error:
        print(error, file=sys.stderr)
        return 2
    dag_id = cfg.dag_id(kind)
    with mail_sink_running(env) as run_env:
        result = run_dag_day(
            dag_id, day, run_env, command=f"{kind}-day", pipeline=cfg.name, verbose=args.verbose
        )
    if result.code != 0:
        print(f"{dag_id} for {day} FAILED (exit {result.code})", file=sys.stderr)
        if result.log_path is not None:
            print(f"full Airflow output: {result.log_path}", file=sys.stderr)
    return result.code


def cmd_monitor_day(args) -> int:
    from mlgate.paths import MONITOR_FILE, monitor_partition

    cfg = load_pipeline_or_exit(args)
    day = args.date.isoformat()
    folder = monitor_partition(cfg.name, day)
    record_path = folder / MONITOR_FILE
    before = record_path.stat().st_mtime if record_path.exists() else None
    print(f"running DAG {cfg.dag_id('monitor')} for {day}", flush=True)
    code = run_after_promotion_dag(cfg, "monitor", args.date, args)
    if code != 0:
        return code
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


def cmd_rollout_day(args) -> int:
    from mlgate.paths import rollout_dir
    from mlgate.registry import canary_version

    cfg = load_pipeline_or_exit(args)
    if cfg.rollout.mode == "none":
        print(f"pipeline {cfg.name} has no rollout (rollout.mode: none)", file=sys.stderr)
        return 2
    canary = canary_version(cfg.name)
    if canary is None:
        print(f"no canary of {cfg.model_name} in rollout: nothing to decide")
        return 0
    print(
        f"running DAG {cfg.dag_id('rollout')} for {args.date} (canary: version {canary})",
        flush=True,
    )
    code = run_after_promotion_dag(cfg, "rollout", args.date, args)
    if code != 0:
        return code
    path = rollout_dir(cfg.name, canary) / f"decision-ds={args.date.isoformat()}.json"
    record = json.loads(path.read_text())
    guard = record["guardrails"]
    print(
        f"day {args.date}: decisions alike on {guard['agreement']:.2%} of {guard['rows']:,} "
        f"rows, flagged canary {guard['flagged_canary']} / champion {guard['flagged_champion']}"
    )
    print(f"  {len(record['labelled_days'])} labelled days; {record['action']}: {record['reason']}")
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

    rollout = sub.add_parser(
        "rollout-day",
        help="judge the canary in rollout on one day: promote, roll back or wait (the "
        "<pipeline>_rollout DAG)",
        description="Run the pipeline's rollout DAG for one UTC day with `airflow dags test`, "
        "once the day is scored by the champion and the canary (mlgate score-day): the "
        "guardrails on the day, the AUC-PR difference of every labelled day combined into a "
        "confidence sequence valid under daily looks; the canary is promoted, rolled back, "
        "or kept another day, and the ending goes into the promotion history.",
    )
    add_pipeline_option(rollout)
    rollout.add_argument(
        "--date", required=True, type=date.fromisoformat, help="the day (YYYY-MM-DD) to judge"
    )
    add_verbose_option(rollout)
    rollout.set_defaults(func=cmd_rollout_day)
    return parser
