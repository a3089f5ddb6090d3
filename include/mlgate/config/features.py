"""The feature spec: what the model sees, declared as data and compiled by each engine.

The same objects are compiled to Spark for training and batch scoring
(``mlgate.ml.features``) and evaluated online from the same definitions, so a feature is
written once. Every history feature of a row (an event, or an entity's observation) is
computed from the rows of the same entity whose time is *strictly before* the row's time:
times are compared in whole seconds (UTC), rows in the same second never see each other,
and a window of ``w`` covers ``[t - w, t - 1 s]``.

Feature names derive from the spec (``FeatureSpec.features()``):

=====================  ==================================================  ==============
spec                   name                                                 e.g.
=====================  ==================================================  ==============
aggregation            ``<entity>[_<filter_name>][_<column>]_<op>_<window>``  card_amount_sum_24h
novelty                ``<entity>_<column>_is_new_<lookback>``               card_country_is_new_14d
mismatch               ``<a>_ne_<b>``                                        country_ne_home_country
time of day            ``hour_of_day``, ``day_of_week``, ``is_night``
passthrough            the column's own name                                 amount
=====================  ==================================================  ==============
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, model_validator

from mlgate.config.base import Duration, Name, Strict
from mlgate.config.expr import ExpressionError, Filter, parse_filter
from mlgate.window import duration_seconds

AggregationOp = Literal[
    "count",
    "sum",
    "mean",
    "min",
    "max",
    "stddev",
    "count_distinct",
    "last",
    "seconds_since_last",
    "ratio_to_mean",
]
AGGREGATION_OPS: tuple[str, ...] = AggregationOp.__args__
NO_COLUMN_OPS = ("count", "seconds_since_last")  # they count or time rows, not a column
# What an aggregation over an empty window gives when the spec sets no `default`:
# counts and sums are 0, a ratio to the mean is 1 ("as usual"), the time since the last
# row is the window itself (as long ago as can be seen); the others are null.
EMPTY_WINDOW = {
    "count": 0.0,
    "sum": 0.0,
    "count_distinct": 0.0,
    "ratio_to_mean": 1.0,
}
# Ops whose value can never be negative, whatever the column: a count of rows, a spread.
NON_NEGATIVE_OPS = ("count", "count_distinct", "stddev")
# The range of a feature: (lowest, highest), None where its definition sets no bound.
ValueRange = tuple[float | None, float | None]


def _check_aggregation(aggregation: Aggregation) -> None:
    if aggregation.op in NO_COLUMN_OPS and aggregation.column is not None:
        raise ValueError(f"op {aggregation.op!r} takes no column")
    if aggregation.op not in NO_COLUMN_OPS and aggregation.column is None:
        raise ValueError(f"op {aggregation.op!r} needs a column")
    if (aggregation.filter is None) != (aggregation.filter_name is None):
        raise ValueError("filter and filter_name go together (the name goes into features)")
    if len(set(aggregation.windows)) != len(aggregation.windows):
        raise ValueError(f"windows {aggregation.windows} list a window twice")
    if aggregation.filter is not None:
        parse_filter(aggregation.filter)  # a syntax error names its position


class Aggregation(Strict):
    """One aggregation of an entity's earlier rows, over one or more windows."""

    entity: Name = Field(description="an entity of features.entities: whose rows")
    op: AggregationOp
    column: Name | None = Field(None, description="the column aggregated (not for count)")
    windows: list[Duration] = Field(min_length=1, description="how far back, e.g. [1h, 7d]")
    filter: str | None = Field(None, description="only rows passing it, e.g. \"kind == 'cart'\"")
    filter_name: Name | None = Field(None, description="the filter's short name in feature names")
    default: float | None = Field(None, description="the value over an empty window")

    @model_validator(mode="after")
    def _consistent(self) -> Aggregation:
        _check_aggregation(self)
        return self

    @property
    def parsed_filter(self) -> Filter | None:
        return parse_filter(self.filter) if self.filter is not None else None

    def feature_name(self, window: str) -> str:
        parts = [self.entity, self.filter_name, self.column, self.op, window]
        return "_".join(part for part in parts if part)

    def empty_value(self, window: str) -> float | None:
        """The feature's value when the window holds no row (see EMPTY_WINDOW)."""
        if self.default is not None:
            return self.default
        if self.op == "seconds_since_last":
            return float(duration_seconds(window))
        return EMPTY_WINDOW.get(self.op)

    def value_range(self, window: str) -> ValueRange | None:
        """The values the feature can take by its definition (its empty value included),
        or None when they depend on the column's data (sums, means, ratios, `last`)."""
        if self.op == "seconds_since_last":  # a row seen within the window: 1 s .. window
            bounds: ValueRange = (0.0, float(duration_seconds(window)))
        elif self.op in NON_NEGATIVE_OPS:
            bounds = (0.0, None)
        else:
            return None
        if self.default is None:
            return bounds
        low, high = bounds
        return (min(low, self.default), None if high is None else max(high, self.default))


