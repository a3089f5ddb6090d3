"""The two online stores (mlgate.online.store.EmbeddedStore, mlgate.online.redis_store):
the same answers to the same writes, an event counted once, a bootstrap swapped in whole,
and (Redis, several writers) no event of a history lost when processes race."""

from __future__ import annotations

import threading
import uuid

import pytest

from mlgate.online.redis_store import RedisStore
from mlgate.online.state import OnlineState
from mlgate.online.store import EmbeddedStore, StateMoved, StoreInUse
from support.online_events import CFG, fraud_dimensions, stored_keys, transaction

STREAM = [transaction(n, 41 * n, amount=float(n % 7 + 1), card=7 + n % 3) for n in range(1, 121)]


@pytest.fixture(params=["embedded", "redis"])
def make_store(request, tmp_path):
    """A factory of empty stores of one kind (a new file, or a new Redis namespace)."""
    opened = []

    def make():
        if request.param == "embedded":
            store = EmbeddedStore(tmp_path / f"{uuid.uuid4().hex}.db")
        else:
            server = request.getfixturevalue("redis_server")
            store = RedisStore(server.url, namespace=f"mlgate:test-{uuid.uuid4().hex}")
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def test_writes_read_back_and_a_clear_empties_the_store(make_store):
    store = make_store()
    store.load(
        histories=[("card", 7, b"h7")],
        dimensions=[("cards", 7, b"d7"), ("cards", "7", b"text")],
        meta={"as_of": "2026-10-01T00:00:00"},
    )
    assert store.histories([("card", 7), ("card", 8)]) == {("card", 7): b"h7"}
    assert store.dimensions("cards", [7, "7", 9]) == {7: b"d7", "7": b"text"}  # 9: none
    assert store.meta() == {"as_of": "2026-10-01T00:00:00"}
    read = {("card", 7): b"h7", ("card", 8): None}
    new = {("card", 7): b"h7+2", ("card", 8): b"h8"}
    store.apply(new, read=read)
    assert store.histories([("card", 7), ("card", 8), ("card", "7")]) == new  # "7" is not 7
    assert store.sizes() == {"history": 2, "dimension": 2}
    store.clear()
    assert store.sizes() == {"history": 0, "dimension": 0} and store.meta() == {}


def test_both_stores_give_the_same_features_for_the_same_stream(tmp_path, redis_server):
    embedded = EmbeddedStore(tmp_path / "a.db")
    redis = RedisStore(redis_server.url, namespace=f"mlgate:test-{uuid.uuid4().hex}")
    states = []
    for store in (embedded, redis):
        store.load(dimensions=fraud_dimensions())
        states.append(OnlineState(CFG, store))
    for event in STREAM:
        answers = [state.ingest(event) for state in states]
        assert answers[0] == answers[1], event["transaction_id"]
    assert embedded.sizes() == redis.sizes()
    wanted = [("card", card) for card in (7, 8, 9)]
    assert embedded.histories(wanted) == redis.histories(wanted)
    embedded.close()
    redis.close()


def test_a_second_process_cannot_open_an_embedded_state_in_use(tmp_path):
    first = EmbeddedStore(tmp_path / "state.db")
    with pytest.raises(StoreInUse, match="in use by another process"):
        EmbeddedStore(tmp_path / "state.db")
    first.close()
    EmbeddedStore(tmp_path / "state.db").close()  # free again once closed


def test_redis_refuses_a_write_over_a_history_that_moved(redis_server):
    store = RedisStore(redis_server.url, namespace=f"mlgate:test-{uuid.uuid4().hex}")
    store.load(histories=[("card", 7, b"v1")])
    store.apply({("card", 7): b"v2"}, read={("card", 7): b"v1"})  # someone else
    with pytest.raises(StateMoved):
        store.apply({("card", 7): b"v1+2", ("card", 8): b"v1"}, read={("card", 7): b"v1"})
    assert store.histories([("card", 7), ("card", 8)]) == {("card", 7): b"v2"}  # none written
    with pytest.raises(StateMoved):  # a history that appeared since it was read as none
        store.apply({("card", 7): b"new"}, read={("card", 7): None})
    store.close()


