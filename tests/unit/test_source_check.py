"""A pipeline checked against its source's catalogue: every table and column it names,
named back when missing (`mlgate pipelines check`, the extract task, `mlgate run-day`)."""

from __future__ import annotations

import sqlalchemy as sa

from mlgate.cli import main
from mlgate.config import load_pipeline
from mlgate.demo import schema as fraud_schema
from mlgate.ingest.source_check import source_problems


def _fraud_source(path, drop: dict[str, str] | None = None) -> str:
    """A SQLite file with the fraud demo's empty tables, less the `drop` {table: column}."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    fraud_schema.metadata.create_all(engine)
    with engine.begin() as connection:
        for table, column in (drop or {}).items():
            for index in sa.inspect(connection).get_indexes(table):
                connection.exec_driver_sql(f'DROP INDEX "{index["name"]}"')
            connection.exec_driver_sql(f'ALTER TABLE {table} DROP COLUMN "{column}"')
    engine.dispose()
    return url


def _problems(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        return source_problems(load_pipeline("fraud"), engine)
    finally:
        engine.dispose()


def test_the_fraud_pipeline_fits_the_fraud_demo_schema(tmp_path):
    assert _problems(_fraud_source(tmp_path / "ok.db")) == []


def test_a_label_key_missing_from_the_label_table_is_named(tmp_path):
    url = _fraud_source(tmp_path / "x.db", drop={"chargebacks": "transaction_id"})
    [problem] = _problems(url)
    assert problem.startswith(
        "target.event: table 'chargebacks' has no column(s) ['transaction_id'] (columns: ["
    )


def test_a_feature_column_neither_in_the_events_nor_joined_is_named(tmp_path):
    url = _fraud_source(tmp_path / "x.db", drop={"transactions": "channel"})
    problems = _problems(url)
    assert any(
        p.startswith("features: column(s) ['channel'] are neither in 'transactions'")
        for p in problems
    ), problems
    assert "records: column(s) ['channel'] are not in 'transactions'" in problems


def test_a_join_column_missing_from_its_dimension_is_named(tmp_path):
    url = _fraud_source(tmp_path / "x.db", drop={"merchants": "merchant_category"})
    problems = _problems(url)
    assert problems[0].startswith(
        "features.joins.0: table 'merchants' has no column(s) ['merchant_category']"
    ), problems


def test_a_missing_table_lists_the_tables_there_are(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    sa.create_engine(url).dispose()
    problems = _problems(url)
    assert problems[0] == "source.events: table 'transactions' is not in the source (has: [])"


def test_pipelines_check_and_run_day_refuse_a_pipeline_that_does_not_fit(
    tmp_path, monkeypatch, capsys
):
    url = _fraud_source(tmp_path / "x.db", drop={"chargebacks": "reported_at"})
    monkeypatch.setenv("MLGATE_SOURCE_URL__FRAUD", url)
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    assert main(["pipelines", "check", "fraud"]) == 1
    err = capsys.readouterr().err
    assert "pipeline fraud does not fit its source:" in err
    assert "target.event: table 'chargebacks' has no column(s) ['reported_at']" in err
    # run-day stops before Airflow starts: no DAG run, no state written by one
    assert main(["run-day", "--pipeline", "fraud", "--date", "2026-10-31"]) == 1
    captured = capsys.readouterr()
    assert "has no column(s) ['reported_at']" in captured.err
    assert "running DAG" not in captured.out


def test_pipelines_check_lists_the_model_inputs_of_a_pipeline_that_fits(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MLGATE_SOURCE_URL__FRAUD", _fraud_source(tmp_path / "ok.db"))
    assert main(["pipelines", "check", "fraud"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("pipeline fraud fits its source: 15 numeric and 3 categorical")
    assert "card_amount_ratio_to_mean_14d" in out
