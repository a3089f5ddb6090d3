"""MLflow tracking and registry: experiments, model versions, the `champion` alias.

Everything a governance question needs ("which model is in production, why, trained how,
on what data, how good?") is written here as run metrics, artefacts and version tags, and
read back by `champion_info`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from mlgate.errors import PermanentError
from mlgate.gates import MIN_OVERRIDE_REASON
from mlgate.paths import artifact_root, promotion_history_path, promotion_lock_path, tracking_uri
from mlgate.runs import (
    GATES_FILE,
    TAG_AIRFLOW_RUN_ID,
    TAG_DAG_ID,
    TAG_DS,
    TAG_GIT_COMMIT,
    TAG_INTERRUPTED,
    TAG_OWNER,
    TAG_PREFIX,
    TAG_TRIGGERED_BY,
    WINDOW_TAG_PREFIX,
    owner_gone,
)

CHAMPION = "champion"
PREVIOUS = "previous"
MIN_REASON_CHARS = MIN_OVERRIDE_REASON  # a rollback's reason, like an override's
THRESHOLD_PARAM = "operating_threshold"  # logged by the train job with every candidate


def configure_mlflow():
    """Point the MLflow client at the configured tracking server / registry; return mlflow."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        from pathlib import Path

        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow


def ensure_experiment(name: str) -> str:
    """The experiment's id, creating it (with artefacts under the state folder) if needed."""
    mlflow = configure_mlflow()
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = artifact_root() if tracking_uri().startswith("sqlite:") else None
    return mlflow.create_experiment(name, artifact_location=location)


def fail_interrupted_runs(experiment_id: str, found_by: str) -> list[str]:
    """Mark FAILED the runs of an experiment left RUNNING by a process that is gone (a
    killed task or command); returns their ids.

    Only runs whose owner (tag mlgate.owner, host:pid:start) ran on this host and has
    ended are touched: a live owner, another host's, or a run without the tag is left as
    it is. Each failed run is tagged with why and by which run (`found_by`).
    """
    client = configure_mlflow().MlflowClient()
    failed = []
    for run in client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
    ):
        owner = run.data.tags.get(TAG_OWNER)
        if not owner or not owner_gone(owner):
            continue
        client.set_tag(
            run.info.run_id,
            TAG_INTERRUPTED,
            f"its owner {owner} ended without finishing the run; found by {found_by}",
        )
        client.set_terminated(run.info.run_id, status="FAILED")
        failed.append(run.info.run_id)
    return failed


def operating_threshold(run_id: str) -> float:
    """The threshold a model decides at: the one its training run recorded."""
    params = configure_mlflow().MlflowClient().get_run(run_id).data.params
    if THRESHOLD_PARAM not in params:
        raise PromotionError(
            f"run {run_id} recorded no {THRESHOLD_PARAM}; retrain the model (make run)"
        )
    return float(params[THRESHOLD_PARAM])


def register_candidate(model_name: str, model_uri: str, run_id: str, tags: dict) -> str:
    """Register the run's model as a new version of `model_name`; return the version."""
    mlflow = configure_mlflow()
    version = mlflow.register_model(model_uri, model_name, tags={"run_id": run_id}).version
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, f"{TAG_PREFIX}{key}", str(value))
    return str(version)


class PromotionError(RuntimeError, PermanentError):
    """Promotion or rollback refused; the message says why and what to do."""


@contextmanager
def promotion_lock(pipeline: str) -> Iterator[None]:
    """One promotion or rollback of a pipeline at a time (an exclusive file lock)."""
    path = promotion_lock_path(pipeline)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alias_version(client, model_name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, alias).version)
    except MlflowException:
        return None


def champion_version(model_name: str) -> dict | None:
    """{"version", "run_id"} of the current champion, or None before the first promotion."""
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    version = _alias_version(client, model_name, CHAMPION)
    if version is None:
        return None
    return {"version": version, "run_id": client.get_model_version(model_name, version).run_id}


def append_history(pipeline: str, entry: dict) -> None:
    """Add one line to the pipeline's append-only promotion history."""
    path = promotion_history_path(pipeline)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        handle.write(json.dumps(entry, default=str, sort_keys=True) + "\n")


