"""`mlgate run-day`: the retrain DAG for one day with real Airflow, Spark and MLflow."""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from datetime import date

from mlgate.cli.common import add_pipeline_option, add_verbose_option, load_pipeline_or_exit
from mlgate.paths import mail_dir, state_dir
from mlgate.window import DayNotEnded, refuse_unended_day


def cmd_run_day(args) -> int:
    from mlgate.cli.pipelines import source_misfit
    from mlgate.cli.progress import run_dag_day
    from mlgate.local.embedded import EnvironmentError_, embedded_env

    cfg = load_pipeline_or_exit(args)
    try:  # the extract task refuses it too; here it fails before Airflow starts
        refuse_unended_day(args.date, time_zone=cfg.features.time_zone)
    except DayNotEnded as error:
        print(f"mlgate run-day: {error}", file=sys.stderr)
        return 2
    if cfg.approval == "required" and args.gate_mode != "dry_run":
        print(
            f"mlgate run-day: pipeline {cfg.name} requires a person's approval before "
            "promotion (approval: required), which a run of `airflow dags test` cannot wait "
            f"for. Start the services (mlgate services start), trigger {cfg.dag_id('retrain')} "
            "in the Airflow UI or over its REST API, and approve it in Required Actions; or "
            "evaluate the gates without promoting: --gate-mode dry_run",
            file=sys.stderr,
        )
        return 2
    try:
        env = embedded_env()
    except EnvironmentError_ as error:
        print(error, file=sys.stderr)
        return 2
    conf = {
        "gate_mode": args.gate_mode,
        "model_family": args.family,
        "override_gates": args.override or [],
        "override_reason": args.reason or "",
    }
    # the extract task checks this too; checked here it fails in a second, not a minute
    misfit = source_misfit(cfg, "mlgate run-day")
    if misfit:
        return misfit
    dag_id = cfg.dag_id("retrain")
    print(f"running DAG {dag_id} for {args.date} (state: {state_dir()})", flush=True)
    with mail_sink_running(env) as run_env:
        result = run_dag_day(
            dag_id,
            args.date,
            run_env,
            command="run-day",
            pipeline=cfg.name,
            conf=conf,
            verbose=args.verbose,
        )
    if result.code != 0:
        print_failure(cfg, args.date, result)
        return result.code
    print_summary(cfg, args.date)
    return 0


@contextmanager
def mail_sink_running(env: dict, attempts: int = 5):
    """A local SMTP sink for this run's alert emails; yields `env` pointing Airflow at it.

    A sink already listening on the configured port (`mlgate services`, Mailpit, one
    started by hand) is shared and left running. Otherwise this run gets a sink of its own
    on a free port: two runs at once never share one, so neither stops the other's; the
    sink watches this process and stops by itself if the run is killed.
    """
    import os

    from mlgate.local.embedded import smtp_port, with_smtp_port
    from mlgate.local.mailsink import start_background, stop_background
    from mlgate.local.processes import free_port, pid_alive, port_open, read_pid

    if port_open("127.0.0.1", smtp_port(env)):
        yield env
        return
    folder = mail_dir()
    for stale in folder.glob("sink-*.pid"):  # a killed run's sink has stopped by itself
        pid = read_pid(stale)
        if pid is None or not pid_alive(pid):
            stale.unlink(missing_ok=True)
    pidfile = folder / f"sink-{os.getpid()}.pid"
    for attempt in range(attempts):
        port = free_port()
        try:
            start_background(folder, "127.0.0.1", port, pidfile, owner_pid=os.getpid())
            break
        except RuntimeError:  # another process took the port first
            if attempt == attempts - 1:
                raise
    try:
        yield with_smtp_port(env, port)
    finally:
        stop_background(pidfile)


def print_failure(cfg, day: date, result) -> None:
    """Say where the run stopped: the failed gates first, the champion, the email, the logs.

    result: the run's DagRunResult; only its own gate report and alert email are shown,
    never those an earlier run of the day left.
    """
    from mlgate.gates import GateReport
    from mlgate.registry import champion_version
    from mlgate.runs import GATES_FILE, run_file_of

    print(f"\n=== mlgate: the run for {day} FAILED (exit {result.code}) ===", file=sys.stderr)
    payload = (
        run_file_of(cfg.name, day.isoformat(), GATES_FILE, result.run_id) if result.run_id else None
    )
    if payload is not None:
        report = GateReport.from_dict(payload)
        if report.blocking():
            names = ", ".join(r.name for r in report.blocking())
            print(f"stopped at stage {payload.get('stage')} by gate(s): {names}", file=sys.stderr)
        print(report.text_table(), file=sys.stderr)
    champion = champion_version(cfg.model_name)
    print(
        f"champion: {'none yet' if champion is None else 'version ' + champion['version']}"
        " (unchanged by this run)",
        file=sys.stderr,
    )
    since = result.started_at.timestamp()
    mails = sorted(
        m
        for m in mail_dir().glob("*.eml")
        if m.stat().st_mtime >= since and alert_day(m) in (None, day.isoformat())
    )
    if mails:
        print(f"alert email: {mails[-1]}", file=sys.stderr)
    # `airflow dags test` runs the tasks in its own process: every task log is in this file
    if result.log_path is not None:
        print(f"full Airflow and Spark output: {result.log_path}", file=sys.stderr)
    print(failure_line(cfg, day, result), file=sys.stderr)


