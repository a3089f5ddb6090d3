"""The after-promotion loop end to end (`make test-loop`): the real services (Airflow's
api-server, scheduler, dag-processor and triggerer, MLflow, the mail sink; Spark in local
mode) on a tmp state with one pipeline, `cards`: the fraud demo's tables in a source of its
own, with a monitor that asks after 2 drifted days, an approval step and a canary rollout.

The data: 35 generated days ending on E (eight days ago), then E+1 and E+2 with every amount
tripled (`mlgate inject-fault --kind drift`) and E+3 and E+4 clean copies: each a copy of the
same weekday three weeks earlier (all its chargebacks in), its labels known two hours after
each event (`--label-delay 2`). Everything the test
does goes through the REST API and the `mlgate` command, as an operator would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml

from mlgate.config import PIPELINES_DIR
from support.stack import MLGATE, Stack, free_port

PIPELINE = "cards"
MODEL_NAME = "cards_detector"
pytestmark = [pytest.mark.services, pytest.mark.e2e]


def cards_config() -> dict:
    """The fraud demo's pipeline as a team would point it at its own copy, with the loop on:
    labels counted after one day (so a canary's evidence comes a day later), a monitor that
    asks after two drifted days, a person's approval, a canary at 20% decided on one
    labelled day with a lenient margin (the demo's days hold few frauds)."""
    config = yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())
    config["model_name"] = MODEL_NAME
    config["source"]["url"] = "sqlite:///{state}/source/cards.db"
    config["source"].pop("incremental", None)
    config["window"] = {"training_days": 21, "feature_history_days": 14}
    config["target"]["maturity_days"] = 1
    config["training"]["grid"]["random_forest"] = {"numTrees": [30], "maxDepth": [8]}
    config["gates"]["quality"]["floor"] = {"auc_pr": 0.05, "roc_auc": 0.7}
    config["gates"]["data_expectations"]["label_freshness_days"] = 0
    config["monitoring"] = {"retrain_after_days": 2}
    config["approval"] = "required"
    config["approval_timeout"] = "1h"
    # one labelled day (~35 frauds) gives an interval about ±0.1 wide: a canary as good as
    # the champion is promoted with a margin of 0.3
    config["rollout"] = {
        "mode": "canary",
        "share": 0.2,
        "min_days": 1,
        "effect": 0.3,
        "margin": 0.3,
        # on a drifted day the old champion and a canary trained on the drift flag rows many
        # times apart (the champion is the one that is wrong there): agreement guards here
        "max_flagged_ratio": 50,
    }
    return config


class Loop(Stack):
    """The stack, the pipeline's days, and what the steps of the story need."""

    def __init__(self, services, env: dict, first: date):
        super().__init__(services, env, first, dag_id=f"{PIPELINE}_retrain")
        self.first = first
        self.model_name = MODEL_NAME

    def trigger(self, kind: str, day: date, conf: dict | None = None) -> str:
        """A run of <pipeline>_<kind> for ``day``, as the UI's trigger form sends it."""
        from datetime import time as clock

        logical = datetime.combine(day + timedelta(days=1), clock(), tzinfo=UTC)
        status, run = self.request(
            "POST",
            f"dags/{PIPELINE}_{kind}/dagRuns",
            {"logical_date": logical.isoformat(), "conf": conf or {}},
        )
        if status == 409:  # a 500 retried, though the first call had made the run
            (run,) = [
                r
                for r in self.runs(f"{PIPELINE}_{kind}")
                if r["run_type"] == "manual"
                and (r["logical_date"] or "")[:10] == str(logical.date())
            ]
            return run["dag_run_id"]
        assert status == 200, run
        return run["dag_run_id"]

    def run_day(self, kind: str, day: date, conf: dict | None = None) -> dict:
        run_id = self.trigger(kind, day, conf)
        return self.wait_for_run(run_id, dag_id=f"{PIPELINE}_{kind}")

    def finish(self, run_id: str, kind: str = "retrain", timeout: float = 1200) -> dict:
        """Wait for a run to end, successful or not (a gate may stop it)."""
        deadline = time.monotonic() + timeout
        while True:
            status, run = self.request("GET", f"dags/{PIPELINE}_{kind}/dagRuns/{run_id}")
            assert status == 200, run
            if run["state"] in ("success", "failed"):
                return run
            assert time.monotonic() < deadline, f"{run_id} still {run['state']}"
            time.sleep(5)

    def rerun(self, kind: str, day: date) -> dict:
        """Clear the run of <pipeline>_<kind> for ``day`` (as the UI's Clear button does:
        a logical date has one run) and wait for it to finish again."""
        dag_id = f"{PIPELINE}_{kind}"
        (run,) = [
            r
            for r in self.runs(dag_id)
            if (r["logical_date"] or "")[:10] == str(day + timedelta(days=1))
        ]
        status, cleared = self.request(
            "POST", f"dags/{dag_id}/dagRuns/{run['dag_run_id']}/clear", {"dry_run": False}
        )
        assert status == 200, cleared
        deadline = time.monotonic() + 900
        while True:  # finished again: a new end date
            status, now = self.request("GET", f"dags/{dag_id}/dagRuns/{run['dag_run_id']}")
            if now["state"] in ("success", "failed") and now["end_date"] != run["end_date"]:
                return self.wait_for_run(run["dag_run_id"], dag_id=dag_id)
            assert time.monotonic() < deadline, f"{dag_id} {day} never ran again: {now}"
            time.sleep(5)

    def task(self, kind: str, run_id: str, task_id: str) -> dict:
        status, ti = self.client.get(
            f"dags/{PIPELINE}_{kind}/dagRuns/{run_id}/taskInstances/{task_id}"
        )
        assert status == 200, ti
        return ti

    def wait_for_question(self, run_id: str, timeout: float = 900) -> None:
        """Wait until the run's approval step asks (its task awaits input)."""
        deadline = time.monotonic() + timeout
        while (state := self.task("retrain", run_id, "approve")["state"]) != "awaiting_input":
            if state in ("failed", "upstream_failed", "skipped", "success") or (
                time.monotonic() > deadline
            ):
                pytest.fail(f"approve is {state}\n" + self.describe_run(run_id))
            time.sleep(5)
        # A person reads before answering. An answer within the instant the worker leaves
        # (Airflow 3.3 resumes the task at once) can race the executor's report of the
        # worker's exit, and the scheduler then fails the task: wait that instant out.
        time.sleep(10)

    def answer(self, run_id: str, choice: str, comment: str) -> dict:
        """Wait for the run's approval step to ask, then answer it over the REST API."""
        self.wait_for_question(run_id)
        status, detail = self.request(
            "PATCH",
            f"dags/{PIPELINE}_retrain/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
            {"chosen_options": [choice], "params_input": {"comment": comment}},
        )
        assert status == 200, detail
        return detail

    def request(self, method: str, path: str, body=None, tries: int = 10):
        """A REST call, again after a 500 (SQLite busy under the scheduler's writes)."""
        for attempt in range(tries):
            status, payload = self.client.request(method, path, body)
            if status != 500 or attempt == tries - 1:
                return status, payload
            time.sleep(3)

    def unpause_without_its_scheduled_run(self, dag_id: str, timeout: float = 120) -> None:
        """Unpause ``dag_id``; fail the run of yesterday the scheduler makes at once (no
        data there: not part of the story), so it holds no run slot."""
        status, dag = self.request("PATCH", f"dags/{dag_id}", {"is_paused": False})
        assert status == 200 and dag["is_paused"] is False, dag
        deadline = time.monotonic() + timeout
        while not (scheduled := [r for r in self.runs(dag_id) if r["run_type"] == "scheduled"]):
            assert time.monotonic() < deadline, f"no scheduled run of {dag_id}"
            time.sleep(2)
        for run in scheduled:
            path = f"dags/{dag_id}/dagRuns/{run['dag_run_id']}"
            status, payload = self.request("PATCH", path, {"state": "failed"})
            assert status == 200, payload

    def configure(self, edit=None) -> None:
        """Write the pipeline's YAML, changed by ``edit(config)`` as its team would change
        it (each task reads it as it starts); without ``edit``, as the story began."""
        config = cards_config()
        if edit is not None:
            edit(config)
        (self.state / "pipelines.d" / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(config))

    def history(self) -> list[dict]:
        import json

        result = self.mlgate("history", "--pipeline", PIPELINE, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    from support.browser import chromium_page

    with chromium_page(tmp_path_factory.mktemp("chromium-profile")) as page:
        yield page


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    from mlgate.local.services import Ports, start, stop

    state = tmp_path_factory.mktemp("loop-state")
    # E+4 is four days ago: its trigger's logical date (the day after) is not yesterday's,
    # which the scheduled run holds (a logical date has one run)
    first = datetime.now(UTC).date() - timedelta(days=8)
    pipelines = state / "pipelines.d"
    pipelines.mkdir()
    (pipelines / f"{PIPELINE}.yaml").write_text(yaml.safe_dump(cards_config()))
    base = {
        **os.environ,
        "MLGATE_STATE": str(state),
        "MLGATE_PIPELINES": str(pipelines),
        "MLGATE_PIPELINE": PIPELINE,
        "MLGATE_SHUFFLE_PARTITIONS": "4",
    }
    base.pop("MLGATE_AIRFLOW_PASSWORD", None)

    def mlgate(*args, env=base):
        done = subprocess.run([MLGATE, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, f"mlgate {' '.join(args)}:\n{done.stderr[-3000:]}"
        return done

    # the fraud demo's generator, into the cards pipeline's own source
    demo = {**base, "MLGATE_PIPELINES": str(PIPELINES_DIR)}
    source = f"sqlite:///{state}/source/cards.db"
    mlgate(
        *("generate", "--pipeline", "fraud", "--url", source, "--days", "35"),
        *("--transactions", "200000", "--end-date", first.isoformat(), "--quiet"),
        env=demo,
    )
    # the new days' chargebacks come within hours (a fast feed): the canary's first day has
    # its labels the day after, not ten days later as the demo's own feed would have them
    for offset, kind in ((1, "drift"), (2, "drift"), (3, "clean"), (4, "clean")):
        day = first + timedelta(days=offset)
        mlgate("inject-fault", "--pipeline", PIPELINE, "--date", day.isoformat(), "--kind", kind,
               "--copy-from", (day - timedelta(days=21)).isoformat(),
               "--label-delay", "2")  # fmt: skip

    used: set[int] = set()
    ports = Ports()
    for name in ("airflow", "mlflow", "smtp"):
        port = free_port(used)
        used.add(port)
        setattr(ports, name, port)
    started = time.monotonic()
    try:
        services = start(state, ports, spark_cluster=False, timeout=300, base_env=base)
        print(f"services up in {time.monotonic() - started:.0f}s", file=sys.stderr)
        stack = Loop(services, base, first)
        # Unpaused, the scheduler makes each DAG's run of yesterday at once: not part of
        # the story (no data there). Failed before they start, they hold no run slot.
        for kind in ("retrain", "score", "monitor", "rollout"):
            stack.unpause_without_its_scheduled_run(f"{PIPELINE}_{kind}")
        yield stack
    finally:
        report = stop(state, echo=lambda *_: None, strict=False)
        assert not report["survivors"], f"processes survived `stop`: {report['survivors']}"
