"""`mlgate`: the command line of the embedded default and of governance questions.

mlgate generate      write a shipped pipeline's demo source database
mlgate run-day       run the daily DAG for one day with real Airflow, Spark and MLflow
mlgate champion      which model is in production, why, trained on what, how good
mlgate history       every promotion and rollback, with its gate table
mlgate rollback      move `champion` back to the previous version, with a reason
mlgate mail-sink     the local SMTP server that keeps alert emails as files
mlgate serve         the champion's ONNX twin behind an HTTP JSON API (POST /score)
mlgate score-day     batch-score one day with the champion (the <pipeline>_score DAG)
mlgate monitor-day   watch one served day: drift, realised performance (<pipeline>_monitor)
mlgate rollout-day   promote, roll back or keep the canary in rollout (<pipeline>_rollout)
mlgate online        the online feature state: bootstrap it from the lake, show it
mlgate import        Sqoop-style import: one day (--window) or the incremental tables
mlgate services      start|stop|status the Airflow services, MLflow UI, mail sink, Spark cluster
mlgate pipelines     list the pipelines, check one against its source, write the DAG files

The top layer: each command module may import any package, ``local`` and ``demo`` included.
"""

from __future__ import annotations

import argparse
import os
import sys

from mlgate.cli import (
    demo,
    governance,
    imports,
    monitor,
    online,
    pipelines,
    run,
    serve,
    services,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlgate",
        description="Daily retraining with validation gates: demo data, DAG runs, governance.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="State lives in $MLGATE_STATE (default ./state); pipelines are the YAML files "
        "of $MLGATE_PIPELINES (default include/pipelines); --pipeline NAME picks one.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo.add_parsers(sub)
    run.add_parsers(sub)
    governance.add_parsers(sub)
    services.add_mail_sink_parser(sub)
    services.add_parser(sub)
    imports.add_parser(sub)
    serve.add_parser(sub)
    monitor.add_parser(sub)
    online.add_parser(sub)
    pipelines.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if os.environ.get("MLFLOW_TRACKING_URI", "").startswith("http"):
        from mlgate.local.services import log_in_to_local_mlflow

        log_in_to_local_mlflow(os.environ)  # the services' MLflow needs a login
    try:
        return args.func(args)
    except BrokenPipeError:  # `mlgate champion | head`: the reader has what it wanted
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