def alert_day(path) -> str | None:
    """The day an alert email is about, from its subject ("[mlgate] MODEL DAY: ..."); None
    when it names none. Another run at the same time (another day) sent the others."""
    from email.parser import BytesHeaderParser

    try:
        with open(path, "rb") as handle:
            subject = str(BytesHeaderParser().parse(handle).get("Subject", ""))
    except OSError:
        return None
    match = re.search(r"\b(\d{4}-\d{2}-\d{2}):", subject)
    return match.group(1) if match else None


def failure_line(cfg, day: date, result) -> str:
    """The last line of a failed run: what failed and what to do, in one line.

    The reason is the one the failing task recorded (``runs.write_failure``: the error's
    own message, and whether a retry could help); a task that recorded none was killed.
    """
    from mlgate.runs import FAILURE_FILE, run_file_of

    output = result.log_path or "the output above"
    rerun = f"mlgate run-day --pipeline {cfg.name} --date {day}"
    if result.run_id is None:
        return (
            f"Airflow stopped before the run began (the end of its output is above): fix what "
            f"it names, then run again: {rerun}"
        )
    failure = run_file_of(cfg.name, day.isoformat(), FAILURE_FILE, result.run_id)
    if failure is not None and result.failed_task not in (None, failure["task"]):
        failure = None  # an earlier try of another task failed, then passed on its retry
    if failure is None:
        task = result.failed_task or "a task"
        return (
            f"{task} failed without recording a reason (killed, or out of memory?): read its "
            f"output in {output}, then run again: {rerun}"
        )
    reason = failure["message"].splitlines()[0].strip()
    if failure["error"] == "GateFailed":
        action = (
            "the gate table above says why; fix the data or the model, or let a gate through "
            "with --override GATE --reason TEXT"
        )
    elif failure["permanent"]:
        action = f"retrying cannot help; once fixed, run again: {rerun}"
    else:
        action = f"retried without success; see {output}, then run again: {rerun}"
    return f"{failure['task']} failed: {reason} — {action}"


def print_summary(cfg, day: date) -> None:
    from mlgate.registry import NoChampionError, champion_info
    from mlgate.runs import DECISION_FILE, read_run_file

    decision = read_run_file(cfg.name, day.isoformat(), DECISION_FILE)
    print("\n=== mlgate: run summary ===")
    verdict = "promoted to champion" if decision["promoted"] else "NOT promoted"
    print(f"day {day}: candidate version {decision['version']} {verdict}")
    for reason in decision.get("reasons", []):
        print(f"  - {reason}")
    try:
        info = champion_info(cfg.model_name)
    except NoChampionError as error:
        print(error)
        return
    m = info["metrics"]
    print(
        f"champion: {cfg.model_name} version {info['version']} "
        f"(holdout AUC-PR {m.get('auc_pr', float('nan')):.3f}, "
        f"ROC AUC {m.get('roc_auc', float('nan')):.3f}, "
        f"{cfg.target.name} rate in holdout {m.get('holdout_positive_rate', float('nan')):.3%})"
    )
    print("next:")
    print(f"  mlgate champion --pipeline {cfg.name}   # the production model, its lineage")
    print("  make mlflow-ui             # runs, plots and the registry at http://127.0.0.1:5000")
    print("  make airflow-ui            # the DAG graph and task logs at http://127.0.0.1:8080")


def add_parsers(sub) -> None:
    run_day = sub.add_parser(
        "run-day",
        help="run a pipeline's retrain DAG for one day (real Airflow, Spark, MLflow)",
        description="Run <pipeline>_retrain for the data interval of one UTC day with "
        "`airflow dags test`: one line per task as it ends, then the promotion decision "
        "and the champion. Airflow's and Spark's full output goes to a log file in "
        "$MLGATE_STATE/logs (its path is printed), or to the terminal with --verbose.",
    )
    add_pipeline_option(run_day)
    run_day.add_argument(
        "--date",
        required=True,
        type=date.fromisoformat,
        help="the day (YYYY-MM-DD) whose data interval the run covers",
    )
    run_day.add_argument("--family", help="model family for this run (overrides the pipeline)")
    run_day.add_argument(
        "--gate-mode",
        choices=["enforce", "dry_run"],
        default="enforce",
        help="dry_run evaluates and reports every gate but promotes nothing",
    )
    run_day.add_argument(
        "--override",
        action="append",
        metavar="GATE",
        help="let this failed gate through (repeatable); needs --reason",
    )
    run_day.add_argument("--reason", help="why the overridden gates may pass (10+ characters)")
    add_verbose_option(run_day)
    run_day.set_defaults(func=cmd_run_day)
