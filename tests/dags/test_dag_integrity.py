"""DAG integrity: every DAG imports cleanly, follows the house rules, and is cheap to parse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    from mlgate.local.dagfiles import sync_dag_files

    sync_dag_files()  # one DAG file per pipeline of include/pipelines
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag):
    from mlgate.config import pipeline_names

    assert dagbag.import_errors == {}, dagbag.import_errors
    expected = {
        f"{name}_{kind}"
        for name in pipeline_names()
        for kind in ("retrain", "score", "rollback", "monitor")
    }
    assert expected <= set(dagbag.dags)
    assert "fraud_retrain" in dagbag.dags


def test_a_broken_pipeline_breaks_only_its_own_dags(tmp_path, monkeypatch):
    """Each pipeline has its own DAG file, so a broken YAML is an import error of that file
    alone; the other pipelines' DAGs still load. A removed pipeline's file goes away."""
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    from mlgate.config import PIPELINES_DIR
    from mlgate.local.dagfiles import sync_dag_files

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    good = yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())
    (pipelines / "cards.yaml").write_text(yaml.safe_dump(good))
    (pipelines / "broken.yaml").write_text(yaml.safe_dump({**good, "window": {"days": 3}}))
    (pipelines / "gone.yaml").write_text(yaml.safe_dump(good))
    monkeypatch.setenv("MLGATE_PIPELINES", str(pipelines))
    monkeypatch.syspath_prepend(str(DAGS))  # as Airflow puts the DAG folder on sys.path
    folder = tmp_path / "dags"
    assert sorted(sync_dag_files(folder)["written"]) == ["broken", "cards", "gone"]
    (pipelines / "gone.yaml").unlink()
    assert sync_dag_files(folder) == {"written": [], "removed": ["gone"]}

    bag = DagBag(dag_folder=str(folder))
    assert {"cards_retrain", "cards_score", "cards_rollback"} <= set(bag.dags)
    assert not any(dag_id.startswith("broken") for dag_id in bag.dags)
    (error,) = bag.import_errors.items()
    assert error[0].endswith("broken.py")
    assert "window.training_days: Field required" in error[1]


def test_dag_files_follow_the_pipelines_folder_airflow_reads(tmp_path, monkeypatch):
    """A service started with its own pipelines folder syncs the DAG files of that folder,
    not of the starting process's; a file left by another folder makes no DAGs and no
    import error (the make test-ui failure: shop.py from include/pipelines in a deployment
    that has only fraud)."""
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    from mlgate.config import PIPELINES_DIR
    from mlgate.local.dagfiles import TEMPLATE, sync_dag_files

    deployment = tmp_path / "deployment"
    deployment.mkdir()
    fraud = yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())
    (deployment / "cards.yaml").write_text(yaml.safe_dump(fraud))
    monkeypatch.delenv("MLGATE_PIPELINES", raising=False)  # this process: include/pipelines
    monkeypatch.syspath_prepend(str(DAGS))
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "shop.py").write_text(TEMPLATE.format(name="shop"))  # left by another folder

    assert sync_dag_files(folder, pipelines=deployment) == {
        "written": ["cards"],
        "removed": ["shop"],
    }
    (folder / "shop.py").write_text(TEMPLATE.format(name="shop"))
    monkeypatch.setenv("MLGATE_PIPELINES", str(deployment))  # as the services' Airflow has it
    bag = DagBag(dag_folder=str(folder))
    assert not bag.import_errors
    assert sorted(bag.dags) == ["cards_monitor", "cards_retrain", "cards_rollback", "cards_score"]


def test_every_dag_has_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert dag.default_args.get("retries", 0) >= 2, f"{dag_id} has fewer than 2 retries"
        for task in dag.tasks:
            assert task.doc or task.doc_md, f"{dag_id}.{task.task_id} has no docstring"


def test_fraud_retrain_shape(dagbag):
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    dag = dagbag.dags["fraud_retrain"]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date.year == 2026  # static, not now()
    order = [
        "extract",
        "check_raw",
        "features",
        "check_features",
        "train",
        "gates",
        "promote",
    ]
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in dag.get_task(upstream).downstream_task_ids
    assert isinstance(dag.get_task("features"), SparkSubmitOperator)
    assert isinstance(dag.get_task("train"), SparkSubmitOperator)
    assert dag.get_task("features")._conn_id == "spark_default"
    # sized by MLGATE_DRIVER_MEMORY / MLGATE_SHUFFLE_PARTITIONS when the DAG is parsed
    assert dag.get_task("train")._driver_memory == "4g"
    assert dag.get_task("train").conf["spark.sql.shuffle.partitions"] == "8"
    # The train job evaluates its candidate and computes the model gates itself.
    assert "evaluate" not in dag.task_ids
    # A failed gate is not transient: gate tasks never retry.
    for task_id in ("check_raw", "check_features", "gates", "promote"):
        assert dag.get_task(task_id).retries == 0, task_id
    # The trigger form: gate mode, model family, overrides with a reason.
    params = dag.params
    assert params["gate_mode"] == "enforce"
    assert set(params.get_param("gate_mode").schema["enum"]) == {"enforce", "dry_run"}
    # reconciliation (issue 4) is the first gate, then bad_record_ratio
    assert params.get_param("override_gates").schema["items"]["enum"][:2] == [
        "reconciliation",
        "bad_record_ratio",
    ]


def test_trigger_form_submits_as_it_opens(dagbag):
    """Airflow's trigger form marks every param whose type excludes null as required and
    refuses to submit it empty: the optional ones must admit null. `examples` turns the
    gate list into a multi-select."""
    from mlgate.config import GATE_NAMES

    params = dagbag.dags["fraud_retrain"].params
    for name in ("model_family", "override_gates", "override_reason"):
        assert "null" in params.get_param(name).schema["type"], name
    assert params.get_param("override_gates").schema["examples"] == list(GATE_NAMES)
    resolved = params.validate()  # the defaults are valid as they are
    assert resolved["gate_mode"] == "enforce" and not resolved["override_gates"]


def test_rollback_dag_requires_a_reason(dagbag):
    from airflow.sdk.definitions.param import ParamValidationError

    dag = dagbag.dags["fraud_rollback"]
    assert dag.schedule is None or dag.timetable.summary in ("None", "Never")
    param = dag.params.get_param("reason")
    with pytest.raises(ParamValidationError):
        param.resolve("too short")
    assert param.resolve("model v7 flags every ecom payment") == "model v7 flags every ecom payment"


def test_parsing_does_not_import_heavy_libraries(dagbag):
    """Parse time must stay cheap: no Spark, MLflow, GX or pandas imports at module level."""
    code = (
        f"import runpy, sys; sys.path[:0] = [{str(DAGS)!r}, {str(REPO / 'plugins')!r}]; "
        "runpy.run_path(sys.argv[1]); "
        "heavy = [m for m in ('pyspark', 'mlflow', 'great_expectations', 'pandas', 'sklearn')"
        " if m in sys.modules]; print('HEAVY:' + ','.join(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DAGS / "pipelines" / "fraud.py")],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    heavy = [line for line in out.stdout.splitlines() if line.startswith("HEAVY:")]
    assert heavy == ["HEAVY:"], out.stdout


def test_ruff_airflow_rules_pass():
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run(
        [str(ruff), "check", "--select", "AIR", "--output-format", "concise", "dags", "plugins"],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stdout


def test_retrain_runs_daily_and_when_the_monitor_asks(dagbag):
    from airflow.sdk import Asset

    retrain, monitor = dagbag.dags["fraud_retrain"], dagbag.dags["fraud_monitor"]
    # one asset: what the monitor's last task publishes is what the retrain DAG waits for
    (published,) = monitor.get_task("request_retrain").outlets
    assert published == Asset("fraud_retrain_request")
    timetable = retrain.timetable
    assert "fraud_retrain_request" in str(timetable.asset_condition)
    assert timetable.timetable.expression == "0 0 * * *"  # and still daily at midnight UTC
    order = ["wait_for_scores", "monitor", "request_retrain"]
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in monitor.get_task(upstream).downstream_task_ids
    assert monitor.get_task("monitor").retries == 0  # a judgement, not a transient failure


def test_spark_jobs_of_a_run_the_monitor_started_get_the_day_it_names(dagbag):
    """An asset-triggered run has no data interval: the jobs' --ds comes from the request."""
    from types import SimpleNamespace

    from jinja2 import Environment, StrictUndefined

    from mlgate.jobs.submit import DS, TRIGGERED_BY

    retrain = dagbag.dags["fraud_retrain"]
    render = Environment(undefined=StrictUndefined).from_string  # as Airflow renders
    macros = retrain.user_defined_macros
    events = {"fraud_retrain_request": [SimpleNamespace(extra={"ds": "2026-03-04", "reason": "x"})]}
    # no data_interval_start at all in an asset-triggered run's context
    asked = {"triggering_asset_events": events, **macros}
    assert render(DS).render(asked) == "2026-03-04"
    run = SimpleNamespace(
        run_type=SimpleNamespace(value="asset_triggered"), triggering_user_name=None
    )
    assert render(TRIGGERED_BY).render({**asked, "dag_run": run}) == (
        "asset_triggered:monitor of 2026-03-04: x"
    )
    from datetime import UTC, datetime

    daily = {"data_interval_start": datetime(2026, 3, 5, tzinfo=UTC), "triggering_asset_events": {}}
    assert render(DS).render({**daily, **macros}) == "2026-03-05"


