"""MLflow tracking and registry: experiments, model versions, the `champion` alias.

Everything a governance question needs ("which model is in production, why, trained how,
on what data, how good?") is written here as run metrics, artefacts and version tags, and
read back by `champion_info`.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from mlgate.paths import REPO_ROOT, artifact_root, tracking_uri

CHAMPION = "champion"
TAG_PREFIX = "mlgate."


def configure_mlflow():
    """Point the MLflow client at the configured tracking server / registry; return mlflow."""
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


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def quality_floor_failures(metrics: dict[str, float], floor: dict[str, float]) -> list[str]:
    """Human-readable reasons the candidate misses the configured floor ([] when it passes)."""
    failures = []
    for name, minimum in floor.items():
        value = metrics.get(name)
        if value is None:
            failures.append(f"{name} was not measured (no positives in the holdout?)")
        elif value < minimum:
            failures.append(f"{name} {value:.4f} is below the floor {minimum:.4f}")
    return failures


def register_candidate(model_name: str, model_uri: str, run_id: str, tags: dict) -> str:
    """Register the run's model as a new version of `model_name`; return the version."""
    mlflow = configure_mlflow()
    version = mlflow.register_model(model_uri, model_name, tags={"run_id": run_id}).version
    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, f"{TAG_PREFIX}{key}", str(value))
    return str(version)


def promote(model_name: str, version: str, promoted_by: str) -> str:
    """Move the `champion` alias to `version`; return the promotion time (UTC, ISO)."""
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    promoted_at = datetime.now(UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(model_name, version, f"{TAG_PREFIX}promoted_at", promoted_at)
    client.set_model_version_tag(model_name, version, f"{TAG_PREFIX}promoted_by", promoted_by)
    client.set_registered_model_alias(model_name, CHAMPION, version)
    return promoted_at


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
            f"{tracking_uri()}; run the fraud_retrain DAG (make run) first"
        ) from None
    run = client.get_run(version.run_id)
    tags = {
        k.removeprefix(TAG_PREFIX): v for k, v in version.tags.items() if k.startswith(TAG_PREFIX)
    }
    run_tags = run.data.tags
    return {
        "model_name": model_name,
        "version": str(version.version),
        "run_id": version.run_id,
        "metrics": dict(sorted(run.data.metrics.items())),
        "params": dict(sorted(run.data.params.items())),
        "promoted_at": tags.get("promoted_at"),
        "promoted_by": tags.get("promoted_by"),
        "trained_for_ds": run_tags.get("mlgate.ds"),
        "data_window": {
            key.removeprefix("mlgate.window."): value
            for key, value in sorted(run_tags.items())
            if key.startswith("mlgate.window.")
        },
        "airflow": {
            "dag_id": run_tags.get("mlgate.airflow.dag_id"),
            "run_id": run_tags.get("mlgate.airflow.run_id"),
            "triggered_by": run_tags.get("mlgate.triggered_by"),
        },
        "git_commit": run_tags.get("mlgate.git_commit"),
        "model_family": run.data.params.get("family"),
        "model_uri": f"models:/{model_name}@{CHAMPION}",
        "source": version.source,
        "artifact_uri": run.info.artifact_uri,
        "tracking_uri": tracking_uri(),
    }
