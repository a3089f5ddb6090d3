"""The promotion ledger on a real (SQLite-backed) MLflow registry: crash safety and aliases
moved outside mlgate.

Each crash test kills a promotion (or rollback) in a child process right after one step,
through the fault hook MLGATE_FAULT_PROMOTION_CRASH_AT, then runs the next promotion and
checks that the aliases, the version tags and the history agree.
"""

from __future__ import annotations

import gc
import json
import os

import pytest

from mlgate import ledger, registry
from mlgate.cli import main

PIPELINE = "fraud"
MODEL = "fraud_detector"  # the fraud pipeline's model: the CLI commands find it by pipeline
TAG = "mlgate."  # mlgate.runs.TAG_PREFIX, spelled out: the tags are what operators read


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """One registry for the module (creating an MLflow database takes seconds)."""
    return tmp_path_factory.mktemp("ledger-state")


@pytest.fixture()
def versions(state, tmp_path, monkeypatch):
    """A fresh registered model with four versions (each with a run), no champion, no ledger."""
    monkeypatch.setenv("MLGATE_STATE", str(state))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(ledger.CRASH_ENV, raising=False)
    (state / "pipelines" / PIPELINE / "promotions.jsonl").unlink(missing_ok=True)
    client = registry.configure_mlflow().MlflowClient()
    if client.search_registered_models(f"name = '{MODEL}'"):
        client.delete_registered_model(MODEL)
    client.create_registered_model(MODEL)
    experiment = registry.ensure_experiment("ledger-test")
    made = []
    for n in range(4):
        source = tmp_path / f"model-{n}"
        source.mkdir()
        run = client.create_run(experiment)
        made.append(
            str(
                client.create_model_version(
                    MODEL, source=source.as_uri(), run_id=run.info.run_id
                ).version
            )
        )
    return made


def client():
    return registry.configure_mlflow().MlflowClient()


def aliases() -> dict:
    return {alias: str(v) for alias, v in client().get_registered_model(MODEL).aliases.items()}


def version_tags(version: str) -> dict:
    tags = client().get_model_version(MODEL, version).tags
    return {k.removeprefix(TAG): v for k, v in tags.items() if k.startswith(TAG)}


def history_moves() -> list[tuple]:
    return [(e["action"], e["version"], e["previous"]) for e in registry.read_history(PIPELINE)]


def ledger_lines(state) -> list[dict]:
    path = state / "pipelines" / PIPELINE / "promotions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def promote(version: str, expected: str | None) -> dict:
    return registry.promote(
        PIPELINE, MODEL, version, expected_champion=expected, record={"by": f"run-{version}"}
    )


def crash_in_subprocess(state, step: str, call) -> None:
    """Run `call()` in a child process that dies (os._exit) right after `step`.

    A fork rather than a new interpreter: importing MLflow again would cost seconds per
    crash. The registry's database connections are closed first, so the child opens its
    own (a SQLite connection must not cross a fork); the parent reopens them lazily.
    """
    from sqlalchemy.engine import Engine

    for engine in [o for o in gc.get_objects() if isinstance(o, Engine)]:
        engine.dispose()
    child = os.fork()
    if child == 0:  # the child: never return into pytest
        code = 1
        try:
            os.environ["MLGATE_STATE"] = str(state)
            os.environ[ledger.CRASH_ENV] = step
            call()
            code = 0  # the hook did not fire
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == ledger.CRASH_EXIT_CODE


def assert_every_intent_committed_once(state) -> None:
    lines = ledger_lines(state)
    intents = [r["id"] for r in lines if r.get("ledger") == ledger.INTENT]
    commits = [r["id"] for r in lines if r.get("ledger") == ledger.COMMIT]
    assert sorted(intents) == sorted(commits)
    assert len(set(commits)) == len(commits)


@pytest.mark.parametrize("step", ledger.STEPS)
def test_a_promotion_killed_after_any_step_is_finished_by_its_rerun(versions, state, step):
    v1, v2, v3, _ = versions
    promote(v1, None)
    promote(v2, v1)
    crash_in_subprocess(state, step, lambda: promote(v3, v2))
    # between the crash and the recovery the registry shows one side of the intent or the
    # other: the service keeps serving, nothing is flagged as moved outside mlgate
    assert registry.check_aliases(PIPELINE, MODEL).moved == []

    # Airflow retries the promote task: the same call, on the same (now stale) evidence
    entry = promote(v3, v2)

    assert aliases() == {"champion": v3, "previous": v2}
    assert history_moves() == [("promote", v1, None), ("promote", v2, v1), ("promote", v3, v2)]
    assert entry == registry.read_history(PIPELINE)[-1]
    tags = version_tags(v3)
    assert (tags["promoted_at"], tags["promoted_by"]) == (entry["at"], f"run-{v3}")
    assert_every_intent_committed_once(state)
    check = registry.check_aliases(PIPELINE, MODEL)
    assert (check.moved, check.pending) == ([], None)


