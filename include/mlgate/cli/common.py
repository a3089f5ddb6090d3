"""What the `mlgate` commands share: which pipeline it is about, --verbose."""

from __future__ import annotations

import argparse
import os

PIPELINE_ENV = "MLGATE_PIPELINE"


def add_pipeline_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pipeline",
        metavar="NAME",
        default=os.environ.get(PIPELINE_ENV),
        help="the pipeline (a file NAME.yaml of the pipelines folder, $MLGATE_PIPELINES or "
        "include/pipelines); default: $MLGATE_PIPELINE, or the only pipeline there is",
    )


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    """--verbose for the commands that run a DAG (run-day, score-day)."""
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="stream Airflow's and Spark's full output to the terminal instead of a log file",
    )


def pipeline_name(args) -> str:
    """The pipeline the command is about, or exit saying which ones there are."""
    from mlgate.config import pipeline_names, pipelines_dir

    if getattr(args, "pipeline", None):
        return args.pipeline
    names = pipeline_names()
    if len(names) == 1:
        return names[0]
    if not names:
        raise SystemExit(f"no pipeline in {pipelines_dir()}: add a NAME.yaml there")
    raise SystemExit(
        f"which pipeline? give --pipeline NAME (or set {PIPELINE_ENV}); there are: "
        + ", ".join(names)
    )


def load_pipeline_or_exit(args):
    """The pipeline named by --pipeline, loaded and validated, or exit with what to fix."""
    from mlgate.config import ConfigError, load_pipeline

    try:
        return load_pipeline(pipeline_name(args))
    except ConfigError as error:
        raise SystemExit(str(error)) from None
