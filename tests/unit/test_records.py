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
from mlgate.ingest.lake import INVALID_UTF8_MARK, MANIFEST_FILE, UNPARSABLE_COLUMN, arrow_schema
from mlgate.ingest.records import (
    QUARANTINED_AT_COLUMN,
    REASON_COLUMN,
    SUMMARY_FILE,
    QuarantineResult,
    find_bad_records,
    quarantine_day,
    quarantined_keys,
    reason_counts,
    row_reasons,
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
        "card_id": 100 + (transaction_id or 0),
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

    frame.loc[hit(1, "out_of_range:amount"), "amount"] = Decimal("60000.00")
    frame.loc[hit(2, "not_allowed:currency"), "currency"] = "XXX"
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
    both = hit(8, "out_of_range:amount; not_allowed:currency")
    frame.loc[both, ["amount", "currency"]] = [Decimal("-1.00"), "XXX"]
    return frame, expected


def test_twenty_thousand_rows_with_known_faults_are_classified_right(rules):
    # The speed of the same work is measured by `make bench-records` (docs/benchmarks.md).
    frame, expected = twenty_thousand_rows_with_known_faults()
    bad = _bad(frame, rules)
    assert len(bad) == 1400  # 7 faults x 200 rows
    assert dict(zip(bad.index, bad[REASON_COLUMN])) == expected
    assert reason_counts(bad[REASON_COLUMN]) == {
        "duplicate_key": 200,
        "not_allowed:currency": 400,  # i % 100 in {2, 8}
        "null:card_id": 200,
        "out_of_range:amount": 400,  # i % 100 in {1, 8}
        "time_outside_window": 200,
        "unparsable:amount": 200,
    }


def test_ratio_is_none_on_an_empty_day():
    assert QuarantineResult("2026-10-30", 0, 0, {}, "x").ratio is None
    result = QuarantineResult("2026-10-30", 200, 3, {"duplicate_key": 3}, "x")
    assert result.ratio == pytest.approx(0.015)
    assert result.to_dict()["ratio"] == pytest.approx(0.015)


def _reasons(frame, rules, **window) -> dict:
    """Row position -> reasons, for the bad rows of `frame`."""
    bad = find_bad_records(
        frame.reset_index(drop=True),
        rules,
        key="transaction_id",
        time_column="created_at",
        window_start=window.get("start", START),
        window_end=window.get("end", END),
    )
    return dict(zip(bad.index, bad[REASON_COLUMN]))


def test_null_keys_are_never_duplicates(rules):
    # two rows without a key: each is a null key, neither is a copy of the other
    frame = pd.DataFrame(
        [
            _row(None, "2026-10-30 01:00:00"),
            _row(None, "2026-10-30 02:00:00"),
            _row(1, START),
        ]
    )
    assert _reasons(frame, rules) == {0: "null:transaction_id", 1: "null:transaction_id"}


def test_copies_at_the_same_time_keep_the_first_in_row_order(rules):
    # 40 rows at one moment, keys 0..19 then 0..19 again: the second twenty are the copies
    # (a sort that is not stable would pick among equal times at random)
    frame = pd.DataFrame([_row(i % 20, "2026-10-30 12:00:00") for i in range(40)])
    assert _reasons(frame, rules) == dict.fromkeys(range(20, 40), "duplicate_key")


def test_a_copy_without_a_time_comes_after_the_timed_one(rules):
    # the row without a time (unparsable) comes first in the frame but last in time order
    frame = pd.DataFrame(
        [
            _row(20, None, **{UNPARSABLE_COLUMN: "created_at"}),
            _row(20, "2026-10-30 10:00:00"),
        ]
    )
    frame["created_at"] = frame["created_at"].astype("datetime64[us]")
    assert _reasons(frame, rules) == {0: "duplicate_key; unparsable:created_at"}


def test_unparsable_columns_are_named_in_column_order_then_by_name(rules):
    # transaction_id is the first column, amount the fourth; legacy_code and x are not
    # columns of the frame: they come last, by name. An empty mark names nothing; a
    # one-letter name is a name. Spaces around names are dropped.
    frame = pd.DataFrame(
        [
            _row(
                None,
                "2026-10-30 01:00:00",
                amount=None,
                **{UNPARSABLE_COLUMN: "x, legacy_code,amount,transaction_id"},
            ),
            _row(2, "2026-10-30 02:00:00", **{UNPARSABLE_COLUMN: ""}),
            _row(3, "2026-10-30 03:00:00", **{UNPARSABLE_COLUMN: "x"}),
        ]
    )
    assert _reasons(frame, rules) == {
        0: "unparsable:transaction_id; unparsable:amount; unparsable:legacy_code; unparsable:x",
        2: "unparsable:x",
    }


def test_amounts_that_pandas_cannot_cast_directly_are_still_checked(rules):
    # an object column holding pd.NA makes astype(float) raise; the rules fall back to
    # to_numeric: the NA is a null amount, 60000 is out of range, 25 is fine
    frame = pd.DataFrame(
        [
            _row(1, "2026-10-30 01:00:00", amount=pd.NA),
            _row(2, "2026-10-30 02:00:00", amount=Decimal("60000.00")),
            _row(3, "2026-10-30 03:00:00"),
        ]
    )
    frame["amount"] = frame["amount"].astype(object)
    assert _reasons(frame, rules) == {0: "null:amount", 1: "out_of_range:amount"}


def test_times_given_as_iso_text_are_parsed_in_any_iso_form(rules):
    # 'T' or a space between date and time; text that is not a time is no time at all
    frame = pd.DataFrame([_row(1, START), _row(2, START), _row(3, START)])
    frame["created_at"] = ["2026-10-30T01:00:00", "2026-10-31 02:00:00", "not a time"]
    assert _reasons(frame, rules) == {1: "time_outside_window"}


def test_zoned_times_are_compared_with_naive_bounds_as_utc(rules):
    # naive window bounds are UTC: 00:00+00:00 is the first instant of the day, the
    # next midnight is outside
    frame = pd.DataFrame([_row(1, START), _row(2, START)])
    frame["created_at"] = pd.to_datetime(
        ["2026-10-30 00:00:00+00:00", "2026-10-31 00:00:00+00:00"], utc=True
    )
    assert _reasons(frame, rules) == {1: "time_outside_window"}


def test_naive_times_are_compared_with_zoned_bounds_in_utc(rules):
    # the day in UTC+2 starts at 22:00 UTC the evening before; naive times are UTC
    from datetime import timedelta, timezone

    plus2 = timezone(timedelta(hours=2))
    frame = pd.DataFrame(
        [
            _row(1, "2026-10-29 21:59:59"),
            _row(2, "2026-10-29 22:00:00"),
            _row(3, "2026-10-30 21:59:59"),
            _row(4, "2026-10-30 22:00:00"),
        ]
    )
    frame["created_at"] = frame["created_at"].astype("datetime64[us]")
    window = {
        "start": datetime(2026, 10, 30, tzinfo=plus2),
        "end": datetime(2026, 10, 31, tzinfo=plus2),
    }
    assert _reasons(frame, rules, **window) == {0: "time_outside_window", 3: "time_outside_window"}


def test_missing_rule_columns_are_all_named_once(rules):
    frame = _frame().drop(columns=["currency", "card_id"])
    with pytest.raises(ValueError) as error:
        _bad(frame, rules)
    assert str(error.value) == (
        "columns ['card_id', 'currency'] used by the record rules are not in the extract "
        f"(columns: {list(frame.columns)}); check records: and source.events in the pipeline file"
    )


def test_reason_counts_of_no_bad_rows_is_empty():
    assert reason_counts(pd.Series([], dtype=object)) == {}
    assert reason_counts(pd.Series(["a; b", "b"])) == {"a": 1, "b": 2}


def test_quarantine_result_as_a_dict():
    result = QuarantineResult("2026-10-30", 200, 3, {"duplicate_key": 3}, "/q/ds=2026-10-30")
    assert result.to_dict() == {
        "ds": "2026-10-30",
        "total_rows": 200,
        "bad_rows": 3,
        "ratio": 0.015,
        "reasons": {"duplicate_key": 3},
        "path": "/q/ds=2026-10-30",
    }


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


def test_quarantine_day_takes_the_day_as_text_and_writes_a_summary(state, cfg):
    frame = _frame()
    _write_lake_day(frame[frame["transaction_id"].isin([1, 3, 13])])
    result = quarantine_day(cfg, "2026-10-30")
    folder = quarantine_partition("fraud", "transactions", DAY.isoformat())
    assert result.to_dict() == {
        "ds": "2026-10-30",
        "total_rows": 3,
        "bad_rows": 1,
        "ratio": pytest.approx(1 / 3),
        "reasons": {"null:card_id": 1},
        "path": str(folder),
    }
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    quarantined_at = summary.pop("quarantined_at")
    assert summary == {
        **result.to_dict(),
        "ratio": pytest.approx(1 / 3),
        "table": "transactions",
        "window": ["2026-10-30 00:00:00", "2026-10-31 00:00:00"],
    }
    stored = _read_quarantine()
    assert stored[QUARANTINED_AT_COLUMN].iloc[0] == pd.Timestamp(quarantined_at)


def test_quarantine_time_is_utc_whatever_the_machine_zone(state, cfg, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # UTC+9, no daylight saving
    time.tzset()
    try:
        _write_lake_day(_frame())
        before = pd.Timestamp.now(tz="UTC")
        quarantine_day(cfg, DAY)
        after = pd.Timestamp.now(tz="UTC")
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    stamps = _read_quarantine()[QUARANTINED_AT_COLUMN]
    assert stamps.notna().all()
    assert (stamps >= before.floor("s") - pd.Timedelta(seconds=1)).all()
    assert (stamps <= after + pd.Timedelta(seconds=1)).all()


def test_a_failed_quarantine_write_leaves_the_old_one_and_no_temporary_folder(
    state, cfg, monkeypatch
):
    import mlgate.ingest.records as records

    _write_lake_day(_frame())
    quarantine_day(cfg, DAY)
    before = _read_quarantine()

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(records, "swap_into_place", broken)
    with pytest.raises(OSError, match="disk full"):
        quarantine_day(cfg, DAY)
    folder = quarantine_partition("fraud", "transactions", DAY.isoformat())
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    pd.testing.assert_frame_equal(_read_quarantine(), before)


def test_quarantine_refuses_a_table_with_the_columns_it_adds(state, cfg):
    _write_lake_day(_frame())
    folder = table_partition("fraud", "transactions", DAY.isoformat())
    table = pq.read_table(folder / "part-00000.parquet")
    table = table.append_column(REASON_COLUMN, pa.array(["x"] * table.num_rows))
    pq.write_table(table, folder / "part-00000.parquet")
    with pytest.raises(ValueError) as error:
        quarantine_day(cfg, DAY)
    assert str(error.value) == (
        "the events table has columns ['reason'], which the quarantine adds"
    )


def test_quarantine_without_record_rules_says_so(state, cfg):
    without_rules = cfg.model_copy(update={"records": None})
    with pytest.raises(ValueError) as error:
        quarantine_day(without_rules, DAY)
    assert str(error.value) == (
        "the pipeline has no records: section, so there are no record rules to apply"
    )


def test_invalid_utf8_marks_give_their_own_reason_and_no_null(rules):
    # currency is required: its null from invalid text is not also null:currency; a mark
    # sorts by its column (amount is before country), a plain name stays unparsable:<name>.
    frame = pd.DataFrame(
        [
            _row(
                1,
                "2026-10-30 01:00:00",
                currency=None,
                **{UNPARSABLE_COLUMN: "invalid_utf8:currency"},
            ),
            _row(
                2,
                "2026-10-30 02:00:00",
                country=None,
                amount=None,
                **{UNPARSABLE_COLUMN: "country,invalid_utf8:amount"},
            ),
            _row(3, "2026-10-30 03:00:00", currency=None),
            _row(
                4,
                "2026-10-30 04:00:00",
                device_id=None,
                **{UNPARSABLE_COLUMN: "invalid_utf8:device_id"},
            ),
        ]
    )
    assert _reasons(frame, rules) == {
        0: "invalid_utf8:currency",
        1: "invalid_utf8:amount; unparsable:country",
        2: "null:currency",
        3: "invalid_utf8:device_id",
    }


# --- the day streamed in batches ----------------------------------------------------


def _faulty_day(rows: int = 300, seed: int = 7) -> pd.DataFrame:
    """A day whose faults of every kind land on both sides of small batch boundaries:
    keys repeated far apart (some at the same time, some without a time), null keys,
    null cards, unparsable and invalid_utf8 marks, times outside the day."""
    rng = np.random.default_rng(seed)
    marks = [None, "amount", "created_at", "invalid_utf8:currency", "country,invalid_utf8:amount"]
    frame = []
    for _ in range(rows):
        key = int(rng.integers(0, rows // 3)) if rng.random() < 0.97 else None
        at = pd.Timestamp(START) + pd.Timedelta(minutes=int(rng.integers(-60, 25 * 60)))
        mark = marks[int(rng.integers(0, len(marks)))] if rng.random() < 0.1 else None
        changes = {UNPARSABLE_COLUMN: mark}
        for name in (mark or "").replace(INVALID_UTF8_MARK, "").split(","):
            if name:
                changes[name] = None
        if rng.random() < 0.03:
            changes["card_id"] = None
        if rng.random() < 0.05:
            changes["currency"] = "XXX"
        row = _row(key, at if rng.random() < 0.95 else None)
        frame.append({**row, **changes})
    frame[10]["created_at"] = frame[11]["created_at"]  # same key, same time, next batch
    frame[11]["transaction_id"] = frame[10]["transaction_id"]
    out = pd.DataFrame(frame)
    out["created_at"] = out["created_at"].astype("datetime64[us]")
    return out


def _one_frame_quarantine(rules) -> tuple[pa.Table, dict]:
    """The quarantine as the whole day in one pandas frame gives it (the rules' definition)."""
    table = pq.read_table(table_partition("fraud", "transactions", DAY.isoformat()))
    bad = _bad(table.to_pandas(), rules)
    rows = table.take(pa.array(bad.index.to_numpy(), type=pa.int64()))
    rows = rows.append_column(REASON_COLUMN, pa.array(bad[REASON_COLUMN].tolist(), pa.string()))
    return rows, reason_counts(bad[REASON_COLUMN])


@pytest.mark.parametrize(("batch_rows", "key_pass_rows"), [(7, 20), (64, 1000), (1000, 45)])
def test_quarantine_in_batches_equals_the_one_frame_result(state, cfg, batch_rows, key_pass_rows):
    # Regexes on integer columns: one with a few nulls is float in the whole day's frame
    # ("101.0"), so must it be in every batch, even one without a null ("101" would not
    # match); one without nulls stays an integer ("7", not "7.0").
    extra = [
        ColumnRule(column="card_id", regex=r"\d+\.0"),
        ColumnRule(column="merchant_id", regex=r"\d+"),
    ]
    rules = cfg.records.model_copy(update={"rules": [*cfg.records.rules, *extra]})
    cfg = cfg.model_copy(update={"records": rules})
    day = _faulty_day()
    _write_lake_day(day)
    expected, reasons = _one_frame_quarantine(rules)
    assert {"duplicate_key", "null:card_id", "time_outside_window"} <= reasons.keys()
    assert {"unparsable:amount", "invalid_utf8:currency", "invalid_utf8:amount"} <= reasons.keys()

    result = quarantine_day(cfg, DAY, batch_rows=batch_rows, key_pass_rows=key_pass_rows)

    stored = pq.read_table(
        quarantine_partition("fraud", "transactions", DAY.isoformat()) / "part-00000.parquet"
    )
    assert stored.drop_columns([QUARANTINED_AT_COLUMN]).equals(expected)
    assert stored.schema.field(QUARANTINED_AT_COLUMN).type == pa.timestamp("us", tz="UTC")
    assert (result.total_rows, result.bad_rows, result.reasons) == (
        len(day),
        len(expected),
        reasons,
    )
    assert list(result.reasons) == sorted(reasons)


def test_the_duplicate_pass_splits_the_day_into_bounded_groups_next_to_the_lake(
    state, cfg, monkeypatch
):
    import mlgate.ingest.records as records

    spilled = []
    spill = records._spill_by_key_hash

    def spy(*args, folder, **kwargs):
        paths = spill(*args, folder=folder, **kwargs)
        spilled.append((folder, len(paths)))
        return paths

    monkeypatch.setattr(records, "_spill_by_key_hash", spy)
    _write_lake_day(_faulty_day())  # 300 rows, 97% of them with a key

    quarantine_day(cfg, DAY, batch_rows=50, key_pass_rows=45)
    monkeypatch.setattr(records, "MAX_KEY_GROUPS", 3)  # one open file per group
    quarantine_day(cfg, DAY, batch_rows=50, key_pass_rows=45)

    quarantine = quarantine_partition("fraud", "transactions", DAY.isoformat())
    assert [count for _, count in spilled] == [7, 3]  # 300 / 45 rows, then the cap
    # the spill goes next to the quarantine being written (a disk, not a small /tmp)
    assert all(folder.parent.parent == quarantine.parent for folder, _ in spilled)
    assert not any(folder.exists() for folder, _ in spilled)


def test_quarantine_of_a_partition_without_parquet_files_says_so(state, cfg):
    folder = table_partition("fraud", "transactions", DAY.isoformat())
    folder.mkdir(parents=True)
    (folder / MANIFEST_FILE).write_text(json.dumps({"rows": 0}))
    with pytest.raises(FileNotFoundError, match="no Parquet file.*run the extract"):
        quarantine_day(cfg, DAY)


def test_quarantine_without_unique_key_keeps_repeated_keys_and_applies_the_other_rules(state, cfg):
    rules = cfg.records.model_copy(update={"unique_key": False})
    cfg = cfg.model_copy(update={"records": rules})
    day = _faulty_day()
    _write_lake_day(day)
    expected, reasons = _one_frame_quarantine(rules)
    assert "duplicate_key" not in reasons and "null:card_id" in reasons

    result = quarantine_day(cfg, DAY, batch_rows=64)

    stored = pq.read_table(
        quarantine_partition("fraud", "transactions", DAY.isoformat()) / "part-00000.parquet"
    )
    assert stored.drop_columns([QUARANTINED_AT_COLUMN]).equals(expected)
    assert (result.bad_rows, result.reasons) == (len(expected), reasons)


def test_a_day_written_as_several_files_and_row_groups_gives_the_one_frame_result(state, cfg):
    # A split extract: three files of several row groups each; duplicates, batches and key
    # groups all cross file and row-group boundaries.
    day = _faulty_day(rows=420, seed=11)
    schema = arrow_schema(source_schema.transactions)
    folder = table_partition("fraud", "transactions", DAY.isoformat())
    folder.mkdir(parents=True)
    for i, part in enumerate(np.array_split(np.arange(len(day)), 3)):
        table = pa.Table.from_pandas(day.iloc[part], schema=schema, preserve_index=False)
        pq.write_table(table, folder / f"part-{i:05d}.parquet", row_group_size=37)
    (folder / MANIFEST_FILE).write_text(json.dumps({"rows": len(day)}))
    assert pq.ParquetFile(folder / "part-00000.parquet").num_row_groups > 1
    expected, reasons = _one_frame_quarantine(cfg.records)
    assert "duplicate_key" in reasons

    result = quarantine_day(cfg, DAY, batch_rows=25, key_pass_rows=60)

    stored = pq.read_table(
        quarantine_partition("fraud", "transactions", DAY.isoformat()) / "part-00000.parquet"
    )
    assert stored.drop_columns([QUARANTINED_AT_COLUMN]).equals(expected)
    assert (result.total_rows, result.bad_rows, result.reasons) == (
        len(day),
        len(expected),
        reasons,
    )


def test_one_row_breaks_the_rules_the_whole_day_check_finds(rules):
    """row_reasons (an online event) and find_bad_records (a day) say the same of each row,
    apart from the day's own checks (window, duplicates), on random rows near every rule."""
    import random

    wider = RecordRules(
        required=rules.required,
        rules=[
            *rules.rules,
            ColumnRule(column="country", regex="[A-Z]{2}"),
            ColumnRule(column="merchant_id", allowed=[7, 8], range=[7, 7]),
        ],
        unique_key=False,
    )
    rng = random.Random(11)
    choices = {
        "card_id": [None, 1, 2],
        "merchant_id": [None, 7, 8, 9],
        "amount": [None, 0.0, 0.01, 25, 50000, 50000.01, Decimal("12.5"), "12.5", "x", -1],
        "currency": [None, "USD", "usd", "XXX", 1],
        "country": [None, "US", "USA", "u", "GB"],
        "channel": [None, "pos"],
    }
    rows = [
        _row(i, "2026-10-30 10:00:00", **{c: rng.choice(v) for c, v in choices.items()})
        for i in range(400)
    ]
    frame = pd.DataFrame(rows)
    frame["created_at"] = frame["created_at"].astype("datetime64[us]")
    found = _bad(frame, wider).set_index("transaction_id")[REASON_COLUMN].to_dict()
    one_by_one = {
        row["transaction_id"]: "; ".join(reasons)
        for row in rows
        if (reasons := row_reasons(row, wider))
    }
    assert one_by_one == found
    assert len(found) > 300 and len(set(found.values())) > 20  # the rows reach every rule
    nan_amount = row_reasons({"amount": float("nan")}, wider)
    assert "null:amount" in nan_amount and "out_of_range:amount" not in nan_amount
