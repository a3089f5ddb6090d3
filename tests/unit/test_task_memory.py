"""The record rules never hold a whole lake day in the check_raw task process (issue 13).

A day of a few million rows is written to the lake; check_raw's record-rule path
(`day_record_gates`: the reconciliation's key sum, the rules, the quarantine) runs on it in
a fresh process, and the peak of that process's resident memory above where it stood
before the work must stay far below the size of the day as an Arrow table. Reading the
day into one table (let alone a pandas frame) would alone exceed it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlgate.demo import schema as source_schema
from mlgate.ingest.lake import MANIFEST_FILE, PART_FILE, UNPARSABLE_COLUMN, arrow_schema
from mlgate.ingest.sqlread import CHUNK_ROWS
from mlgate.paths import table_partition

DAY = date(2026, 10, 30)
SMALL_DAY = date(2026, 10, 29)
ROWS = 3_000_000

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads the peak memory from Linux's /proc"
)

# Runs in the child: first a small day (what is loaded or set up once, whatever the size:
# imports, compiled regexes, thread pools), then the peak is reset (Linux: "5" >
# clear_refs), so what is measured is what the big day adds.
CHILD = """
import json, sys
from datetime import date
from mlgate.config import load_pipeline
from mlgate.stages.checks import day_record_gates

cfg = load_pipeline("fraud")
day_record_gates(cfg, date.fromisoformat(sys.argv[2]))

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise SystemExit(f"no {field} in /proc/self/status")

try:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
except OSError:
    pass  # no reset: the small day's peak is then the baseline (a smaller growth)
before = max(status("VmRSS"), status("VmHWM"))
results, quarantine = day_record_gates(cfg, date.fromisoformat(sys.argv[1]))
print(json.dumps({"growth": status("VmHWM") - before, "rows": quarantine["total_rows"],
                  "bad": quarantine["bad_rows"]}))
"""


def _lake_day(rows: int) -> pa.Table:
    """`rows` transactions of one day in the lake's schema, a few percent of them faulty."""
    rng = np.random.default_rng(0)
    keys = np.arange(rows)
    replayed = rng.random(rows) < 0.05
    keys[replayed] = rng.integers(0, rows, size=int(replayed.sum()))
    cards = pa.array(rng.integers(1, 10_000, size=rows), mask=rng.random(rows) < 0.01)
    start = np.datetime64(DAY.isoformat(), "us")
    seconds = rng.integers(0, 86_400 + 600, size=rows)  # some after the day
    marks = pa.DictionaryArray.from_arrays(
        pa.array(np.where(rng.random(rows) < 0.01, 0, 1)), pa.array(["amount", None])
    )
    currencies = pa.DictionaryArray.from_arrays(
        pa.array((rng.random(rows) < 0.02).astype(np.int8)), pa.array(["USD", "XXX"])
    )

    def text(value: str) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int8)), [value])

    columns = {
        "transaction_id": pa.array(keys),
        "card_id": cards,
        "merchant_id": pa.array(rng.integers(1, 500, size=rows)),
        "amount": pa.array(
            rng.integers(1, 60_000, size=rows), pa.int32()
        ),  # whole units, some too high
        "currency": currencies,
        "country": text("US"),
        "channel": text("pos"),
        "device_id": pa.nulls(rows, pa.string()),
        "created_at": pa.array(start + seconds.astype("timedelta64[s]")),
        UNPARSABLE_COLUMN: marks,
    }
    schema = arrow_schema(source_schema.transactions)
    return pa.table([columns[f.name].cast(f.type) for f in schema], schema=schema)


def test_check_raw_record_rules_stay_far_below_the_size_of_the_day(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    table = _lake_day(ROWS)
    in_memory = table.nbytes
    for day, rows in ((DAY, table), (SMALL_DAY, table.slice(0, 20_000))):
        folder = table_partition("fraud", "transactions", day.isoformat())
        folder.mkdir(parents=True)
        pq.write_table(rows, folder / PART_FILE, row_group_size=CHUNK_ROWS)  # as the extract
        (folder / MANIFEST_FILE).write_text(json.dumps({"rows": rows.num_rows}))
    del table, rows

    child = subprocess.run(
        [sys.executable, "-c", CHILD, DAY.isoformat(), SMALL_DAY.isoformat()],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-3000:]
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"day {in_memory / 2**20:.0f} MiB as Arrow, growth {measured['growth'] / 2**20:.0f} MiB")
    assert measured["rows"] == ROWS and measured["bad"] > ROWS // 20
    assert measured["growth"] < in_memory / 4, (
        f"check_raw's record rules grew the task's memory by {measured['growth'] / 2**20:.0f} "
        f"MiB on a day of {in_memory / 2**20:.0f} MiB as an Arrow table: they hold the day"
    )
