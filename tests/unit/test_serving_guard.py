"""The scoring service refuses what it must not take: no token, not JSON, too big, out of range.

The app is the real one (mlgate.serving.app.create_app) on the hand-made ONNX model of
test_serving.py. Token, content type and schema go through the framework's test client;
the body-size limit through a real uvicorn server on a free port and a raw socket, since
the test client reads a whole body before the app sees it (and so could not show that
the service stops reading).
"""

from __future__ import annotations

import json
import os
import select
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from mlgate.credentials import SecretError
from mlgate.serving.app import create_app
from mlgate.serving.guard import TOKEN_ENV, serve_token
from support.scoring_service import (
    ROW,
    SIGMOID_1,
    SPEC,
    TOKEN,
    SwitchableSource,
    authorized,
    logistic_model,
)

PROTECTED = [("POST", "/score"), ("POST", "/reload"), ("GET", "/model")]
SMALL_BODY_LIMIT = 64 * 1024


@pytest.fixture
def app():
    return create_app(
        SwitchableSource(),
        token=TOKEN,
        poll_seconds=0,
        input_ranges={"txn_count_1h": (0.0, None), "amount": (0.0, 1000.0)},
    )


@pytest.fixture
def client(app):
    with authorized(app) as test_client:
        yield test_client


# --- who: the bearer token -------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", "Bearer", TOKEN],
)
def test_scoring_model_and_reload_need_the_bearer_token(app, method, path, authorization):
    from fastapi.testclient import TestClient

    headers = {"authorization": authorization} if authorization else {}
    with TestClient(app) as anonymous:
        answer = anonymous.request(method, path, json=ROW, headers=headers)
    assert answer.status_code == 401
    challenge = answer.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    sent_a_bearer_token = (authorization or "").startswith("Bearer ")
    assert ('error="invalid_token"' in challenge) == sent_a_bearer_token
    assert "Authorization: Bearer" in answer.json()["error"] or "wrong" in answer.json()["error"]


def test_the_right_token_is_accepted_whatever_the_case_of_the_scheme(app):
    from fastapi.testclient import TestClient

    with TestClient(app, headers={"authorization": f"bearer {TOKEN}"}) as lower:
        assert lower.post("/score", json=ROW).json()["probability"] == pytest.approx(SIGMOID_1)


def test_health_and_metrics_stay_open_and_count_refused_requests(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as anonymous:
        anonymous.post("/score", json=ROW)
        anonymous.get("/wp-login.php")  # unknown paths share one label
        assert anonymous.get("/health").json()["model_version"] == "1"
        text = anonymous.get("/metrics").text
    assert 'mlgate_serve_requests_total{endpoint="/score",status="401"} 1.0' in text
    assert 'mlgate_serve_requests_total{endpoint="other",status="401"} 1.0' in text


def test_the_token_is_generated_once_owner_only_and_an_operator_choice_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MLGATE_STATE", str(tmp_path))
    token, kept = serve_token(environ={})
    path = tmp_path / "secrets" / "serve-token"
    assert kept == f"the file {path} (generated now)" and token not in kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert serve_token(environ={}) == (token, f"the file {path}")
    chosen = "operator-chosen-token-123456"
    assert serve_token(environ={TOKEN_ENV: chosen}) == (chosen, f"${TOKEN_ENV}")
    own = tmp_path / "own-token"
    own.write_text("from-a-file-0123456789\n")
    own.chmod(0o600)
    assert serve_token(own, environ={TOKEN_ENV: chosen}) == (
        "from-a-file-0123456789",
        f"the file {own}",
    )
    own.chmod(0o644)  # readable by others: treat it as leaked
    with pytest.raises(SecretError, match="readable by others"):
        serve_token(own)


# --- what: JSON only ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",  # what a web page can post cross-origin without a preflight
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_a_body_that_is_not_declared_json_is_a_415(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    answer = client.post("/score", content=json.dumps(ROW), headers=headers)
    assert answer.status_code == 415
    assert "Content-Type: application/json" in answer.json()["error"]


def test_json_with_a_charset_is_json(client):
    answer = client.post(
        "/score",
        content=json.dumps(ROW),
        headers={"content-type": "Application/JSON; charset=utf-8"},
    )
    assert answer.status_code == 200


# --- the schema: 422 naming the field ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({**ROW, "txn_count_1h": -1}, "txn_count_1h", "greater_than_equal"),  # a negative count
        ({**ROW, "amount": 1000.5}, "amount", "less_than_equal"),
        (b'{"amount": NaN, "txn_count_1h": 1, "channel": "ecom"}', "amount", "finite_number"),
        (b'{"amount": 2, "txn_count_1h": Infinity, "channel": "ecom"}', "txn_count_1h", None),
        (b'{"amount": 1e999, "txn_count_1h": 1, "channel": "ecom"}', "amount", None),
    ],
)
def test_a_value_out_of_the_feature_range_or_not_finite_is_a_422_naming_it(
    client, body, field, kind
):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    answer = client.post("/score", content=content, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    problems = answer.json()["problems"]
    assert [p["field"] for p in problems] == [field]
    if kind:
        assert problems[0]["type"] == kind


def test_range_problems_in_a_batch_name_the_row(client):
    answer = client.post("/score", json=[ROW, ROW, {**ROW, "txn_count_1h": -3}])
    assert answer.status_code == 422
    (problem,) = answer.json()["problems"]
    assert (problem["row"], problem["field"]) == (2, "txn_count_1h")
    assert "greater than or equal to 0" in problem["problem"]


# --- how big: the body limit, on a real server ---------------------------------------------


@pytest.fixture
def server():
    """The app under uvicorn (httptools, as `mlgate serve`) on a free port, in a thread."""
    app = create_app(
        SwitchableSource(), token=TOKEN, poll_seconds=0, max_body_bytes=SMALL_BODY_LIMIT
    )
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, http="httptools", log_level="warning", lifespan="on")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [listener]})
    thread.start()
    deadline = time.monotonic() + 20
    while not uvicorn_server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert uvicorn_server.started, "uvicorn did not start"
    yield port
    uvicorn_server.should_exit = True
    thread.join(timeout=10)
    listener.close()


