"""`mlgate run-day` checks its arguments before it starts Airflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlgate.cli import main


@pytest.fixture
def no_airflow(tmp_path, monkeypatch):
    """State in a temporary folder; reaching the embedded environment (which would start
    Airflow) fails the command with a message of its own."""
    from mlgate.local import embedded

    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))

    def reached(*args, **kwargs):
        raise embedded.EnvironmentError_("run-day went on to start Airflow")

    monkeypatch.setattr(embedded, "embedded_env", reached)
    return tmp_path / "state"


@pytest.mark.parametrize("days_ahead", [0, 1, 400])
def test_run_day_refuses_today_and_future_days_saying_when_the_day_can_run(
    no_airflow, capsys, days_ahead
):
    day = datetime.now(UTC).date() + timedelta(days=days_ahead)
    code = main(["run-day", "--pipeline", "fraud", "--date", day.isoformat()])
    err = capsys.readouterr().err
    assert code == 2
    assert f"the day {day} has not ended yet" in err
    assert f"Run it after {day + timedelta(days=1)} 00:00 UTC" in err
    assert "start Airflow" not in err
    assert not (no_airflow / "pipelines").exists()


def test_run_day_of_a_pipeline_that_needs_approval_says_where_to_approve(
    no_airflow, tmp_path, monkeypatch, capsys
):
    import yaml

    from mlgate.config import PIPELINES_DIR

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    config = yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())
    (pipelines / "fraud.yaml").write_text(yaml.safe_dump({**config, "approval": "required"}))
    monkeypatch.setenv("MLGATE_PIPELINES", str(pipelines))
    code = main(["run-day", "--pipeline", "fraud", "--date", "2026-10-31"])
    err = capsys.readouterr().err
    assert code == 2
    assert "requires a person's approval" in err and "mlgate services start" in err
    assert "start Airflow" not in err  # refused before any Airflow
    # a dry run promotes nothing, so it needs no approval: it goes on (to Airflow, here)
    assert (
        main(["run-day", "--pipeline", "fraud", "--date", "2026-10-31", "--gate-mode", "dry_run"])
        == 2
    )
    assert "run-day went on to start Airflow" in capsys.readouterr().err
