"""The monitor's day (mlgate.stages.monitor): drift of the served inputs and score against
the version's reference rows, realised performance once labels mature, the streaks that ask
for a retrain. Real files under a temporary state folder; the model version is made by hand
(``ServedVersion``), so no MLflow here but in the last test."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from mlgate.config import load_pipeline
from mlgate.paths import (
    features_partition,
    monitor_partition,
    realised_path,
    scores_partition,
    write_json,
)
from mlgate.serving.batch import SCORES_META
from mlgate.stages import monitor as mon

FIRST = date(2026, 3, 1)
ROWS = 2_000


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))
    return load_pipeline("fraud")


def inputs_frame(cfg, rng, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """Every model input of the pipeline: numbers around 0 (``shift`` moves ``amount``),
    categories from a small set."""
    frame = {}
    for name, kind in mon.model_inputs(cfg).items():
        if kind == mon.NUMERIC:
            frame[name] = rng.normal(shift if name == "amount" else 0.0, 1.0, rows)
        else:
            frame[name] = rng.choice(["a", "b", "c"], rows)
    return pd.DataFrame(frame)


def reference(cfg, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = inputs_frame(cfg, rng, ROWS)
    frame["score"] = rng.beta(1, 9, ROWS)
    frame[cfg.target.name] = (rng.random(ROWS) < 0.1).astype(int)
    return frame


def served(reference_rows, promised=None):
    found = {}

    def serve(version, run_id):
        return found.setdefault(
            version,
            mon.ServedVersion(
                version, run_id, 0.5, reference_rows, promised or {"auc_pr": 0.9, "roc_auc": 0.95}
            ),
        )

    return serve


def score_day(cfg, day: date, *, version="1", shift=0.0, seed=None, labels=None) -> pd.DataFrame:
    """The score job's output for ``day``: keys, times, probability, the model inputs."""
    rng = np.random.default_rng(seed if seed is not None else day.toordinal())
    frame = inputs_frame(cfg, rng, ROWS, shift)
    start = datetime.combine(day, datetime.min.time())
    frame.insert(0, cfg.row_key, np.arange(ROWS) + day.toordinal() * 10_000)
    frame.insert(1, cfg.row_time, [start + timedelta(seconds=30 * i) for i in range(ROWS)])
    if labels is None:
        frame.insert(2, "probability", rng.beta(1, 9, ROWS))
    else:  # scores that rank these labels well
        frame.insert(2, "probability", np.clip(0.7 * labels + rng.normal(0.15, 0.1, ROWS), 0, 1))
    folder = scores_partition(cfg.name, day.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "part-0.parquet", index=False)
    write_json(
        folder / SCORES_META,
        {
            "ds": day.isoformat(),
            "model_version": version,
            "run_id": f"run-{version}",
            "threshold": 0.5,
        },
    )
    return frame


