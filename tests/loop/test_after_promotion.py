"""After promotion, end to end, on the running services (tests/loop/conftest.py):

drift injected into the source (the drifted days' candidates rejected over REST) → the
monitor flags it on 2 days in a row → the asset starts a retrain → an approval given over
the REST API → canary at 20% → promoted on its evidence; then a careless candidate (its
operating threshold lowered 250-fold: the blocking gates judge its ranking, which is as good
as ever), approved in the browser → canary → rolled back by the rollout's guardrails on its
first day of traffic, the champion never changed, an alert email in the sink.

One story in order: each step needs the state the one before left.
"""

from __future__ import annotations

import email
import json
import time
from datetime import timedelta

import pytest

PIPELINE = "cards"
pytestmark = [pytest.mark.services, pytest.mark.e2e]


def mails(loop) -> list[email.message.EmailMessage]:
    from email import policy

    found = []
    for path in sorted((loop.state / "mail").glob("*.eml")):
        found.append(email.message_from_bytes(path.read_bytes(), policy=policy.default))
    return found


def approve_in_browser(loop, page, run_id: str, comment: str) -> None:
    """Sign in, open the run's approval step, read the question, approve with a comment."""
    from urllib.parse import quote

    from support.browser import SCREENSHOTS, sign_in

    loop.wait_for_question(run_id)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = f"/dags/{PIPELINE}_retrain/runs/{quote(run_id, safe='')}/tasks/approve/required_actions"
    sign_in(
        page, loop.services.airflow_url, loop.username, loop.password, path, "**/required_actions**"
    )
    try:
        page.get_by_text(f"Promote {loop.model_name} version").first.wait_for()
        page.get_by_text("export_parity").first.wait_for()  # the gate table, rendered
        page.locator("#element_comment").fill(comment)
        page.set_viewport_size({"width": 1400, "height": 2100})  # the whole request in view
        page.get_by_text(f"Promote {loop.model_name} version").first.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)  # let the layout settle before the picture
        page.screenshot(path=str(SCREENSHOTS / "approval-step.png"), full_page=True)
        page.get_by_test_id("hitl-option-Approve").click()  # one button per option
        deadline = time.monotonic() + 60
        while loop.task("retrain", run_id, "approve")["state"] == "awaiting_input":
            assert time.monotonic() < deadline, "the answer never reached Airflow"
            time.sleep(2)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "approval-step-failed.png"), full_page=True)
        raise
    assert (SCREENSHOTS / "approval-step.png").stat().st_size > 10_000


def record(loop, *parts) -> dict:
    path = loop.state / "pipelines" / PIPELINE
    for part in parts:
        path = path / part
    return json.loads(path.read_text())


