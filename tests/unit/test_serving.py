"""The scoring service (mlgate.serving.app) in-process, on hand-made ONNX models (no Spark).

The models are sigmoid(w . numeric) graphs with the twin's signature
(tests/support/scoring_service.py), so every expected probability is a hand-computed
logistic value. What the service refuses (token, content type, size, ranges):
test_serving_guard.py. The real process over real HTTP with the
real champion is in tests/e2e (offline/online agreement).
"""

from __future__ import annotations

import json

import pytest

from mlgate.export.portable import PortableScorer
from mlgate.serving.app import DirectorySource, ServedModel, create_app
from support.scoring_service import (
    ROW,
    SIGMOID_0,
    SIGMOID_1,
    SPEC,
    TOKEN,
    SwitchableSource,
    authorized,
    logistic_model,
)


@pytest.fixture
def source():
    return SwitchableSource()


@pytest.fixture
def client(source):
    with authorized(create_app(source, token=TOKEN, poll_seconds=0)) as test_client:
        yield test_client


def test_one_transaction_gets_probability_decision_and_version(client):
    answer = client.post("/score", json=ROW)
    assert answer.status_code == 200
    assert answer.json() == pytest.approx(
        {"probability": SIGMOID_1, "decision": True, "threshold": 0.6, "model_version": "1"}
    )


def test_many_transactions_keep_their_order(client):
    rows = [ROW, {**ROW, "amount": 1.0}, {**ROW, "amount": 0.0, "txn_count_1h": 1.0}]
    answer = client.post("/score", json=rows).json()
    assert answer["model_version"] == "1" and answer["threshold"] == 0.6
    probabilities = [r["probability"] for r in answer["results"]]
    # margins 1, 0, -1: sigmoid(-1) = 1 - sigmoid(1)
    assert probabilities == pytest.approx([SIGMOID_1, SIGMOID_0, 1 - SIGMOID_1])
    assert [r["decision"] for r in answer["results"]] == [True, False, False]


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"txn_count_1h": 1, "channel": "ecom"}, "amount", "missing"),
        ({**ROW, "amount": "2.0"}, "amount", "float_type"),  # a string is not a number
        ({**ROW, "amount": True}, "amount", "float_type"),
        ({**ROW, "amount": None}, "amount", "float_type"),
        ({**ROW, "channel": 7}, "channel", "string_type"),
    ],
)
def test_a_missing_or_mistyped_field_is_a_422_naming_it(client, body, field, kind):
    answer = client.post("/score", json=body)
    assert answer.status_code == 422
    assert [(p["field"], p["type"]) for p in answer.json()["problems"]] == [(field, kind)]


def test_array_errors_name_the_row_and_nothing_is_a_500(client):
    answer = client.post("/score", json=[ROW, {**ROW, "txn_count_1h": "x"}])
    assert answer.status_code == 422
    assert answer.json()["problems"] == [
        {
            "field": "txn_count_1h",
            "problem": "Input should be a valid number",
            "type": "float_type",
            "row": 1,
        }
    ]
    json_type = {"content-type": "application/json"}
    for body in (b"", b"{", b'{"amount": 1,'):  # not JSON at all
        assert client.post("/score", content=body, headers=json_type).status_code == 400, body
    for body in (b"[]", b"42", b'"x"', b"[1]", b'{"amount": NaN}', b"[[]]"):  # JSON, not rows
        assert client.post("/score", content=body, headers=json_type).status_code == 422, body


def test_unknown_fields_are_ignored_and_unseen_categories_are_scored(client):
    answer = client.post("/score", json={**ROW, "channel": "teleport", "note": "x"})
    assert answer.status_code == 200
    assert answer.json()["probability"] == pytest.approx(SIGMOID_1)


def test_too_many_rows_is_a_413_naming_the_limit(source):
    with authorized(create_app(source, token=TOKEN, poll_seconds=0, max_rows=2)) as small:
        answer = small.post("/score", json=[ROW] * 3)
        assert answer.status_code == 413
        assert answer.json()["max_rows"] == 2 and "--max-rows" in answer.json()["error"]
        assert small.post("/score", json=[ROW] * 2).status_code == 200


def test_reload_switches_to_the_new_champion(client, source):
    assert client.get("/health").json()["model_version"] == "1"
    assert client.post("/reload").json() == {"changed": False, "version": "1"}
    source.wanted = "2"
    assert client.post("/reload").json() == {"changed": True, "version": "2", "previous": "1"}
    answer = client.post("/score", json=ROW).json()
    assert answer["model_version"] == "2" and answer["probability"] == SIGMOID_0
    assert client.get("/model").json()["run_id"] == "run-2"