def read_history(pipeline: str) -> list[dict]:
    """Every promotion and rollback of the pipeline, oldest first."""
    path = promotion_history_path(pipeline)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def promote(
    pipeline: str,
    model_name: str,
    version: str,
    *,
    expected_champion: str | None,
    record: dict,
) -> dict:
    """Move `champion` to `version` and `previous` to the old champion, atomically.

    `expected_champion` is the version the gates compared against; if another run moved
    the alias meanwhile, promotion is refused (the comparison would be stale).
    """
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    with promotion_lock(pipeline):
        current = _alias_version(client, model_name, CHAMPION)
        if current != expected_champion:
            raise PromotionError(
                f"the champion of {model_name} moved from version {expected_champion} to "
                f"{current} while version {version} was being evaluated; rerun the DAG so the "
                "gates compare against the new champion"
            )
        promoted_at = _now()
        if current is not None:
            client.set_registered_model_alias(model_name, PREVIOUS, current)
        client.set_model_version_tag(model_name, version, f"{TAG_PREFIX}promoted_at", promoted_at)
        client.set_model_version_tag(
            model_name, version, f"{TAG_PREFIX}promoted_by", record.get("by", "")
        )
        client.set_registered_model_alias(model_name, CHAMPION, version)
        entry = {
            "action": "promote",
            "at": promoted_at,
            "model_name": model_name,
            "version": version,
            "previous": current,
            **record,
        }
        append_history(pipeline, entry)
    return entry


def rollback(pipeline: str, model_name: str, *, reason: str, by: str) -> dict:
    """Move `champion` back to `previous`, record why; `previous` steps one further back."""
    if len(reason.strip()) < MIN_REASON_CHARS:
        raise PromotionError(
            f"a rollback needs a written reason of at least {MIN_REASON_CHARS} characters"
        )
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    with promotion_lock(pipeline):
        current = _alias_version(client, model_name, CHAMPION)
        target = _alias_version(client, model_name, PREVIOUS)
        if current is None or target is None:
            raise PromotionError(
                f"{model_name} has no {'champion' if current is None else 'previous'} version, "
                "so there is nothing to roll back to"
            )
        # The version that was champion before `target` becomes the new `previous`.
        before_target = None
        for entry in reversed(read_history(pipeline)):
            if entry.get("action") == "promote" and entry.get("version") == target:
                before_target = entry.get("previous")
                break
        client.set_registered_model_alias(model_name, CHAMPION, target)
        if before_target and before_target != target:
            client.set_registered_model_alias(model_name, PREVIOUS, before_target)
        else:
            client.delete_registered_model_alias(model_name, PREVIOUS)
        at = _now()
        client.set_model_version_tag(model_name, current, f"{TAG_PREFIX}rolled_back_at", at)
        client.set_model_version_tag(model_name, current, f"{TAG_PREFIX}rollback_reason", reason)
        entry = {
            "action": "rollback",
            "at": at,
            "model_name": model_name,
            "version": target,
            "previous": current,
            "by": by,
            "reason": reason,
        }
        append_history(pipeline, entry)
    return entry


class NoChampionError(LookupError):
    pass


def champion_info(model_name: str) -> dict:
    """Everything recorded about the production model, as one JSON-ready dict."""
    mlflow = configure_mlflow()
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        raise NoChampionError(
            f"no model version of {model_name!r} carries the alias {CHAMPION!r} in "
            f"{tracking_uri()}; run the retrain DAG (make run) first"
        ) from None
    run = client.get_run(version.run_id)
    tags = {
        k.removeprefix(TAG_PREFIX): v for k, v in version.tags.items() if k.startswith(TAG_PREFIX)
    }
    run_tags = run.data.tags
    gates = None
    try:
        gates = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{GATES_FILE}")
    except Exception:  # runs from before the gates existed have none
        gates = None
    return {
        "model_name": model_name,
        "version": str(version.version),
        "run_id": version.run_id,
        "metrics": dict(sorted(run.data.metrics.items())),
        "params": dict(sorted(run.data.params.items())),
        "promoted_at": tags.get("promoted_at"),
        "promoted_by": tags.get("promoted_by"),
        "trained_for_ds": run_tags.get(TAG_DS),
        "data_window": {
            key.removeprefix(WINDOW_TAG_PREFIX): value
            for key, value in sorted(run_tags.items())
            if key.startswith(WINDOW_TAG_PREFIX)
        },
        "airflow": {
            "dag_id": run_tags.get(TAG_DAG_ID),
            "run_id": run_tags.get(TAG_AIRFLOW_RUN_ID),
            "triggered_by": run_tags.get(TAG_TRIGGERED_BY),
        },
        "git_commit": run_tags.get(TAG_GIT_COMMIT),
        "model_family": run.data.params.get("family"),
        "model_uri": f"models:/{model_name}@{CHAMPION}",
        "source": version.source,
        "artifact_uri": run.info.artifact_uri,
        "tracking_uri": tracking_uri(),
        "gates": gates,
        "gates_artifact": f"{run.info.artifact_uri}/{GATES_FILE}" if gates else None,
        # the portable (ONNX) twin logged with the Spark model, if the version has one
        "portable_model": (
            f"{run.info.artifact_uri}/{tags['onnx']}"
            if tags.get("onnx", "none") != "none"
            else None
        ),
    }