def test_drift_retrains_an_approved_canary_is_promoted_a_bad_one_rolled_back(loop, browser_page):
    day = [loop.first + timedelta(days=n) for n in range(5)]  # E .. E+4

    # 1. the first champion: gates, then a person approves over REST
    first = loop.trigger("retrain", day[0])
    loop.answer(first, "Approve", "first model of the cards team")
    assert loop.wait_for_run(first)["state"] == "success"
    (promoted,) = [e for e in loop.history() if e["action"] == "promote"]
    assert promoted["approval"]["decision"] == "approve"
    assert promoted["approval"]["by"] == loop.username
    assert promoted["approval"]["comment"] == "first model of the cards team"
    champion = promoted["version"]

    # 2. two drifted days: each day's candidate passes its gates, a reviewer rejects it over
    #    REST (the amounts look odd); the day is scored, the monitor judges it
    for n in (1, 2):
        drifted = loop.trigger("retrain", day[n])
        loop.answer(drifted, "Reject", "amounts look odd: waiting for the data team")
        assert loop.wait_for_run(drifted)["state"] == "success"
        assert loop.run_day("score", day[n])["state"] == "success"
        assert loop.run_day("monitor", day[n])["state"] == "success"
        judged = record(loop, "monitor", f"ds={day[n]}", "monitor.json")
        assert judged["drift_breached"] is True
        assert "amount" in [d["feature"] for d in judged["drift"] if d["drifted"]]
        assert judged["streaks"]["drift"] == n
        assert judged["retrain"] is (n == 2)  # hysteresis: one day does nothing
    rejected = [e for e in loop.history() if e["action"] == "reject"]
    assert [e["ds"] for e in rejected] == [day[1].isoformat(), day[2].isoformat()]
    assert rejected[0]["approval"]["by"] == loop.username
    assert rejected[0]["approval"]["comment"] == "amounts look odd: waiting for the data team"
    assert loop.history()[-1]["action"] == "reject"  # the champion did not move

    # 3. the asset starts a retrain of the judged day; approved over REST; it becomes canary
    asked = loop.wait_for_scheduled_run(timeout=300, run_type="asset_triggered")
    loop.answer(asked["dag_run_id"], "Approve", "drift is real: a retrained model may fix it")
    assert loop.wait_for_run(asked["dag_run_id"])["state"] == "success"
    canary = [e for e in loop.history() if e["action"] == "canary"][-1]
    assert canary["ds"] == day[2].isoformat()  # the day the monitor's request named
    assert canary["triggered_by"] == (
        f"asset_triggered:monitor of {day[2]}: drift on 2 days in a row"
    )
    assert canary["share"] == 0.2 and canary["previous"] == champion
    request = [m for m in mails(loop) if "retrain requested by the monitor" in m["Subject"]]
    assert request and "drift on 2 days in a row" in request[0].get_body(("plain",)).get_content()

    # 4. the day scored again, now by the canary beside the champion; the rollout checks
    #    its guardrails and waits for labelled evidence
    assert loop.rerun("score", day[2])["state"] == "success"
    scored = record(loop, "scores", f"ds={day[2]}", "_scores.json")
    assert scored["canary_version"] == canary["version"]
    assert loop.run_day("rollout", day[2])["state"] == "success"
    waited = record(loop, "rollout", f"v{canary['version']}", f"decision-ds={day[2]}.json")
    assert waited["action"] == "continue" and waited["guardrails"]["breached"] == []

    # 5. the next day's retrain brings the labels of day 2; its candidate waits for the
    #    rollout (one at a time) and nobody is asked, unless a gate stops it first
    nxt = loop.finish(loop.trigger("retrain", day[3]))
    assert loop.task("retrain", nxt["dag_run_id"], "features")["state"] == "success"
    if nxt["state"] == "success":
        assert loop.task("retrain", nxt["dag_run_id"], "approve")["state"] == "skipped"
        waits = record(loop, "runs", f"ds={day[3]}", "decision.json")["reasons"]
        assert waits[0].startswith(f"version {canary['version']} is in rollout"), waits
    else:  # blocked by a gate: the alert says so; the rollout is not touched
        assert loop.task("retrain", nxt["dag_run_id"], "gates")["state"] == "failed"
    assert loop.run_day("score", day[3])["state"] == "success"
    assert loop.run_day("rollout", day[3])["state"] == "success"
    entry = loop.history()[-1]
    assert (entry["action"], entry["version"], entry["previous"]) == (
        "promote",
        canary["version"],
        champion,
    )
    assert entry["rollout"]["evidence"]["days"] == 1
    champion = canary["version"]
    info = json.loads(loop.mlgate("champion", "--pipeline", PIPELINE, "--json").stdout)
    assert info["version"] == champion

    # 6. a careless candidate: the team lowers the operating threshold from 0.5 to 0.002
    #    ("catch more fraud"); the holdout's ranking is as good as ever, so the blocking
    #    gates pass (the assertion examples may object: overridden); approved in the
    #    browser, as a reviewer would (the screenshot in docs/monitoring.md); canary
    loop.configure(lambda config: config["training"].update(operating_threshold=0.002))
    careless = loop.trigger(
        "retrain",
        day[4],
        {
            "gate_mode": "enforce",
            "override_gates": ["assertion_set"],
            "override_reason": "catch more fraud: flag every score above 0.2%",
        },
    )
    approve_in_browser(loop, browser_page, careless, "let the canary tell")
    assert loop.wait_for_run(careless)["state"] == "success"
    loop.configure()  # reverted
    approval = [e for e in loop.history() if e["action"] == "canary"][-1]["approval"]
    assert (approval["by"], approval["comment"]) == (loop.username, "let the canary tell")
    bad = [e for e in loop.history() if e["action"] == "canary"][-1]
    assert bad["version"] not in (champion, canary["version"])

    # 7. its first day of traffic: it decides unlike the champion on a third of the rows;
    #    the rollout rolls it back by itself, the champion never changed, an email says why
    assert loop.run_day("score", day[4])["state"] == "success"
    assert loop.run_day("rollout", day[4])["state"] == "success"
    ended = loop.history()[-1]
    assert (ended["action"], ended["version"]) == ("canary_rollback", bad["version"])
    assert ended["reason"].startswith("guardrail breached: the two models decide alike on")
    info = json.loads(loop.mlgate("champion", "--pipeline", PIPELINE, "--json").stdout)
    assert info["version"] == champion
    assert [e["version"] for e in loop.history() if e["action"] == "promote"][-1] == champion
    rolled = [
        m for m in mails(loop) if f"canary version {bad['version']} rolled back" in m["Subject"]
    ]
    assert rolled, [m["Subject"] for m in mails(loop)]
    text = rolled[0].get_body(("plain",)).get_content()
    assert f"The champion stays version {champion}" in text
