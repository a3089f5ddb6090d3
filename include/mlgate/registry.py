"""MLflow tracking and registry: experiments, model versions, the `champion` alias.

Everything a governance question needs ("which model is in production, why, trained how,
on what data, how good?") is written here as run metrics, artefacts and version tags, and
read back by `champion_info`. Promotions, rollbacks and operator resolutions go through
the pipeline's ledger (`mlgate.ledger`): the intended alias moves are written first, then
made, then committed, so a crash at any step is finished by the next promotion, rollback
or `mlgate aliases`; and aliases moved outside mlgate are told from the ledger's.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from mlgate import ledger
from mlgate.ledger import (  # the errors and names callers know from here
    ACCEPT,
    ALIASES,
    CANARY,
    CHAMPION,
    CHAMPION_MOVED,
    COMMITTED,
    INTENT_WRITTEN,
    PREVIOUS,
    PREVIOUS_MOVED,
    RESTORE,
    TAGS_WRITTEN,
    AliasCheck,
    AliasesMovedError,
    PromotionError,
    Transaction,
    crash_point,
    plan_canary,
    plan_promotion,
    plan_rejection,
    plan_resolution,
    plan_rollback,
    plan_rollout_end,
    require_reason,
)
from mlgate.paths import artifact_root, promotion_lock_path, tracking_uri
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

log = logging.getLogger(__name__)

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
    """Register the run's model as a version of `model_name`; return the version.

    A rerun of the task finds the version it registered before (one version per run).
    """
    mlflow = configure_mlflow()
    client = mlflow.MlflowClient()
    # the tag, not the version's run_id: MLflow 3 registers a logged model without one
    earlier = client.search_model_versions(f"name = '{model_name}' and tags.run_id = '{run_id}'")
    if earlier:
        version = min(str(v.version) for v in earlier)
    else:
        version = mlflow.register_model(model_uri, model_name, tags={"run_id": run_id}).version
    for key, value in tags.items():
        client.set_model_version_tag(model_name, version, f"{TAG_PREFIX}{key}", str(value))
    return str(version)


@contextmanager
def promotion_lock(pipeline: str, *, shared: bool = False) -> Iterator[None]:
    """One promotion or rollback of a pipeline at a time (an exclusive file lock).

    `shared`: for readers that must not see a transaction half-way (any number at once).
    """
    path = promotion_lock_path(pipeline)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
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


def _registry_aliases(client, model_name: str) -> dict[str, str | None]:
    return {alias: _alias_version(client, model_name, alias) for alias in ALIASES}


def _version_ref(client, model_name: str, version: str | None) -> dict | None:
    if version is None:
        return None
    return {"version": version, "run_id": client.get_model_version(model_name, version).run_id}


def champion_version(model_name: str) -> dict | None:
    """{"version", "run_id"} of the current champion, or None before the first promotion."""
    client = configure_mlflow().MlflowClient()
    return _version_ref(client, model_name, _alias_version(client, model_name, CHAMPION))


def read_history(pipeline: str) -> list[dict]:
    """Every committed promotion, rollback and alias resolution of the pipeline, oldest first."""
    return ledger.history(pipeline)


def accepted_efforts(pipeline: str, limit: int) -> list[dict]:
    """Training-effort metrics of the most recent promoted (accepted) runs, oldest first."""
    efforts = [
        e["effort"]
        for e in read_history(pipeline)
        if e.get("action") == "promote" and e.get("effort")
    ]
    return efforts[-limit:]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_aliases(pipeline: str, model_name: str) -> AliasCheck:
    """Compare the registry's aliases with the ledger's (read-only: nothing is repaired).

    Under the shared lock: a promotion that moves an alias between reading the ledger and
    reading the registry would otherwise look like a move outside mlgate.
    """
    client = configure_mlflow().MlflowClient()
    with promotion_lock(pipeline, shared=True):
        state = ledger.state(pipeline)
        found = _registry_aliases(client, model_name)
    return AliasCheck(pipeline, model_name, found, state.expected, state.pending)


def trusted_champion(pipeline: str, model_name: str) -> dict | None:
    """`champion_version`, refused (AliasesMovedError) while an alias is moved outside mlgate.

    What batch scoring uses: a champion the ledger does not know scores nothing.
    """
    check = check_aliases(pipeline, model_name)
    if check.moved:
        raise AliasesMovedError(check.describe())
    # the version the check saw, not a second read: an alias moved between two reads
    # would otherwise be used unchecked
    return _version_ref(configure_mlflow().MlflowClient(), model_name, check.registry[CHAMPION])


def _move_alias(client, model_name: str, alias: str, version: str | None) -> None:
    if version is not None:
        client.set_registered_model_alias(model_name, alias, version)
    elif _alias_version(client, model_name, alias) is not None:
        client.delete_registered_model_alias(model_name, alias)


def _apply(client, model_name: str, txn: Transaction) -> None:
    """The moves of an intent, in order; every step sets a value, so it can be repeated."""
    _move_alias(client, model_name, PREVIOUS, txn.after[PREVIOUS])
    crash_point(PREVIOUS_MOVED)
    for version, tags in txn.tags.items():
        for key, value in tags.items():
            client.set_model_version_tag(model_name, version, f"{TAG_PREFIX}{key}", value)
    crash_point(TAGS_WRITTEN)
    _move_alias(client, model_name, CANARY, txn.after[CANARY])
    _move_alias(client, model_name, CHAMPION, txn.after[CHAMPION])  # last: serving follows it
    crash_point(CHAMPION_MOVED)


def _transact(client, pipeline: str, model_name: str, txn: Transaction) -> dict:
    """Intent (durable) first, then the moves, then the commit; return the history entry."""
    ledger.crash_step()  # a misspelt fault step fails here, before anything is written
    ledger.append(pipeline, txn.intent_record())
    crash_point(INTENT_WRITTEN)
    _apply(client, model_name, txn)
    ledger.commit(pipeline, txn)
    crash_point(COMMITTED)
    return txn.entry


def _recover(client, pipeline: str, model_name: str, *, overwrite_moved: bool = False):
    """Finish the intent an interrupted transaction left (call under the lock).

    A torn last line (a crash while writing the intent) is cut off: nothing acted on it.
    A whole intent is rolled forward, never back: it was fsync'd only after every check of
    its promotion or rollback had passed under this lock, so it is a decision already taken
    and recorded; each step sets a value and is safe to repeat; undoing it would drop a
    promotion the gates accepted and make the DAG run again for nothing.
    """
    if ledger.drop_torn_tail(pipeline):
        log.warning("%s: cut off a torn ledger line (a crash while writing it)", pipeline)
    state = ledger.state(pipeline)
    txn = state.pending
    if txn is None:
        return state
    check = AliasCheck(
        pipeline, model_name, _registry_aliases(client, model_name), state.expected, txn
    )
    if check.moved and not overwrite_moved:
        raise AliasesMovedError(
            f"an interrupted {txn.action} of {model_name} cannot be finished: " + check.describe()
        )
    _apply(client, model_name, txn)
    ledger.commit(pipeline, txn)
    log.warning(
        "%s: finished an interrupted %s of %s (champion %s)",
        pipeline,
        txn.action,
        model_name,
        txn.after[CHAMPION],
    )
    return ledger.state(pipeline)


def _refuse_moved(client, pipeline: str, model_name: str, state) -> None:
    check = AliasCheck(
        pipeline, model_name, _registry_aliases(client, model_name), state.expected, None
    )
    if check.moved:
        raise AliasesMovedError(check.describe())


def promote(
    pipeline: str,
    model_name: str,
    version: str,
    *,
    expected_champion: str | None,
    record: dict,
) -> dict:
    """Move `champion` to `version` and `previous` to the old champion, crash-safe.

    `expected_champion` is the version the gates compared against; if another run moved
    the alias meanwhile, promotion is refused (the comparison would be stale). A rerun of
    a promotion that already happened (or that a crash interrupted and this call finished)
    returns its history entry and changes nothing.
    """
    client = configure_mlflow().MlflowClient()
    with promotion_lock(pipeline):
        state = _recover(client, pipeline, model_name)
        _refuse_moved(client, pipeline, model_name, state)
        plan = plan_promotion(
            state,
            model_name,
            version,
            expected_champion=expected_champion,
            record=record,
            at=_now(),
        )
        if isinstance(plan, dict):
            log.info("version %s of %s is already champion: nothing to do", version, model_name)
            return plan
        return _transact(client, pipeline, model_name, plan)


def start_canary(pipeline: str, model_name: str, version: str, *, record: dict) -> dict:
    """Move `canary` to `version` (a rollout starts), crash-safe; a rerun changes nothing."""
    client = configure_mlflow().MlflowClient()
    with promotion_lock(pipeline):
        state = _recover(client, pipeline, model_name)
        _refuse_moved(client, pipeline, model_name, state)
        plan = plan_canary(state, model_name, version, record=record, at=_now())
        if isinstance(plan, dict):
            return plan
        return _transact(client, pipeline, model_name, plan)


def end_rollout(pipeline: str, model_name: str, *, promote: bool, record: dict) -> dict:
    """The canary becomes champion (``promote``) or is rolled back; `canary` is cleared."""
    client = configure_mlflow().MlflowClient()
    with promotion_lock(pipeline):
        state = _recover(client, pipeline, model_name)
        _refuse_moved(client, pipeline, model_name, state)
        txn = plan_rollout_end(state, model_name, promote=promote, record=record, at=_now())
        return _transact(client, pipeline, model_name, txn)


def canary_version(pipeline: str) -> str | None:
    """The version in rollout by the promotion ledger (None: no rollout)."""
    return ledger.state(pipeline).expected[CANARY]


def record_rejection(pipeline: str, model_name: str, version: str, *, record: dict) -> dict:
    """Record in the history that `version` was not approved; no alias moves. A rerun
    returns the entry recorded before."""
    client = configure_mlflow().MlflowClient()
    with promotion_lock(pipeline):
        state = _recover(client, pipeline, model_name)
        plan = plan_rejection(state, model_name, version, record=record, at=_now())
        if isinstance(plan, dict):
            return plan
        ledger.append(pipeline, plan.intent_record())  # nothing to move: intent, commit
        ledger.commit(pipeline, plan)
        return plan.entry


def rollback(pipeline: str, model_name: str, *, reason: str, by: str) -> dict:
    """Move `champion` back to `previous`, record why; `previous` steps one further back."""
    require_reason(reason, "a rollback")
    client = configure_mlflow().MlflowClient()
    with promotion_lock(pipeline):
        state = _recover(client, pipeline, model_name)
        _refuse_moved(client, pipeline, model_name, state)
        txn = plan_rollback(state, model_name, reason=reason, by=by, at=_now())
        return _transact(client, pipeline, model_name, txn)


def resolve_aliases(pipeline: str, model_name: str, *, how: str, reason: str, by: str) -> dict:
    """An operator's answer to aliases moved outside mlgate, recorded in the ledger.

    `restore` moves the aliases back to the ledger's versions; `accept` records the
    registry's versions as the operator's decision (nothing moves).
    """
    if how not in (RESTORE, ACCEPT):
        raise ValueError(f"how must be {RESTORE!r} or {ACCEPT!r}, not {how!r}")
    require_reason(reason, "resolving moved aliases")
    client = configure_mlflow().MlflowClient()
    with promotion_lock(pipeline):
        ledger.drop_torn_tail(pipeline)
        state = ledger.state(pipeline)
        found = _registry_aliases(client, model_name)
        if state.pending is not None:
            if not AliasCheck(pipeline, model_name, found, state.expected, state.pending).moved:
                state = _recover(client, pipeline, model_name)  # an ordinary crash: finish it
                found = _registry_aliases(client, model_name)
            elif how == ACCEPT:  # moved mid-transaction: the accepted state replaces the intent
                ledger.revert(pipeline, state.pending, f"superseded by an accept by {by}")
                state = ledger.state(pipeline)
            else:  # restore: the intent is the ledger's word, finish it over the foreign move
                state = _recover(client, pipeline, model_name, overwrite_moved=True)
        check = AliasCheck(pipeline, model_name, found, state.expected, None)
        txn = plan_resolution(check, how, reason=reason, by=by, at=_now())
        return _transact(client, pipeline, model_name, txn)


class NoChampionError(LookupError):
    pass


def champion_info(model_name: str, pipeline: str | None = None) -> dict:
    """Everything recorded about the production model, as one JSON-ready dict.

    With `pipeline`, also the registry's aliases next to the ledger's (`aliases`).
    """
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
    aliases = check_aliases(pipeline, model_name).to_dict() if pipeline else None
    return {
        "model_name": model_name,
        "aliases": aliases,
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