class Novelty(Strict):
    """1 when the row's value was not seen among the entity's rows within the lookback."""

    entity: Name
    columns: list[Name] = Field(min_length=1)
    lookback: Duration

    def feature_name(self, column: str) -> str:
        return f"{self.entity}_{column}_is_new_{self.lookback}"


def _night_hours(value: tuple[int, int] | None) -> tuple[int, int] | None:
    if value is not None and not all(0 <= hour <= 23 for hour in value):
        raise ValueError(f"night_hours {list(value)} must be hours 0-23")
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. UTC, Europe/Paris)") from None
    return value


class TimeOfDay(Strict):
    """Parts of the row's time, in the spec's time zone."""

    hour: bool = Field(False, description="hour_of_day, 0-23")
    day_of_week: bool = Field(False, description="day_of_week, 1 = Monday .. 7 = Sunday")
    night_hours: Annotated[tuple[int, int] | None, AfterValidator(_night_hours)] = Field(
        None, description="is_night: 1 from the first to the last hour, both included"
    )


class Join(Strict):
    """Columns of a dimension brought onto the rows by key (as of each row's time)."""

    table: Name
    key: Name
    columns: list[Name] = Field(min_length=1)


FeatureKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class FeatureDef:
    """One model input: its name, kind, and the spec item that defines it."""

    name: str
    kind: FeatureKind
    source: str  # "aggregation", "novelty", "mismatch", "time", "passthrough"
    window: str | None = None
    item: object = None


FLAG_SOURCES = ("novelty", "mismatch")  # features that are 1 or 0
TIME_PART_RANGES: dict[str, ValueRange] = {
    "hour_of_day": (0.0, 23.0),
    "day_of_week": (1.0, 7.0),  # 1 = Monday
    "is_night": (0.0, 1.0),
}


def _check_spec(spec: FeatureSpec) -> None:
    known = sorted(spec.entities)
    for where, entity in [
        *((f"aggregations.{i}", a.entity) for i, a in enumerate(spec.aggregations)),
        *((f"novelty.{i}", n.entity) for i, n in enumerate(spec.novelty)),
    ]:
        if entity not in spec.entities:
            raise ValueError(f"{where}: entity {entity!r} is not one of {known}")
    features = spec.features()
    computed = {f.name for f in features if f.source != "passthrough"}
    listed = sorted(computed & {*spec.numeric, *spec.categorical})
    if listed:
        raise ValueError(
            f"categorical/numeric list {listed}, which the spec computes; list source "
            "columns only (a `last` of a column in categorical is categorical by itself)"
        )
    names = [f.name for f in features]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"feature names {twice} are defined twice; change the spec")
    if not names:
        raise ValueError("the spec defines no model input")


