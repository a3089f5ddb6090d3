"""POST /score with a raw event (mlgate.serving.events): features from the online state,
the champion's ONNX twin, the state updated once per event key; bad events refused with the
record rules they break; precomputed features still scored at POST /score/features."""

from __future__ import annotations

import json
import math

import pytest

from mlgate.config import load_pipeline
from mlgate.export.portable import ModelSpec, PortableScorer
from mlgate.online.state import OnlineState
from mlgate.online.store import EmbeddedStore
from mlgate.serving.app import create_app
from mlgate.serving.events import EventScoring
from support.online_events import (
    CFG,
    FRAUD_SPEC,
    WEIGHTS,
    at,
    fraud_state,
    stored_keys,
    transaction,
)
from support.scoring_service import authorized, logistic_model


def sigmoid(margin: float) -> float:
    return 1 / (1 + math.exp(-margin))


class OneModel:
    """A model source whose champion is version 3 of a fixed logistic model."""

    description = "test model"

    def __init__(self, spec: ModelSpec, weights: list[float]):
        self.spec, self.weights = spec, weights

    def current(self):
        return ("3", "run-3")

    def load(self, version, run_id, threads):
        return PortableScorer(logistic_model(self.weights), self.spec, threads)


@pytest.fixture
def state(tmp_path):
    built = fraud_state(tmp_path / "online.db")
    yield built
    built.store.close()


@pytest.fixture
def client(state):
    app = create_app(
        OneModel(FRAUD_SPEC, WEIGHTS), token="test-token-0123456789abcdef", poll_seconds=0,
        online=EventScoring(CFG, state),
    )  # fmt: skip
    with authorized(app) as test_client:
        yield test_client


def test_a_raw_event_is_scored_from_the_features_of_the_events_before_it(client):
    first = client.post("/score", json=transaction(1, 0, amount=50.0))
    assert first.status_code == 200
    assert first.json() == {
        "key": 1,
        "probability": pytest.approx(sigmoid(0.5)),  # no earlier event: count 0
        "decision": False,
        "threshold": 0.9,
        "model_version": "3",
        "counted": True,
    }
    second = client.post("/score?features=true", json=transaction(2, 60, amount=200.0)).json()
    assert second["probability"] == pytest.approx(sigmoid(2.0 + 1))
    assert second["decision"] is True
    assert second["features"] == {"amount": 200.0, "card_count_1h": 1, "channel": "pos"}


def test_a_replayed_event_gets_the_same_answer_and_is_counted_once(client):
    for n, seconds in ((1, 0), (2, 60)):
        client.post("/score", json=transaction(n, seconds))
    again = client.post("/score?features=true", json=transaction(2, 60)).json()
    assert again["counted"] is False and again["features"]["card_count_1h"] == 1
    third = client.post("/score?features=true", json=transaction(3, 120)).json()
    assert third["counted"] is True and third["features"]["card_count_1h"] == 2  # not 3


def test_an_event_breaking_the_record_rules_is_refused_and_changes_nothing(client, state):
    client.post("/score", json=transaction(1, 0))
    bad = client.post("/score", json=transaction(2, 30, amount=0.0, currency="XXX"))
    assert bad.status_code == 422
    assert bad.json()["reasons"] == ["out_of_range:amount", "not_allowed:currency"]
    assert "the state is unchanged" in bad.json()["error"]
    assert stored_keys(state.store, "card", 7) == [1]
    after = client.post("/score?features=true", json=transaction(3, 60)).json()
    assert after["features"]["card_count_1h"] == 1  # the refused event is not in the window


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ({"created_at": None}, 422, "missing or null: created_at"),
        ({"transaction_id": None}, 422, "missing or null: transaction_id"),
        ({"created_at": "yesterday"}, 422, "created_at must be an ISO 8601 time"),
        ({"created_at": 1_790_000_000}, 422, "created_at must be an ISO 8601 time"),
        ({"amount": "lots"}, 422, "out_of_range:amount"),
        ({"channel": 5}, 422, "categories must be JSON strings: channel"),
    ],
)
def test_an_unusable_event_is_a_422_that_says_what_is_wrong(client, change, status, says):
    answer = client.post("/score", json={**transaction(1, 0), **change})
    assert answer.status_code == status
    assert says in str(answer.json())


def test_not_json_or_not_one_object_is_refused(client):
    headers = {"content-type": "application/json"}
    assert client.post("/score", content=b"{nope", headers=headers).status_code == 400
    many = client.post("/score", json=[transaction(1, 0)])
    assert many.status_code == 422 and "one event per request" in many.json()["error"]
    scalar = client.post("/score", json=5)
    assert scalar.status_code == 422 and "JSON object" in scalar.json()["error"]


def test_events_are_stored_without_scoring_and_replays_are_told_apart(client):
    stored = client.post("/events", json=[transaction(n, 10 * n) for n in (1, 2, 3)])
    assert stored.json() == {"received": 3, "counted": 3, "replayed": 0}
    again = client.post("/events", json=[transaction(3, 30), transaction(4, 40)])
    assert again.json() == {"received": 2, "counted": 1, "replayed": 1}
    scored = client.post("/score?features=true", json=transaction(5, 50)).json()
    assert scored["features"]["card_count_1h"] == 4
    refused = client.post("/events", json=[transaction(6, 60), transaction(7, 70, amount=-1)])
    assert refused.status_code == 422 and refused.json()["reasons"] == ["out_of_range:amount"]
    later = client.post("/score?features=true", json=transaction(8, 80)).json()
    assert later["features"]["card_count_1h"] == 5  # nothing of the refused array stored


