"""The DAG's Spark jobs ran on the standalone cluster, on both workers.

The services were started with `--spark-cluster`: `spark_default` points at the master, so
spark-submit sends features and train there. The master's JSON status lists each
finished application; each worker's JSON status lists the executors it hosted, by app id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.local.spark_cluster import SPARK_WORKERS, spark_master_state

pytestmark = [pytest.mark.services, pytest.mark.e2e]

JOBS = ("features", "train")
EVIDENCE = Path(__file__).resolve().parents[2] / "test-artifacts" / "spark-cluster-status.json"


def test_dag_spark_jobs_ran_on_both_workers(unpaused):
    stack = unpaused
    run = stack.wait_for_scheduled_run()
    stack.wait_for_run(run["dag_run_id"])
    day = run["data_interval_start"][:10]

    master = spark_master_state(stack.services.spark_master_ui_url)
    assert master is not None, "the Spark master UI does not answer"
    assert master["status"] == "ALIVE"
    assert master["aliveworkers"] == SPARK_WORKERS
    workers = {w["id"]: w for w in master["workers"]}
    assert len(workers) == SPARK_WORKERS

    finished = {app["id"]: app for app in master["completedapps"]}
    # The jobs name their application mlgate-<job>-<day>; the scheduled run's are among them.
    by_job = {
        job: [app for app in finished.values() if app["name"] == f"mlgate-{job}-{day}"]
        for job in JOBS
    }
    assert all(by_job.values()), f"missing finished applications: {by_job} in {finished}"
    for apps in by_job.values():
        for app in apps:
            assert app["state"] == "FINISHED", app

    # Which worker hosted executors of which application: from each worker's own status.
    hosted: dict[str, set[str]] = {}
    evidence = {"master": master, "workers": []}
    for ui_url in stack.services.spark_worker_ui_urls():
        worker = spark_master_state(ui_url)  # a worker's UI serves /json/ the same way
        assert worker is not None and worker["id"] in workers, worker
        evidence["workers"].append(worker)
        hosted[worker["id"]] = {
            executor["appid"] for executor in worker["executors"] + worker["finishedexecutors"]
        }
    EVIDENCE.parent.mkdir(parents=True, exist_ok=True)
    EVIDENCE.write_text(json.dumps(evidence, indent=2))  # for people: what the cluster saw
    for job, apps in by_job.items():
        for app in apps:
            on = sorted(wid for wid, app_ids in hosted.items() if app["id"] in app_ids)
            assert len(on) == SPARK_WORKERS, f"{job} app {app['id']} had executors only on {on}"
    # The work was written where every process of this machine reads it: the lake.
    assert (stack.state / "pipelines" / "fraud" / "features" / f"ds={day}").is_dir()
