"""The model gates the train job computes from the evidence it holds in memory
(mlgate.gates.candidate): each is the gate itself on those very scores, in the gate table's
order. One of the test files `make mutation` judges with (pyproject.toml)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from mlgate import gates
from mlgate.config import MODEL_GATES, load_pipeline
from mlgate.gates import NO_CHAMPION, ModelEvidence, OnlineEvidence, effort_of, model_gate_results

THRESHOLD = 0.4


def day_rows(counts: list[int], scores: tuple[float, float] = (0.1, 0.9)) -> pd.DataFrame:
    """The newest labelled day's two rows, as Spark or the online path gives them."""
    keys = ["d1", "d2"]
    return pd.DataFrame({"transaction_id": keys, "card_count_1h": counts, "score": scores})


def day(spark: pd.DataFrame | None, online: pd.DataFrame | None, **kwargs) -> OnlineEvidence:
    return OnlineEvidence(spark, online, ["card_count_1h"], {"card_count_1h"}, **kwargs)


def evidence(rng, champion: bool = True, **changes) -> ModelEvidence:
    n = 400
    labels = (rng.random(n) < 0.2).astype(int)
    candidate = np.clip(labels * 0.5 + rng.random(n) * 0.5, 0, 1)
    champ = np.clip(candidate + rng.normal(0, 0.05, n), 0, 1) if champion else [None] * n
    shadow_scores = rng.random(50)
    built = ModelEvidence(
        threshold=THRESHOLD,
        metrics={"auc_pr": 0.7, "effort_trees": 20.0, "effort_total_nodes": 400.0},
        accepted_efforts=[{"effort_trees": 20.0, "effort_total_nodes": 380.0}],
        champion_compared=champion,
        holdout=pd.DataFrame(
            {"is_fraud": labels, "candidate_score": candidate, "champion_score": champ}
        ),
        shadow=pd.DataFrame(
            {
                "transaction_id": [f"t{i}" for i in range(50)],
                "channel": ["web", "pos"] * 25,
                "candidate_score": shadow_scores,
                "champion_score": shadow_scores[::-1] if champion else [None] * 50,
            }
        ),
        parity=pd.DataFrame(
            {
                "transaction_id": [f"h{i}" for i in range(n)],
                "spark_score": candidate,
                "onnx_score": candidate + np.where(np.arange(n) == 7, 0.3, 1e-9),
            }
        ),
        onnx_error=None,
        assertions=pd.DataFrame(
            {"id": ["a1", "a2"], "expected": [1, 0], "score": [0.9, 0.7], "description": "x"}
        ),
        online=day(day_rows([1, 2]), day_rows([1, 3])),
    )
    return dataclasses.replace(built, **changes)


def direct(cfg, ev: ModelEvidence) -> dict[str, gates.GateResult]:
    """Each configured model gate called by hand on the evidence's columns."""
    g, champion = cfg.gates, ev.champion_compared
    shadow, disagreements = gates.shadow(
        g.shadow,
        ev.shadow["candidate_score"].to_numpy(),
        ev.shadow["champion_score"].to_numpy() if champion else None,
        ev.threshold,
        ev.shadow.drop(columns=["candidate_score", "champion_score"]),
    )
    return {
        "training_iterations": gates.training_iterations(
            g.training_iterations,
            {k: v for k, v in ev.metrics.items() if k.startswith("effort_")},
            ev.accepted_efforts,
        ),
        "assertion_set": gates.assertion_set(g.assertion_set, ev.assertions, ev.threshold),
        "quality": gates.quality(
            g.quality,
            ev.holdout["is_fraud"].to_numpy().astype(int),
            ev.holdout["candidate_score"].to_numpy(),
            ev.holdout["champion_score"].to_numpy() if champion else None,
            ev.threshold,
            seed=cfg.training.seed,
        ),
        "shadow": shadow,
        "export_parity": gates.export_parity(
            g.export_parity,
            ev.parity["spark_score"].to_numpy(),
            ev.parity["onnx_score"].to_numpy(),
            ev.threshold,
            keys=ev.parity["transaction_id"].to_numpy(),
            export_error=ev.onnx_error,
        ),
        "online_parity": gates.online_parity(
            g.online_parity,
            ev.online.spark,
            ev.online.online,
            key="transaction_id",
            features=ev.online.features,
            exact=ev.online.exact,
            threshold=ev.threshold,
            unavailable=ev.online.unavailable,
        ),
        "_disagreements": disagreements,
    }


