"""The extract from a SQLite source whose values do not always fit their declared types."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from mlgate.config import load_pipeline, parse_pipeline
from mlgate.demo import schema as source_schema
from mlgate.ingest.extract import (
    extract_events_day,
    extract_for_run,
    extract_snapshot,
    undated_rows,
)
from mlgate.ingest.lake import (
    MANIFEST_FILE,
    READ_BATCH_ROWS,
    UNPARSABLE_COLUMN,
    ExtractError,
    arrow_schema,
    convert_rows,
    measure_files,
    partition_rows,
)
from mlgate.paths import table_partition
from support.transactions import transaction_row

DAY = date(2026, 10, 30)

_INSERT = (
    "INSERT INTO transactions (transaction_id, card_id, merchant_id, amount, currency, "
    "country, channel, device_id, created_at) VALUES "
    "(:id, 1, 2, :amount, 'USD', 'US', 'pos', NULL, :created_at)"
)


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A tiny source with the real schema: good rows, and rows SQLite let through."""
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    url = f"sqlite:///{tmp_path / 'source.db'}"
    monkeypatch.setenv("MLGATE_SOURCE_URL", url)
    engine = sa.create_engine(url)
    source_schema.metadata.create_all(engine)
    good = [
        (1, Decimal("12.34"), datetime(2026, 10, 30, 1, 0, 0)),
        (2, 7, datetime(2026, 10, 30, 2, 0, 0)),  # whole amount: still two decimals
        (3, Decimal("12.3"), datetime(2026, 10, 30, 0, 0, 0)),  # first second of the day
        (7, Decimal("5.00"), datetime(2026, 10, 29, 23, 59, 59)),  # the day before
        (8, Decimal("5.00"), datetime(2026, 10, 31, 0, 0, 0)),  # the day after
    ]
    with engine.begin() as conn:
        conn.execute(
            source_schema.transactions.insert(),
            [transaction_row(key, created_at, amount) for key, amount, created_at in good],
        )
        # Raw SQL: SQLite stores whatever it is given.
        bad = [
            (4, "abc", "2026-10-30 03:00:00"),  # amount is no number
            (5, 9.99, "2026-10-30 garbage"),  # the day's date, then garbage
            (6, "abc", "2026-10-30 25:61:00"),  # both columns broken
            (9, 1.0, "garbage"),  # no date at all: belongs to no day
            (10, 1.0, "2026-13-45 10:00:00"),  # no such date: belongs to no day
        ]
        for key, amount, created_at in bad:
            conn.execute(sa.text(_INSERT), {"id": key, "amount": amount, "created_at": created_at})
    yield engine
    engine.dispose()


def _read(day: date = DAY) -> pa.Table:
    return pq.read_table(table_partition("fraud", "transactions", day.isoformat()))


def test_unparsable_values_do_not_stop_the_import(source):
    cfg = load_pipeline("fraud")
    info = extract_events_day(source, cfg, DAY)

    assert info.rows == 6
    rows = {row["transaction_id"]: row for row in _read().to_pylist()}
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]
    assert {key: row[UNPARSABLE_COLUMN] for key, row in rows.items()} == {
        1: None,
        2: None,
        3: None,
        4: "amount",
        5: "created_at",
        6: "amount,created_at",
    }
    assert rows[4]["amount"] is None and rows[6]["amount"] is None
    assert rows[5]["created_at"] is None and rows[6]["created_at"] is None
    assert rows[5]["amount"] == Decimal("9.99")  # the rest of a broken row is kept
    assert rows[1]["created_at"] == datetime(2026, 10, 30, 1, 0, 0)

    # Decimals keep the column's two decimal places.
    assert rows[1]["amount"] == Decimal("12.34")
    assert rows[2]["amount"] == Decimal("7.00")
    assert rows[3]["amount"] == Decimal("12.30")
    for key in (1, 2, 3, 5):
        assert rows[key]["amount"].as_tuple().exponent == -2

    schema = _read().schema
    assert schema.field("amount").type == pa.decimal128(12, 2)
    assert schema.field("created_at").type == pa.timestamp("us")
    assert schema.names[-1] == UNPARSABLE_COLUMN
    assert schema == arrow_schema(sa.Table("transactions", sa.MetaData(), autoload_with=source))


