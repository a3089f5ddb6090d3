"""`mlgate generate` and `mlgate inject-fault`: the demo source database and its bad days."""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta

from mlgate.cli.common import add_pipeline_option, load_pipeline_or_exit


def cmd_generate(args) -> int:
    from mlgate.demo import demo_for
    from mlgate.demo.common import SourceExistsError

    cfg = load_pipeline_or_exit(args)
    try:
        demo = demo_for(cfg.name)
    except KeyError as error:
        print(f"mlgate generate: {error.args[0]}", file=sys.stderr)
        return 2
    url = args.url or cfg.source_url()
    if args.if_missing and _source_has_events(url, cfg.source.events.table):
        print(f"source database {url} already holds data; leaving it as it is")
        return 0
    try:
        summary = demo.demo_generate(
            url,
            days=args.days,
            end_date=args.end_date,
            events=args.events,
            seed=args.seed,
            replace=args.replace,
            progress=not args.quiet,
        )
    except SourceExistsError as error:
        print(f"mlgate generate: {error}", file=sys.stderr)
        return 2
    rows = ", ".join(f"{table} {count:,}" for table, count in summary["rows"].items())
    print(f"wrote {rows} to {summary['url']}")
    print(demo.demo_summary(summary))
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


def cmd_inject_fault(args) -> int:
    from mlgate.demo.faults import FaultError, inject_fault

    cfg = load_pipeline_or_exit(args)
    try:
        delay = timedelta(hours=args.label_delay) if args.label_delay is not None else None
        done = inject_fault(
            cfg,
            cfg.source_url(),
            args.date,
            args.kind,
            column=args.column,
            copy_from=args.copy_from,
            label_delay=delay,
        )
    except FaultError as error:
        print(f"mlgate inject-fault: {error}", file=sys.stderr)
        return 2
    print(
        f"wrote {done['rows']:,} rows for {done['day']} with fault {done['kind']}: {done['what']}"
    )
    return 0


def add_parsers(sub) -> None:
    from mlgate.demo.faults import FAULT_KINDS
    from mlgate.demo.generate import add_arguments as add_generate_arguments

    generate = sub.add_parser(
        "generate",
        help="write a shipped pipeline's demo source database",
        description="Write the seeded demo source database of a shipped pipeline through "
        "SQLAlchemy (fraud: customers, cards, merchants, transactions, late chargebacks; shop: "
        "products, visitors with their history, page events, orders).",
    )
    add_pipeline_option(generate)
    add_generate_arguments(generate)
    generate.add_argument(
        "--if-missing", action="store_true", help="do nothing when the database already has data"
    )
    generate.set_defaults(func=cmd_generate)

    fault = sub.add_parser(
        "inject-fault",
        help="write a broken day into the demo source database",
        description="Copy the events of the same weekday a week earlier (or of --copy-from) "
        "to --date and break "
        "them as real feeds break, to see which gate stops the run. Kinds:\n"
        + "\n".join(
            f"  {kind:20s} {what.format(column='<column>')}" for kind, what in FAULT_KINDS.items()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_pipeline_option(fault)
    fault.add_argument("--date", required=True, type=date.fromisoformat, help="the day to write")
    fault.add_argument("--kind", required=True, choices=sorted(FAULT_KINDS), help="what breaks")
    fault.add_argument(
        "--column", help="the column to break (default: picked from the pipeline's records:)"
    )
    fault.add_argument(
        "--copy-from",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the day whose events (and labels) are copied (default: the same weekday a week "
        "before --date; pick an older day when the copy needs all of its labels)",
    )
    fault.add_argument(
        "--label-delay",
        type=float,
        metavar="HOURS",
        help="the copied labels become known this many hours after their event (a fast label "
        "feed; default: as late as the copied day's)",
    )
    fault.set_defaults(func=cmd_inject_fault)
