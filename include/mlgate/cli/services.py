"""`mlgate services start|stop|status` and `mlgate mail-sink`: the local launchers' commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mlgate.local import services as services_module
from mlgate.local.airflow_api import AIRFLOW_COMPONENTS
from mlgate.local.mlflow_server import MLFLOW_ADMIN_USER
from mlgate.local.services import (
    ADMIN_USER,
    HOST,
    SPARK_WORKERS,
    Ports,
    Services,
    ServicesError,
    logs_dir,
    start,
    state_mail_dir,
    status,
    stop,
)
from mlgate.local.spark_cluster import SPARK_WORKER_CORES
from mlgate.paths import mail_dir, state_dir


def describe(services: Services) -> str:
    """The URLs and where the login is, as `make airflow` prints them."""
    state = Path(services.state)
    rel = _relative(services.password_file)
    lines = [
        f"mlgate services are up (state: {_relative(state)})",
        f"  Airflow UI     {services.airflow_url}   login: user '{ADMIN_USER}', password in {rel}",
        f"  Airflow REST   {services.airflow_url}/api/v2   "
        f"(JWT: POST {services.airflow_url}/auth/token)",
        f"  MLflow UI      {services.mlflow_url}   login: user '{MLFLOW_ADMIN_USER}', "
        f"password in {_relative(services.mlflow_password_file)} (or $MLGATE_MLFLOW_PASSWORD)",
        f"  mail sink      smtp://{HOST}:{services.ports.smtp}, messages in "
        f"{_relative(state_mail_dir(state))}/",
    ]
    if services.spark_cluster:
        workers = ", ".join(services.spark_worker_ui_urls())
        lines += [
            f"  Spark master   {services.spark_master_url}, UI {services.spark_master_ui_url}"
            " (shared secret in secrets/spark-auth-secret)",
            f"  Spark workers  {SPARK_WORKERS} x {SPARK_WORKER_CORES} core, UIs {workers}",
            "                 spark_default points at the master (jobs leave local[*])",
        ]
    lines += [
        f"logs: {_relative(logs_dir(state))}/   stop: make stop (mlgate services stop)",
        "the <pipeline>_retrain DAGs start paused: unpause one in the UI and the scheduler "
        "runs the latest daily interval, then one run a day.",
    ]
    return "\n".join(lines)


def _relative(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def cmd_services(args) -> int:
    state = state_dir()
    if args.action == "start":
        ports = Ports(
            airflow=args.airflow_port,
            mlflow=args.mlflow_port,
            smtp=args.smtp_port,
            spark_master=args.spark_master_port,
            spark_master_ui=args.spark_ui_port,
            spark_worker_ui=args.spark_ui_port + 1,
        )
        try:
            services = start(state, ports, spark_cluster=args.spark_cluster, timeout=args.timeout)
        except ServicesError as error:
            print(f"mlgate services start: {error}", file=sys.stderr)
            return 1
        print(describe(services))
        return 0
    if args.action == "stop":
        try:
            stop(state)
        except ServicesError as error:
            print(f"mlgate services stop: {error}", file=sys.stderr)
            return 1
        return 0
    report = status(state)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    elif not report["services"]:
        print(f"no services recorded for {state} (start them with make airflow)")
    else:
        for name, entry in report["services"].items():
            up = "up" if entry["alive"] else "DOWN"
            port = f"port {entry['port']} {'answers' if entry['answers'] else 'closed'}"
            print(f"{name:24s} pid {entry['pid']:<8d} {up:5s} {port if entry['port'] else ''}")
        health = report.get("airflow_health") or {}
        components = ", ".join(
            f"{c} {(health.get(c) or {}).get('status', '?')}" for c in AIRFLOW_COMPONENTS
        )
        print(f"airflow health: {components}")
    return 0 if report["running"] else 3


def add_parser(sub) -> None:
    """Register `mlgate services start|stop|status` on the CLI's subparsers."""
    parser = sub.add_parser(
        "services",
        help="start, stop or list the Airflow services, MLflow UI, mail sink (and Spark cluster)",
        description=services_module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["start", "stop", "status"])
    env = os.environ
    parser.add_argument(
        "--spark-cluster",
        action="store_true",
        default=env.get("MLGATE_SPARK_CLUSTER", "") not in ("", "0", "false"),
        help="also start a Spark standalone master and 2 workers and send the DAG's "
        "Spark jobs there (default: $MLGATE_SPARK_CLUSTER)",
    )
    defaults = Ports()
    for option, name, default in (
        ("--airflow-port", "MLGATE_AIRFLOW_PORT", defaults.airflow),
        ("--mlflow-port", "MLGATE_MLFLOW_PORT", defaults.mlflow),
        ("--smtp-port", "MLGATE_SMTP_PORT", defaults.smtp),
        ("--spark-master-port", "MLGATE_SPARK_MASTER_PORT", defaults.spark_master),
        ("--spark-ui-port", "MLGATE_SPARK_UI_PORT", defaults.spark_master_ui),
    ):
        parser.add_argument(
            option,
            type=int,
            default=int(env.get(name, default)),
            help=f"default ${name} or {default}",
        )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for each service"
    )
    parser.add_argument("--json", action="store_true", help="status as JSON")
    parser.set_defaults(func=cmd_services)


def cmd_mail_sink(args) -> int:
    from mlgate.local.mailsink import serve

    serve(args.dir or mail_dir(), args.host, args.port)
    return 0


def add_mail_sink_parser(sub) -> None:
    from mlgate.local.mailsink import DEFAULT_PORT

    sink = sub.add_parser(
        "mail-sink",
        help="run the local SMTP server that keeps alert emails as files",
        description="A real SMTP server (aiosmtpd) on loopback that saves every message it "
        "receives as an .eml file. make run and the tests start and stop it themselves.",
    )
    sink.add_argument("--dir", help="where to save messages (default: state/mail)")
    sink.add_argument("--host", default=HOST)
    sink.add_argument("--port", type=int, default=DEFAULT_PORT)
    sink.set_defaults(func=cmd_mail_sink)
