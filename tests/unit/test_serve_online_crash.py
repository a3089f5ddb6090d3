"""`mlgate serve --online` killed mid-stream (SIGKILL) loses no acknowledged event: after a
restart and a replay from the last acknowledged event, every feature is what an
uninterrupted run gives. The real command line, a real uvicorn, raw events over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from mlgate.export.portable import MODEL_FILE, SPEC_FILE
from mlgate.online.bootstrap import AS_OF_META, SPEC_META, spec_fingerprint
from support.online_events import CFG, FRAUD_SPEC, WEIGHTS, fraud_state, transaction
from support.pgserver import free_port
from support.scoring_service import logistic_model

TOKEN = "crash-test-token-0123456789abcdef"
STREAM = [transaction(n, 29 * n, amount=float(n % 13 + 1), card=7 + n % 4) for n in range(1, 401)]
KILL_AFTER = 150


def bootstrapped_state(path: Path) -> None:
    state = fraud_state(path)  # the dimensions, and the meta a bootstrap writes
    state.store.load(meta={AS_OF_META: "2026-10-01T00:00:00", SPEC_META: spec_fingerprint(CFG)})
    state.store.close()


@pytest.fixture
def service_files(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / MODEL_FILE).write_bytes(logistic_model(WEIGHTS))
    (model / SPEC_FILE).write_text(json.dumps(FRAUD_SPEC.to_dict()))
    token = tmp_path / "token"
    token.write_text(TOKEN)
    token.chmod(0o600)
    return model, token


def start_service(model: Path, token: Path, state: Path, port: int) -> subprocess.Popen:
    command = [
        str(Path(sys.executable).parent / "mlgate"), "serve", "--pipeline", "fraud",
        "--model-dir", str(model), "--online", str(state), "--token-file", str(token),
        "--port", str(port), "--poll-seconds", "0", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "MLGATE_STATE": str(state.parent / "mlgate-state")}
    service = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return service
        except httpx.TransportError:
            pass
        if service.poll() is not None:
            raise AssertionError(f"mlgate serve exited: {service.stderr.read()}")
        time.sleep(0.1)
    service.kill()
    raise AssertionError("mlgate serve did not answer /health within 60 s")


def test_a_killed_service_loses_no_acknowledged_event(tmp_path, service_files):
    model, token = service_files
    state = tmp_path / "online.db"
    bootstrapped_state(state)
    port = free_port()
    headers = {"authorization": f"Bearer {TOKEN}"}
    service = start_service(model, token, state, port)
    acknowledged = []

    def send_until_it_dies():
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for event in STREAM:
                try:
                    answer = client.post("/score", json=event)
                except httpx.TransportError:
                    return  # killed: this one was never acknowledged
                assert answer.status_code == 200, answer.text
                acknowledged.append(event["transaction_id"])

    sender = threading.Thread(target=send_until_it_dies)
    sender.start()
    while len(acknowledged) < KILL_AFTER:
        time.sleep(0.001)
    service.send_signal(signal.SIGKILL)  # mid-stream: a request may be in flight
    service.wait()
    sender.join()
    service.stderr.close()
    assert KILL_AFTER <= len(acknowledged) < len(STREAM)

    # restart on the same file and replay from the last acknowledged event: it is scored
    # again but not counted twice
    service = start_service(model, token, state, port)
    restart = len(acknowledged) - 1
    replayed = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for event in STREAM[restart:]:
                replayed.append(client.post("/score?features=true", json=event).json())
            probe = client.post("/score?features=true", json=transaction(9_999, 29 * 401, card=8))
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(timeout=30)
        service.stderr.close()
    assert replayed[0]["counted"] is False  # the last acknowledged one: already stored
    assert replayed[-1]["counted"] is True

    clean = fraud_state(tmp_path / "clean.db")
    for event in STREAM:
        clean.ingest(event)
    expected = clean.features(transaction(9_999, 29 * 401, card=8)).features
    assert probe.json()["features"]["card_count_1h"] == expected["card_count_1h"]
    recovered = fraud_state(state)
    for card in (7, 9, 10):  # the histories the probe did not touch: exactly the clean ones
        wanted = [("card", card)]
        assert recovered.store.histories(wanted) == clean.store.histories(wanted)
