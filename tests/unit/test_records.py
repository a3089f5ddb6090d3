"""Record rules (find_bad_records) and the day's quarantine (quarantine_day)."""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlgate.config import ColumnRule, RecordRules, load_pipeline
from mlgate.demo import schema as source_schema
from mlgate.ingest.lake import MANIFEST_FILE, UNPARSABLE_COLUMN, arrow_schema
from mlgate.ingest.records import (
    QUARANTINED_AT_COLUMN,
    REASON_COLUMN,
    SUMMARY_FILE,
    QuarantineResult,
    find_bad_records,
    quarantine_day,
    quarantined_keys,
)
from mlgate.paths import quarantine_partition, table_partition

DAY = date(2026, 10, 30)
START = datetime(2026, 10, 30)
END = datetime(2026, 10, 31)


@pytest.fixture
def cfg():
    return load_pipeline("fraud")


@pytest.fixture
def rules(cfg):
    return cfg.records


def _row(transaction_id, created_at, **changes):
    row = {
        "transaction_id": transaction_id,
        "card_id": 100 + transaction_id,
        "merchant_id": 7,
        "amount": Decimal("25.00"),
        "currency": "USD",
        "country": "US",
        "channel": "pos",
        "device_id": None,  # not a required column: null is fine
        "created_at": pd.Timestamp(created_at),
        UNPARSABLE_COLUMN: None,
    }
    row.update(changes)
    return row


# Expected reasons per key of the bad rows, worked out by hand. Keys 2 and 10 appear
# twice each: only the later copy in time is bad; keys 1 and 13 are clean.
EXPECTED = {
    2: "duplicate_key",  # the 13:00 copy; the 12:00 one is first
    3: "null:card_id",
    4: "out_of_range:amount",
    5: "not_allowed:currency",
    6: "time_outside_window",
    8: "unparsable:amount",
    9: "null:country; out_of_range:amount",
    10: "duplicate_key",  # the 15:00 copy; the 09:00 copy of key 10 is the first in time
    11: "time_outside_window",
    12: "unparsable:created_at",
}


def _frame() -> pd.DataFrame:
    rows = [
        _row(1, "2026-10-30 00:00:00", amount=Decimal("0.01")),  # window start, lowest amount
        _row(2, "2026-10-30 12:00:00", amount=Decimal("50000.00")),  # highest amount
        _row(3, "2026-10-30 01:00:00", card_id=None),
        _row(4, "2026-10-30 02:00:00", amount=Decimal("50000.01")),
        _row(5, "2026-10-30 03:00:00", currency="XXX"),
        _row(6, "2026-10-31 00:00:00"),  # exactly the window end: outside
        _row(2, "2026-10-30 13:00:00"),  # a later copy of key 2
        _row(8, "2026-10-30 04:00:00", amount=None, **{UNPARSABLE_COLUMN: "amount"}),
        _row(9, "2026-10-30 05:00:00", country=None, amount=Decimal("0.00")),
        _row(10, "2026-10-30 15:00:00"),
        _row(10, "2026-10-30 09:00:00"),  # earlier in time than the row above
        _row(11, "2026-10-29 23:59:59"),
        _row(12, None, **{UNPARSABLE_COLUMN: "created_at"}),
        _row(13, "2026-10-30 23:59:59", device_id="abc"),
    ]
    frame = pd.DataFrame(rows)
    frame["created_at"] = frame["created_at"].astype("datetime64[us]")
    return frame


def _bad(frame, rules):
    return find_bad_records(
        frame,
        rules,
        key="transaction_id",
        time_column="created_at",
        window_start=START,
        window_end=END,
    )


def test_each_bad_row_has_exactly_its_reasons(rules):
    frame = _frame()
    bad = _bad(frame, rules)

    got = dict(zip(bad["transaction_id"], bad[REASON_COLUMN]))
    assert got == EXPECTED
    # All original columns are kept, plus the reason.
    assert list(bad.columns) == [*frame.columns, REASON_COLUMN]


