"""The feature spec evaluated online: one event's features from its entities' earlier events.

The same spec objects (``mlgate.config.features``) that ``mlgate.ml.features`` compiles to
Spark for training are evaluated here in plain Python, with the same semantics:

- times are whole UTC seconds (floored); a window of ``s`` seconds before ``t`` is
  ``[t - s, t - 1]``: events in the same second never see each other, whatever order they
  arrive in, and an event that arrives late sees exactly the events before it;
- only earlier events of the same, non-null entity count (an event without the entity's
  key has no history), and only those passing the aggregation's filter;
- an empty window gives the spec's empty value (``Aggregation.empty_value``);
- ``last``: the latest earlier event with a value; in one second, the greatest event key;
- ``stddev`` is the sample standard deviation, None below two values;
- numeric passthrough columns are doubles, as the Spark job casts them.

Windows are exact: each is the events of its own span, kept per entity as long as the
entity's longest lookback (``lookback``), not approximated by tiles.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo

from mlgate.config import FeatureSpec
from mlgate.window import duration_seconds


@dataclass(frozen=True, slots=True)
class Past:
    """One earlier event of an entity, as its history keeps it: its time in whole UTC
    seconds, its key, and the columns the entity's features read."""

    epoch: int
    key: object
    values: Mapping[str, object]


def whole_seconds(moment: datetime | str) -> int:
    """Whole UTC seconds (floored) of a time; a time without zone is UTC, as in the lake."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


_seconds = cache(duration_seconds)  # a window's seconds, parsed once per spelling


def _in_window(history: Sequence[Past], t: int, seconds: int) -> Sequence[Past]:
    """The events of ``[t - seconds, t - 1]`` of a history sorted by time."""
    low = bisect_left(history, t - seconds, key=lambda p: p.epoch)
    high = bisect_right(history, t - 1, key=lambda p: p.epoch)
    return history[low:high]


class OnlineFeatures:
    """The computed features of a spec for one event at a time.

    ``compute(event, histories)`` gives the features of ``event`` (a dict of the joined
    row's columns) from ``histories`` (entity name -> that entity's earlier events, sorted
    by time: ``insert``); ``remember(event)`` is what each entity's history gains from it.
    """

    def __init__(self, spec: FeatureSpec, *, time_column: str, row_key: str):
        self.spec, self.time_column, self.row_key = spec, time_column, row_key
        self.features = spec.computed()
        self.zone = ZoneInfo(spec.time_zone)
        columns: dict[str, set[str]] = {entity: set() for entity in spec.entities}
        lookback: dict[str, int] = dict.fromkeys(spec.entities, 0)
        for agg in spec.aggregations:
            if agg.column:
                columns[agg.entity].add(agg.column)
            if agg.filter is not None:
                columns[agg.entity] |= agg.parsed_filter.columns()
            longest = max(duration_seconds(w) for w in agg.windows)
            lookback[agg.entity] = max(lookback[agg.entity], longest)
        for novelty in spec.novelty:
            columns[novelty.entity] |= set(novelty.columns)
            lookback[novelty.entity] = max(
                lookback[novelty.entity], duration_seconds(novelty.lookback)
            )
        self.columns = {entity: sorted(names) for entity, names in columns.items()}
        self.lookback = lookback  # seconds of history each entity's features read

    def prepared(self, event: Mapping[str, object]) -> dict[str, object]:
        """The event as the Spark job sees it: numeric passthrough columns as doubles, and
        decimals (a SQL NUMERIC) as doubles, as its aggregates cast them."""
        row = {k: float(v) if isinstance(v, Decimal) else v for k, v in event.items()}
        for name in self.spec.numeric:
            value = row.get(name)
            row[name] = None if value is None else float(value)
        return row

    def entity_keys(self, event: Mapping[str, object]) -> dict[str, object]:
        """Entity name -> the event's key of it (None: the event has no such history)."""
        return {entity: event.get(column) for entity, column in self.spec.entities.items()}

    def remember(self, event: Mapping[str, object]) -> dict[str, Past]:
        """What each entity with a key in the event adds to its history."""
        row = self.prepared(event)
        t = whole_seconds(row[self.time_column])
        return {
            entity: Past(t, row[self.row_key], {c: row.get(c) for c in self.columns[entity]})
            for entity, key in self.entity_keys(row).items()
            if key is not None
        }

    def compute(
        self, event: Mapping[str, object], histories: Mapping[str, Sequence[Past]]
    ) -> dict[str, object]:
        """Every computed feature of the event (``FeatureSpec.computed`` order)."""
        row = self.prepared(event)
        t = whole_seconds(row[self.time_column])
        keys = self.entity_keys(row)

        def history(entity: str) -> Sequence[Past]:
            return histories.get(entity, ()) if keys[entity] is not None else ()

        values: dict[str, object] = {}
        for feature in self.features:
            if feature.source == "aggregation":
                agg = feature.item
                earlier = _in_window(history(agg.entity), t, _seconds(feature.window))
                values[feature.name] = _aggregate(agg, feature.window, earlier, t, row)
            elif feature.source == "novelty":
                novelty = feature.item
                column = next(c for c in novelty.columns if novelty.feature_name(c) == feature.name)
                own = row.get(column)
                earlier = _in_window(history(novelty.entity), t, _seconds(novelty.lookback))
                seen = any(p.values.get(column) == own for p in earlier)
                values[feature.name] = int(own is not None and not seen)
            elif feature.source == "mismatch":
                a, b = feature.item
                values[feature.name] = int(
                    row.get(a) is not None and row.get(b) is not None and row[a] != row[b]
                )
            elif feature.source == "time":
                values[feature.name] = self._time_part(feature.name, t)
        return values

    def _time_part(self, name: str, t: int) -> int:
        local = datetime.fromtimestamp(t, tz=UTC).astimezone(self.zone)
        if name == "hour_of_day":
            return local.hour
        if name == "day_of_week":
            return local.isoweekday()  # 1 = Monday
        first, last = self.spec.time_of_day.night_hours
        hour = local.hour
        return int(first <= hour <= last if first <= last else hour >= first or hour <= last)


