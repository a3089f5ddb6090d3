"""`mlgate online`: a pipeline's online feature state (the state `mlgate serve --online` uses).

mlgate online bootstrap [--as-of TIME]   build the state from the lake as of a moment
mlgate online status                     what a state holds, as of when, and its size

The logic lives in mlgate.online (bootstrap, store, state).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mlgate.cli.common import add_pipeline_option, load_pipeline_or_exit

EPILOG = """\
The state holds, per entity of the feature spec, its events of the longest lookback before
the moment (the accepted lake days without their quarantined rows: what the Spark feature
job reads, each with its key: a replay is told from it), and the dimension rows as the
newest run landed them.
`mlgate serve --online` scores raw events from it and adds each one to it.

--as-of defaults to the end of the newest accepted day of the events table (midnight UTC
after it). The state is built beside the old one and moved into place whole; a running
`mlgate serve --online` on the same file must be stopped first.

--state is a file (the embedded store: one SQLite file, no server) or a Redis URL (the
store of deployments with several service processes); $MLGATE_ONLINE_STATE gives the
default and keeps a Redis password off the command line.

examples:
  mlgate online bootstrap --pipeline fraud
  mlgate online bootstrap --pipeline fraud --as-of 2026-10-31T00:00:00
  mlgate online status --pipeline fraud
  MLGATE_ONLINE_STATE=redis://:$REDIS_PASSWORD@localhost:6379/0 mlgate online bootstrap
"""


def iso_time(text: str) -> datetime:
    """An argparse type: an ISO 8601 date or time; a zone is converted to UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-10-31 or 2026-10-31T06:00:00Z"
        ) from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def state_location(args, pipeline: str) -> str:
    from mlgate.paths import online_state_location

    return online_state_location(pipeline, args.state)


def newest_accepted_day_end(cfg) -> datetime | None:
    """Midnight after the newest accepted day of the events table (None: no such day)."""
    from mlgate.ingest.status import ACCEPTED, read_statuses

    statuses = read_statuses(cfg.name, cfg.source.events.table)
    days = [day for day, entry in statuses.items() if entry.get("status") == ACCEPTED]
    if not days:
        return None
    return datetime.fromisoformat(max(days)) + timedelta(days=1)


def cmd_bootstrap(args) -> int:
    import redis

    from mlgate.online.bootstrap import BootstrapError
    from mlgate.online.store import StoreInUse
    from mlgate.online.stores import bootstrap_into, describe

    cfg = load_pipeline_or_exit(args)
    as_of = args.as_of or newest_accepted_day_end(cfg)
    if as_of is None:
        print(
            f"mlgate online bootstrap: no accepted day of {cfg.source.events.table} in the "
            f"lake of {cfg.name}: run a day first (mlgate run-day --pipeline {cfg.name}), or "
            "give --as-of",
            file=sys.stderr,
        )
        return 2
    target = state_location(args, cfg.name)
    print(f"building the online state of {cfg.name} as of {as_of.isoformat()}: {describe(target)}")
    try:
        built = bootstrap_into(cfg, target, as_of, progress=lambda line: print(line, flush=True))
    except (BootstrapError, StoreInUse, redis.RedisError) as error:
        print(f"mlgate online bootstrap: {error}", file=sys.stderr)
        return 2
    print(f"lake days read: {', '.join(built.days) if built.days else 'none'}")
    return 0


def cmd_status(args) -> int:
    import redis

    from mlgate.online.bootstrap import AS_OF_META, SPEC_META, spec_fingerprint
    from mlgate.online.redis_store import is_redis_url
    from mlgate.online.store import StoreInUse
    from mlgate.online.stores import describe, open_store

    cfg = load_pipeline_or_exit(args)
    location = state_location(args, cfg.name)
    if not is_redis_url(location) and not Path(location).exists():
        print(f"no online state at {location}: run mlgate online bootstrap --pipeline {cfg.name}")
        return 1
    try:
        store = open_store(cfg, location)
        meta, sizes = store.meta(), store.sizes()
        size = store.memory_bytes() if is_redis_url(location) else Path(location).stat().st_size
        store.close()
    except (StoreInUse, redis.RedisError) as error:
        print(f"mlgate online status: {error}", file=sys.stderr)
        return 2
    current = meta.get(SPEC_META) == spec_fingerprint(cfg)
    per_entity = size / sizes["history"] if sizes["history"] else 0
    where = "Redis memory" if is_redis_url(location) else "file"
    print(f"online state of {cfg.name}: {describe(location)}")
    print(f"  as of            {meta.get(AS_OF_META, 'never bootstrapped')}")
    print(f"  feature spec     {'current' if current else 'OUTDATED: bootstrap again'}")
    print(f"  entities         {sizes['history']:,} with a history")
    print(f"  dimension keys   {sizes['dimension']:,}")
    print(f"  {where:<16} {size / 2**20:,.1f} MiB ({per_entity:,.0f} bytes per entity)")
    return 0 if current else 1


def add_parser(sub) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "online",
        help="the online feature state: bootstrap it from the lake, show it",
        description="A pipeline's online feature state, the one `mlgate serve --online` "
        "scores raw events from.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    commands = parser.add_subparsers(dest="online_command", required=True)
    boot = commands.add_parser(
        "bootstrap",
        help="build the state from the lake as of a moment",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EPILOG,
    )
    status = commands.add_parser("status", help="what a state holds, as of when, its size")
    for command in (boot, status):
        add_pipeline_option(command)
        command.add_argument(
            "--state",
            metavar="PATH",
            help="a file, or redis://[:password@]host:port/db (default: $MLGATE_ONLINE_STATE, "
            "else $MLGATE_STATE/pipelines/<pipeline>/online/state.db)",
        )
    boot.add_argument(
        "--as-of",
        type=iso_time,
        metavar="TIME",
        help="the moment (ISO 8601, UTC without a zone); default: the end of the newest "
        "accepted day of the events table",
    )
    boot.set_defaults(func=cmd_bootstrap)
    status.set_defaults(func=cmd_status)
    return parser
