"""`mlgate`: the command line of the embedded default and of governance questions.

mlgate generate      write the demo card-transaction database
mlgate run-day       run the daily DAG for one day with real Airflow, Spark and MLflow
mlgate champion      which model is in production, why, trained on what, how good
mlgate history       every promotion and rollback, with its gate table
mlgate rollback      move `champion` back to the previous version, with a reason
mlgate mail-sink     the local SMTP server that keeps alert emails as files
mlgate serve         the champion's ONNX twin behind an HTTP JSON API (POST /score)
mlgate score-day     batch-score one day with the champion (the fraud_score DAG)
mlgate import        Sqoop-style import: one day (--window) or the incremental tables
mlgate services      start|stop|status the Airflow services, MLflow UI, mail sink, Spark cluster
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from datetime import date

from mlgate.paths import mail_dir, state_dir


def _load_config(args):
    from mlgate.config import ConfigError, load_config

    try:
        return load_config(args.config)
    except ConfigError as error:
        raise SystemExit(str(error)) from None


def cmd_generate(args) -> int:
    from mlgate.generate import SourceExistsError, generate

    cfg = _load_config(args)
    url = args.url or cfg.source.resolved_url()
    if args.if_missing and _source_has_events(url, cfg.source.events.table):
        print(f"source database {url} already holds data; leaving it as it is")
        return 0
    try:
        summary = generate(
            url,
            days=args.days,
            end_date=args.end_date,
            transactions=args.transactions,
            seed=args.seed,
            replace=args.replace,
            progress=not args.quiet,
        )
    except SourceExistsError as error:
        print(f"mlgate generate: {error}", file=sys.stderr)
        return 2
    rows = ", ".join(f"{table} {count:,}" for table, count in summary["rows"].items())
    print(f"wrote {rows} to {summary['url']}")
    print(
        f"days {summary['start']} .. {summary['end']}; fraud rate {summary['fraud_rate']:.3%} "
        f"(labelled by chargebacks so far: {summary['labelled_fraud_rate']:.3%})"
    )
    return 0


def _source_has_events(url: str, table: str) -> bool:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(table):
            return False
        with engine.connect() as conn:
            return (
                conn.execute(sa.select(sa.func.count()).select_from(sa.table(table))).scalar() > 0
            )
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def cmd_run_day(args) -> int:
    from mlgate.embedded import EnvironmentError_, embedded_env, run_day

    cfg = _load_config(args)
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
    print(f"running DAG fraud_retrain for {args.date} (state: {state_dir()})", flush=True)
    with mail_sink_running(env):
        code = run_day(args.date, env, conf)
    if code != 0:
        print_failure(cfg.model_name, args.date, code, env)
        return code
    print_summary(cfg.model_name, args.date)
    return 0


@contextmanager
def mail_sink_running(env: dict):
    """The local SMTP sink for the run's alert emails: started here unless already up."""
    from mlgate.embedded import smtp_port
    from mlgate.mailsink import port_open, start_background, stop_background

    port = smtp_port(env)
    if port_open("127.0.0.1", port):
        yield
        return
    pidfile = mail_dir() / "sink.pid"
    start_background(mail_dir(), "127.0.0.1", port, pidfile)
    try:
        yield
    finally:
        stop_background(pidfile)


def print_failure(model_name: str, day: date, code: int, env: dict) -> None:
    """Say where the run stopped: the failed gates first, the champion, the email."""
    from mlgate.gates import GateReport
    from mlgate.paths import run_dir
    from mlgate.pipeline import GATES_FILE
    from mlgate.registry import champion_version

    print(f"\n=== mlgate: the run for {day} FAILED (exit {code}) ===", file=sys.stderr)
    gates_path = run_dir(day.isoformat()) / GATES_FILE
    if gates_path.exists():
        payload = json.loads(gates_path.read_text())
        report = GateReport.from_dict(payload)
        if report.blocking():
            names = ", ".join(r.name for r in report.blocking())
            print(f"stopped at stage {payload.get('stage')} by gate(s): {names}", file=sys.stderr)
        print(report.text_table(), file=sys.stderr)
    champion = champion_version(model_name)
    print(
        f"champion: {'none yet' if champion is None else 'version ' + champion['version']}"
        " (unchanged by this run)",
        file=sys.stderr,
    )
    mails = sorted(mail_dir().glob("*.eml"))
    if mails:
        print(f"alert email: {mails[-1]}", file=sys.stderr)
    print(f"task logs: {env['AIRFLOW_HOME']}/logs", file=sys.stderr)


