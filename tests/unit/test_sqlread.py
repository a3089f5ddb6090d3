"""The split arithmetic of the parallel reads, and split reads on SQLite (the default)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from mlgate.demo import schema as source_schema
from mlgate.ingest.lake import UNPARSABLE_COLUMN, ExtractError, measure_files
from mlgate.ingest.sqlread import Source, read_to_folder, reflect_table, split_ranges


def test_integer_ranges_cover_every_value_once():
    # span 10 in 3: edges 1, 1 + 10 // 3 = 4, 1 + 20 // 3 = 7, and the closed top 10
    assert split_ranges(1, 10, 3) == [(1, 4, False), (4, 7, False), (7, 10, True)]
    # never more ranges than values: 5..6 has two
    assert split_ranges(5, 6, 4) == [(5, 6, False), (6, 6, True)]
    assert split_ranges(7, 7, 8) == [(7, 7, True)]
    covered = [
        v
        for lower, upper, closed in split_ranges(-3, 17, 4)
        for v in range(-3, 18)
        if lower <= v and (v <= upper if closed else v < upper)
    ]
    assert covered == list(range(-3, 18))


def test_time_and_number_ranges():
    start, end = datetime(2026, 10, 30), datetime(2026, 10, 31)
    assert split_ranges(start, end, 4) == [
        (start, datetime(2026, 10, 30, 6), False),
        (datetime(2026, 10, 30, 6), datetime(2026, 10, 30, 12), False),
        (datetime(2026, 10, 30, 12), datetime(2026, 10, 30, 18), False),
        (datetime(2026, 10, 30, 18), end, True),
    ]
    # 3 days in 2: day offsets 0 and 3 * 1 // 2 = 1
    assert split_ranges(date(2026, 1, 1), date(2026, 1, 3), 2) == [
        (date(2026, 1, 1), date(2026, 1, 2), False),
        (date(2026, 1, 2), date(2026, 1, 3), True),
    ]
    assert split_ranges(Decimal("0"), Decimal("1.5"), 3) == [
        (Decimal("0"), Decimal("0.5"), False),
        (Decimal("0.5"), Decimal("1.0"), False),
        (Decimal("1.0"), Decimal("1.5"), True),
    ]
    assert split_ranges(0.0, 1.0, 2) == [(0.0, 0.5, False), (0.5, 1.0, True)]


@pytest.fixture
def sqlite_source(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    source_schema.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            source_schema.transactions.insert(),
            [
                {"transaction_id": i, "amount": Decimal(i) / 100, "currency": "USD",
                 "created_at": datetime(2026, 10, 30, i % 24)}
                for i in range(1, 201)
            ],
        )  # fmt: skip
        conn.execute(  # SQLite stores what it is given: text in the NUMERIC column
            sa.text("UPDATE transactions SET amount = 'abc' WHERE transaction_id = 150")
        )
    yield engine
    engine.dispose()


@pytest.mark.parametrize("splits", [1, 2, 4])
def test_sqlite_split_reads_give_the_same_rows(sqlite_source, tmp_path, splits):
    source = Source(sqlite_source, reflect_table(sqlite_source, "transactions"))
    result = read_to_folder(
        source, tmp_path / "out", split_by="transaction_id", splits=splits,
        measure_key="transaction_id",
    )  # fmt: skip
    assert result.method == "rows" and len(result.files) == splits
    assert (result.rows, result.unparsable) == (200, 1)
    table = pq.read_table(tmp_path / "out").sort_by("transaction_id")
    assert table.column("transaction_id").to_pylist() == list(range(1, 201))
    marks = table.column(UNPARSABLE_COLUMN).to_pylist()
    assert [i + 1 for i, mark in enumerate(marks) if mark] == [150]
    assert table.column("amount").to_pylist()[1] == Decimal("0.02")
    # 1 + ... + 200 = 20100, in the source and in the files
    assert result.source.to_dict() == {"rows": 200, "key_sum": 20100}
    assert measure_files(
        sorted((tmp_path / "out").glob("*.parquet")), "transaction_id"
    ).to_dict() == {"rows": 200, "key_sum": 20100}


def test_sqlite_reads_are_read_only_and_refuse_a_time_split(sqlite_source, tmp_path):
    from mlgate.ingest.sqlread import source_connection

    with pytest.raises(sa.exc.OperationalError, match="readonly"):
        with source_connection(sqlite_source) as conn:
            conn.execute(sa.text("DELETE FROM transactions"))
    source = Source(sqlite_source, reflect_table(sqlite_source, "transactions"))
    with pytest.raises(ExtractError, match="SQLite keeps times as text"):
        read_to_folder(source, tmp_path, split_by="created_at", splits=2)
    with pytest.raises(ExtractError, match="must be numeric, a date or a timestamp"):
        read_to_folder(source, tmp_path, split_by="currency", splits=2)
    with sqlite_source.connect() as conn:  # the DELETE above did not happen
        assert conn.execute(sa.text("SELECT count(*) FROM transactions")).scalar() == 200


def test_incremental_append_on_sqlite(sqlite_source, tmp_path, monkeypatch):
    from mlgate.config import IncrementalImport
    from mlgate.ingest.incremental import import_incremental, target_folder

    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    spec = IncrementalImport(
        table="chargebacks", mode="append", check_column="chargeback_id", target="cb", splits=2
    )

    def add(ids):
        with sqlite_source.begin() as conn:
            conn.execute(
                source_schema.chargebacks.insert(),
                [{"chargeback_id": i, "transaction_id": i * 10, "reported_at":
                  datetime(2026, 10, 30, 12), "reason_code": "10.4"} for i in ids],
            )  # fmt: skip

    add(range(1, 6))
    first = import_incremental(sqlite_source, spec, "fraud")
    add(range(6, 9))
    second = import_incremental(sqlite_source, spec, "fraud")
    assert (first.rows, first.last_value, second.rows, second.previous) == (5, 5, 3, 5)
    assert second.source == {"rows": 3, "key_sum": 21}  # 6 + 7 + 8
    ids = pq.read_table(target_folder("fraud", "cb")).column("chargeback_id").to_pylist()
    assert sorted(ids) == list(range(1, 9))