def test_neighbouring_days_and_undated_rows(source):
    cfg = load_pipeline("fraud")
    extract_events_day(source, cfg, date(2026, 10, 29))
    extract_events_day(source, cfg, date(2026, 10, 31))
    assert _read(date(2026, 10, 29)).column("transaction_id").to_pylist() == [7]
    assert _read(date(2026, 10, 31)).column("transaction_id").to_pylist() == [8]
    # 'garbage' and '2026-13-45 ...' start with no date: no day imports them (documented
    # in mlgate.ingest.extract); extract_for_run warns about them.
    table = sa.Table("transactions", sa.MetaData(), autoload_with=source)
    assert undated_rows(source, table, "created_at") == 2


def test_rerun_replaces_the_day(source):
    cfg = load_pipeline("fraud")
    extract_events_day(source, cfg, DAY)
    again = extract_events_day(source, cfg, DAY)
    assert again.rows == 6
    assert _read().num_rows == 6
    folder = table_partition("fraud", "transactions", DAY.isoformat())
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no leftovers
    assert json.loads((folder / MANIFEST_FILE).read_text())["rows"] == 6


def test_empty_day_gives_an_empty_partition(source):
    cfg = load_pipeline("fraud")
    info = extract_events_day(source, cfg, date(2026, 10, 1))
    assert info.rows == 0
    folder = table_partition("fraud", "transactions", "2026-10-01")
    assert json.loads((folder / MANIFEST_FILE).read_text())["rows"] == 0
    table = _read(date(2026, 10, 1))
    assert table.num_rows == 0 and UNPARSABLE_COLUMN in table.column_names


def test_run_with_an_empty_own_day_does_not_raise(source, caplog):
    cfg = load_pipeline("fraud")
    with caplog.at_level(logging.WARNING, logger="mlgate.ingest.extract"):
        manifest = extract_for_run(cfg, date(2026, 11, 5), datetime(2026, 11, 6))
    assert manifest["events"][-1]["rows"] == 0
    assert manifest["event_rows"] == 8  # days 10-29, 10-30 (6 rows) and 10-31 are in the window
    assert "does not start with a date" in caplog.text
    assert "no transactions rows for 2026-11-05" in caplog.text


def test_old_partition_without_unparsable_column_counts_as_missing(source):
    folder = table_partition("fraud", "transactions", DAY.isoformat())
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"transaction_id": [1]}), folder / "part-00000.parquet")
    (folder / MANIFEST_FILE).write_text(json.dumps({"rows": 1}))
    assert partition_rows("fraud", "transactions", DAY.isoformat()) is None
    extract_events_day(source, load_pipeline("fraud"), DAY)
    assert partition_rows("fraud", "transactions", DAY.isoformat()) == 6


def test_missing_table_is_named(source):
    with pytest.raises(ExtractError, match="'refunds'"):
        extract_snapshot(source, "fraud", "refunds", DAY.isoformat(), as_of=datetime(2026, 10, 31))


def test_missing_column_is_named(source):
    data = load_pipeline("fraud").model_dump()
    data["source"]["events"]["time_column"] = "booked_at"
    with pytest.raises(ExtractError, match="'booked_at'"):
        extract_events_day(source, parse_pipeline(data, "fraud"), DAY)


def test_missing_table_in_config_is_named(source):
    data = load_pipeline("fraud").model_dump()
    data["source"]["events"]["table"] = "payments"
    with pytest.raises(ExtractError, match="'payments'"):
        extract_events_day(source, parse_pipeline(data, "fraud"), DAY)