@pytest.mark.parametrize("step", ledger.STEPS)
def test_a_rollback_killed_after_any_step_is_finished_by_the_next_promotion(versions, state, step):
    v1, v2, v3, v4 = versions
    promote(v1, None)
    promote(v2, v1)
    promote(v3, v2)
    crash_in_subprocess(
        state,
        step,
        lambda: registry.rollback(
            PIPELINE, MODEL, reason="v3 flags every ecom payment", by="oncall"
        ),
    )
    assert registry.check_aliases(PIPELINE, MODEL).moved == []

    # the next day's run compared its candidate with v2: the rollback it finishes first
    promote(v4, v2)

    assert aliases() == {"champion": v4, "previous": v2}
    history = registry.read_history(PIPELINE)
    assert history_moves() == [
        ("promote", v1, None),
        ("promote", v2, v1),
        ("promote", v3, v2),
        ("rollback", v2, v3),
        ("promote", v4, v2),
    ]
    rolled_back = version_tags(v3)
    assert rolled_back["rolled_back_at"] == history[3]["at"]
    assert rolled_back["rollback_reason"] == "v3 flags every ecom payment"
    assert version_tags(v4)["promoted_at"] == history[4]["at"]
    assert_every_intent_committed_once(state)


def test_a_misspelt_fault_step_fails_before_anything_is_written(versions, monkeypatch):
    v1, _, _, _ = versions
    monkeypatch.setenv(ledger.CRASH_ENV, "between_the_moves")
    with pytest.raises(ledger.LedgerError, match="is not a step; the steps are"):
        promote(v1, None)
    monkeypatch.delenv(ledger.CRASH_ENV)
    assert (registry.check_aliases(PIPELINE, MODEL).pending, aliases()) == (None, {})


def test_an_alias_moved_during_an_interrupted_promotion_stops_the_recovery(versions, state):
    v1, v2, v3, v4 = versions
    promote(v1, None)
    promote(v2, v1)
    crash_in_subprocess(state, ledger.PREVIOUS_MOVED, lambda: promote(v3, v2))
    move_champion_anonymously(v4)
    with pytest.raises(registry.AliasesMovedError, match="interrupted promote of fraud_detector"):
        promote(v3, v2)
    assert aliases() == {"champion": v4, "previous": v2}
    # restore finishes the ledger's intent over the foreign move, and says what it found
    registry.resolve_aliases(
        PIPELINE, MODEL, how="restore", reason="v4 was set by hand over HTTP", by="oncall"
    )
    assert aliases() == {"champion": v3, "previous": v2}
    assert history_moves()[-2:] == [("promote", v3, v2), ("restore", v3, v2)]
    assert registry.read_history(PIPELINE)[-1]["registry_had"] == {
        "champion": v4,
        "previous": v2,
        "canary": None,
    }
    assert_every_intent_committed_once(state)


def test_accept_during_an_interrupted_promotion_replaces_its_intent(versions, state):
    v1, v2, v3, v4 = versions
    promote(v1, None)
    promote(v2, v1)
    crash_in_subprocess(state, ledger.INTENT_WRITTEN, lambda: promote(v3, v2))
    move_champion_anonymously(v4)
    registry.resolve_aliases(
        PIPELINE, MODEL, how="accept", reason="v4 is the on-call's hot fix", by="oncall"
    )
    assert aliases() == {"champion": v4, "previous": v1}
    assert history_moves() == [("promote", v1, None), ("promote", v2, v1), ("accept", v4, v1)]
    assert "promoted_at" not in version_tags(v3)
    check = registry.check_aliases(PIPELINE, MODEL)
    assert (check.moved, check.pending) == ([], None)


def test_a_torn_intent_line_is_dropped_and_the_history_kept(versions, state):
    v1, v2, v3, _ = versions
    promote(v1, None)
    promote(v2, v1)
    path = state / "pipelines" / PIPELINE / "promotions.jsonl"
    with open(path, "a") as handle:  # what a crash in the middle of writing an intent leaves
        handle.write('{"action": "promote", "after": {"champion": "')
    assert history_moves() == [("promote", v1, None), ("promote", v2, v1)]
    promote(v3, v2)
    assert aliases() == {"champion": v3, "previous": v2}
    assert history_moves()[-1] == ("promote", v3, v2)
    assert path.read_text().endswith("}\n")


def test_promoting_the_same_version_twice_writes_one_history_line(versions):
    v1, v2, _, _ = versions
    promote(v1, None)
    first = promote(v2, v1)
    again = promote(v2, v1)
    assert again == first
    assert history_moves() == [("promote", v1, None), ("promote", v2, v1)]


