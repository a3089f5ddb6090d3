"""Record rules (find_bad_records) and the day's quarantine (quarantine_day)."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlgate.config import load_config
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
    reason_counts,
)
from mlgate.paths import quarantine_partition, table_partition

DAY = date(2026, 10, 30)
START = datetime(2026, 10, 30)
END = datetime(2026, 10, 31)


@pytest.fixture
def cfg():
    return load_config()


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
    4: "amount_out_of_range",
    5: "unknown_currency",
    6: "time_outside_window",
    8: "unparsable:amount",
    9: "null:country; amount_out_of_range",
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


def twenty_thousand_rows_with_known_faults() -> tuple[pd.DataFrame, dict[int, str]]:
    """20,000 clean rows, one second apart from START, then a fault in rows i % 100 = 1..8.

    Returns the frame and the expected reasons by row position. Each fault hits 200 rows
    (positions 1, 101, ..., 19901 for the first one).
    """
    n = 20_000
    i = np.arange(n)
    frame = pd.DataFrame(
        {
            "transaction_id": i.copy(),
            "card_id": np.full(n, 1.0),
            "merchant_id": 1,
            "amount": [Decimal("25.00")] * n,
            "currency": np.full(n, "USD", dtype=object),
            "country": "US",
            "channel": "pos",
            "device_id": None,
            "created_at": pd.Timestamp(START) + pd.to_timedelta(i, "s"),
            UNPARSABLE_COLUMN: np.full(n, None, dtype=object),
        }
    )
    fault = i % 100
    expected = {}

    def hit(k: int, reason: str) -> np.ndarray:
        rows = np.flatnonzero(fault == k)
        expected.update(dict.fromkeys(rows.tolist(), reason))
        return rows

    frame.loc[hit(1, "amount_out_of_range"), "amount"] = Decimal("60000.00")
    frame.loc[hit(2, "unknown_currency"), "currency"] = "XXX"
    frame.loc[hit(3, "null:card_id"), "card_id"] = np.nan
    # the key of the row before (i % 100 = 4, which stays clean): one second later, so this
    # copy is the later one in time
    dup = hit(5, "duplicate_key")
    frame.loc[dup, "transaction_id"] = dup - 1
    frame.loc[hit(6, "time_outside_window"), "created_at"] = pd.Timestamp(START) - pd.Timedelta(
        seconds=1
    )
    unparsable = hit(7, "unparsable:amount")
    frame.loc[unparsable, "amount"] = None
    frame.loc[unparsable, UNPARSABLE_COLUMN] = "amount"
    both = hit(8, "amount_out_of_range; unknown_currency")
    frame.loc[both, ["amount", "currency"]] = [Decimal("-1.00"), "XXX"]
    return frame, expected


def test_twenty_thousand_rows_with_known_faults_are_classified_right(rules):
    # The speed of the same work is measured by `make bench-records` (docs/benchmarks.md).
    frame, expected = twenty_thousand_rows_with_known_faults()
    bad = _bad(frame, rules)
    assert len(bad) == 1400  # 7 faults x 200 rows
    assert dict(zip(bad.index, bad[REASON_COLUMN])) == expected
    assert reason_counts(bad[REASON_COLUMN]) == {
        "amount_out_of_range": 400,  # i % 100 in {1, 8}
        "duplicate_key": 200,
        "null:card_id": 200,
        "time_outside_window": 200,
        "unknown_currency": 400,  # i % 100 in {2, 8}
        "unparsable:amount": 200,
    }


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
    folder = table_partition("transactions", day.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    pq.write_table(table, folder / "part-00000.parquet")
    (folder / MANIFEST_FILE).write_text(json.dumps({"rows": len(frame)}))


def _read_quarantine(day: date = DAY) -> pd.DataFrame:
    folder = quarantine_partition("transactions", day.isoformat())
    return pq.read_table(folder / "part-00000.parquet").to_pandas()


def test_quarantine_day_writes_and_replaces(state, cfg):
    _write_lake_day(_frame())

    first = quarantine_day(cfg, DAY)
    assert (first.total_rows, first.bad_rows) == (14, len(EXPECTED))
    assert first.reasons == {
        "amount_out_of_range": 2,
        "duplicate_key": 2,
        "null:card_id": 1,
        "null:country": 1,
        "time_outside_window": 2,
        "unknown_currency": 1,
        "unparsable:amount": 1,
        "unparsable:created_at": 1,
    }
    stored = _read_quarantine()
    assert dict(zip(stored["transaction_id"], stored[REASON_COLUMN])) == EXPECTED
    assert str(stored[QUARANTINED_AT_COLUMN].dt.tz) == "UTC"
    # The lake types survive the quarantine (decimal amounts, naive timestamps).
    folder = quarantine_partition("transactions", DAY.isoformat())
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
    leftovers = [p.name for p in quarantine_partition("transactions", "x").parent.iterdir()]
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
        str(quarantine_partition("transactions", DAY.isoformat()))
    ]
    assert quarantined_keys(cfg, [other]) == []
