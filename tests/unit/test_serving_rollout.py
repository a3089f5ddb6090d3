"""A rollout in the scoring service (mlgate.serving.rollout): the canary answers its share
of entity keys, always the same keys; in shadow mode it only scores; both outputs of every
row are logged. Hand-made ONNX models (tests/support/scoring_service.py): the champion
(version 1) says sigmoid(amount - txn_count_1h), the canary (version 2) always 0.5."""

from __future__ import annotations

import json

import pytest

from mlgate.paths import serving_outputs
from mlgate.serving.app import create_app
from mlgate.serving.rollout import RolloutSpec, bucket
from support.scoring_service import ROW, SIGMOID_1, SwitchableSource, authorized

CARDS = [f"card-{i}" for i in range(400)]


def service(mode: str, share: float = 0.2):
    champion, canary = SwitchableSource(), SwitchableSource()
    canary.wanted = "2"
    spec = RolloutSpec(source=canary, pipeline="fraud", mode=mode, share=share, route_by="card_id")
    return authorized(
        create_app(champion, token="test-token-0123456789abcdef", poll_seconds=0, rollout=spec)
    ), canary


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    return tmp_path


def logged() -> list[dict]:
    from datetime import UTC, datetime

    path = serving_outputs("fraud", datetime.now(UTC).date().isoformat())
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_canary_answers_its_share_of_cards_and_each_card_always_the_same_model():
    client, _ = service("canary", share=0.2)
    with client:
        rows = [{**ROW, "card_id": card} for card in CARDS]
        first = client.post("/score", json=rows).json()["results"]
        again = client.post("/score", json=list(reversed(rows))).json()["results"][::-1]
        health = client.get("/health").json()
    versions = [r["model_version"] for r in first]
    expected = ["2" if bucket(card) < 0.2 else "1" for card in CARDS]
    assert versions == expected
    assert [r["model_version"] for r in again] == versions  # sticky per card
    assert 0.14 < versions.count("2") / len(CARDS) < 0.26  # the configured share, roughly
    for result in first:  # each row decided by its own model at its own threshold
        probability = 0.5 if result["model_version"] == "2" else SIGMOID_1
        assert result["probability"] == pytest.approx(probability)
        assert result["decision"] is (probability >= 0.6)
    assert health["rollout"] == {
        "mode": "canary",
        "share": 0.2,
        "route_by": "card_id",
        "canary_version": "2",
        "last_error": None,
    }
    lines = logged()
    assert len(lines) == 2 * len(CARDS)  # every row, both outputs
    line = next(entry for entry in lines if entry["key"] == CARDS[0])
    assert line["champion"] == {"version": "1", "probability": pytest.approx(SIGMOID_1)}
    assert line["canary"] == {"version": "2", "probability": 0.5}
    assert line["answered_by"] == ("canary" if bucket(CARDS[0]) < 0.2 else "champion")


def test_in_shadow_mode_the_champion_answers_every_row_and_the_canary_is_logged():
    client, _ = service("shadow")
    with client:
        results = client.post("/score", json=[{**ROW, "card_id": c} for c in CARDS[:50]]).json()
        metrics = client.get("/metrics").text
    assert {r["model_version"] for r in results["results"]} == {"1"}
    assert {line["answered_by"] for line in logged()} == {"champion"}
    assert {line["canary"]["probability"] for line in logged()} == {0.5}
    assert 'mlgate_serve_rollout_rows_total{answered_by="champion"} 50.0' in metrics


def test_a_row_without_its_card_is_the_champions_and_a_single_row_says_who_answered():
    client, _ = service("canary", share=0.99)
    with client:
        keyless = client.post("/score", json=ROW).json()
        routed = next(card for card in CARDS if bucket(card) < 0.99)
        keyed = client.post("/score", json={**ROW, "card_id": routed}).json()
    assert keyless["model_version"] == "1" and keyless["threshold"] == 0.6
    assert keyed == {"probability": 0.5, "decision": False, "threshold": 0.6, "model_version": "2"}


def test_when_the_rollout_ends_the_canary_stops_answering():
    client, canary = service("canary", share=0.99)
    routed = next(card for card in CARDS if bucket(card) < 0.99)
    with client:
        assert client.post("/score", json={**ROW, "card_id": routed}).json()["model_version"] == "2"
        canary.wanted = None  # the alias is gone: promoted or rolled back
        client.post("/reload")
        answer = client.post("/score", json={**ROW, "card_id": routed}).json()
        health = client.get("/health").json()
    assert answer["model_version"] == "1"
    assert health["rollout"]["canary_version"] is None


def test_the_routing_bucket_is_stable_and_spread():
    assert bucket("card-7") == bucket("card-7")  # no per-process salt, unlike hash()
    spread = [bucket(c) for c in CARDS]
    assert min(spread) >= 0 and max(spread) < 1
    assert 0.4 < sum(b < 0.5 for b in spread) / len(spread) < 0.6