def test_a_rerun_of_the_gates_task_registers_no_second_version(versions, tmp_path):
    run = client().create_run(registry.ensure_experiment("ledger-test"))
    model_dir = tmp_path / "candidate"
    model_dir.mkdir()
    first = registry.register_candidate(MODEL, model_dir.as_uri(), run.info.run_id, {"ds": "d"})
    again = registry.register_candidate(MODEL, model_dir.as_uri(), run.info.run_id, {"ds": "d"})
    assert first == again
    assert len(client().search_model_versions(f"name = '{MODEL}'")) == len(versions) + 1


def test_history_written_before_the_ledger_still_reads_and_rolls_back(versions, state):
    v1, v2, v3, _ = versions
    path = state / "pipelines" / PIPELINE / "promotions.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    old_lines = [
        {"action": "promote", "at": "2026-01-01T00:00:00+00:00", "version": v1, "previous": None},
        {"action": "promote", "at": "2026-01-02T00:00:00+00:00", "version": v2, "previous": v1},
        {"action": "promote", "at": "2026-01-03T00:00:00+00:00", "version": v3, "previous": v2},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in old_lines))
    client().set_registered_model_alias(MODEL, "champion", v3)
    client().set_registered_model_alias(MODEL, "previous", v2)
    assert registry.read_history(PIPELINE) == old_lines
    assert registry.check_aliases(PIPELINE, MODEL).moved == []
    registry.rollback(PIPELINE, MODEL, reason="v3 flags every ecom payment", by="oncall")
    assert aliases() == {"champion": v2, "previous": v1}


# --- aliases moved outside mlgate ---------------------------------------------------------


def move_champion_anonymously(version: str) -> None:
    """What an anonymous HTTP call to the MLflow server did: no gate, no lock, no ledger."""
    client().set_registered_model_alias(MODEL, "champion", version)


def test_a_champion_moved_outside_mlgate_is_told_from_the_ledger(versions):
    v1, v2, _, _ = versions
    promote(v1, None)
    promote(v2, v1)
    move_champion_anonymously(v1)
    check = registry.check_aliases(PIPELINE, MODEL)
    assert check.moved == ["champion"]
    assert f"`champion` is version {v1} in the registry but version {v2} in the ledger" in (
        check.describe()
    )


def test_a_first_champion_set_outside_mlgate_is_told_from_the_empty_ledger(versions):
    move_champion_anonymously(versions[0])
    assert registry.check_aliases(PIPELINE, MODEL).moved == ["champion"]


def test_promotion_and_rollback_refuse_while_an_alias_is_moved(versions):
    v1, v2, v3, _ = versions
    promote(v1, None)
    promote(v2, v1)
    move_champion_anonymously(v3)
    with pytest.raises(registry.AliasesMovedError, match="mlgate aliases --pipeline fraud"):
        promote(v4 := versions[3], v3)
    with pytest.raises(registry.AliasesMovedError, match="moved outside mlgate"):
        registry.rollback(PIPELINE, MODEL, reason="v3 flags every ecom payment", by="oncall")
    assert aliases() == {"champion": v3, "previous": v1}
    assert history_moves() == [("promote", v1, None), ("promote", v2, v1)]
    assert "promoted_at" not in version_tags(v4)


def test_serve_refuses_to_start_or_load_a_champion_moved_outside_mlgate(versions, capsys):
    from mlgate.serving.app import RegistrySource

    v1, v2, _, _ = versions
    promote(v1, None)
    promote(v2, v1)
    source = RegistrySource(MODEL, pipeline=PIPELINE)
    assert source.current()[0] == v2
    move_champion_anonymously(v1)
    with pytest.raises(registry.AliasesMovedError, match="moved outside mlgate"):
        source.current()
    assert main(["serve", "--pipeline", PIPELINE]) == 2
    assert "not starting: the aliases of fraud_detector were moved" in capsys.readouterr().err


