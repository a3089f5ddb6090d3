"""End to end, the way a user meets a failure: `mlgate run-day` with real Airflow on a
pipeline whose free-form query the source rejects (no Spark runs). The run fails at
extract at once, without retries, and its last line says what failed and what to do; two
such runs at once both get their alert email, and no mail sink outlives them."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mlgate.config import PIPELINES_DIR
from mlgate.local import mailsink

pytestmark = pytest.mark.e2e

MLGATE = str(Path(sys.executable).parent / "mlgate")
BAD_QUERY = "SELECT t.*, t.no_such_column FROM transactions t WHERE $CONDITIONS"


@pytest.fixture(scope="module")
def bad_query(tmp_path_factory):
    """A state folder with a small demo source and a fraud pipeline whose query is wrong."""
    from mlgate.local.embedded import embedded_env

    state = tmp_path_factory.mktemp("state")
    config = yaml.safe_load((PIPELINES_DIR / "fraud.yaml").read_text())
    config["source"]["events"]["query"] = BAD_QUERY
    (state / "pipelines.d").mkdir()
    (state / "pipelines.d" / "fraud.yaml").write_text(yaml.safe_dump(config))
    port = mailsink_port()  # configured, but nothing listens: each run starts its own sink
    env = embedded_env(state, base={**os.environ, "MLGATE_SMTP_PORT": str(port)})
    env.update({"MLGATE_PIPELINES": str(state / "pipelines.d"), "MLGATE_PIPELINE": "fraud"})
    generated = subprocess.run(
        [MLGATE, "generate", "--days", "20", "--events", "4000", "--end-date", "2026-10-31"]
        + ["--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert generated.returncode == 0, generated.stderr
    return state, env


def mailsink_port() -> int:
    from mlgate.local.processes import free_port

    return free_port()


def run_day(env, day: str) -> subprocess.Popen:
    return subprocess.Popen(
        [MLGATE, "run-day", "--date", day],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def extract_tries(state: Path) -> list[tuple[str, int]]:
    """(state, try number) of every extract task instance in Airflow's metadata DB."""
    with sqlite3.connect(state / "airflow" / "airflow.db") as conn:
        return conn.execute(
            "SELECT state, try_number FROM task_instance WHERE task_id = 'extract'"
        ).fetchall()


def test_a_permanent_error_fails_at_once_and_the_last_line_says_why(bad_query):
    state, env = bad_query
    started = time.monotonic()
    run = run_day(env, "2026-10-31")
    out, err = run.communicate(timeout=600)
    seconds = time.monotonic() - started
    assert run.returncode == 1, out + err
    assert "up_for_retry" not in out  # one try: the retry delay alone is two minutes
    assert extract_tries(state) == [("failed", 1)]
    assert seconds < 120, seconds
    last = err.strip().splitlines()[-1]
    assert last.startswith(
        "extract failed: the source rejects the free-form query source.events.query: "
        "no such column: t.no_such_column"
    ), err
    assert str(state / "pipelines.d" / "fraud.yaml") in last
    assert last.endswith("once fixed, run again: mlgate run-day --pipeline fraud --date 2026-10-31")


def test_two_runs_at_once_both_get_their_alert_email_and_leave_no_sink(bad_query):
    state, env = bad_query
    before = set((state / "mail").glob("*.eml"))
    runs = {day: run_day(env, day) for day in ("2026-10-29", "2026-10-30")}
    for day, run in runs.items():
        out, err = run.communicate(timeout=600)
        assert run.returncode == 1, f"{day}: {out}{err}"
        assert err.strip().splitlines()[-1].startswith("extract failed:"), f"{day}: {err}"
    new = set((state / "mail").glob("*.eml")) - before
    subjects = sorted(str(m["Subject"]) for m in map(read_message, new))
    assert len(subjects) == 2, subjects
    assert "2026-10-29" in subjects[0] and "2026-10-30" in subjects[1]
    assert list((state / "mail").glob("sink-*.pid")) == []
    assert not mailsink.port_open("127.0.0.1", int(env["MLGATE_SMTP_PORT"]))


def read_message(path: Path):
    import email
    import email.policy

    with open(path, "rb") as handle:
        return email.message_from_binary_file(handle, policy=email.policy.default)
