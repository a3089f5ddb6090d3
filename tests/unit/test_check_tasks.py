"""The check_raw and check_features tasks hold no table and import no Great Expectations.

The suites run in the features job (tests/unit/test_features_job_checks.py); these tasks
judge the day's volume (check_raw) and the job's reports (check_features). Each scenario
runs in a fresh interpreter, so that what the tasks import is what the test sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A run of the fraud pipeline on 10-31: extract and check_raw on a source with one day of
# ten rows, then check_features on report files written as the features job writes them.
# No feature table exists: a task that read it would fail.
SCENARIO = r"""
import json, sys
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from mlgate.config import load_pipeline, parse_pipeline
from mlgate.demo import schema as source_schema
from mlgate.runs import CHECK_FEATURES_FILE, CHECK_RAW_FILE, GATES_FILE, LABEL_STATS_FILE
from mlgate.runs import read_run_file, write_run_file
from mlgate.stages import RunOptions, check_features, check_raw, extract
from mlgate.window import as_of
from support.transactions import transaction_row

DS = date(2026, 10, 31)
engine = sa.create_engine(sys.argv[1])
source_schema.metadata.create_all(engine)
start = datetime(2026, 10, 31)
with engine.begin() as conn:
    conn.execute(
        source_schema.transactions.insert(),
        [transaction_row(i, start + timedelta(hours=i), Decimal("9.99")) for i in range(10)],
    )
data = load_pipeline("fraud").model_dump()
data["window"]["training_days"] = 19
cfg = parse_pipeline(data, "fraud")
options = RunOptions(airflow_run_id="run-1", gate_mode="dry_run")
extract(cfg, DS, as_of(DS), options)
raw = check_raw(cfg, DS, options)
after_raw = read_run_file("fraud", "2026-10-31", GATES_FILE)
gx_after_raw = "great_expectations" in sys.modules

def report(suite, failed):
    return {"suite": suite, "rows": 10, "evaluated": 3, "success": not failed,
            "failed": failed, "airflow_run_id": sys.argv[2]}

bad = {"expectation": "expect_column_values_to_be_between", "column": "amount",
       "observed": "1 of 10 values (10.00%) unexpected", "examples": [-5.0]}
write_run_file("fraud", "2026-10-31", CHECK_RAW_FILE, report("raw_transactions", [bad]))
write_run_file("fraud", "2026-10-31", CHECK_FEATURES_FILE, report("features", []))
write_run_file("fraud", "2026-10-31", LABEL_STATS_FILE, {
    "mature_rows": 400, "label_rate": 0.0025,
    "labels_by_day": {"2026-10-19": 1, "2026-10-20": 0, "2026-10-21": 0},
    "airflow_run_id": sys.argv[2]})
try:
    features = check_features(cfg, DS, options)
except Exception as error:
    features = {"error": type(error).__name__, "message": str(error)}
gates = {g["name"]: g for g in read_run_file("fraud", "2026-10-31", GATES_FILE)["results"]}
print(json.dumps({
    "raw": raw, "features": features,
    "raw_gate": {g["name"]: g for g in after_raw["results"]}["data_expectations"],
    "features_gate": gates.get("data_expectations"),
    "gx_after_raw": gx_after_raw,
    "gx_after_features": "great_expectations" in sys.modules,
}))
"""


def run_scenario(tmp_path: Path, reports_run_id: str = "run-1") -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(REPO / p) for p in ("include", "tests")),
        "MLGATE_STATE": str(tmp_path / "state"),
        # MLflow's file store: the stages log to a real MLflow in seconds
        "MLFLOW_TRACKING_URI": (tmp_path / "mlruns").as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLGATE_SOURCE_URL": f"sqlite:///{tmp_path / 'source.db'}",
    }
    out = subprocess.run(
        [sys.executable, "-c", SCENARIO, f"sqlite:///{tmp_path / 'source.db'}", reports_run_id],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    return run_scenario(tmp_path_factory.mktemp("tasks"))


def test_check_raw_judges_the_volume_without_importing_great_expectations(scenario):
    assert scenario["gx_after_raw"] is False
    gate = scenario["raw_gate"]
    assert gate["verdict"] == "pass"
    assert gate["details"]["suites"] == []  # no suite here, and no "nothing was checked"
    assert gate["details"]["volume"]["value"] == 10
    assert gate["reason"].startswith("suites run by the features job, judged at check_features")
    assert scenario["raw"]["rows"] == 10


def test_check_features_judges_the_jobs_reports_without_the_table_or_gx(scenario):
    assert "error" not in scenario["features"], scenario["features"]
    assert scenario["gx_after_features"] is False
    gate = scenario["features_gate"]
    assert gate["verdict"] == "fail" and gate["value"] == 1.0
    assert gate["reason"] == (
        "raw_transactions: amount expect_column_values_to_be_between "
        "(1 of 10 values (10.00%) unexpected)"
    )
    assert [s["suite"] for s in gate["details"]["suites"]] == ["raw_transactions", "features"]
    assert gate["details"]["label_rate"]["value"] == 0.0025
    assert gate["details"]["label_freshness"]["days"] == {
        "2026-10-19": 1,
        "2026-10-20": 0,
        "2026-10-21": 0,
    }
    assert gate["details"]["volume"]["value"] == 10
    assert scenario["features"]["label_rate"] == 0.0025


def test_check_features_refuses_reports_an_earlier_run_wrote(tmp_path):
    outcome = run_scenario(tmp_path, reports_run_id="run-0")
    assert outcome["features"]["error"] == "ChecksMissingError"
    assert (
        "check_raw.json is missing or was written by another run"
        in (outcome["features"]["message"])
    )
    assert "features job of this run writes it" in outcome["features"]["message"]