def test_precomputed_features_are_still_scored_at_score_features(client):
    answer = client.post(
        "/score/features", json={"amount": 100.0, "card_count_1h": 2, "channel": "ecom"}
    )
    assert answer.status_code == 200
    assert answer.json()["probability"] == pytest.approx(sigmoid(3.0))


def test_metrics_count_the_raw_event_requests(client):
    client.post("/score", json=transaction(1, 0))
    client.post("/score", json=transaction(2, 0, amount=0.0))
    text = client.get("/metrics").text
    assert 'mlgate_serve_requests_total{endpoint="/score",status="200"} 1.0' in text
    assert 'mlgate_serve_requests_total{endpoint="/score",status="422"} 1.0' in text
    assert "mlgate_serve_scored_rows_total 1.0" in text


def test_an_entity_target_scores_an_observation_without_changing_the_state(tmp_path):
    shop = load_pipeline("shop")
    spec = ModelSpec(
        numeric=["visitor_count_1d"], categorical=["segment"], vocabularies={"segment": []},
        operating_threshold=0.5, family="logistic_regression",
    )  # fmt: skip
    store = EmbeddedStore(tmp_path / "shop.db")
    app = create_app(
        OneModel(spec, [1.0]), token="test-token-0123456789abcdef", poll_seconds=0,
        online=EventScoring(shop, OnlineState(shop, store)),
    )  # fmt: skip

    def page(n: int, seconds: float) -> dict:
        return {
            "event_id": n, "visitor_id": 5, "session_id": "s0123456789ab",
            "event_type": "page_view", "device": "mobile", "country": "DE",
            "occurred_at": at(seconds).isoformat(),
        }  # fmt: skip

    observation = {"observation_id": "o1", "visitor_id": 5, "occurred_at": at(3600).isoformat()}
    with authorized(app) as client:
        assert client.post("/events", json=[page(1, 0), page(2, 60)]).json()["counted"] == 2
        for _ in range(2):  # scoring an observation twice: the state does not move
            answer = client.post("/score?features=true", json=observation).json()
            assert answer["key"] == "o1" and "counted" not in answer
            assert answer["features"] == {"visitor_count_1d": 2, "segment": None}
            assert answer["probability"] == pytest.approx(sigmoid(2.0))
        missing = client.post("/score", json={"observation_id": "o2", "occurred_at": "2026-10-01"})
        assert missing.status_code == 422 and missing.json()["missing"] == ["visitor_id"]
    assert stored_keys(store, "visitor", 5) == [1, 2]
    store.close()


def test_without_a_model_raw_events_are_a_503_and_nothing_is_stored(state):
    class NoModel(OneModel):
        def current(self):
            return None

    app = create_app(
        NoModel(FRAUD_SPEC, WEIGHTS), token="test-token-0123456789abcdef", poll_seconds=0,
        online=EventScoring(CFG, state),
    )  # fmt: skip
    with authorized(app) as client:
        assert client.post("/score", json=transaction(1, 0)).status_code == 503
    assert state.store.sizes()["history"] == 0


def test_an_array_with_an_event_that_cannot_be_computed_stores_none_of_it(client, state):
    broken = transaction(3, 30, amount=25.0)
    broken["card_id"] = {"not": "a key"}  # passes the record rules, breaks the history
    answer = client.post("/events", json=[transaction(1, 10), transaction(2, 20), broken])
    assert answer.status_code == 422 and "none is stored" in answer.json()["error"]
    assert state.store.sizes()["history"] == 0  # 1 and 2 not stored either


def test_a_raw_event_of_a_card_in_the_canarys_share_is_answered_by_the_canary(
    state, tmp_path, monkeypatch
):
    from datetime import UTC, datetime

    from mlgate.paths import serving_outputs
    from mlgate.serving.rollout import RolloutSpec, bucket

    monkeypatch.setenv("MLGATE_STATE", str(tmp_path / "state"))

    class Canary(OneModel):
        def current(self):
            return ("4", "run-4")

    canary = Canary(FRAUD_SPEC, [0.0] * len(WEIGHTS))  # always 0.5
    spec = RolloutSpec(
        source=canary, pipeline="fraud", mode="canary", share=0.5, route_by="card_id"
    )
    app = create_app(
        OneModel(FRAUD_SPEC, WEIGHTS), token="test-token-0123456789abcdef", poll_seconds=0,
        online=EventScoring(CFG, state), rollout=spec,
    )  # fmt: skip
    event = transaction(1, 0, amount=50.0)
    routed = bucket(event["card_id"]) < 0.5
    with authorized(app) as client:
        answer = client.post("/score", json=event).json()
    assert answer["model_version"] == ("4" if routed else "3")
    assert answer["probability"] == pytest.approx(0.5 if routed else sigmoid(0.5))
    assert answer["counted"] is True  # the state is updated once, whichever model answered
    (line,) = [
        json.loads(text)
        for text in serving_outputs("fraud", datetime.now(UTC).date().isoformat())
        .read_text()
        .splitlines()
    ]
    assert line["key"] == event["card_id"]
    assert line["champion"]["probability"] == pytest.approx(sigmoid(0.5))
    assert line["canary"] == {"version": "4", "probability": 0.5}