def insert(history: list[Past], past: Past, *, newest: int, lookback: int) -> list[Past]:
    """``history`` with ``past`` in its place (by time, then key) and without the events
    older than ``lookback`` seconds before ``newest``, which no later event's window reaches."""
    kept = history[bisect_left(history, newest - lookback, key=lambda p: p.epoch) :]
    at = bisect_right(kept, (past.epoch, past.key), key=lambda p: (p.epoch, p.key))
    return [*kept[:at], past, *kept[at:]]


def _aggregate(agg, window: str, earlier: Sequence[Past], t: int, row: Mapping) -> object:
    """One aggregation over the window's earlier events (see the module docstring)."""
    if agg.filter is not None:
        condition = agg.parsed_filter
        earlier = [p for p in earlier if condition.evaluate(p.values)]
    empty = agg.empty_value(window)
    if agg.op == "count":
        return len(earlier)
    if agg.op == "seconds_since_last":
        return t - max(p.epoch for p in earlier) if earlier else int(empty)
    column = agg.column
    if agg.op == "last":
        candidates = [p for p in earlier if p.values.get(column) is not None]
        if not candidates:
            return empty
        return max(candidates, key=lambda p: (p.epoch, p.key)).values[column]
    values = [p.values[column] for p in earlier if p.values.get(column) is not None]
    if agg.op == "count_distinct":
        return len(set(values))
    if agg.op == "ratio_to_mean":
        mean = statistics.fmean(values) if values else None
        if mean is None or mean == 0:
            return empty
        own = row.get(column)
        return None if own is None else float(own) / mean
    result = _REDUCERS[agg.op](values) if values else None
    if result is None:
        return None if empty is None else float(empty)
    return float(result)


def _stddev(values: list) -> float | None:
    return statistics.stdev(values) if len(values) >= 2 else None


_REDUCERS = {
    "sum": math.fsum,
    "mean": statistics.fmean,
    "min": min,
    "max": max,
    "stddev": _stddev,
}
