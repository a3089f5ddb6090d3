"""The online state over the embedded store: dimension joins as of the event's time, an
event counted once however often it is sent, and no acknowledged update lost in a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson

from mlgate.config import DimensionTable
from mlgate.online.state import encode_dimension, micros, version_in
from support.online_events import at, fraud_state, stored_keys, transaction


def test_an_event_gets_its_dimensions_through_chained_joins(tmp_path):
    state = fraud_state(tmp_path / "online.db")
    scored = state.ingest(transaction(1, 0))
    assert scored.row["card_type"] == "debit" and scored.row["merchant_category"] == "fuel"
    assert scored.row["home_country"] == "FR"  # customers joined on the cards' customer_id
    assert scored.features["country_ne_home_country"] == 1
    unknown = state.features(transaction(2, 1, card=8))  # no such card: nulls, no guess
    assert unknown.row["card_type"] is None and unknown.row["home_country"] is None


def version_at(data: bytes, at: int) -> dict | None:
    return version_in(orjson.loads(data), at)  # the key as the store keeps it


def test_versions_join_as_of_the_events_time_to_the_microsecond():
    scd2 = DimensionTable(
        table="cards", key="card_id", history="scd2", valid_from="vf", valid_to="vt"
    )
    data = encode_dimension(
        scd2,
        [
            {"card_type": "debit", "vf": at(0), "vt": at(100)},
            {"card_type": "credit", "vf": at(100), "vt": at(200)},
            {"card_type": "prepaid", "vf": at(200), "vt": None},
        ],
        ["card_type"],
    )
    assert version_at(data, micros(at(50)))["card_type"] == "debit"
    assert version_at(data, micros(at(100)))["card_type"] == "credit"  # at its very start
    assert version_at(data, micros(at(99.999999)))["card_type"] == "debit"
    assert version_at(data, micros(at(250)))["card_type"] == "prepaid"
    assert version_at(data, micros(at(-1))) is None  # before the first version: unknown
    lastmodified = DimensionTable(
        table="cards", key="card_id", history="lastmodified", updated_at="ua"
    )
    data = encode_dimension(
        lastmodified,
        [{"card_type": "debit", "ua": at(10)}, {"card_type": "credit", "ua": at(100)}],
        ["card_type"],
    )
    assert version_at(data, micros(at(99)))["card_type"] == "debit"
    assert version_at(data, micros(at(100)))["card_type"] == "credit"  # at or before


def test_a_replayed_event_is_counted_once_and_gets_the_same_features(tmp_path):
    state = fraud_state(tmp_path / "online.db")
    first = state.ingest(transaction(1, 0, amount=5.0))
    second = state.ingest(transaction(2, 60, amount=7.0))
    again = state.ingest(transaction(2, 60, amount=7.0))
    assert first.counted and second.counted and not again.counted
    assert again.features == second.features
    third = state.ingest(transaction(3, 120, amount=1.0))
    assert third.features["card_count_1h"] == 2  # 1 and 2, not 2 twice
    assert third.features["card_amount_sum_1h"] == 12.0
    assert stored_keys(state.store, "card", 7) == [1, 2, 3]  # 2 once


def test_an_event_without_an_entity_key_is_stored_nowhere_and_not_counted(tmp_path):
    state = fraud_state(tmp_path / "online.db")
    state.ingest(transaction(1, 0))
    keyless = state.ingest(transaction(2, 30, card_id=None))
    assert not keyless.counted and keyless.features["card_count_1h"] == 0
    assert state.ingest(transaction(3, 60)).features["card_count_1h"] == 1
    assert state.store.sizes()["history"] == 1 and stored_keys(state.store, "card", 7) == [1, 3]


def test_events_of_the_same_second_do_not_see_each_other(tmp_path):
    state = fraud_state(tmp_path / "online.db")
    state.ingest(transaction(1, 10))
    same_second = state.ingest(transaction(2, 10.5))
    assert same_second.features["card_count_1h"] == 0
    later = state.ingest(transaction(3, 11))
    assert later.features["card_count_1h"] == 2


STREAM = [transaction(n, 37 * n, amount=float(n % 11 + 1), card=7 + n % 3) for n in range(1, 301)]

WORKER = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_online_state import STREAM, fraud_state
state = fraud_state(Path({path!r}))
start = int(sys.argv[1])
for event in STREAM[start:]:
    state.ingest(event)
    print(event["transaction_id"], flush=True)  # acknowledged: the update is committed
"""


def run_worker(path: Path, start: int) -> subprocess.Popen:
    code = WORKER.format(tests=str(Path(__file__).parent), path=str(path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.Popen(
        [sys.executable, "-c", code, str(start)], stdout=subprocess.PIPE, text=True, env=env
    )


def test_a_crash_mid_stream_loses_no_acknowledged_update(tmp_path):
    crashed = tmp_path / "crashed.db"
    fraud_state(crashed).store.close()  # dimensions loaded before the stream starts
    worker = run_worker(crashed, 0)
    acknowledged = []
    for line in worker.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) == 120:
            worker.send_signal(signal.SIGKILL)  # no clean shutdown, mid-stream
            break
    worker.wait()
    last = acknowledged[-1]
    assert last < STREAM[-1]["transaction_id"]  # it died before the end
    # restart: replay from the last acknowledged event (it and any after it may be counted)
    restart = next(i for i, e in enumerate(STREAM) if e["transaction_id"] == last)
    rerun = run_worker(crashed, restart)
    rerun.stdout.read()
    assert rerun.wait() == 0

    clean = fraud_state(tmp_path / "clean.db")
    for event in STREAM:
        clean.ingest(event)
    recovered = fraud_state(crashed)
    probe = transaction(10_000, 37 * 301, card=8)
    assert recovered.features(probe).features == clean.features(probe).features
    assert recovered.store.sizes() == clean.store.sizes()
    for card in (7, 8, 9):  # every entity's history, not only the probe's
        wanted = [("card", card)]
        assert recovered.store.histories(wanted) == clean.store.histories(wanted)
    assert json.dumps(recovered.store.meta()) == json.dumps(clean.store.meta())