def feature_table(cfg, labels_day: date, days: dict[date, tuple[pd.DataFrame, np.ndarray]]):
    """A feature table of ``labels_day`` holding, for each scored day, its rows' labels."""
    parts = []
    for scored, labels in days.values():
        parts.append(
            pd.DataFrame(
                {
                    cfg.row_key: scored[cfg.row_key],
                    cfg.row_time: scored[cfg.row_time],
                    cfg.target.name: labels,
                    "label_mature": True,
                }
            )
        )
    folder = features_partition(cfg.name, labels_day.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(parts).to_parquet(folder / "part-0.parquet", index=False)


def test_a_shifted_input_drifts_and_the_unchanged_ones_do_not(cfg):
    score_day(cfg, FIRST, shift=1.0)
    record = mon.assess_day(cfg, FIRST, served(reference(cfg)))
    drifted = [d["feature"] for d in record["drift"] if d["drifted"]]
    assert drifted == ["amount"]
    assert record["drift_breached"] is True
    judged = {d["feature"] for d in record["drift"]}
    assert judged == {*mon.model_inputs(cfg), "score"}  # the score is watched too
    assert record["drift_skipped"] == []
    # every feature shares the false-alarm budget
    assert {d["level"] for d in record["drift"]} == {0.01 / len(judged)}
    written = json.loads((monitor_partition(cfg.name, "2026-03-01") / mon.MONITOR_FILE).read_text())
    assert written == record


def test_a_day_like_the_reference_breaches_nothing_and_asks_for_nothing(cfg):
    score_day(cfg, FIRST)
    record = mon.assess_day(cfg, FIRST, served(reference(cfg)))
    assert not record["drift_breached"]
    assert record["streaks"] == {"drift": 0, "realised": 0}
    assert record["retrain"] is False and record["reason"] is None


def test_retrain_is_asked_on_the_third_drifted_day_in_a_row_then_every_third(cfg):
    serve = served(reference(cfg))
    asked = []
    for offset in range(7):
        day = FIRST + timedelta(days=offset)
        score_day(cfg, day, shift=1.0)
        record = mon.assess_day(cfg, day, serve)
        asked.append((record["streaks"]["drift"], record["retrain"]))
    assert asked == [
        (1, False),
        (2, False),
        (3, True),
        (4, False),
        (5, False),
        (6, True),
        (7, False),
    ]
    assert record["reason"] is None
    third = json.loads((monitor_partition(cfg.name, "2026-03-03") / mon.MONITOR_FILE).read_text())
    assert third["reason"] == "drift on 3 days in a row"


def test_a_quiet_day_or_a_missing_day_restarts_the_count_a_new_champion_does_not(cfg):
    serve = served(reference(cfg))
    plan = [  # (day offset, shift, version) -> the drift streak expected
        (0, 1.0, "1", 1),
        (1, 1.0, "1", 2),
        (2, 0.0, "1", 0),  # a quiet day
        (3, 1.0, "1", 1),
        (5, 1.0, "1", 1),  # day 4 was never judged
        (6, 1.0, "2", 2),  # the daily retrain's new champion sees the same shift
        (7, 1.0, "3", 3),
    ]
    for offset, shift, version, streak in plan:
        day = FIRST + timedelta(days=offset)
        score_day(cfg, day, shift=shift, version=version)
        assert mon.assess_day(cfg, day, serve)["streaks"]["drift"] == streak, offset


def test_a_version_without_reference_rows_says_why_drift_is_not_measured(cfg):
    score_day(cfg, FIRST, shift=3.0)
    record = mon.assess_day(cfg, FIRST, served(None))
    assert record["drift"] == [] and not record["drift_breached"]
    assert "kept no reference rows" in record["drift_note"]


def test_an_input_missing_on_the_day_is_named_not_guessed(cfg):
    rows = score_day(cfg, FIRST)
    rows.drop(columns=["amount"]).to_parquet(
        scores_partition(cfg.name, "2026-03-01") / "part-0.parquet", index=False
    )
    record = mon.assess_day(cfg, FIRST, served(reference(cfg)))
    assert record["drift_skipped"] == [
        {"feature": "amount", "why": "not kept with the reference or the day"}
    ]
    assert "amount" not in {d["feature"] for d in record["drift"]}


def test_realised_performance_is_judged_once_each_scoring_day_matured(cfg):
    rng = np.random.default_rng(7)
    delay = cfg.window_spec().label_delay.days
    labels = {}
    for offset in range(3):
        day = FIRST + timedelta(days=offset)
        truth = (rng.random(ROWS) < 0.1).astype(int)
        labels[day] = (score_day(cfg, day, labels=truth), truth)
    # the day after the second scoring day's labels had the whole label delay to settle
    today = FIRST + timedelta(days=delay + 1)
    feature_table(cfg, today, labels)
    score_day(cfg, today)
    record = mon.assess_day(cfg, today, served(reference(cfg), {"auc_pr": 0.5}))
    judged = [r["day"] for r in record["realised"]]
    assert judged == ["2026-03-01", "2026-03-02"]  # the third is not whole yet
    first = record["realised"][0]
    assert first["rows"] == ROWS and first["positives"] == int(labels[FIRST][1].sum())
    assert first["short"] == []  # these scores rank the labels far better than 0.5
    assert first["metrics"]["auc_pr"]["lower"] > 0.5
    assert realised_path(cfg.name, "2026-03-01").exists()
    # a rerun of the day judges nothing twice
    again = mon.assess_day(cfg, today, served(reference(cfg), {"auc_pr": 0.5}))
    assert again["realised"] == []


def test_realised_performance_short_on_consecutive_days_asks_for_a_retrain(cfg):
    rng = np.random.default_rng(3)
    delay = cfg.window_spec().label_delay.days
    labels = {}
    for offset in range(3):
        day = FIRST + timedelta(days=offset)
        truth = (rng.random(ROWS) < 0.1).astype(int)
        labels[day] = (score_day(cfg, day), truth)  # scores that know nothing of the labels
    today = FIRST + timedelta(days=delay + 3)
    feature_table(cfg, today, labels)
    score_day(cfg, today)
    record = mon.assess_day(cfg, today, served(reference(cfg), {"auc_pr": 0.6, "roc_auc": 0.9}))
    assert [r["short"] for r in record["realised"]] == [["auc_pr", "roc_auc"]] * 3
    assert record["streaks"]["realised"] == 3
    assert record["retrain"] is True
    assert "realised performance short of the holdout's on 3 scoring days" in record["reason"]


def test_freshness_counts_days_since_each_inputs_newest_day(cfg):
    scored = score_day(cfg, FIRST)
    feature_table(cfg, FIRST - timedelta(days=2), {FIRST: (scored, np.zeros(ROWS))})
    ages = mon.freshness(cfg, FIRST + timedelta(days=1))
    assert ages == {"events": None, "labels": None, "features": 3, "scores": 1}


def test_an_unscored_day_says_which_dag_to_run(cfg):
    with pytest.raises(FileNotFoundError, match="run fraud_score for 2026-03-01 first"):
        mon.assess_day(cfg, FIRST, served(reference(cfg)))


def test_each_day_gets_an_html_report_one_mlflow_run_and_a_retrain_email(cfg, monkeypatch):
    from pathlib import Path

    from mlgate.alerts import monitor_alert
    from mlgate.registry import configure_mlflow
    from mlgate.runs import monitor_experiment

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    serve = served(reference(cfg))
    days = [FIRST + timedelta(days=offset) for offset in range(3)]
    for day in days:
        score_day(cfg, day, shift=1.0)
        summary = mon.monitor(cfg, day, serve)
    assert summary["retrain"] and summary["drifted"] == ["amount"]
    assert summary["reason"] == "drift on 3 days in a row"
    page = Path(summary["report"]).read_text()
    assert "Retrain requested: drift on 3 days in a row" in page
    assert page.count("data:image/png;base64,") == 2  # drift bars, score distributions
    assert "<td>amount</td>" in page and "DRIFTED" in page

    again = mon.monitor(cfg, days[-1], serve)  # a rerun of the day replaces its MLflow run
    client = configure_mlflow().MlflowClient()
    experiment = client.get_experiment_by_name(monitor_experiment(cfg.model_name))
    logged = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in logged) == [f"monitor-{d}" for d in days]
    third = next(r for r in logged if r.info.run_name == f"monitor-{days[-1]}")
    assert third.data.metrics["drift_streak"] == 3.0 and third.data.metrics["retrain"] == 1.0
    assert {a.path for a in client.list_artifacts(third.info.run_id)} == {
        mon.MONITOR_FILE,
        mon.REPORT_FILE,
    }
    assert again["report_url"] == (
        f"{cfg.alerts.mlflow_url}/#/experiments/{experiment.experiment_id}/runs/"
        f"{third.info.run_id}/artifacts/{mon.REPORT_FILE}"
    )

    message = monitor_alert(
        {"recipients": ["ops@example.com"]}, cfg.model_name, pipeline=cfg.name, summary=again
    )
    assert message["Subject"] == (
        "[mlgate] fraud_detector: retrain requested by the monitor on 2026-03-03"
    )
    text = message.get_body(("plain",)).get_content()
    assert "drift on 3 days in a row" in text and again["report_url"] in text
    assert "Drifted on 2026-03-03: amount" in text
    assert f'href="{again["report_url"]}"' in message.get_body(("html",)).get_content()