def test_champion_command_shows_the_disagreement(versions, capsys):
    v1, v2, _, _ = versions
    promote(v1, None)
    promote(v2, v1)
    assert main(["champion", "--pipeline", PIPELINE]) == 0
    assert "WARNING" not in capsys.readouterr().out
    move_champion_anonymously(v1)
    assert main(["champion", "--pipeline", PIPELINE]) == 0
    assert capsys.readouterr().out.startswith(
        f"WARNING: the aliases of {MODEL} were moved outside mlgate"
    )
    assert main(["champion", "--pipeline", PIPELINE, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["aliases"]["moved"] == ["champion"]
    assert info["aliases"]["ledger"] == {"champion": v2, "previous": v1, "canary": None}
    assert main(["aliases", "--pipeline", PIPELINE]) == 1


def test_restore_moves_the_aliases_back_and_records_why(versions, capsys):
    v1, v2, v3, _ = versions
    promote(v1, None)
    promote(v2, v1)
    move_champion_anonymously(v3)
    assert main(["aliases", "--pipeline", PIPELINE, "--restore"]) == 2  # no reason given
    reason = "v3 was set by hand over HTTP, not through the gates"
    assert main(["aliases", "--pipeline", PIPELINE, "--restore", "--reason", reason]) == 0
    assert aliases() == {"champion": v2, "previous": v1}
    last = registry.read_history(PIPELINE)[-1]
    assert (last["action"], last["version"], last["reason"]) == ("restore", v2, reason)
    assert last["registry_had"] == {"champion": v3, "previous": v1, "canary": None}
    assert main(["aliases", "--pipeline", PIPELINE]) == 0
    promote(v3, v2)  # promotion works again
    assert aliases() == {"champion": v3, "previous": v2}
    capsys.readouterr()
    assert main(["history", "--pipeline", PIPELINE]) == 0
    assert f"restore   champion v{v2}, previous v{v1}" in capsys.readouterr().out


def test_accept_records_the_registry_state_as_the_operators_decision(versions):
    v1, v2, v3, v4 = versions
    promote(v1, None)
    promote(v2, v1)
    move_champion_anonymously(v3)
    reason = "v3 was hot-fixed in by the on-call, keep it"
    assert main(["aliases", "--pipeline", PIPELINE, "--accept", "--reason", reason]) == 0
    assert aliases() == {"champion": v3, "previous": v1}
    last = registry.read_history(PIPELINE)[-1]
    assert (last["action"], last["version"], last["previous"]) == ("accept", v3, v1)
    assert last["ledger_had"] == {"champion": v2, "previous": v1, "canary": None}
    assert registry.check_aliases(PIPELINE, MODEL).moved == []
    promote(v4, v3)
    assert aliases() == {"champion": v4, "previous": v3}
    # nothing to resolve any more
    assert main(["aliases", "--pipeline", PIPELINE, "--accept", "--reason", reason]) == 2


def test_rollback_refuses_a_previous_equal_to_the_champion(versions):
    v1, v2, _, _ = versions
    promote(v1, None)
    promote(v2, v1)
    client().set_registered_model_alias(MODEL, "previous", v2)
    registry.resolve_aliases(
        PIPELINE, MODEL, how="accept", reason="kept as found by the on-call", by="oncall"
    )
    with pytest.raises(registry.PromotionError, match=f"both version {v2}: a rollback would"):
        registry.rollback(PIPELINE, MODEL, reason="v2 flags every ecom payment", by="oncall")
    assert aliases() == {"champion": v2, "previous": v2}


def test_rollback_refuses_a_previous_that_was_never_champion(versions):
    v1, v2, v3, _ = versions
    promote(v1, None)
    promote(v2, v1)
    client().set_registered_model_alias(MODEL, "previous", v3)
    registry.resolve_aliases(
        PIPELINE, MODEL, how="accept", reason="kept as found by the on-call", by="oncall"
    )
    with pytest.raises(registry.PromotionError, match=f"version {v3}, which was never champion"):
        registry.rollback(PIPELINE, MODEL, reason="v2 flags every ecom payment", by="oncall")
    assert aliases() == {"champion": v2, "previous": v3}


def test_batch_scoring_refuses_a_champion_moved_outside_mlgate(versions):
    v1, v2, _, _ = versions
    promote(v1, None)
    promote(v2, v1)
    assert registry.trusted_champion(PIPELINE, MODEL)["version"] == v2
    move_champion_anonymously(v1)
    with pytest.raises(registry.AliasesMovedError, match="moved outside mlgate"):
        registry.trusted_champion(PIPELINE, MODEL)


def test_a_move_right_after_the_check_is_not_loaded_unchecked(versions, monkeypatch):
    """The version served and scored is the one the check saw, never a second read.

    The e2e run once caught the service loading a hand-moved champion: the alias moved
    between the check and the read of the version to load.
    """
    from mlgate.serving.app import RegistrySource

    v1, v2, _, _ = versions
    promote(v1, None)
    promote(v2, v1)
    checked = registry.check_aliases

    def check_then_move(pipeline, model_name):
        check = checked(pipeline, model_name)
        move_champion_anonymously(v1)  # lands after the check, before any second read
        return check

    monkeypatch.setattr(registry, "check_aliases", check_then_move)
    assert RegistrySource(MODEL, pipeline=PIPELINE).current()[0] == v2
    move_champion_anonymously(v2)
    assert registry.trusted_champion(PIPELINE, MODEL)["version"] == v2
