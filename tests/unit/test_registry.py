"""Promotion and rollback semantics on a real (SQLite-backed) MLflow registry."""

from __future__ import annotations

import pytest

from mlgate import registry

MODEL = "fraud_detector_test"


@pytest.fixture(scope="module")
def state(tmp_path_factory):
    """One registry for the module (creating an MLflow database takes seconds)."""
    return tmp_path_factory.mktemp("registry-state")


@pytest.fixture()
def versions(state, tmp_path, monkeypatch):
    """A fresh registered model with three versions and no champion, and an empty history."""
    monkeypatch.setenv("MLGATE_STATE", str(state))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (state / "pipelines" / "fraud" / "promotions.jsonl").unlink(missing_ok=True)
    client = registry.configure_mlflow().MlflowClient()
    if client.search_registered_models(f"name = '{MODEL}'"):
        client.delete_registered_model(MODEL)
    client.create_registered_model(MODEL)
    made = []
    for n in range(3):
        source = tmp_path / f"model-{n}"
        source.mkdir()
        made.append(str(client.create_model_version(MODEL, source=source.as_uri()).version))
    return made


def aliases(name=MODEL) -> dict:
    client = registry.configure_mlflow().MlflowClient()
    return {alias: str(v) for alias, v in client.get_registered_model(name).aliases.items()}


def test_promotions_move_champion_and_previous_and_append_history(versions):
    v1, v2, _ = versions
    registry.promote("fraud", MODEL, v1, expected_champion=None, record={"by": "run-1"})
    assert aliases() == {"champion": v1}
    registry.promote("fraud", MODEL, v2, expected_champion=v1, record={"by": "run-2"})
    assert aliases() == {"champion": v2, "previous": v1}
    history = registry.read_history("fraud")
    assert [(e["action"], e["version"], e["previous"]) for e in history] == [
        ("promote", v1, None),
        ("promote", v2, v1),
    ]
    assert registry.champion_version(MODEL)["version"] == v2


def test_promotion_on_stale_evidence_is_refused(versions):
    v1, v2, v3 = versions
    registry.promote("fraud", MODEL, v1, expected_champion=None, record={})
    registry.promote("fraud", MODEL, v2, expected_champion=v1, record={})
    # v3's gates compared against v1, but v2 became champion meanwhile.
    with pytest.raises(registry.PromotionError, match=f"moved from version {v1} to {v2}"):
        registry.promote("fraud", MODEL, v3, expected_champion=v1, record={})
    assert aliases()["champion"] == v2
    assert len(registry.read_history("fraud")) == 2


def test_rollback_steps_back_through_the_history(versions):
    v1, v2, v3 = versions
    registry.promote("fraud", MODEL, v1, expected_champion=None, record={})
    registry.promote("fraud", MODEL, v2, expected_champion=v1, record={})
    registry.promote("fraud", MODEL, v3, expected_champion=v2, record={})
    entry = registry.rollback("fraud", MODEL, reason="v3 flags every ecom payment", by="oncall")
    assert (entry["version"], entry["previous"]) == (v2, v3)
    assert aliases() == {"champion": v2, "previous": v1}
    registry.rollback("fraud", MODEL, reason="v2 is also affected by the bug", by="oncall")
    assert aliases() == {"champion": v1}
    with pytest.raises(registry.PromotionError, match="no previous version"):
        registry.rollback("fraud", MODEL, reason="nothing left to go back to", by="oncall")
    assert [e["action"] for e in registry.read_history("fraud")][-2:] == ["rollback", "rollback"]


def test_rollback_needs_a_real_reason(versions):
    v1, v2, _ = versions
    registry.promote("fraud", MODEL, v1, expected_champion=None, record={})
    registry.promote("fraud", MODEL, v2, expected_champion=v1, record={})
    with pytest.raises(registry.PromotionError, match="at least 10 characters"):
        registry.rollback("fraud", MODEL, reason="  oops ", by="oncall")
    assert aliases()["champion"] == v2


def test_a_canary_starts_beside_the_champion_then_becomes_champion(versions):
    v1, v2, _ = versions
    registry.promote("fraud", MODEL, v1, expected_champion=None, record={"by": "run-1"})
    started = registry.start_canary("fraud", MODEL, v2, record={"by": "run-2", "share": 0.2})
    assert aliases() == {"champion": v1, "canary": v2}
    assert (started["action"], started["version"], started["previous"]) == ("canary", v2, v1)
    assert registry.canary_version("fraud") == v2
    # a rerun of the same start changes nothing
    assert registry.start_canary("fraud", MODEL, v2, record={"by": "run-2"}) == started
    ended = registry.end_rollout("fraud", MODEL, promote=True, record={"by": "rollout-1"})
    assert aliases() == {"champion": v2, "previous": v1}
    assert (ended["action"], ended["version"], ended["previous"]) == ("promote", v2, v1)
    assert registry.canary_version("fraud") is None
    # the promoted canary is an earlier champion for a later rollback
    registry.rollback("fraud", MODEL, reason="the canary misbehaves at night", by="oncall")
    assert aliases() == {"champion": v1}


def test_a_rolled_back_canary_leaves_the_champion_as_it_was(versions):
    v1, v2, v3 = versions
    registry.promote("fraud", MODEL, v1, expected_champion=None, record={})
    registry.promote("fraud", MODEL, v2, expected_champion=v1, record={})
    registry.start_canary("fraud", MODEL, v3, record={})
    ended = registry.end_rollout(
        "fraud", MODEL, promote=False, record={"reason": "worse than the champion"}
    )
    assert aliases() == {"champion": v2, "previous": v1}
    assert (ended["action"], ended["version"]) == ("canary_rollback", v3)
    client = registry.configure_mlflow().MlflowClient()
    tags = client.get_model_version(MODEL, v3).tags
    assert tags["mlgate.rollback_reason"] == "worse than the champion"


def test_one_rollout_at_a_time_and_none_to_end_without_a_canary(versions):
    v1, v2, v3 = versions
    registry.promote("fraud", MODEL, v1, expected_champion=None, record={})
    with pytest.raises(registry.PromotionError, match="no canary"):
        registry.end_rollout("fraud", MODEL, promote=True, record={})
    registry.start_canary("fraud", MODEL, v2, record={})
    with pytest.raises(registry.PromotionError, match=f"version {v2} .* one rollout at a time"):
        registry.start_canary("fraud", MODEL, v3, record={})
    registry.end_rollout("fraud", MODEL, promote=False, record={"reason": "worse"})
    with pytest.raises(registry.PromotionError, match="already the champion"):
        registry.start_canary("fraud", MODEL, v1, record={})


def test_a_canary_moved_by_hand_stops_every_promotion(versions):
    v1, v2, v3 = versions
    registry.promote("fraud", MODEL, v1, expected_champion=None, record={})
    client = registry.configure_mlflow().MlflowClient()
    client.set_registered_model_alias(MODEL, "canary", v3)  # outside mlgate
    with pytest.raises(registry.AliasesMovedError, match="`canary` is version 3"):
        registry.start_canary("fraud", MODEL, v2, record={})
    assert aliases() == {"champion": v1, "canary": v3}