def test_duplicates_keep_the_first_in_time_order(rules):
    frame = _frame()
    bad = _bad(frame, rules)
    duplicates = bad[bad[REASON_COLUMN].str.contains("duplicate_key")]
    # Key 2: the 12:00 row (first) stays, the 13:00 copy is bad.
    # Key 10: the 15:00 row comes first in the frame but second in time: it is the bad one.
    assert sorted(duplicates.index) == [6, 9]
    assert frame.loc[6, "created_at"] == pd.Timestamp("2026-10-30 13:00:00")
    assert frame.loc[9, "created_at"] == pd.Timestamp("2026-10-30 15:00:00")


def test_unparsable_is_not_also_null(rules):
    frame = _frame()
    bad = _bad(frame, rules).set_index("transaction_id")
    assert bad.loc[8, REASON_COLUMN] == "unparsable:amount"  # amount is null, but unparsable
    assert bad.loc[12, REASON_COLUMN] == "unparsable:created_at"
    # The same null without the _unparsable mark is a plain null.
    frame.loc[frame["transaction_id"] == 8, UNPARSABLE_COLUMN] = None
    assert _bad(frame, rules).set_index("transaction_id").loc[8, REASON_COLUMN] == "null:amount"


def test_window_bounds(rules):
    frame = _frame()
    bad_keys = set(_bad(frame, rules)["transaction_id"])
    assert 1 not in bad_keys  # exactly at window_start: inside
    assert 13 not in bad_keys  # one second before window_end: inside
    assert {6, 11} <= bad_keys  # at window_end, one second before window_start: outside


def test_clean_and_empty_frames(rules):
    frame = _frame()
    clean = frame[frame["transaction_id"].isin([1, 13])]
    assert _bad(clean, rules).empty
    empty = _bad(frame.iloc[:0], rules)
    assert empty.empty and REASON_COLUMN in empty.columns


def test_missing_rule_column_is_named(rules):
    with pytest.raises(ValueError, match="currency"):
        _bad(_frame().drop(columns=["currency"]), rules)


def test_twenty_thousand_rows_take_milliseconds(rules):
    n = 20_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "transaction_id": rng.integers(0, n, size=n),  # many duplicate keys
            "card_id": np.where(rng.random(n) < 0.01, np.nan, 1.0),
            "merchant_id": 1,
            "amount": [Decimal(f"{x:.2f}") for x in rng.uniform(-10, 60_000, size=n)],
            "currency": rng.choice(["USD", "EUR", "XXX"], size=n),
            "country": "US",
            "channel": "pos",
            "device_id": None,
            "created_at": pd.Timestamp(START) + pd.to_timedelta(rng.integers(-600, 90_000, n), "s"),
            UNPARSABLE_COLUMN: rng.choice([None, "amount", "amount,created_at"], size=n),
        }
    )
    began = time.perf_counter()
    bad = _bad(frame, rules)
    elapsed = time.perf_counter() - began
    assert 0 < len(bad) < n
    assert elapsed < 1.0, f"{elapsed:.2f}s for {n} rows"


def test_ratio_is_none_on_an_empty_day():
    assert QuarantineResult("2026-10-30", 0, 0, {}, "x").ratio is None
    result = QuarantineResult("2026-10-30", 200, 3, {"duplicate_key": 3}, "x")
    assert result.ratio == pytest.approx(0.015)
    assert result.to_dict()["ratio"] == pytest.approx(0.015)


# --- quarantine_day ------------------------------------------------------------------


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


def _write_lake_day(frame: pd.DataFrame, day: date = DAY) -> None:
    """A lake partition as the extract writes it (same schema, manifest)."""
    schema = arrow_schema(source_schema.transactions)
    folder = table_partition("fraud", "transactions", day.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, folder / "part-00000.parquet")
    (folder / MANIFEST_FILE).write_text(json.dumps({"rows": len(frame)}))


def _read_quarantine(day: date = DAY) -> pd.DataFrame:
    folder = quarantine_partition("fraud", "transactions", day.isoformat())
    return pq.read_table(folder / "part-00000.parquet").to_pandas()


