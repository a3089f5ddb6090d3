"""A brute-force reference of the feature spec in plain Python, for the property tests.

Written apart from the Spark compiler (mlgate.ml.features) from the spec's documented
semantics alone, as slowly and plainly as possible: for each row, scan every row.

- times are whole UTC seconds (floored); a window of s seconds before t is [t - s, t - 1];
- only rows of the same (non-null) entity, marked as history, and passing the filter;
- empty windows give the spec's documented value (count and sum 0, ratio 1, time since last
  the window, the others None) or the aggregation's `default`;
- `last`: the latest earlier row with a value; same second: the greatest row key;
- stddev: the sample standard deviation, None below two values.
"""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from mlgate.config import FeatureSpec
from mlgate.window import duration_seconds


def whole_seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return math.floor(moment.timestamp())


def reference_features(
    rows: list[dict],
    spec: FeatureSpec,
    *,
    time_column: str,
    row_key: str,
    history: str | None = None,
) -> dict[object, dict[str, object]]:
    """{row key: {feature name: value}} for every row (history rows included)."""
    out: dict[object, dict[str, object]] = {}
    for row in rows:
        t = whole_seconds(row[time_column])
        values: dict[str, object] = {}
        for feature in spec.computed():
            if feature.source == "aggregation":
                values[feature.name] = _aggregation(
                    row, t, rows, feature.item, feature.window, spec, time_column, row_key, history
                )
            elif feature.source == "novelty":
                novelty = feature.item
                column = next(c for c in novelty.columns if novelty.feature_name(c) == feature.name)
                values[feature.name] = _novelty(
                    row, t, rows, spec.entities[novelty.entity], column,
                    duration_seconds(novelty.lookback), time_column, history,
                )  # fmt: skip
            elif feature.source == "mismatch":
                a, b = feature.item
                values[feature.name] = int(
                    row.get(a) is not None and row.get(b) is not None and row[a] != row[b]
                )
            elif feature.source == "time":
                local = datetime.fromtimestamp(t, tz=UTC).astimezone(ZoneInfo(spec.time_zone))
                if feature.name == "hour_of_day":
                    values[feature.name] = local.hour
                elif feature.name == "day_of_week":
                    values[feature.name] = local.isoweekday()
                else:
                    first, last = spec.time_of_day.night_hours
                    hour = local.hour
                    night = (
                        first <= hour <= last if first <= last else hour >= first or hour <= last
                    )
                    values[feature.name] = int(night)
        out[row[row_key]] = values
    return out


def _earlier(row, t, rows, entity_key, seconds, time_column, history):
    """Rows of the same entity in [t - seconds, t - 1], marked as history."""
    entity = row.get(entity_key)
    if entity is None:
        return []
    found = []
    for other in rows:
        if history is not None and not other.get(history):
            continue
        if other.get(entity_key) != entity:
            continue
        when = whole_seconds(other[time_column])
        if t - seconds <= when <= t - 1:
            found.append(other)
    return found


def _aggregation(row, t, rows, agg, window, spec, time_column, row_key, history):
    seconds = duration_seconds(window)
    earlier = _earlier(row, t, rows, spec.entities[agg.entity], seconds, time_column, history)
    if agg.filter is not None:
        condition = agg.parsed_filter
        earlier = [other for other in earlier if condition.evaluate(other)]
    empty = agg.empty_value(window)
    if agg.op == "count":
        return len(earlier)
    if agg.op == "seconds_since_last":
        if not earlier:
            return int(empty)
        return t - max(whole_seconds(other[time_column]) for other in earlier)
    values = [other[agg.column] for other in earlier if other.get(agg.column) is not None]
    if agg.op == "count_distinct":
        return len(set(values))
    if agg.op == "last":
        candidates = [other for other in earlier if other.get(agg.column) is not None]
        if not candidates:
            return empty
        latest = max(candidates, key=lambda o: (whole_seconds(o[time_column]), o[row_key]))
        return latest[agg.column]
    if agg.op == "ratio_to_mean":
        if not values or statistics.fmean(values) == 0:
            return empty
        own = row.get(agg.column)
        return None if own is None else own / statistics.fmean(values)
    if agg.op == "sum":
        result = math.fsum(values) if values else None
    elif agg.op == "mean":
        result = statistics.fmean(values) if values else None
    elif agg.op == "min":
        result = min(values) if values else None
    elif agg.op == "max":
        result = max(values) if values else None
    elif agg.op == "stddev":
        result = statistics.stdev(values) if len(values) >= 2 else None
    else:
        raise ValueError(f"the reference knows no op {agg.op!r}")
    if result is None:
        return empty
    return float(result)


def _novelty(row, t, rows, entity_key, column, seconds, time_column, history):
    value = row.get(column)
    if value is None:
        return 0
    earlier = _earlier(row, t, rows, entity_key, seconds, time_column, history)
    return int(not any(other.get(column) == value for other in earlier))