def cards_dagbag(tmp_path, monkeypatch, **changes):
    """The DagBag Airflow reads for one pipeline `cards`: the fraud pipeline with `changes`;
    call it again to rewrite the file and read it anew."""
    import yaml
    from airflow.dag_processing.dagbag import DagBag

    from mlgate.config import PIPELINES_DIR
    from mlgate.local.dagfiles import sync_dag_files

    pipelines = tmp_path / "pipelines"
    pipelines.mkdir(exist_ok=True)
    config = yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())
    config.update(changes)
    (pipelines / "cards.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MLGATE_PIPELINES", str(pipelines))
    monkeypatch.syspath_prepend(str(DAGS))
    folder = tmp_path / "dags"
    sync_dag_files(folder)
    bag = DagBag(dag_folder=str(folder))
    assert not bag.import_errors
    return bag


def test_a_pipeline_that_requires_approval_asks_a_person_between_gates_and_promote(
    tmp_path, monkeypatch
):
    from datetime import timedelta

    from airflow.providers.standard.operators.hitl import HITLOperator

    bag = cards_dagbag(tmp_path, monkeypatch, approval="required", approval_timeout="36h")
    dag = bag.dags["cards_retrain"]
    approve = dag.get_task("approve")
    assert isinstance(approve, HITLOperator)
    assert approve.upstream_task_ids == {"gates"}
    assert approve.downstream_task_ids == {"promote"}
    assert approve.options == ["Approve", "Reject"]
    assert approve.defaults == ["Reject"]  # what the scheduler answers when time runs out
    assert approve.response_timeout == timedelta(hours=36)
    assert approve.retries == 0
    assert "comment" in approve.params
    # promote still runs after a dry run skipped the approval, to record the dry run
    assert dag.get_task("promote").trigger_rule == "none_failed"
    assert "approve" not in bag.dags["cards_monitor"].task_ids
    # without approval: required there is no approval step
    plain = cards_dagbag(tmp_path, monkeypatch)
    assert "approve" not in plain.dags["cards_retrain"].task_ids


def test_a_pipeline_with_a_rollout_scores_with_both_models_and_gets_a_rollout_dag(
    tmp_path, monkeypatch
):
    bag = cards_dagbag(tmp_path, monkeypatch, rollout={"mode": "canary", "share": 0.2})
    rollout = bag.dags["cards_rollout"]
    order = ["wait_for_scores", "decide", "alert"]
    for upstream, downstream in zip(order, order[1:]):
        assert downstream in rollout.get_task(upstream).downstream_task_ids
    assert rollout.get_task("decide").retries == 0
    score = bag.dags["cards_score"]
    assert score.get_task("canary").downstream_task_ids == {"score"}
    args = score.get_task("score").application_args
    assert args[args.index("--canary-version") + 1] == "{{ ti.xcom_pull(task_ids='canary') }}"
    # without a rollout: no rollout DAG, no canary in scoring
    plain = cards_dagbag(tmp_path, monkeypatch)
    assert "cards_rollout" not in plain.dags
    assert "--canary-version" not in plain.dags["cards_score"].get_task("score").application_args