def test_a_version_that_cannot_be_loaded_leaves_the_old_one_serving(client, source):
    from mlgate.export.portable import PortableModelError

    def broken(version, run_id, threads):
        raise PortableModelError("run has no onnx/ artefact")

    source.wanted = "3"
    source.load = broken
    result = client.post("/reload").json()
    assert result["version"] == "1" and "no onnx/ artefact" in result["error"]
    assert client.post("/score", json=ROW).json()["model_version"] == "1"
    assert 'mlgate_serve_model_reloads_total{result="failed"} 1.0' in client.get("/metrics").text


def test_without_any_model_health_and_score_are_503(source):
    source.wanted = None
    with authorized(create_app(source, token=TOKEN, poll_seconds=0)) as empty:
        assert empty.get("/health").status_code == 503
        assert empty.post("/score", json=ROW).status_code == 503
        source.wanted = "1"
        assert empty.post("/reload").status_code == 200
        assert empty.get("/health").json()["model_version"] == "1"


def test_metrics_count_requests_scores_and_version(client):
    client.post("/score", json=ROW)  # 0.731
    client.post("/score", json=[ROW, {**ROW, "amount": 1.0}])  # 0.731, 0.5
    client.post("/score", json={"amount": "x"})
    text = client.get("/metrics").text
    assert 'mlgate_serve_requests_total{endpoint="/score",status="200"} 2.0' in text
    assert 'mlgate_serve_requests_total{endpoint="/score",status="422"} 1.0' in text
    assert "mlgate_serve_scored_rows_total 3.0" in text
    assert 'mlgate_serve_score_bucket{le="0.5"} 1.0' in text  # 0.5 <= 0.5
    assert 'mlgate_serve_score_bucket{le="0.7"} 1.0' in text
    assert 'mlgate_serve_score_bucket{le="0.8"} 3.0' in text
    assert "mlgate_serve_score_count 3.0" in text
    assert 'mlgate_serve_request_seconds_count{endpoint="/score"} 2.0' in text
    assert "mlgate_serve_model_version 1.0" in text
    assert 'mlgate_serve_model_info{run_id="run-1"' in text


def test_a_directory_model_is_served_as_is(tmp_path):
    (tmp_path / "model.onnx").write_bytes(logistic_model([1.0, -1.0]))
    (tmp_path / "spec.json").write_text(json.dumps(SPEC.to_dict()))
    with authorized(create_app(DirectorySource(tmp_path), token=TOKEN, poll_seconds=0)) as local:
        answer = local.post("/score", json=ROW).json()
    assert answer["model_version"] == f"local:{tmp_path.name}"
    assert answer["probability"] == pytest.approx(SIGMOID_1)


def test_served_model_builds_arrays_in_spec_order():
    served = ServedModel.build("1", "r", PortableScorer(logistic_model([1.0, -1.0]), SPEC))
    numeric, categorical = served.arrays([ROW, {**ROW, "amount": 5.0}])
    assert numeric.tolist() == [[2.0, 1.0], [5.0, 1.0]]
    assert categorical.tolist() == [["ecom"], ["ecom"]]


def test_a_refused_champion_is_logged_once_without_a_traceback_and_serving_goes_on(caplog):
    """Aliases moved outside mlgate: each poll is refused; the log says so once, not per poll."""
    import asyncio
    import logging

    from mlgate.ledger import AliasesMovedError
    from mlgate.serving.app import Metrics, ModelHolder

    class Refusing:
        description = "registry fraud_detector@champion"

        def current(self):
            raise AliasesMovedError("the aliases of fraud_detector were moved outside mlgate")

        def load(self, version, run_id, threads):  # pragma: no cover - never reached
            raise AssertionError("a refused version must not be loaded")

    holder = ModelHolder(Refusing(), Metrics())
    with caplog.at_level(logging.ERROR, logger="mlgate.serve"):
        answers = [asyncio.run(holder.check()) for _ in range(3)]
    assert all(a["changed"] is False and "moved outside mlgate" in a["error"] for a in answers)
    refusals = [r for r in caplog.records if "moved outside mlgate" in r.getMessage()]
    assert len(refusals) == 1 and refusals[0].exc_info is None