@pytest.mark.parametrize(
    ("values", "kind", "expected", "unparsable"),
    [
        ([1, 1.5, "2", "x"], pa.int64(), [1, None, 2, None], [1, 3]),
        ([Decimal("1.234"), 2.5, "3", 1e12, "nan"], pa.decimal128(12, 2),
         [Decimal("1.23"), Decimal("2.50"), Decimal("3.00"), None, None], [3, 4]),
        (["2026-10-30 01:02:03", "2026-10-30T03:00:00+02:00", "2026-02-30 00:00:00", None],
         pa.timestamp("us"), [datetime(2026, 10, 30, 1, 2, 3), datetime(2026, 10, 30, 1), None,
                              None], [2]),
        (["a", 5, None], pa.string(), ["a", "5", None], []),
    ],
)  # fmt: skip
def test_value_by_value_conversion(values, kind, expected, unparsable):
    schema = pa.schema([pa.field("v", kind), pa.field(UNPARSABLE_COLUMN, pa.string())])
    batch = convert_rows([(value,) for value in values], schema)
    assert batch.column("v").to_pylist() == expected
    marks = batch.column(UNPARSABLE_COLUMN).to_pylist()
    assert [row for row, mark in enumerate(marks) if mark] == unparsable
    assert all(marks[row] == "v" for row in unparsable)


def test_quarantine_of_an_extracted_day(source):
    from mlgate.ingest.records import quarantine_day

    cfg = load_pipeline("fraud")
    extract_events_day(source, cfg, DAY)
    result = quarantine_day(cfg, DAY)
    assert (result.total_rows, result.bad_rows) == (6, 3)
    assert result.reasons == {"unparsable:amount": 2, "unparsable:created_at": 2}


def test_the_extract_task_refuses_a_day_that_has_not_ended_and_writes_no_partition(source):
    from datetime import UTC, timedelta

    from mlgate.paths import lake_dir
    from mlgate.stages import RunOptions, extract
    from mlgate.window import DayNotEnded, as_of

    cfg = load_pipeline("fraud")
    for day in (datetime.now(UTC).date(), datetime.now(UTC).date() + timedelta(days=3)):
        with pytest.raises(DayNotEnded, match=f"the day {day} has not ended yet"):
            extract(cfg, day, as_of(day), RunOptions())
    assert not lake_dir("fraud").exists()


def test_text_that_is_not_utf8_is_quarantined_and_the_day_goes_on(source):
    """SQLite keeps any bytes in a TEXT column; sqlite3 used to raise on them mid-read."""
    from mlgate.ingest.records import quarantine_day

    with source.begin() as conn:  # 0xff is never valid UTF-8; 0x61 is 'a'
        conn.execute(
            sa.text(
                "UPDATE transactions SET currency = CAST(x'ff61' AS TEXT) WHERE transaction_id = 2"
            )
        )
    cfg = load_pipeline("fraud")
    info = extract_events_day(source, cfg, DAY)

    assert info.rows == 6  # every row of the day landed
    rows = {row["transaction_id"]: row for row in _read().to_pylist()}
    assert rows[2][UNPARSABLE_COLUMN] == "invalid_utf8:currency"
    assert rows[2]["currency"] is None and rows[2]["amount"] == Decimal("7.00")
    assert rows[1]["currency"] == "USD"
    result = quarantine_day(cfg, DAY)
    # rows 4, 5, 6 are unparsable (see the fixture), row 2 has invalid text: 4 of 6
    assert (result.bad_rows, result.total_rows) == (4, 6)
    assert result.reasons["invalid_utf8:currency"] == 1
    assert "null:currency" not in result.reasons
    # the connection decodes text as before once the read is over
    with source.connect() as conn:
        with pytest.raises(sa.exc.OperationalError, match="Could not decode to UTF-8"):
            conn.execute(
                sa.text("SELECT currency FROM transactions WHERE transaction_id = 2")
            ).all()


def test_the_key_sum_adds_up_every_batch_of_every_row_group(tmp_path):
    rows = 2 * READ_BATCH_ROWS + 3  # several batches, and row groups that end mid-batch
    keys = pa.array(range(rows), type=pa.int64())
    pq.write_table(pa.table({"id": keys}), tmp_path / "a.parquet", row_group_size=7_000)
    pq.write_table(pa.table({"id": [10**15, None]}), tmp_path / "b.parquet")
    measure = measure_files([tmp_path / "a.parquet", tmp_path / "b.parquet"], "id")
    assert (measure.rows, measure.key_sum) == (rows + 2, rows * (rows - 1) // 2 + 10**15)
