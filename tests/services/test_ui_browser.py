"""A person's path through the Airflow UI, in headless Chromium: sign in, open the trigger
form of fraud_retrain, choose a dry run, submit, and look at the finished run's graph.

Debian's /usr/bin/chromium driven by Playwright's driver (the `playwright` Python package);
no browser is downloaded. Screenshots go to test-artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from urllib.parse import quote

import pytest

from support.browser import SCREENSHOTS, chromium_page, sign_in

pytestmark = [pytest.mark.services, pytest.mark.e2e]


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


def test_trigger_form_dry_run_from_the_browser(unpaused, browser_page):
    stack, page = unpaused, browser_page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    stack.wait_until_idle()  # earlier runs promote; this one must not
    champion_before = json.loads(stack.mlgate("champion", "--json").stdout or "{}").get("version")
    base = stack.services.airflow_url

    # Not signed in: the UI sends us to the login page.
    sign_in(page, base, stack.username, stack.password, "/dags/fraud_retrain")

    # The trigger form: the DAG's Params rendered as fields.
    page.get_by_role("button", name="Trigger").first.click()
    form = page.get_by_role("dialog")
    form.get_by_text("Run Parameters").wait_for()
    for param in ("gate_mode", "model_family", "override_gates", "override_reason"):
        assert form.locator(f"#element_{param}").count() == 1, param
    page.locator("#element_gate_mode").click()
    page.get_by_role("option", name="dry_run", exact=True).click()
    page.locator("#element_override_reason").fill("make test-ui: dry run from the trigger form")
    form.screenshot(path=str(SCREENSHOTS / "trigger-form.png"))

    with page.expect_response(
        lambda r: (
            r.url.endswith("/api/v2/dags/fraud_retrain/dagRuns") and r.request.method == "POST"
        )
    ) as response_info:
        form.get_by_role("button", name="Trigger").click()
    response = response_info.value
    assert response.status == 200, response.text()
    run_id = response.json()["dag_run_id"]

    finished = stack.wait_for_run(run_id)
    assert finished["state"] == "success"
    assert finished["conf"]["gate_mode"] == "dry_run"
    assert finished["triggering_user_name"] == stack.username
    # The form's logical date was "now": the run covers the whole day before it.
    day = date.fromisoformat(finished["logical_date"][:10]) - timedelta(days=1)
    assert finished["data_interval_start"].startswith(day.isoformat()), finished

    # The finished run's graph.
    page.goto(f"{base}/dags/fraud_retrain/runs/{quote(run_id, safe='')}")
    page.get_by_role("button", name="Show Graph").first.click()
    graph = page.locator(".react-flow")
    graph.wait_for()
    graph.get_by_text("promote").first.wait_for()
    page.get_by_text("Success").first.wait_for()
    page.wait_for_timeout(1500)  # let the layout settle before the picture
    page.screenshot(path=str(SCREENSHOTS / "run-graph.png"))

    # A dry run evaluates every gate and promotes nothing.
    decision = json.loads(
        (
            stack.state / "pipelines" / "fraud" / "runs" / f"ds={day.isoformat()}" / "decision.json"
        ).read_text()
    )
    assert decision["promoted"] is False
    assert any("dry run" in reason for reason in decision["reasons"]), decision
    assert not [e for e in stack.history() if e.get("by") == run_id]
    champion_after = json.loads(stack.mlgate("champion", "--json").stdout or "{}").get("version")
    assert champion_after == champion_before
    for name in ("trigger-form.png", "run-graph.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000, name