def head(port: int, extra: str, token: str | None = TOKEN) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST /score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
        f"Content-Type: application/json\r\n{extra}\r\n"
    ).encode()


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def read_answer(sock: socket.socket) -> bytes:
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            break
        answer += chunk
    return answer


def still_serving(port: int) -> None:
    """A fresh connection gets its health and a score: the refusal cost the service nothing."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        body = json.dumps(ROW).encode()
        sock.sendall(head(port, f"Content-Length: {len(body)}\r\n") + body)
        answer = read_answer(sock)
    assert status_of(answer) == 200, answer


@pytest.mark.parametrize("token", [TOKEN, None])
def test_an_announced_200_mb_body_is_refused_before_a_byte_of_it_is_read(server, token):
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        # only the head is sent: without the limit the server would wait for 200 MB
        sock.sendall(head(server, f"Content-Length: {200 * 1024 * 1024}\r\n", token))
        answer = read_answer(sock)
    assert status_of(answer) == (413 if token else 401), answer
    if token:
        assert f'"max_body_bytes":{SMALL_BODY_LIMIT}'.encode() in answer
    still_serving(server)


def test_a_streamed_body_past_the_limit_is_cut_off_while_it_is_read(server):
    """Chunked, no Content-Length: a JSON row with 4 MiB of padding (valid, and scored
    whole without the limit); the 413 must come back before the client is done sending."""
    chunk = b"x" * 16384
    total_chunks = 256  # 4 MiB, 64 times the limit
    opening = json.dumps(ROW)[:-1].encode() + b', "padding": "'
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", server), timeout=20) as sock:
        sock.sendall(head(server, "Transfer-Encoding: chunked\r\n"))
        pieces = [opening, *([chunk] * total_chunks), b'"}']
        try:
            for piece in pieces:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
                wait = 0.05 if sent > SMALL_BODY_LIMIT else 0
                if select.select([sock], [], [], wait)[0]:
                    break  # the server answered before the body ended
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed the connection: its answer is already on its way
        answer = read_answer(sock)
    assert status_of(answer) == 413, answer
    assert sent < len(chunk) * total_chunks, "the server read the whole body before answering"
    still_serving(server)


def test_the_limit_lets_a_body_just_under_it_through(server):
    padding = "x" * (SMALL_BODY_LIMIT - 200)
    body = (json.dumps(ROW)[:-1] + f', "padding": "{padding}"}}').encode()
    assert len(body) <= SMALL_BODY_LIMIT
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(head(server, "Transfer-Encoding: chunked\r\n"))
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        assert status_of(read_answer(sock)) == 200


def test_mlgate_serve_says_where_its_generated_token_is_but_never_the_token(tmp_path):
    """The command as an operator starts it: a fresh state folder, no token configured."""
    import httpx

    model = tmp_path / "model"
    model.mkdir()
    (model / "model.onnx").write_bytes(logistic_model([1.0, -1.0]))
    (model / "spec.json").write_text(json.dumps(SPEC.to_dict()))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLGATE_SERVE_TOKEN", "MLGATE_PIPELINE")
    }
    env["MLGATE_STATE"] = str(tmp_path / "state")
    command = [str(Path(sys.executable).parent / "mlgate"), "serve", "--model-dir", str(model)]
    command += ["--port", str(port), "--poll-seconds", "0", "--log-level", "warning"]
    output = tmp_path / "serve.log"
    with open(output, "w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, output.read_text()
            assert time.monotonic() < deadline, "mlgate serve did not start: " + output.read_text()
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        token_file = tmp_path / "state" / "secrets" / "serve-token"
        token = token_file.read_text().strip()
        said = output.read_text()
        assert f"the file {token_file} (generated now)" in said and token not in said
        assert httpx.post(f"{base}/score", json=ROW).status_code == 401
        answer = httpx.post(f"{base}/score", json=ROW, headers={"authorization": f"Bearer {token}"})
        assert answer.json()["probability"] == pytest.approx(SIGMOID_1)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_token_file_others_can_read_stops_mlgate_serve_before_it_listens(
    tmp_path, monkeypatch, capsys
):
    from mlgate.cli import main

    monkeypatch.delenv("MLGATE_PIPELINE", raising=False)
    shared = tmp_path / "token"
    shared.write_text("a-long-enough-token-0123456789\n")
    shared.chmod(0o644)
    assert main(["serve", "--model-dir", str(tmp_path), "--token-file", str(shared)]) == 2
    said = capsys.readouterr().err
    assert "no bearer token" in said and "readable by others" in said
    assert "a-long-enough-token" not in said


@pytest.mark.parametrize("option", ["--max-rows", "--max-body-bytes"])
def test_a_limit_below_one_is_refused_at_the_command_line(option, capsys):
    from mlgate.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", option, "0"])
    assert f"argument {option}: 0 is below 1" in capsys.readouterr().err