def test_racing_services_on_one_redis_state_lose_no_event(redis_server, tmp_path):
    namespace = f"mlgate:test-{uuid.uuid4().hex}"
    shared = [RedisStore(redis_server.url, namespace=namespace) for _ in range(4)]
    shared[0].load(dimensions=fraud_dimensions())
    states = [OnlineState(CFG, store) for store in shared]
    one_card = [transaction(n, 13 * n, card=7) for n in range(1, 201)]  # every event: card 7

    def feed(state, events):
        for event in events:
            state.ingest(event)

    threads = [
        threading.Thread(target=feed, args=(state, one_card[i::4]))
        for i, state in enumerate(states)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    alone = EmbeddedStore(tmp_path / "alone.db")
    alone.load(dimensions=fraud_dimensions())
    sequential = OnlineState(CFG, alone)
    for event in one_card:
        sequential.ingest(event)
    probe = transaction(10_000, 13 * 201, card=7)
    assert states[0].features(probe).features == sequential.features(probe).features
    assert stored_keys(shared[0], "card", 7) == list(range(1, 201))  # each once
    for store in (*shared, alone):
        store.close()


def test_an_event_whose_history_moved_meanwhile_is_read_again(redis_server):
    namespace = f"mlgate:test-{uuid.uuid4().hex}"
    ours, theirs = (RedisStore(redis_server.url, namespace=namespace) for _ in range(2))
    ours.load(dimensions=fraud_dimensions())
    state, other = OnlineState(CFG, ours), OnlineState(CFG, theirs)
    state.ingest(transaction(1, 0))
    writes = []
    apply = ours.apply

    def after_another_service(*args, **kwargs):
        if not writes:  # between our read and our write, another service stores card 7's
            other.ingest(transaction(2, 10))
        writes.append(args[0])
        return apply(*args, **kwargs)

    ours.apply = after_another_service
    assert state.ingest(transaction(3, 20)).counted
    assert len(writes) == 2  # refused once (StateMoved), read again, written
    assert state.features(transaction(4, 30)).features["card_count_1h"] == 3  # none lost
    ours.close()
    theirs.close()


def test_a_redis_bootstrap_replaces_the_state_whole(redis_server):
    namespace = f"mlgate:test-{uuid.uuid4().hex}"
    live = RedisStore(redis_server.url, namespace=namespace)
    live.load(histories=[("card", 1, b"old"), ("card", 2, b"old")], meta={"as_of": "old"})
    building = RedisStore(redis_server.url, namespace=namespace + ":building")
    building.load(histories=[("card", 3, b"new")], meta={"as_of": "new"})
    assert live.histories([("card", 3)]) == {}  # not visible before the swap
    building.swap_into(namespace)
    assert live.meta() == {"as_of": "new"}
    assert live.histories([("card", 1), ("card", 3)]) == {("card", 3): b"new"}
    assert building.sizes() == {"history": 0, "dimension": 0}
    live.close()
    building.close()


def test_many_events_at_once_leave_the_state_one_at_a_time_leaves(make_store):
    one_by_one, at_once = (OnlineState(CFG, make_store()) for _ in range(2))
    for state in (one_by_one, at_once):
        state.store.load(dimensions=fraud_dimensions())
    stream = [*STREAM[:60], STREAM[10], *STREAM[60:], STREAM[100]]  # two replays among them
    expected = [one_by_one.ingest(event).counted for event in stream]
    got = []
    for start in range(0, len(stream), 25):  # arrays of 25: an entity's events share one
        got += at_once.ingest_many(stream[start : start + 25])
    assert got == expected and expected.count(False) == 2
    assert at_once.ingest_many([STREAM[0], STREAM[0]]) == [False, False]  # counted before
    probe = transaction(10_000, 41 * 121, card=8)
    assert at_once.features(probe).features == one_by_one.features(probe).features
    wanted = [("card", card) for card in (7, 8, 9)]
    assert at_once.store.histories(wanted) == one_by_one.store.histories(wanted)
    assert at_once.store.sizes() == one_by_one.store.sizes()


def test_an_event_another_service_stored_meanwhile_is_a_replay_in_an_array(redis_server):
    namespace = f"mlgate:test-{uuid.uuid4().hex}"
    ours, theirs = (RedisStore(redis_server.url, namespace=namespace) for _ in range(2))
    ours.load(dimensions=fraud_dimensions())
    state, other = OnlineState(CFG, ours), OnlineState(CFG, theirs)
    writes = []
    apply = ours.apply

    def after_another_service(*args, **kwargs):
        if not writes:  # between our read and our write, another service stores event 2
            other.ingest(transaction(2, 10))
        writes.append(args[0])
        return apply(*args, **kwargs)

    ours.apply = after_another_service
    events = [transaction(1, 0), transaction(2, 10), transaction(3, 20)]
    assert state.ingest_many(events) == [True, False, True]  # read again: 2 is a replay
    assert len(writes) == 2 and stored_keys(ours, "card", 7) == [1, 2, 3]
    ours.close()
    theirs.close()