class FeatureSpec(Strict):
    """The model inputs of a pipeline, and how each is computed."""

    entities: dict[Name, Name] = Field(
        min_length=1, description="entity name -> its key column (e.g. card: card_id)"
    )
    time_zone: Annotated[str, AfterValidator(_time_zone)] = Field(
        "UTC", description="IANA zone of hour_of_day, day_of_week, is_night"
    )
    joins: list[Join] = []
    aggregations: list[Aggregation] = []
    novelty: list[Novelty] = []
    mismatches: list[tuple[Name, Name]] = Field(
        default=[], description="1 when both columns are set and differ"
    )
    time_of_day: TimeOfDay = TimeOfDay()
    categorical: list[Name] = Field(default=[], description="columns passed to the model as is")
    numeric: list[Name] = Field(default=[], description="columns passed to the model as is")

    @model_validator(mode="after")
    def _consistent(self) -> FeatureSpec:
        _check_spec(self)
        return self

    def features(self) -> list[FeatureDef]:
        """Every model input, in a stable order: passthrough, aggregations, novelty,
        mismatches, time of day."""
        out = [FeatureDef(c, "numeric", "passthrough") for c in self.numeric]
        out += [FeatureDef(c, "categorical", "passthrough") for c in self.categorical]
        for agg in self.aggregations:
            kind = (
                "categorical"
                if agg.op == "last" and agg.column in self.categorical
                else ("numeric")
            )
            out += [
                FeatureDef(agg.feature_name(w), kind, "aggregation", w, agg) for w in agg.windows
            ]
        for novelty in self.novelty:
            out += [
                FeatureDef(novelty.feature_name(c), "numeric", "novelty", novelty.lookback, novelty)
                for c in novelty.columns
            ]
        out += [
            FeatureDef(f"{a}_ne_{b}", "numeric", "mismatch", item=(a, b))
            for a, b in self.mismatches
        ]
        if self.time_of_day.hour:
            out.append(FeatureDef("hour_of_day", "numeric", "time"))
        if self.time_of_day.day_of_week:
            out.append(FeatureDef("day_of_week", "numeric", "time"))
        if self.time_of_day.night_hours is not None:
            out.append(FeatureDef("is_night", "numeric", "time"))
        return out

    def computed(self) -> list[FeatureDef]:
        """The features the engines compute (everything but the passthrough columns)."""
        return [f for f in self.features() if f.source != "passthrough"]

    def model_inputs(self) -> tuple[list[str], list[str]]:
        """(numeric, categorical) model-input names, in spec order, without repeats."""
        features = self.features()
        numeric = [f.name for f in features if f.kind == "numeric"]
        categorical = [f.name for f in features if f.kind == "categorical"]
        return list(dict.fromkeys(numeric)), list(dict.fromkeys(categorical))

    def input_ranges(self) -> dict[str, ValueRange]:
        """The range of every numeric model input whose definition bounds it (counts,
        flags, hours...); the one place they are written: the scoring service refuses a
        value outside them. Passthrough columns and column-dependent aggregates are absent."""
        ranges: dict[str, ValueRange] = {}
        for feature in self.features():
            if feature.kind != "numeric":
                continue
            bounds = None
            if feature.source == "aggregation":
                bounds = feature.item.value_range(feature.window)
            elif feature.source in FLAG_SOURCES:
                bounds = (0.0, 1.0)
            elif feature.source == "time":
                bounds = TIME_PART_RANGES[feature.name]
            if bounds is not None:
                ranges[feature.name] = bounds
        return ranges

    def lookback_seconds(self) -> tuple[int, ...]:
        """Every lookback of the spec, in seconds (aggregation windows and novelty)."""
        return (
            *(duration_seconds(w) for a in self.aggregations for w in a.windows),
            *(duration_seconds(n.lookback) for n in self.novelty),
        )

    def filters(self) -> list[tuple[str, Filter]]:
        """(where, parsed filter) of every aggregation filter."""
        return [
            (f"features.aggregations.{i}.filter", a.parsed_filter)
            for i, a in enumerate(self.aggregations)
            if a.filter is not None
        ]

    def event_columns(self) -> set[str]:
        """The columns of the (joined) rows the spec reads: for the check against the source."""
        columns = set(self.entities.values()) | set(self.numeric) | set(self.categorical)
        for agg in self.aggregations:
            if agg.column:
                columns.add(agg.column)
            if agg.filter is not None:
                columns |= agg.parsed_filter.columns()
        for novelty in self.novelty:
            columns |= set(novelty.columns)
        for a, b in self.mismatches:
            columns |= {a, b}
        return columns


__all__ = [
    "AGGREGATION_OPS",
    "Aggregation",
    "ExpressionError",
    "FeatureDef",
    "FeatureSpec",
    "Join",
    "Novelty",
    "TimeOfDay",
    "ValueRange",
]