def test_the_scoring_service_shows_the_monitors_newest_day_as_gauges(cfg):
    from mlgate.serving.app import create_app
    from support.scoring_service import TOKEN, SwitchableSource, authorized

    rng = np.random.default_rng(5)
    truth = (rng.random(ROWS) < 0.1).astype(int)
    labels = {FIRST: (score_day(cfg, FIRST, labels=truth), truth)}
    today = FIRST + timedelta(days=cfg.window_spec().label_delay.days)
    feature_table(cfg, today, labels)
    score_day(cfg, today - timedelta(days=1), shift=1.0)
    mon.assess_day(cfg, today - timedelta(days=1), served(reference(cfg)))
    score_day(cfg, today, shift=1.0)
    record = mon.assess_day(cfg, today, served(reference(cfg), {"auc_pr": 0.5}))

    source = SwitchableSource()
    source.pipeline = cfg.name
    with authorized(create_app(source, token=TOKEN, poll_seconds=0)) as client:
        text = client.get("/metrics").text
    from prometheus_client.parser import text_string_to_metric_families

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("mlgate_monitor_")
    }
    amount = next(d for d in record["drift"] if d["feature"] == "amount")
    assert samples[("mlgate_monitor_psi", (("feature", "amount"),))] == pytest.approx(amount["psi"])
    assert samples[("mlgate_monitor_drifted", (("feature", "amount"),))] == 1.0
    assert samples[("mlgate_monitor_breached_days", (("watch", "drift"),))] == 2.0  # two days
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    assert samples[("mlgate_monitor_day_timestamp_seconds", ())] == midnight.timestamp()
    realised = record["realised"][0]
    key = (("bound", "lower"), ("day", "2026-03-01"), ("metric", "auc_pr"), ("model_version", "1"))
    assert samples[("mlgate_monitor_realised", key)] == realised["metrics"]["auc_pr"]["lower"]
    promised = (
        ("bound", "promised"),
        ("day", "2026-03-01"),
        ("metric", "auc_pr"),
        ("model_version", "1"),
    )
    assert samples[("mlgate_monitor_realised", promised)] == 0.5
    assert samples[("mlgate_monitor_input_age_days", (("input", "scores"),))] == 0.0
    assert samples[("mlgate_monitor_retrain_requested", ())] == 0.0


@pytest.mark.parametrize("zone", [None, "UTC"])
def test_a_days_labels_are_found_whether_the_feature_table_keeps_times_as_instants_or_not(
    cfg, zone
):
    times = pd.to_datetime(["2026-03-01 23:59:59", "2026-03-02 00:00:00", "2026-03-02 12:00:00"])
    frame = pd.DataFrame(
        {
            cfg.row_key: [1, 2, 3],
            cfg.row_time: times.tz_localize(zone) if zone else times,
            cfg.target.name: [1, 0, 1],
            "label_mature": [True, True, False],
        }
    )
    folder = features_partition(cfg.name, "2026-03-20")
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(folder / "part-0.parquet", index=False)
    found = mon.day_labels(cfg, date(2026, 3, 20), date(2026, 3, 2))
    assert found[cfg.row_key].tolist() == [2]  # the day's rows whose label matured
