"""Incremental imports (append, lastmodified) against a real PostgreSQL server.

Every expected lake content is written out by hand from the rows the test inserted and
updated; a crash between writing the data and committing the watermark is simulated by
making the commit raise.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from mlgate.config import IncrementalImport, load_pipeline, parse_pipeline
from mlgate.ingest import incremental
from mlgate.ingest.incremental import import_incremental, load_state, target_folder, watermark_path
from mlgate.ingest.lake import ExtractError

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 10, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def db(postgres_db, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("MLGATE_SOURCE_URL", postgres_db.render_as_string(hide_password=False))
    engine = sa.create_engine(postgres_db)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE payments (id bigint PRIMARY KEY, amount numeric(10,2), "
                "paid_at timestamptz NOT NULL)"
            )
        )
        conn.execute(
            sa.text(
                "CREATE TABLE accounts (account_id integer PRIMARY KEY, balance numeric(12,2), "
                "status text, updated_at timestamptz)"
            )
        )
    yield engine
    engine.dispose()


def _pay(engine, ids) -> None:
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO payments VALUES (:id, :amount, :paid_at)"),
            [
                {"id": i, "amount": Decimal(i) / 4, "paid_at": T0 + timedelta(seconds=i)}
                for i in ids
            ],
        )


APPEND = IncrementalImport(table="payments", mode="append", check_column="id", splits=2)


def _lake_ids(name: str) -> list[int]:
    return pq.read_table(target_folder("fraud", name)).column("id").to_pylist()


def test_append_imports_only_new_rows_and_survives_a_crash(db, monkeypatch):
    _pay(db, range(1, 101))
    first = import_incremental(db, APPEND, "fraud")
    assert (first.status, first.rows, first.batch, first.last_value) == ("imported", 100, 1, 100)
    assert load_state(watermark_path("fraud", "payments"))["last_value"] == {
        "type": "int",
        "value": "100",
    }

    _pay(db, range(101, 151))
    second = import_incremental(db, APPEND, "fraud")
    assert (second.rows, second.batch, second.previous, second.last_value) == (50, 2, 100, 150)
    assert second.source == {"rows": 50, "key_sum": sum(range(101, 151))}
    again = import_incremental(db, APPEND, "fraud")
    assert (again.status, again.rows, again.lake_rows) == ("up to date", 0, 150)

    # A crash after the batch is written, before the watermark is committed.
    _pay(db, range(151, 171))

    def crash(*args, **kwargs):
        raise RuntimeError("power cut")

    commit = incremental.commit_watermark
    monkeypatch.setattr(incremental, "commit_watermark", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        import_incremental(db, APPEND, "fraud")
    assert (target_folder("fraud", "payments") / "batch=000003").is_dir()  # written, not committed
    assert load_state(watermark_path("fraud", "payments"))["last_value"]["value"] == "150"
    monkeypatch.setattr(incremental, "commit_watermark", commit)

    _pay(db, range(171, 181))
    rerun = import_incremental(db, APPEND, "fraud")
    assert (rerun.batch, rerun.previous, rerun.last_value, rerun.rows) == (3, 150, 180, 30)
    ids = _lake_ids("payments")
    assert sorted(ids) == list(range(1, 181))  # every row once: none skipped, none twice
    batches = sorted(p.name for p in target_folder("fraud", "payments").glob("batch=*"))
    assert batches == ["batch=000001", "batch=000002", "batch=000003"]
    amounts = pq.read_table(target_folder("fraud", "payments") / "batch=000001").column("amount")
    assert amounts.type.scale == 2 and amounts.to_pylist()[:2] == [Decimal("0.25"), Decimal("0.50")]


LASTMODIFIED = IncrementalImport(
    table="accounts", mode="lastmodified", check_column="updated_at", key="account_id"
)


def _lake_accounts() -> dict[int, tuple]:
    rows = pq.read_table(target_folder("fraud", "accounts")).to_pylist()
    ids = [r["account_id"] for r in rows]
    assert len(ids) == len(set(ids)), "a key is in the lake twice"
    return {r["account_id"]: (r["balance"], r["status"]) for r in rows}


def test_lastmodified_merges_updates_by_key(db, monkeypatch):
    with db.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO accounts VALUES (:id, :balance, 'open', :at)"),
            [
                {"id": i, "balance": Decimal(i * 10), "at": T0 + timedelta(minutes=i)}
                for i in range(1, 11)
            ],
        )
    first = import_incremental(db, LASTMODIFIED, "fraud")
    assert (first.rows, first.lake_rows, first.replaced) == (10, 10, 0)
    assert first.last_value == T0 + timedelta(minutes=10)

    t1 = T0 + timedelta(hours=1)
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE accounts SET balance = balance + 1, status = 'frozen', updated_at = :at "
                "WHERE account_id IN (2, 5, 7)"
            ),
            {"at": t1},
        )
        conn.execute(
            sa.text("INSERT INTO accounts VALUES (11, 110, 'open', :at), (12, 120, 'open', :at)"),
            {"at": t1},
        )
    second = import_incremental(db, LASTMODIFIED, "fraud")
    # read: 2, 5, 7 (updated), 11, 12 (new) and 10 (at the watermark: lower bound inclusive)
    assert (second.rows, second.replaced, second.lake_rows) == (6, 4, 12)
    expected = {i: (Decimal(i * 10), "open") for i in range(1, 13)}
    expected.update({2: (Decimal(21), "frozen"), 5: (Decimal(51), "frozen")})
    expected[7] = (Decimal(71), "frozen")
    assert _lake_accounts() == expected

    # Crash between the merge and the watermark commit, then more updates, then a rerun.
    t2 = t1 + timedelta(hours=1)
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE accounts SET balance = 0, updated_at = :at WHERE account_id IN (1, 2)"),
            {"at": t2},
        )
    commit = incremental.commit_watermark
    monkeypatch.setattr(incremental, "commit_watermark", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        import_incremental(db, LASTMODIFIED, "fraud")
    monkeypatch.setattr(incremental, "commit_watermark", commit)
    assert load_state(watermark_path("fraud", "accounts"))["last_value"]["value"] == t1.isoformat()
    with db.begin() as conn:
        conn.execute(
            sa.text("UPDATE accounts SET status = 'closed', updated_at = :at WHERE account_id = 2"),
            {"at": t2 + timedelta(minutes=5)},
        )
    rerun = import_incremental(db, LASTMODIFIED, "fraud")
    assert rerun.previous == t1 and rerun.last_value == t2 + timedelta(minutes=5)
    expected[1] = (Decimal("0.00"), "open")
    expected[2] = (Decimal("0.00"), "closed")
    assert _lake_accounts() == expected  # the newest version of each row, once
    state = json.loads(watermark_path("fraud", "accounts").read_text())
    assert state["lake_rows"] == 12 and state["mode"] == "lastmodified"


def test_cli_runs_the_configured_imports(db, tmp_path, monkeypatch, capsys):
    import yaml

    from mlgate.cli import main

    data = load_pipeline("fraud").model_dump(mode="json")
    data["source"]["incremental"] = [APPEND.model_dump(), LASTMODIFIED.model_dump()]
    parse_pipeline(data, "fraud")
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "fraud.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("MLGATE_PIPELINES", str(tmp_path / "pipelines"))
    _pay(db, range(1, 6))
    assert main(["import", "--pipeline", "fraud", "--incremental", "payments"]) == 0
    assert "payments (append): 5 rows from None to 5" in capsys.readouterr().out
    assert main(["import", "--pipeline", "fraud", "--incremental", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["status"], r["rows"]) for r in results] == [
        ("payments", "up to date", 0),
        ("accounts", "up to date", 0),  # the accounts table is empty
    ]
    assert main(["import", "--pipeline", "fraud", "--incremental", "nope"]) == 2
    assert "unknown incremental import(s) ['nope']" in capsys.readouterr().err


def test_type_change_and_mode_change_are_refused(db):
    _pay(db, range(1, 4))
    import_incremental(db, APPEND, "fraud")
    with db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE payments ALTER COLUMN amount TYPE numeric(10,4)"))
    _pay(db, range(4, 6))
    with pytest.raises(ExtractError, match=r"amount: decimal128\(10, 2\) -> decimal128\(10, 4\)"):
        import_incremental(db, APPEND, "fraud")
    other = IncrementalImport(
        table="payments", mode="lastmodified", check_column="paid_at", key="id"
    )
    with pytest.raises(ExtractError, match="was run in mode 'append', now 'lastmodified'"):
        import_incremental(db, other, "fraud")
