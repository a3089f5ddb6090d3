#!/usr/bin/env python3
"""Record rules benchmark (`make bench-records`): find_bad_records on a day of the lake.

Builds a day of transactions as the lake holds it (the demo source's lake schema:
decimal128 amounts, naive timestamps, the `_unparsable` column), with faults of every kind
the record rules know in a few percent of the rows each: repeated keys, null cards, amounts
out of range, unknown currencies, times outside the day, unparsable values. The frame is
what `quarantine_day` hands to the rules (`Table.to_pandas()`: the amounts are Python
Decimal objects). Each size is timed several times; the best and the median wall time
of `find_bad_records` are reported (the machine is shared, so the best run is the least
disturbed one). The table goes to docs/benchmarks.md, section "Record rules" (replaced in place).

This replaces a unit test that asserted "20,000 rows in under a second": a timing is a
measurement of the machine as much as of the code, and a busy 2-core machine failed it
for no fault of the code. The unit test now checks what the rules decide on 20,000 rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench_docs import publish  # scripts/ is on sys.path when run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

DAY_START = datetime(2026, 10, 30)


def lake_day(rows: int, seed: int = 0):
    """`rows` transactions of one day, as pandas reads them from the lake partition."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mlgate.demo import schema as source_schema
    from mlgate.ingest.lake import UNPARSABLE_COLUMN, arrow_schema

    rng = np.random.default_rng(seed)

    def share(fraction: float) -> np.ndarray:
        return rng.random(rows) < fraction

    keys = np.arange(rows)
    replayed = share(0.05)  # a later copy of an earlier row's key
    keys[replayed] = rng.integers(0, rows, size=int(replayed.sum()))
    seconds = rng.integers(0, 86_400, size=rows)
    seconds[share(0.01)] = 86_400 + 60  # a minute after the day: outside the window
    cents = rng.integers(1, 500_000, size=rows)  # 0.01 .. 5,000.00
    cents[share(0.02)] = 6_000_000  # 60,000.00: above the range
    frame = pd.DataFrame(
        {
            "transaction_id": keys,
            "card_id": np.where(share(0.01), None, 1),
            "merchant_id": 1,
            "amount": [Decimal(int(c)).scaleb(-2) for c in cents],
            "currency": np.where(share(0.02), "XXX", "USD"),
            "country": "US",
            "channel": "pos",
            "device_id": None,
            "created_at": pd.Timestamp(DAY_START) + pd.to_timedelta(seconds, "s"),
            UNPARSABLE_COLUMN: np.where(share(0.01), "amount", None),
        }
    )
    schema = arrow_schema(source_schema.transactions)
    frame = frame[schema.names]
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False).to_pandas()


def time_rules(frame, repeats: int) -> tuple[list[float], int]:
    from mlgate.config import load_config
    from mlgate.ingest.records import find_bad_records

    cfg = load_config()
    walls, bad = [], 0
    for _ in range(repeats):
        began = time.perf_counter()
        out = find_bad_records(
            frame,
            cfg.records,
            key=cfg.source.events.key,
            time_column=cfg.source.events.time_column,
            window_start=DAY_START,
            window_end=DAY_START + timedelta(days=1),
        )
        walls.append(time.perf_counter() - began)
        bad = len(out)
    return walls, bad


def machine() -> dict:
    cpu = "?"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return {"nproc": os.cpu_count(), "cpu": cpu, "load": load}


def versions() -> dict:
    from importlib.metadata import version

    out = {"python": platform.python_version()}
    for name in ("pandas", "numpy", "pyarrow"):
        out[name] = version(name)
    return out


def render(results: list[dict], info: dict) -> str:
    lines = [
        "## Record rules",
        "",
        f"`make bench-records` ({info['date']}): `find_bad_records` (mlgate.ingest.records) "
        "on one day of transactions as `quarantine_day` reads it from the lake (decimal "
        "amounts as Python Decimal objects, naive timestamps, the `_unparsable` column), "
        "with faults of every kind in a few percent of the rows: 5% repeat the key of a "
        "random row (a replayed feed), 1% null cards, 2% amounts above the range, 2% "
        "unknown currencies, 1% times after the day, 1% amounts marked unparsable. "
        f"{info['repeats']} runs per size; the time covers the rules only (not reading "
        "the partition).",
        "",
        "| rows | bad rows | best wall (s) | median (s) | rows/s (best) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['bad']:,} | {r['best']:.3f} | {r['median']:.3f} "
            f"| {r['rows'] / r['best']:,.0f} |"
        )
    m, v = info["machine"], info["versions"]
    sizes = " ".join(str(r["rows"]) for r in results)
    lines += [
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), load average {m['load']} when the runs "
        "started. Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "The unit tests do not time this (a busy 2-core machine made such an assertion fail "
        "for no fault of the code); `tests/unit/test_records.py` checks what the rules "
        "decide on 20,000 rows with known faults.",
        "",
        "Reproduce: `make bench-records` (or `.venv/bin/python scripts/bench_records.py "
        f"--rows {sizes} --repeats {info['repeats']} --write docs/benchmarks.md`).",
        "",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 1_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--write", type=Path, help="the Markdown file for the table")
    args = parser.parse_args()

    info = {
        "date": time.strftime("%Y-%m-%d"),
        "repeats": args.repeats,
        "machine": machine(),
        "versions": versions(),
    }
    results = []
    for rows in args.rows:
        frame = lake_day(rows)
        walls, bad = time_rules(frame, args.repeats)
        results.append(
            {"rows": rows, "bad": bad, "best": min(walls), "median": statistics.median(walls)}
        )
        print(f"{rows} rows: best {min(walls):.3f} s, median {statistics.median(walls):.3f} s")
    section = render(results, info)
    publish(section, "Record rules", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
