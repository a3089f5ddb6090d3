"""The online features equal the brute-force reference (itself equal to Spark's:
test_feature_properties.py) on random event streams, whatever order the events arrive in."""

from __future__ import annotations

import random

from hypothesis import given, settings

from mlgate.ml.features import HISTORY_COLUMN
from mlgate.online.features import OnlineFeatures, Past, insert, whole_seconds
from support.feature_reference import reference_features
from support.feature_streams import SPEC, as_rows, rows_strategy, same

ONLINE = OnlineFeatures(SPEC, time_column="at", row_key="key")
FOREVER = 10**9  # a lookback that prunes nothing


def mismatches(got: dict, expected: dict) -> list:
    return [
        (key, name, got[key][name], value)
        for key, features in expected.items()
        for name, value in features.items()
        if not same(got[key][name], value)
    ]


def learn(histories: dict, newest: dict, row: dict, lookback=None) -> None:
    """Add a history event to its entities' histories, as the online state does."""
    if not row[HISTORY_COLUMN]:
        return  # an observation is scored, never anyone's history
    for entity, past in ONLINE.remember(row).items():
        key = (entity, row[SPEC.entities[entity]])
        newest[key] = max(newest.get(key, past.epoch), past.epoch)
        histories[key] = insert(
            histories.get(key, []),
            past,
            newest=newest[key],
            lookback=ONLINE.lookback[entity] if lookback is None else lookback,
        )


def features_of(row: dict, histories: dict) -> dict:
    mine = {
        entity: histories.get((entity, key), []) for entity, key in ONLINE.entity_keys(row).items()
    }
    return ONLINE.compute(row, mine)


def reference_of(rows: list[dict]) -> dict:
    return reference_features(rows, SPEC, time_column="at", row_key="key", history=HISTORY_COLUMN)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(drawn=rows_strategy)
def test_events_scored_as_they_arrive_in_time_order_equal_the_reference(drawn):
    rows = as_rows(drawn)
    expected = reference_of(rows)
    # in time order; within one second in any order (they must not see each other)
    shuffle = random.Random(7)  # one generator: a fresh one per row gave every row one value
    arrival = sorted(rows, key=lambda r: (whole_seconds(r["at"]), shuffle.random()))
    histories, newest, got = {}, {}, {}
    for row in arrival:
        got[row["key"]] = features_of(row, histories)  # before the event is learnt
        learn(histories, newest, row)  # pruned to each entity's lookback
    assert not mismatches(got, expected), mismatches(got, expected)[:10]


@settings(max_examples=100, deadline=None, derandomize=True)
@given(drawn=rows_strategy)
def test_a_late_event_sees_exactly_the_events_before_it(drawn):
    rows = as_rows(drawn)
    expected = reference_of(rows)
    histories, newest = {}, {}
    for row in reversed(rows):  # arrival order unrelated to time
        learn(histories, newest, row, lookback=FOREVER)
    got = {row["key"]: features_of(row, histories) for row in rows}  # later events known
    assert not mismatches(got, expected), mismatches(got, expected)[:10]


def test_a_history_keeps_time_order_and_drops_what_no_window_reaches():
    history = []
    for epoch, key in [(100, "b"), (50, "z"), (100, "a"), (400, "c")]:
        history = insert(history, Past(epoch, key, {}), newest=400, lookback=300)
    # 50 is older than 400 - 300: no later window reaches it
    assert [(p.epoch, p.key) for p in history] == [(100, "a"), (100, "b"), (400, "c")]


def test_online_values_are_not_trivially_empty():
    rows = as_rows(
        [
            {"entity": "u1", "shop": "s1", "second": s, "micro": 0, "value": float(s),
             "kind": "cart", "category": "a", "other": "b", "history": True}
            for s in (0, 5, 5, 9)
        ]
    )  # fmt: skip
    histories, newest = {}, {}
    for row in rows[:3]:
        learn(histories, newest, row)
    last = features_of(rows[3], histories)  # at 9 s: sees 0 s and both 5 s events
    assert last["user_count_10s"] == 3
    assert last["user_value_sum_10s"] == 10.0
    assert last["user_value_last_30s"] == 5.0  # k001 and k002 share a second: k002 wins
    assert last["user_seconds_since_last_3m"] == 4
    assert last["user_category_count_distinct_1m"] == 1
    assert last["user_category_is_new_1m"] == 0 and last["user_other_is_new_1m"] == 0
