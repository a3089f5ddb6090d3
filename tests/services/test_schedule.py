"""The daily schedule: once fraud_retrain is unpaused, the scheduler creates yesterday's run
by itself (start date in the past, catchup off: only the latest whole day) and it finishes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

pytestmark = [pytest.mark.services, pytest.mark.e2e]


def test_scheduler_creates_and_finishes_the_daily_run(unpaused):
    stack = unpaused
    run = stack.wait_for_scheduled_run()
    assert run["run_type"] == "scheduled"
    assert run["triggering_user_name"] is None  # nobody asked for it
    # The latest whole day when the scheduler looked: yesterday (today if midnight passed).
    day = date.fromisoformat(run["data_interval_start"][:10])
    assert day in (stack.day, stack.day + timedelta(days=1)), run
    assert run["data_interval_end"].startswith((day + timedelta(days=1)).isoformat()), run

    finished = stack.wait_for_run(run["dag_run_id"])
    assert finished["state"] == "success"
    # catchup=False: one scheduled run, for the latest day only, not one per day since 2026-01-01
    scheduled = [r for r in stack.runs() if r["run_type"] == "scheduled"]
    assert [r["dag_run_id"] for r in scheduled] == [run["dag_run_id"]]

    promotions = [e for e in stack.history() if e["by"] == run["dag_run_id"]]
    assert promotions and promotions[0]["action"] == "promote", stack.history()
    assert promotions[0]["triggered_by"].startswith("scheduled:")
    assert promotions[0]["ds"] == day.isoformat()
