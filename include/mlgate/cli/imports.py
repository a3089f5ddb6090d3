"""`mlgate import`: the Sqoop-style imports by hand, outside the DAG.

mlgate import --window 2026-10-30 [--splits 4]   one day of the events table, reconciled
mlgate import --incremental [NAME ...]            the source.incremental imports
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from mlgate.cli.common import add_pipeline_option, load_pipeline_or_exit


def cmd_import(args) -> int:
    from mlgate.ingest.lake import ExtractError

    cfg = load_pipeline_or_exit(args)
    try:
        if args.window:
            return _window(cfg, args)
        return _incremental(cfg, args)
    except ExtractError as error:
        print(f"mlgate import: {error}", file=sys.stderr)
        return 2


def _window(cfg, args) -> int:
    from mlgate.ingest.reconcile import import_window

    info, gate = import_window(cfg, args.window, splits=args.splits)
    payload = {**info.to_dict(), "reconciliation": gate.to_dict()}
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(f"{info.table} ds={info.ds}: {info.rows:,} rows -> {info.path}")
        print(f"reconciliation: {gate.verdict.upper()} - {gate.reason}")
    return 0 if gate.verdict == "pass" else 1


def _incremental(cfg, args) -> int:
    from mlgate.ingest.incremental import run_imports

    results = run_imports(cfg, args.incremental or None)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2, default=str))
        return 0
    for r in results:
        if r.status == "up to date":
            print(f"{r.name} ({r.mode}): up to date at {r.last_value!r}; {r.lake_rows:,} rows")
            continue
        extra = f", {r.replaced:,} older copies replaced" if r.mode == "lastmodified" else ""
        print(
            f"{r.name} ({r.mode}): {r.rows:,} rows from {r.previous!r} to {r.last_value!r}"
            f"{extra}; {r.lake_rows:,} rows in {r.path}"
        )
    return 0


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "import",
        help="Sqoop-style import: one day (--window) or the incremental tables",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pipeline_option(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--window",
        type=date.fromisoformat,
        metavar="DAY",
        help="import this day (YYYY-MM-DD) of source.events into its lake partition",
    )
    which.add_argument(
        "--incremental",
        nargs="*",
        metavar="NAME",
        help="run the incremental imports (all of source.incremental, or those named)",
    )
    parser.add_argument("--splits", type=int, help="parallel ranges (default: the config's)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=cmd_import)
