"""Sqoop-style imports against a real PostgreSQL server (tests/conftest.py starts it).

Windowed, parallel (split-by) and incremental imports, the types that must survive, the
read-only role, reconciliation, and the errors a user must be able to act on. Expected
values are written out by hand from the rows each test inserts.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from mlgate.config import load_pipeline, parse_pipeline
from mlgate.demo import schema as source_schema
from mlgate.ingest import status
from mlgate.ingest.extract import extract_events_day
from mlgate.ingest.lake import MANIFEST_FILE, UNPARSABLE_COLUMN, ExtractError
from mlgate.ingest.reconcile import import_window, reconcile_day
from mlgate.ingest.sqlread import (
    Source,
    create_source_engine,
    read_to_folder,
    reflect_table,
    source_connection,
)
from mlgate.paths import table_partition

pytestmark = pytest.mark.postgres

DAY = date(2026, 10, 30)


def _url_text(url: sa.URL) -> str:
    return url.render_as_string(hide_password=False)


@pytest.fixture
def pg(postgres_db, tmp_path, monkeypatch):
    """A database with the demo schema, MLGATE_SOURCE_URL and MLGATE_STATE pointed at it."""
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MLGATE_SOURCE_URL", _url_text(postgres_db))
    engine = sa.create_engine(postgres_db)
    source_schema.metadata.create_all(engine)
    yield engine
    engine.dispose()


def _transactions(day: date, keys: range, *, amount=Decimal("10.00")) -> list[dict]:
    start = datetime.combine(day, datetime.min.time())
    return [
        {
            "transaction_id": key,
            "card_id": key % 7 or None,  # every 7th card id is NULL
            "merchant_id": 100 + key % 3,
            "amount": amount + key,
            "currency": "USD",
            "country": "US",
            "channel": "pos",
            "device_id": None,
            "created_at": start + timedelta(minutes=key % 1440),
        }
        for key in keys
    ]


def _read(name: str, ds: str) -> pa.Table:
    return pq.read_table(table_partition("fraud", name, ds)).sort_by("transaction_id")


# --- windowed imports, splits -----------------------------------------------------------


def test_windowed_import_takes_the_day_and_replaces_it(pg):
    with pg.begin() as conn:
        conn.execute(source_schema.transactions.insert(), _transactions(DAY, range(1, 101)))
        conn.execute(
            source_schema.transactions.insert(),
            _transactions(DAY - timedelta(days=1), range(1001, 1011))
            + _transactions(DAY + timedelta(days=1), range(2001, 2006)),
        )
    info, gate = import_window(load_pipeline("fraud"), DAY, splits=2)
    assert info.rows == 100
    table = _read("transactions", DAY.isoformat())
    assert table.column("transaction_id").to_pylist() == list(range(1, 101))
    folder = table_partition("fraud", "transactions", DAY.isoformat())
    manifest = json.loads((folder / MANIFEST_FILE).read_text())
    assert manifest["files"] == ["part-00000.parquet", "part-00001.parquet"]
    assert manifest["read"]["method"] == "copy"  # the COPY fast path
    assert manifest["read"]["bounds"] == [[1, 51], [51, 100]]
    assert manifest["read"]["range_rows"] == [50, 50]
    # 1 + 2 + ... + 100 = 5050
    assert manifest["source"] == {"rows": 100, "key_sum": 5050, "key": "transaction_id"}
    assert gate.verdict == "pass" and "100 rows" in gate.reason

    # A run accepted the day. The source changes; a rerun of the day replaces the partition.
    status.set_status(
        "fraud", "transactions", [DAY], status.ACCEPTED, status.Decider("fraud", "2026-10-30")
    )
    with pg.begin() as conn:
        conn.execute(sa.text("DELETE FROM transactions WHERE transaction_id > 90"))
    info, gate = import_window(load_pipeline("fraud"), DAY, splits=4)
    assert info.rows == 90
    assert _read("transactions", DAY.isoformat()).num_rows == 90
    assert sorted(p.name for p in folder.iterdir()) == [
        MANIFEST_FILE,
        *(f"part-0000{i}.parquet" for i in range(4)),
    ]
    status_files = {"_status.json", "_status.lock"}  # the partitions' statuses
    leftovers = [p.name for p in folder.parent.iterdir() if p.name not in status_files]
    assert leftovers == [folder.name]  # no leftovers
    assert gate.verdict == "pass"
    assert "10 rows of the previous import were deleted at the source since" in gate.reason
    # re-imported outside a run: pending until a run's check_raw judges it again, so the
    # new rows are not read under the verdict on the old ones
    assert status.status_of("fraud", "transactions", DAY) == status.PENDING


@pytest.fixture
def typed(postgres_db):
    """A table with the types that must survive: decimals, timestamps with and without a
    time zone, nullable ints, booleans, dates, text with commas, quotes and newlines."""
    engine = sa.create_engine(postgres_db)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE typed (id bigint PRIMARY KEY, small smallint, maybe integer, "
                "price numeric(12,2), rate numeric(20,6), ratio double precision, "
                "at_local timestamp, at_zone timestamptz, ok boolean, day date, note text)"
            )
        )
        rows = []
        for i in range(1, 401):
            rows.append(
                {
                    "id": i,
                    "small": i % 100,
                    "maybe": None if i % 5 == 0 else i * 1000,
                    "price": Decimal(i) + Decimal("0.05"),
                    "rate": Decimal("12345678901234.123456") if i == 1 else Decimal(i) / 8,
                    "ratio": i / 4,
                    "at_local": datetime(2026, 10, 30, 0, 0) + timedelta(seconds=i * 61),
                    "at_zone": f"2026-10-30 0{i % 10}:30:00.25+02",
                    "ok": None if i % 3 == 0 else i % 2 == 0,
                    "day": date(2026, 1, 1) + timedelta(days=i),
                    "note": None if i % 7 == 0 else ("" if i % 11 == 0 else f'a,"b"\nline {i}'),
                }
            )
        conn.execute(
            sa.text(
                "INSERT INTO typed VALUES (:id, :small, :maybe, :price, :rate, :ratio, "
                ":at_local, CAST(:at_zone AS timestamptz), :ok, :day, :note)"
            ),
            rows,
        )
    yield engine
    engine.dispose()


def _expected_typed_row(i: int) -> dict:
    return {
        "id": i,
        "small": i % 100,
        "maybe": None if i % 5 == 0 else i * 1000,
        "price": Decimal(i) + Decimal("0.05"),
        "rate": Decimal("12345678901234.123456") if i == 1 else Decimal(i) / 8,
        "ratio": i / 4,
        "at_local": datetime(2026, 10, 30, 0, 0) + timedelta(seconds=i * 61),
        # 0H:30:00.25 at +02:00 is (H - 2):30:00.25 UTC, the day before for H < 2
        "at_zone": datetime(2026, 10, 30, 0, 30, 0, 250000, tzinfo=UTC)
        + timedelta(hours=i % 10 - 2),
        "ok": None if i % 3 == 0 else i % 2 == 0,
        "day": date(2026, 1, 1) + timedelta(days=i),
        "note": None if i % 7 == 0 else ("" if i % 11 == 0 else f'a,"b"\nline {i}'),
        UNPARSABLE_COLUMN: None,
    }


@pytest.mark.parametrize("splits", [1, 2, 4])
def test_split_reads_keep_every_row_and_type(typed, tmp_path, splits):
    source = Source(typed, reflect_table(typed, "typed"))
    result = read_to_folder(source, tmp_path, split_by="id", splits=splits, measure_key="id")
    assert result.method == "copy"
    assert len(result.files) == splits and result.rows == 400
    table = pq.read_table(tmp_path).sort_by("id")
    assert table.schema.field("price").type == pa.decimal128(12, 2)
    assert table.schema.field("rate").type == pa.decimal128(20, 6)
    assert table.schema.field("maybe").type == pa.int64()
    assert table.schema.field("at_zone").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("at_local").type == pa.timestamp("us")
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("ok").type == pa.bool_()
    assert table.to_pylist() == [_expected_typed_row(i) for i in range(1, 401)]
    assert result.source.to_dict() == {"rows": 400, "key_sum": 80200}  # 400 * 401 / 2


def test_every_reading_path_gives_the_same_table(typed, tmp_path, monkeypatch):
    """COPY read by asyncpg (the default), COPY read by psycopg, and the row path."""
    source = Source(typed, reflect_table(typed, "typed"))
    read_to_folder(source, tmp_path / "asyncpg", split_by="id", splits=3)
    monkeypatch.setenv("MLGATE_EXTRACT_COPY", "psycopg")
    single = read_to_folder(source, tmp_path / "psycopg1", splits=1)  # blocking libpq reads
    multi = read_to_folder(source, tmp_path / "psycopg", split_by="id", splits=3)
    assert single.method == multi.method == "copy"
    monkeypatch.setenv("MLGATE_EXTRACT_ROW_PATH", "1")
    rows = read_to_folder(source, tmp_path / "rows", split_by="id", splits=3)
    assert rows.method == "rows"
    expected = pq.read_table(tmp_path / "asyncpg").sort_by("id")
    assert expected.to_pylist() == [_expected_typed_row(i) for i in range(1, 401)]
    for other in ("psycopg1", "psycopg", "rows"):
        assert pq.read_table(tmp_path / other).sort_by("id").equals(expected), other


def test_values_arrow_cannot_parse_fall_back_to_the_row_path(postgres_db, tmp_path):
    engine = sa.create_engine(postgres_db)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE odd (id int PRIMARY KEY, price numeric(12,2))"))
        conn.execute(sa.text("INSERT INTO odd VALUES (1, 2.50), (2, 'NaN'), (3, NULL)"))
    result = read_to_folder(Source(engine, reflect_table(engine, "odd")), tmp_path)
    assert result.method == "rows" and result.unparsable == 1
    rows = pq.read_table(tmp_path).sort_by("id").to_pylist()
    assert [(r["id"], r["price"], r[UNPARSABLE_COLUMN]) for r in rows] == [
        (1, Decimal("2.50"), None),
        (2, None, "price"),  # NaN has no decimal: null, and named
        (3, None, None),
    ]
    engine.dispose()


def test_split_by_time_and_nulls_in_the_split_column(typed, tmp_path):
    with typed.begin() as conn:
        conn.execute(sa.text("UPDATE typed SET at_zone = NULL WHERE id IN (7, 300)"))
    source = Source(typed, reflect_table(typed, "typed"))
    result = read_to_folder(source, tmp_path, split_by="at_zone", splits=3)
    assert result.rows == 400  # NULL split values go to the first range, none is lost
    ids = sorted(pq.read_table(tmp_path).column("id").to_pylist())
    assert ids == list(range(1, 401))
    first = pq.read_table(result.files[0]).column("id").to_pylist()
    assert {7, 300} <= set(first)


def test_free_form_query_with_conditions_placeholder(pg):
    with pg.begin() as conn:
        conn.execute(source_schema.merchants.insert(), [
            {"merchant_id": 100 + i, "merchant_name": f"m{i}", "merchant_category": f"c{i}",
             "merchant_country": "US"} for i in range(3)
        ])  # fmt: skip
        conn.execute(source_schema.transactions.insert(), _transactions(DAY, range(1, 31)))
        conn.execute(
            source_schema.transactions.insert(), _transactions(DAY + timedelta(1), range(31, 41))
        )
    data = load_pipeline("fraud").model_dump()
    data["source"]["events"].update(
        query="SELECT t.transaction_id, t.amount, t.created_at, m.merchant_category "
        "FROM transactions t JOIN merchants m ON m.merchant_id = t.merchant_id "
        "WHERE $CONDITIONS",
        splits=2,
    )
    cfg = parse_pipeline(data, "fraud")
    engine = create_source_engine(_url_text(pg.url))
    info = extract_events_day(engine, cfg, DAY)
    engine.dispose()
    assert info.rows == 30
    table = _read("transactions", DAY.isoformat())
    assert table.column_names == [
        "transaction_id", "amount", "created_at", "merchant_category", UNPARSABLE_COLUMN
    ]  # fmt: skip
    assert table.schema.field("amount").type == pa.decimal128(12, 2)
    # merchant_id = 100 + key % 3, merchant_category = c<key % 3>
    assert table.column("merchant_category").to_pylist() == [f"c{k % 3}" for k in range(1, 31)]
    assert info.source == {"rows": 30, "key_sum": 465}  # 30 * 31 / 2


def test_conditions_are_bound_parameters_not_sql_text(pg):
    cfg = load_pipeline("fraud")
    from mlgate.ingest.extract import events_source

    source = events_source(pg, cfg, DAY)
    compiled = source.statement().compile(dialect=pg.dialect)
    assert "2026-10-30" not in compiled.string and "%(" in compiled.string
    assert sorted(compiled.params.values()) == [datetime(2026, 10, 30), datetime(2026, 10, 31)]


# --- read only ----------------------------------------------------------------------------


def test_import_works_with_a_select_only_role_and_never_writes(pg, postgres_db):
    with pg.begin() as conn:
        conn.execute(source_schema.transactions.insert(), _transactions(DAY, range(1, 51)))
        conn.execute(sa.text("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'"))
        conn.execute(sa.text(f'GRANT CONNECT ON DATABASE "{postgres_db.database}" TO reader'))
        conn.execute(sa.text("GRANT USAGE ON SCHEMA public TO reader"))
        conn.execute(sa.text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader"))
    fingerprint = sa.text(
        "SELECT count(*), md5(string_agg(t::text, '|' ORDER BY transaction_id)) FROM transactions t"
    )
    with pg.connect() as conn:
        before = conn.execute(fingerprint).one()
    reader_url = postgres_db.set(username="reader", password="reader-pw")
    reader = sa.create_engine(reader_url)
    try:
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            with reader.begin() as conn:
                conn.execute(sa.text("DELETE FROM transactions"))
        # The extractor's own connections are READ ONLY transactions, whoever logs in.
        with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
            with source_connection(pg) as conn:
                conn.execute(sa.text("UPDATE transactions SET amount = 0"))
    finally:
        reader.dispose()
    import os

    os.environ["MLGATE_SOURCE_URL"] = _url_text(reader_url)  # restored by monkeypatch (pg)
    info, gate = import_window(load_pipeline("fraud"), DAY, splits=2)
    assert info.rows == 50 and gate.verdict == "pass"
    with pg.connect() as conn:
        assert conn.execute(fingerprint).one() == before


# --- reconciliation -----------------------------------------------------------------------


def test_reconciliation_fails_with_both_numbers_when_the_lake_lost_rows(pg):
    with pg.begin() as conn:
        conn.execute(source_schema.transactions.insert(), _transactions(DAY, range(1, 41)))
    cfg = load_pipeline("fraud")
    info, gate = import_window(cfg, DAY, splits=4)
    assert gate.verdict == "pass"
    folder = table_partition("fraud", "transactions", DAY.isoformat())
    lost = pq.read_table(folder / "part-00002.parquet").column("transaction_id").to_pylist()
    assert lost == list(range(21, 31))  # range 3 of 4 over 1..40
    (folder / "part-00002.parquet").unlink()
    result = reconcile_day(cfg.gates.reconciliation, cfg, DAY)
    assert result.verdict == "fail" and result.blocks()
    assert result.value == -10
    # 1..40 sums to 820; without 21..30 (255): 565
    assert "the lake has 30 rows" in result.reason and "has 40" in result.reason
    assert "key sum: lake 565, source 820" in result.reason
    assert result.details["source"] == {"rows": 40, "key_sum": 820}


def test_empty_window_is_reported_not_accepted(pg, capsys):
    from mlgate.cli import main

    code = main(["import", "--pipeline", "fraud", "--window", "2026-10-01"])
    out = capsys.readouterr().out
    assert code == 1
    assert "0 rows" in out and "empty window" in out
    assert pq.read_table(table_partition("fraud", "transactions", "2026-10-01")).num_rows == 0


# --- errors a user can act on -------------------------------------------------------------


def test_unreachable_database_is_named_without_its_password(pg, monkeypatch):
    from support.pgserver import free_port

    monkeypatch.setenv(
        "MLGATE_SOURCE_URL", f"postgresql+psycopg://u:secret-pw@127.0.0.1:{free_port()}/x"
    )
    with pytest.raises(ExtractError, match="cannot connect to the source database") as error:
        import_window(load_pipeline("fraud"), DAY)
    assert "secret-pw" not in str(error.value) and "127.0.0.1" in str(error.value)


def test_missing_table_and_column_are_named(pg):
    data = load_pipeline("fraud").model_dump()
    data["source"]["events"]["table"] = "payments"
    with pytest.raises(ExtractError, match="'payments' does not exist.*'transactions'"):
        import_window(parse_pipeline(data, "fraud"), DAY)
    data = load_pipeline("fraud").model_dump()
    data["source"]["events"]["time_column"] = "booked_at"
    with pytest.raises(ExtractError, match="column 'booked_at' is not in source table"):
        import_window(parse_pipeline(data, "fraud"), DAY)


def test_type_change_in_the_source_is_refused(pg):
    with pg.begin() as conn:
        conn.execute(source_schema.transactions.insert(), _transactions(DAY, range(1, 11)))
        conn.execute(
            source_schema.transactions.insert(), _transactions(DAY + timedelta(1), range(11, 21))
        )
    import_window(load_pipeline("fraud"), DAY)
    with pg.begin() as conn:
        conn.execute(sa.text("ALTER TABLE transactions ALTER COLUMN amount TYPE text"))
    with pytest.raises(ExtractError, match=r"amount: decimal128\(12, 2\) -> string"):
        import_window(load_pipeline("fraud"), DAY + timedelta(1))
    assert not table_partition("fraud", "transactions", (DAY + timedelta(1)).isoformat()).exists()


def test_user_boundary_query_sets_the_ranges(pg):
    with pg.begin() as conn:
        conn.execute(source_schema.transactions.insert(), _transactions(DAY, range(1, 41)))
    data = load_pipeline("fraud").model_dump()
    data["source"]["events"].update(
        splits=2,
        boundary_query="SELECT min(transaction_id) - 100, max(transaction_id) "
        "FROM transactions WHERE $CONDITIONS",
    )
    info, gate = import_window(parse_pipeline(data, "fraud"), DAY)
    manifest = json.loads(
        (table_partition("fraud", "transactions", "2026-10-30") / MANIFEST_FILE).read_text()
    )
    # min - 100 = -99, max 40: span 140 in 2 -> edges -99, -99 + 70 = -29, 40
    assert manifest["read"]["bounds"] == [[-99, -29], [-29, 40]]
    assert manifest["read"]["range_rows"] == [0, 40]
    assert info.rows == 40 and gate.verdict == "pass"


@pytest.fixture
def sql_ascii(postgres_server, tmp_path, monkeypatch):
    """A database with encoding SQL_ASCII (it stores any bytes as text), the demo schema."""
    name = f"ascii_{tmp_path.name[-20:].lower()}".replace("-", "_")
    admin = sa.create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                f"CREATE DATABASE \"{name}\" ENCODING 'SQL_ASCII' LC_COLLATE 'C' "
                "LC_CTYPE 'C' TEMPLATE template0"
            )
        )
    url = postgres_server.url(name)
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    engine = create_source_engine(url)
    source_schema.metadata.create_all(engine)
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_text_that_is_not_utf8_in_a_sql_ascii_database_is_quarantined(sql_ascii):
    """The server refused to send such text to a UTF-8 client: the whole day failed."""
    from mlgate.ingest.records import quarantine_day

    with sql_ascii.begin() as conn:
        conn.execute(source_schema.transactions.insert(), _transactions(DAY, range(1, 11)))
        conn.execute(  # 0xff is never UTF-8; 'é' stored as UTF-8 bytes must stay 'é'
            sa.text(
                "UPDATE transactions SET channel = convert_from("
                "CASE transaction_id WHEN 4 THEN '\\xff61'::bytea ELSE '\\x636166c3a9'::bytea END, "
                "'SQL_ASCII') WHERE transaction_id IN (4, 5)"
            )
        )
    cfg = load_pipeline("fraud")
    info = extract_events_day(sql_ascii, cfg, DAY)
    assert info.rows == 10
    rows = {r["transaction_id"]: r for r in _read("transactions", DAY.isoformat()).to_pylist()}
    assert (rows[4]["channel"], rows[4][UNPARSABLE_COLUMN]) == (None, "invalid_utf8:channel")
    assert (rows[5]["channel"], rows[5][UNPARSABLE_COLUMN]) == ("café", None)
    assert rows[1]["channel"] == "pos" and rows[1]["amount"] == Decimal("11.00")
    result = quarantine_day(cfg, DAY)
    # keys 7 has a NULL card id (every 7th): null:card_id; key 4 has invalid text
    assert result.reasons == {"invalid_utf8:channel": 1, "null:card_id": 1}
    assert (result.bad_rows, result.total_rows) == (2, 10)


def test_a_free_form_query_on_a_sql_ascii_database_is_refused_with_what_to_do(sql_ascii):
    table = reflect_table(sql_ascii, "transactions")
    with pytest.raises(ExtractError, match=r"encoding SQL_ASCII.*import the table"):
        Source(sql_ascii, table, free_form="SELECT * FROM transactions WHERE $CONDITIONS")