def print_summary(model_name: str, day: date) -> None:
    from mlgate.pipeline import DECISION_FILE, read_run_file
    from mlgate.registry import NoChampionError, champion_info

    decision = read_run_file(day.isoformat(), DECISION_FILE)
    print("\n=== mlgate: run summary ===")
    verdict = "promoted to champion" if decision["promoted"] else "NOT promoted"
    print(f"day {day}: candidate version {decision['version']} {verdict}")
    for reason in decision.get("reasons", []):
        print(f"  - {reason}")
    try:
        info = champion_info(model_name)
    except NoChampionError as error:
        print(error)
        return
    m = info["metrics"]
    print(
        f"champion: {model_name} version {info['version']} "
        f"(holdout AUC-PR {m.get('auc_pr', float('nan')):.3f}, "
        f"ROC AUC {m.get('roc_auc', float('nan')):.3f}, "
        f"fraud rate in holdout {m.get('holdout_positive_rate', float('nan')):.3%})"
    )
    print("next:")
    print("  mlgate champion            # the production model, its metrics and lineage")
    print("  make mlflow-ui             # runs, plots and the registry at http://127.0.0.1:5000")
    print("  make airflow-ui            # the DAG graph and task logs at http://127.0.0.1:8080")


def cmd_champion(args) -> int:
    from mlgate.registry import NoChampionError, champion_info

    cfg = _load_config(args)
    try:
        info = champion_info(cfg.model_name)
    except NoChampionError as error:
        print(error, file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    m = info["metrics"]
    lines = [
        f"model        {info['model_name']} version {info['version']} (alias champion)",
        f"family       {info['model_family']}",
        f"promoted     {info['promoted_at']} by {info['promoted_by']}",
        f"trained for  {info['trained_for_ds']} by {info['airflow']['dag_id']} "
        f"run {info['airflow']['run_id']} (triggered by {info['airflow']['triggered_by']})",
        "data window  " + ", ".join(f"{k} {v}" for k, v in info["data_window"].items()),
        f"git commit   {info['git_commit']}",
        "holdout      "
        + ", ".join(
            f"{k} {m[k]:.4f}"
            for k in ("auc_pr", "roc_auc", "recall_at_threshold", "precision_at_threshold")
            if k in m
        ),
        f"             {int(m.get('holdout_rows', 0)):,} rows, "
        f"{int(m.get('holdout_positives', 0)):,} positives",
        f"mlflow run   {info['run_id']}",
        f"gates        {info.get('gates_artifact') or '-'}",
        f"artefacts    {info['artifact_uri']}",
        f"tracking     {info['tracking_uri']}",
    ]
    print("\n".join(lines))
    if info.get("gates"):
        from mlgate.gates import GateReport

        print("\ngates of this version:")
        print(GateReport.from_dict(info["gates"]).text_table())
    return 0


def cmd_history(args) -> int:
    from mlgate.registry import read_history

    entries = read_history()[-args.limit :]
    if args.json:
        print(json.dumps(entries, indent=2, default=str))
        return 0
    if not entries:
        print("no promotion yet")
        return 0
    for entry in entries:
        if entry["action"] == "promote":
            overrides = entry.get("overrides") or []
            extra = f"; OVERRIDDEN {overrides}: {entry.get('override_reason')}" if overrides else ""
            was = f"was v{entry['previous']}" if entry.get("previous") else "first champion"
            auc_pr = (entry.get("metrics") or {}).get("auc_pr")
            quality = f"AUC-PR {auc_pr:.4f}" if auc_pr is not None else "AUC-PR -"
            print(
                f"{entry['at']}  promote   v{entry['version']} ({was}) ds {entry.get('ds')} "
                f"by {entry.get('by')} [{entry.get('triggered_by')}] {quality}{extra}"
            )
        else:
            print(
                f"{entry['at']}  rollback  v{entry.get('previous')} -> v{entry['version']} "
                f"by {entry.get('by')}: {entry.get('reason')}"
            )
    return 0


def cmd_rollback(args) -> int:
    import getpass

    from mlgate.registry import PromotionError, rollback

    cfg = _load_config(args)
    try:
        entry = rollback(cfg.model_name, reason=args.reason, by=f"cli:{getpass.getuser()}")
    except PromotionError as error:
        print(f"mlgate rollback: {error}", file=sys.stderr)
        return 2
    print(
        f"{cfg.model_name}: champion is now version {entry['version']} "
        f"(was {entry['previous']}); recorded in the promotion history"
    )
    return 0


def cmd_inject_fault(args) -> int:
    from mlgate.faults import FaultError, inject_fault

    cfg = _load_config(args)
    try:
        done = inject_fault(cfg, cfg.source.resolved_url(), args.date, args.kind)
    except FaultError as error:
        print(f"mlgate inject-fault: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {done['rows']:,} rows for {done['day']} with fault {done['kind']}: {done['what']}"
    )
    return 0


def cmd_mail_sink(args) -> int:
    from mlgate.mailsink import serve

    serve(args.dir or mail_dir(), args.host, args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlgate",
        description="Daily retraining with validation gates: demo data, DAG runs, governance.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="State lives in $MLGATE_STATE (default ./state); config in $MLGATE_CONFIG "
        "(default include/config/mlgate.yaml).",
    )
    parser.add_argument("--config", help="pipeline config YAML (default: $MLGATE_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)

    from mlgate.generate import add_arguments as add_generate_arguments

    generate = sub.add_parser(
        "generate",
        help="write the demo card-transaction database",
        description="Write a realistic, seeded card-transaction database (customers, cards, "
        "merchants, transactions, late-arriving chargebacks) through SQLAlchemy.",
    )
    add_generate_arguments(generate)
    generate.add_argument(
        "--if-missing", action="store_true", help="do nothing when the database already has data"
    )
    generate.set_defaults(func=cmd_generate)

    run_day = sub.add_parser(
        "run-day",
        help="run the daily DAG for one day (real Airflow, Spark, MLflow)",
        description="Run fraud_retrain for the data interval of one UTC day with "
        "`airflow dags test`, then print the promotion decision and the champion.",
    )
    run_day.add_argument(
        "--date",
        required=True,
        type=date.fromisoformat,
        help="the day (YYYY-MM-DD) whose data interval the run covers",
    )
    run_day.add_argument("--family", help="model family for this run (overrides the config)")
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
    run_day.set_defaults(func=cmd_run_day)

    champion = sub.add_parser(
        "champion",
        help="the production model: version, metrics, lineage",
        description="Which model version carries the `champion` alias, when and by which run "
        "it was promoted, its holdout metrics, its data window and where its artefacts are.",
    )
    champion.add_argument("--json", action="store_true", help="one JSON object instead of text")
    champion.set_defaults(func=cmd_champion)

    history = sub.add_parser(
        "history",
        help="every promotion and rollback",
        description="The append-only promotion history: who or what promoted or rolled back "
        "which version, when, with which gate table, overrides and reasons.",
    )
    history.add_argument("--json", action="store_true", help="the raw entries as JSON")
    history.add_argument("--limit", type=int, default=50, help="newest N entries (default 50)")
    history.set_defaults(func=cmd_history)

    rollback = sub.add_parser(
        "rollback",
        help="move champion back to the previous version",
        description="Move the `champion` alias back to the `previous` version and record it, "
        "with your reason, in the promotion history.",
    )
    rollback.add_argument("--reason", required=True, help="why (at least 10 characters)")
    rollback.set_defaults(func=cmd_rollback)

    sink = sub.add_parser(
        "mail-sink",
        help="run the local SMTP server that keeps alert emails as files",
        description="A real SMTP server (aiosmtpd) on loopback that saves every message it "
        "receives as an .eml file. make run and the tests start and stop it themselves.",
    )
    sink.add_argument("--dir", help="where to save messages (default: state/mail)")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=8025)
    sink.set_defaults(func=cmd_mail_sink)

    from mlgate.faults import FAULT_KINDS

    fault = sub.add_parser(
        "inject-fault",
        help="write a broken day into the demo source database",
        description="Copy the transactions of the same weekday a week earlier to --date and "
        "break them as real feeds break, to see which gate stops the run. Kinds:\n"
        + "\n".join(f"  {kind:20s} {what}" for kind, what in FAULT_KINDS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fault.add_argument("--date", required=True, type=date.fromisoformat, help="the day to write")
    fault.add_argument("--kind", required=True, choices=sorted(FAULT_KINDS), help="what breaks")
    fault.set_defaults(func=cmd_inject_fault)

    from mlgate.services import add_parser as add_services_parser

    add_services_parser(sub)

    from mlgate.import_cli import add_parser as add_import_parser

    add_import_parser(sub)

    from mlgate.serve_cli import add_parser as add_serve_parser

    add_serve_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `mlgate champion | head`: the reader has what it wanted
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
