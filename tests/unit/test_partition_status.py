"""Lake partitions carry a status: a day its data gates rejected never trains a later model,
a later run whose window holds it imports it again and judges it again, and its manifest
says which days it left out and why (mlgate.ingest.status, stages.check_raw, read_events).

The runs go through the real stages (extract, check_raw) against a small SQLite source
with the demo schema, MLflow (its file store) in the test's folder; the fraud pipeline without its
Great Expectations suites, which these tests do not need.
"""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from mlgate.config import load_pipeline, parse_pipeline
from mlgate.demo import schema as source_schema
from mlgate.ingest import status
from mlgate.runs import MANIFEST_FILE, read_run_file
from mlgate.stages import GateFailed, RunOptions, check_raw, extract
from mlgate.window import as_of
from support.transactions import transaction_row

# 3 of its 10 amounts negative: 30% bad rows, over the 1% bound, so the bad-record gate
# rejects the day; its 7 other rows break no record rule, so only the day's status keeps
# them out of training (the quarantine holds the 3 bad ones)
JUNK_DAY = date(2026, 10, 29)
GOOD_DAY = date(2026, 10, 30)
LATER_DAY = date(2026, 10, 31)


def _day_rows(day: date, first_key: int, amount: Decimal, count: int = 10) -> list[dict]:
    start = datetime.combine(day, datetime.min.time())
    return [
        transaction_row(first_key + i, start + timedelta(hours=i), amount) for i in range(count)
    ]


def _junk_day_rows() -> list[dict]:
    rows = _day_rows(JUNK_DAY, 100, Decimal("9.99"))
    for row in rows[:3]:
        row["amount"] = Decimal(-5)
    return rows


def junk_keys() -> set[int]:
    return {row["transaction_id"] for row in _junk_day_rows()}


@pytest.fixture
def source(tmp_path, monkeypatch):
    """A source with a junk day, a good day and a later day; every older day is empty (and
    rejected: an empty day fails reconciliation and the bad-record gate, never vacuously)."""
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    # MLflow's file store: the stages log to a real MLflow in seconds, not half a minute
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    url = f"sqlite:///{tmp_path / 'source.db'}"
    monkeypatch.setenv("MLGATE_SOURCE_URL", url)
    engine = sa.create_engine(url)
    source_schema.metadata.create_all(engine)
    rows = [
        *_junk_day_rows(),
        *_day_rows(GOOD_DAY, 200, Decimal("12.50")),
        *_day_rows(LATER_DAY, 300, Decimal("7.25")),
    ]
    with engine.begin() as conn:
        conn.execute(source_schema.transactions.insert(), rows)
    yield engine
    engine.dispose()


@pytest.fixture
def cfg():
    data = load_pipeline("fraud").model_dump()
    data["gates"]["data_expectations"] = None  # the GX suites are tested elsewhere
    data["window"]["training_days"] = 19  # the shortest the holdout allows: fewer empty days
    return parse_pipeline(data, "fraud")


def run_data_stages(cfg, ds: date, run_id: str) -> dict:
    """The retrain DAG's extract and check_raw for `ds`; the check_raw result, or the
    failure when a blocking gate stopped the run."""
    options = RunOptions(airflow_run_id=run_id)
    extract(cfg, ds, as_of(ds), options)
    try:
        return check_raw(cfg, ds, options)
    except GateFailed as failure:
        return {"failed": failure}


def event_keys_read(spark, cfg, ds: date) -> set[int]:
    """The event keys the features job of the run on `ds` reads from the lake."""
    from mlgate.jobs.features_job import read_inputs

    events, _, _ = read_inputs(spark, cfg, ds)
    key = cfg.source.events.key
    return {row[key] for row in events.select(key).collect()}


def test_a_rejected_day_never_reaches_a_later_runs_feature_table(source, cfg, spark):
    first = run_data_stages(cfg, JUNK_DAY, "run-junk")
    assert "bad_record_ratio" in str(first["failed"])
    recorded = status.read_statuses("fraud", "transactions")[JUNK_DAY.isoformat()]
    assert recorded["status"] == status.REJECTED
    assert recorded["airflow_run_id"] == "run-junk" and recorded["run_ds"] == "2026-10-29"
    assert recorded["reason"].startswith("bad_record_ratio: 3 of 10 rows")

    second = run_data_stages(cfg, LATER_DAY, "run-later")
    assert second["status"] == status.ACCEPTED
    keys = event_keys_read(spark, cfg, LATER_DAY)
    assert keys.isdisjoint(junk_keys())
    assert set(range(200, 210)) | set(range(300, 310)) <= keys  # the accepted days are read