@pytest.mark.parametrize("champion", [True, False])
def test_each_model_gate_is_the_gate_itself_on_the_evidence_in_table_order(champion):
    cfg = load_pipeline("fraud")
    ev = evidence(np.random.default_rng(3), champion)
    results = model_gate_results(cfg, ev)
    expected = direct(cfg, evidence(np.random.default_rng(3), champion))
    assert [r.name for r in results] == [n for n in MODEL_GATES if getattr(cfg.gates, n)]
    for result in results:
        assert result.to_dict() == expected[result.name].to_dict(), result.name
    pd.testing.assert_frame_equal(ev.disagreements, expected["_disagreements"])
    by_name = {r.name: r for r in results}
    assert by_name["training_iterations"].verdict == "pass"
    assert by_name["assertion_set"].verdict == "fail"  # a2 scored 0.7, must be below 0.4
    assert by_name["export_parity"].verdict == "fail"  # row h7 differs by 0.3
    assert by_name["export_parity"].details["worst_rows"][0]["key"] == "h7"
    assert by_name["online_parity"].verdict == "fail"  # d2 counts 3 online, 2 in Spark
    assert by_name["online_parity"].details["worst_rows"][0]["key"] == "d2"
    if champion:
        assert by_name["quality"].champion_value is not None
        assert by_name["shadow"].details["rows"] == 50
    else:
        assert by_name["shadow"].verdict == "skipped" and by_name["shadow"].reason == NO_CHAMPION
        assert by_name["quality"].details["champion"] == NO_CHAMPION


def test_the_operating_threshold_of_the_evidence_decides_the_assertions():
    cfg = load_pipeline("fraud")
    lenient = evidence(np.random.default_rng(5), threshold=0.8)  # a2's 0.7 is now below it
    by_name = {r.name: r for r in model_gate_results(cfg, lenient)}
    assert by_name["assertion_set"].verdict == "pass"


def test_a_missing_onnx_twin_fails_export_parity_with_the_reason():
    cfg = load_pipeline("fraud")
    ev = evidence(np.random.default_rng(6), onnx_error="the train job logged no ONNX twin")
    by_name = {r.name: r for r in model_gate_results(cfg, ev)}
    assert by_name["export_parity"].verdict == "fail"
    assert "no ONNX twin" in by_name["export_parity"].reason


def test_a_configured_assertion_set_without_scored_examples_is_an_error():
    cfg = load_pipeline("fraud")
    message = "^the assertion_set gate is configured but no example was scored$"
    with pytest.raises(ValueError, match=message):
        model_gate_results(cfg, evidence(np.random.default_rng(7), assertions=None))


def test_only_the_effort_metrics_count_as_training_effort():
    assert effort_of({"auc_pr": 0.7, "effort_trees": 20.0, "effort_depth": 3.0}) == {
        "effort_trees": 20.0,
        "effort_depth": 3.0,
    }


def test_a_configured_online_parity_without_a_replay_is_an_error():
    cfg = load_pipeline("fraud")
    message = "^the online_parity gate is configured but nothing was replayed$"
    with pytest.raises(ValueError, match=message):
        model_gate_results(cfg, evidence(np.random.default_rng(8), online=None))


def test_online_parity_decides_with_the_operating_threshold_of_the_evidence():
    cfg = load_pipeline("fraud")
    near = day(day_rows([1, 2], (0.1, 0.45)), day_rows([1, 2], (0.1, 0.35)))
    flipped = {
        r.name: r for r in model_gate_results(cfg, evidence(np.random.default_rng(9), online=near))
    }
    assert flipped["online_parity"].verdict == "fail"  # 0.45 and 0.35 sit either side of 0.4
    assert flipped["online_parity"].details["decision_flips"] == 1
    low = evidence(np.random.default_rng(9), threshold=0.3, online=near)
    assert {r.name: r for r in model_gate_results(cfg, low)}["online_parity"].verdict == "pass"


def test_online_parity_fails_with_the_reason_nothing_was_replayed():
    cfg = load_pipeline("fraud")
    why = "no labelled day in the lake to replay"
    ev = evidence(np.random.default_rng(10), online=day(None, None, unavailable=why))
    result = {r.name: r for r in model_gate_results(cfg, ev)}["online_parity"]
    assert result.verdict == "fail" and result.reason == why
