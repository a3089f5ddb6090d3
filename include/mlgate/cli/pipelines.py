"""`mlgate pipelines`: which pipelines there are, whether one fits its source, the DAG files.

mlgate pipelines list              every pipeline of the folder: model, target, DAGs, errors
mlgate pipelines check NAME        load NAME and check every table and column against its source
mlgate pipelines sync              write one DAG file per pipeline (dags/pipelines/)
"""

from __future__ import annotations

import argparse
import sys


def cmd_pipelines(args) -> int:
    from mlgate.config import ConfigError, load_pipeline, pipeline_names, pipelines_dir

    if args.action == "sync":
        from mlgate.local.dagfiles import DAG_FILES_DIR, sync_dag_files

        done = sync_dag_files()
        print(
            f"DAG files in {DAG_FILES_DIR}: written {done['written'] or 'none'}, "
            f"removed {done['removed'] or 'none'}"
        )
        return 0
    if args.action == "list":
        names = pipeline_names()
        if not names:
            print(f"no pipeline in {pipelines_dir()}")
            return 1
        broken = 0
        for name in names:
            try:
                cfg = load_pipeline(name)
            except ConfigError as error:
                broken += 1
                print(f"{name:16s} BROKEN: {str(error).splitlines()[-1].strip()}")
                continue
            target = cfg.target
            what = (
                f"per event of {cfg.source.events.table}"
                if target.kind == "event"
                else f"per {target.entity.entity} every {target.entity.every}"
            )
            dags = ", ".join(cfg.dag_id(kind) for kind in ("retrain", "score", "rollback"))
            print(f"{name:16s} model {cfg.model_name}: {target.name} {what}; DAGs {dags}")
        return 2 if broken else 0
    if not args.name:
        print("mlgate pipelines check: name the pipeline", file=sys.stderr)
        return 2
    try:
        cfg = load_pipeline(args.name)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    code = source_misfit(cfg, "mlgate pipelines check")
    if code:
        return code
    numeric, categorical = cfg.features.model_inputs()
    print(
        f"pipeline {cfg.name} fits its source: {len(numeric)} numeric and {len(categorical)} "
        f"categorical model inputs: {', '.join(numeric + categorical)}"
    )
    return 0


def source_misfit(cfg, command: str) -> int:
    """0 when every table and column the pipeline names is in its source; otherwise print
    what is missing (or why the source cannot be read) and return the exit code."""
    from mlgate.config import pipeline_path
    from mlgate.ingest.lake import ExtractError
    from mlgate.ingest.source_check import check_source

    try:
        problems = check_source(cfg)
    except ExtractError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 2
    if problems:
        print(f"pipeline {cfg.name} does not fit its source:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        print(f"fix {pipeline_path(cfg.name)} or the source, then run again", file=sys.stderr)
        return 1
    return 0


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "pipelines",
        help="list the pipelines, check one against its source, write the DAG files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=["list", "check", "sync"])
    parser.add_argument("name", nargs="?", help="the pipeline to check")
    parser.set_defaults(func=cmd_pipelines)
