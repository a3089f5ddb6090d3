#!/usr/bin/env python3
"""Record rules benchmark (`make bench-records`): find_bad_records and quarantine_day on a
day of the lake.

Builds a day of transactions as the lake holds it (the demo source's lake schema:
decimal128 amounts, naive timestamps, the `_unparsable` column), with faults of every kind
the record rules know in a few percent of the rows each: repeated keys, null cards, amounts
out of range, unknown currencies, times outside the day, unparsable values. Two things are
timed, several times each (the best and the median wall time are reported; the machine is
shared, so the best run is the least disturbed one):

* `find_bad_records` on the whole day as one pandas frame (`Table.to_pandas()`: the amounts
  are Python Decimal objects): the rules alone;
* `quarantine_day` on the day written as a lake partition (row groups as the extract writes
  them) in a temporary state folder: reading, the rules, the quarantine written - what the
  check_raw task does - with the peak resident memory it adds to the process (Linux).

The table goes to docs/benchmarks.md, section "Record rules" (replaced in place).

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
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench_docs import publish  # scripts/ is on sys.path when run

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "include"))

DAY_START = datetime(2026, 10, 30)


def lake_day(rows: int, seed: int = 0):
    """`rows` transactions of one day, as an Arrow table in the lake's schema."""
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
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


def time_rules(frame, repeats: int) -> tuple[list[float], int]:
    from mlgate.config import load_pipeline
    from mlgate.ingest.records import find_bad_records

    cfg = load_pipeline("fraud")
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


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> int:
    """Reset the process's peak resident memory (Linux); the resident memory now."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    return _status_bytes("VmRSS")


def time_quarantine(table, repeats: int) -> tuple[list[float], list[int]]:
    """`quarantine_day` on `table` written as a lake day: wall times, peak memory added."""
    import pyarrow.parquet as pq

    from mlgate.config import load_pipeline
    from mlgate.ingest.lake import MANIFEST_FILE, PART_FILE
    from mlgate.ingest.records import quarantine_day
    from mlgate.ingest.sqlread import CHUNK_ROWS
    from mlgate.paths import table_partition

    cfg = load_pipeline("fraud")
    walls, peaks = [], []
    previous = os.environ.get("MLGATE_STATE")
    with tempfile.TemporaryDirectory() as state:
        os.environ["MLGATE_STATE"] = state
        try:
            day = DAY_START.date().isoformat()
            folder = table_partition(cfg.name, cfg.source.events.table, day)
            folder.mkdir(parents=True)
            pq.write_table(table, folder / PART_FILE, row_group_size=CHUNK_ROWS)
            (folder / MANIFEST_FILE).write_text(f'{{"rows": {table.num_rows}}}')
            for _ in range(repeats):
                before = _reset_peak()
                began = time.perf_counter()
                quarantine_day(cfg, DAY_START.date())
                walls.append(time.perf_counter() - began)
                peaks.append(_status_bytes("VmHWM") - before)
        finally:
            os.environ.pop("MLGATE_STATE", None)
            if previous is not None:
                os.environ["MLGATE_STATE"] = previous
    return walls, peaks


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
        f"{info['repeats']} runs per size. *rules*: `find_bad_records` on the whole day as "
        "one frame (not reading the partition); *quarantine_day*: the day read from the lake "
        "in batches, judged and its quarantine written, as check_raw does it, and the most "
        "resident memory one run added to the process (the day as an Arrow table is about "
        "80 bytes a row).",
        "",
        "| rows | bad rows | rules: best (s) | median (s) | rows/s (best) "
        "| quarantine_day: best (s) | median (s) | peak memory added (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['bad']:,} | {r['best']:.3f} | {r['median']:.3f} "
            f"| {r['rows'] / r['best']:,.0f} | {r['q_best']:.3f} | {r['q_median']:.3f} "
            f"| {r['q_peak'] / 2**20:.0f} |"
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
        table = lake_day(rows)
        walls, bad = time_rules(table.to_pandas(), args.repeats)
        q_walls, q_peaks = time_quarantine(table, args.repeats)
        results.append(
            {
                "rows": rows,
                "bad": bad,
                "best": min(walls),
                "median": statistics.median(walls),
                "q_best": min(q_walls),
                "q_median": statistics.median(q_walls),
                "q_peak": max(q_peaks),
            }
        )
        print(
            f"{rows} rows: rules best {min(walls):.3f} s, median {statistics.median(walls):.3f} s; "
            f"quarantine_day best {min(q_walls):.3f} s, median {statistics.median(q_walls):.3f} s, "
            f"peak memory added {max(q_peaks) / 2**20:.0f} MiB"
        )
    section = render(results, info)
    publish(section, "Record rules", args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