def test_a_rejected_day_in_the_window_is_imported_again_and_judged_again(source, cfg, spark):
    run_data_stages(cfg, JUNK_DAY, "run-junk")
    with source.begin() as conn:  # the feed is repaired at the source
        conn.execute(
            sa.update(source_schema.transactions)
            .where(source_schema.transactions.c.transaction_id.in_(junk_keys()))
            .values(amount=Decimal("3.00"))
        )

    run_data_stages(cfg, LATER_DAY, "run-later")
    manifest = read_run_file("fraud", LATER_DAY.isoformat(), MANIFEST_FILE)
    again = [r for r in manifest["reimported_rejected"] if r["ds"] == "2026-10-29"]
    assert again and again[0]["rejected_because"].startswith("bad_record_ratio")
    judged = {d["ds"]: d for d in manifest["lake_days"]["judged_by_this_run"]}
    assert judged["2026-10-29"]["status"] == status.ACCEPTED
    recorded = status.read_statuses("fraud", "transactions")["2026-10-29"]
    assert recorded["status"] == status.ACCEPTED and recorded["airflow_run_id"] == "run-later"
    assert junk_keys() <= event_keys_read(spark, cfg, LATER_DAY)  # repaired rows now train


def test_the_manifest_lists_the_days_left_out_and_why(source, cfg):
    run_data_stages(cfg, JUNK_DAY, "run-junk")
    run_data_stages(cfg, LATER_DAY, "run-later")  # the junk day is judged again: still junk
    manifest = read_run_file("fraud", LATER_DAY.isoformat(), MANIFEST_FILE)
    skipped = {d["ds"]: d for d in manifest["lake_days"]["skipped"]}
    assert skipped["2026-10-29"]["status"] == status.REJECTED
    assert skipped["2026-10-29"]["reason"].startswith("bad_record_ratio: 3 of 10 rows")
    assert skipped["2026-10-29"]["airflow_run_id"] == "run-later"
    assert "2026-10-30" not in skipped and "2026-10-31" not in skipped
    empty = skipped["2026-10-01"]  # no rows in the source that day
    assert empty["status"] == status.REJECTED and "empty" in empty["reason"]
    window = cfg.window_spec().extract_days(LATER_DAY)
    assert manifest["lake_days"]["read"] == len(window) - len(skipped) == 2


def test_a_source_row_deleted_after_import_shows_up_in_reconciliation(source, cfg):
    run_data_stages(cfg, JUNK_DAY, "run-junk")
    with source.begin() as conn:  # one row deleted, the others repaired
        table = source_schema.transactions
        conn.execute(sa.delete(table).where(table.c.transaction_id == 104))
        conn.execute(
            sa.update(table).where(table.c.transaction_id.in_(junk_keys())).values(amount=3)
        )

    run_data_stages(cfg, LATER_DAY, "run-later")
    manifest = read_run_file("fraud", LATER_DAY.isoformat(), MANIFEST_FILE)
    judged = {d["ds"]: d for d in manifest["lake_days"]["judged_by_this_run"]}
    found = judged["2026-10-29"]["gates"]["reconciliation"]
    assert "1 rows of the previous import were deleted at the source since (keys 104)" in found
    partition = json.loads(_partition_manifest(JUNK_DAY).read_text())
    assert partition["since_previous_import"] == {
        "previous_rows": 10,
        "deleted": 1,
        "added": 0,
        "deleted_keys": [104],
    }
    assert partition["rows"] == 9  # the deleted row left the lake with the re-import


def _partition_manifest(day: date):
    from mlgate.ingest.lake import MANIFEST_FILE as PARTITION_MANIFEST
    from mlgate.paths import table_partition

    return table_partition("fraud", "transactions", day.isoformat()) / PARTITION_MANIFEST


def test_a_day_imported_again_is_pending_until_its_gates_judge_it(source, cfg):
    run_data_stages(cfg, LATER_DAY, "run-later")
    assert status.status_of("fraud", "transactions", LATER_DAY) == status.ACCEPTED
    extract(cfg, LATER_DAY, as_of(LATER_DAY), RunOptions(airflow_run_id="rerun"))
    assert status.status_of("fraud", "transactions", LATER_DAY) == status.PENDING
    selection = status.select_days("fraud", "transactions", [GOOD_DAY, LATER_DAY])
    assert selection.read == [GOOD_DAY]
    assert selection.skipped[0]["ds"] == LATER_DAY.isoformat()


def test_concurrent_status_writes_all_survive(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(24)]
    decider = status.Decider("fraud", "2026-10-31", "run")

    def mark(day):
        status.set_status("fraud", "transactions", [day], status.ACCEPTED, decider)

    threads = [threading.Thread(target=mark, args=(day,)) for day in days]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorded = status.read_statuses("fraud", "transactions")
    assert sorted(recorded) == [day.isoformat() for day in days]