def test_quarantine_day_writes_and_replaces(state, cfg):
    _write_lake_day(_frame())

    first = quarantine_day(cfg, DAY)
    assert (first.total_rows, first.bad_rows) == (14, len(EXPECTED))
    assert first.reasons == {
        "out_of_range:amount": 2,
        "duplicate_key": 2,
        "null:card_id": 1,
        "null:country": 1,
        "time_outside_window": 2,
        "not_allowed:currency": 1,
        "unparsable:amount": 1,
        "unparsable:created_at": 1,
    }
    stored = _read_quarantine()
    assert dict(zip(stored["transaction_id"], stored[REASON_COLUMN])) == EXPECTED
    assert str(stored[QUARANTINED_AT_COLUMN].dt.tz) == "UTC"
    # The lake types survive the quarantine (decimal amounts, naive timestamps).
    folder = quarantine_partition("fraud", "transactions", DAY.isoformat())
    schema = pq.read_schema(folder / "part-00000.parquet")
    assert schema.field("amount").type == pa.decimal128(12, 2)
    assert schema.field("created_at").type == pa.timestamp("us")
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    assert (summary["total_rows"], summary["bad_rows"]) == (14, len(EXPECTED))
    assert summary["reasons"] == first.reasons

    # A rerun replaces (same contents), it does not append.
    second = quarantine_day(cfg, DAY)
    assert second.to_dict() == first.to_dict()
    again = _read_quarantine()
    pd.testing.assert_frame_equal(
        again.drop(columns=[QUARANTINED_AT_COLUMN]), stored.drop(columns=[QUARANTINED_AT_COLUMN])
    )
    leftovers = [
        p.name for p in quarantine_partition("fraud", "transactions", "x").parent.iterdir()
    ]
    assert leftovers == ["ds=2026-10-30"]  # no temporary or old folders left behind

    # After the source is fixed and the day extracted again, the old quarantine is cleared.
    frame = _frame()
    _write_lake_day(frame[frame["transaction_id"].isin([1, 13])])
    fixed = quarantine_day(cfg, DAY)
    assert (fixed.total_rows, fixed.bad_rows, fixed.reasons, fixed.ratio) == (2, 0, {}, 0.0)
    cleared = _read_quarantine()
    assert len(cleared) == 0 and REASON_COLUMN in cleared.columns


def test_quarantine_of_an_empty_day(state, cfg):
    _write_lake_day(_frame().iloc[:0])
    result = quarantine_day(cfg, DAY)
    assert (result.total_rows, result.bad_rows, result.ratio) == (0, 0, None)
    assert len(_read_quarantine()) == 0


def test_quarantine_without_extract_says_so(state, cfg):
    with pytest.raises(FileNotFoundError, match="run the extract"):
        quarantine_day(cfg, DAY)


def test_quarantined_keys_lists_existing_partitions(state, cfg):
    _write_lake_day(_frame())
    quarantine_day(cfg, DAY)
    other = date(2026, 10, 29)
    assert quarantined_keys(cfg, [other, DAY]) == [
        str(quarantine_partition("fraud", "transactions", DAY.isoformat()))
    ]
    assert quarantined_keys(cfg, [other]) == []


def test_rules_on_any_column_name_the_rule_and_the_column():
    rules = RecordRules(
        required=["id"],
        rules=[
            ColumnRule(column="score", range=[0, 1]),
            ColumnRule(column="status", allowed=["paid", "shipped"]),
            ColumnRule(column="email", regex=r"[^@ ]+@[^@ ]+"),
        ],
        unique_key=False,
    )
    frame = pd.DataFrame(
        {
            "id": ["r1", "r2", "r3", "r4", "r5", "r5"],
            "score": [0.5, 1.0, 1.5, None, "high", 0.0],  # 1.0 is in (bounds included)
            "status": ["paid", "lost", None, "paid", "paid", "shipped"],
            "email": ["a@b.c", "a@b.c", "a@b.c", "no at sign", None, "x@y"],
            "at": pd.to_datetime(["2026-10-30 10:00"] * 6),
        }
    )
    bad = find_bad_records(
        frame, rules, key="id", time_column="at", window_start=START, window_end=END
    )
    assert dict(zip(bad["id"], bad["reason"])) == {
        "r2": "not_allowed:status",
        "r3": "out_of_range:score",  # a null status breaks nothing: only `required` nulls do
        "r4": "no_match:email",
        "r5": "out_of_range:score",  # not a number; the duplicate r5 is allowed (unique_key off)
    }
