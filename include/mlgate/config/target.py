"""What the model predicts: one label per event, or one per entity observed at a cadence."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from mlgate.config.base import Duration, Name, Strict
from mlgate.config.expr import Filter, parse_filter
from mlgate.window import duration_seconds

# The key of an entity target's observation rows: "<entity key>@<epoch seconds>".
OBSERVATION_KEY = "observation_id"
# The feature table's flag of a row whose label has had the label delay to settle.
MATURE_COLUMN = "label_mature"


def _check_event_labels(labels: EventLabels) -> None:
    if labels.filter is not None:
        parse_filter(labels.filter)


class EventLabels(Strict):
    """Event-level: an event is positive when a label row points at it (a chargeback).

    A label counts only from its ``time_column`` on: a run uses the labels known strictly
    before the end of its data interval.
    """

    table: Name
    event_key: Name = Field(description="the label table's column holding the event's key")
    time_column: Name = Field(description="when the label became known")
    filter: str | None = Field(None, description="only label rows passing it count")

    @model_validator(mode="after")
    def _filter(self) -> EventLabels:
        _check_event_labels(self)
        return self

    @property
    def parsed_filter(self) -> Filter | None:
        return parse_filter(self.filter) if self.filter is not None else None


def _check_entity_labels(labels: EntityLabels) -> None:
    if labels.filter is not None:
        parse_filter(labels.filter)
    every = duration_seconds(labels.every)
    if every < 3600 or 86_400 % every and every % 86_400:
        raise ValueError(
            f"every {labels.every!r}: observations need a cadence of at least 1h that divides "
            "a day or is a whole number of days"
        )


class EntityLabels(Strict):
    """Entity-level: each active entity is observed every ``every``; an observation at t is
    positive when a label event of the entity (an order) happens in [t, t + horizon).

    An entity is observed at t when it had at least one event in [t - active_within, t).
    Its features are computed from its rows strictly before t, like an event's.
    """

    entity: Name = Field(description="an entity of features.entities")
    every: Duration = Field("1d", description="the cadence of observations (UTC, from midnight)")
    active_within: Duration = Field("7d", description="observe entities active this recently")
    horizon: Duration = Field(description="how long after the observation a label event counts")
    table: Name = Field(description="the label events' table")
    entity_key: Name = Field(description="the label table's column holding the entity's key")
    time_column: Name = Field(description="when the label event happened")
    filter: str | None = Field(None, description="only label events passing it count")

    @model_validator(mode="after")
    def _valid(self) -> EntityLabels:
        _check_entity_labels(self)
        return self

    @property
    def parsed_filter(self) -> Filter | None:
        return parse_filter(self.filter) if self.filter is not None else None


def _check_one_kind(target: TargetConfig) -> None:
    if (target.event is None) == (target.entity is None):
        raise ValueError(
            "give exactly one of target.event (one label per event) or "
            "target.entity (one per entity observed at a cadence)"
        )


class TargetConfig(Strict):
    """The label the model learns: its name, how late it may arrive, where it comes from."""

    name: Name = "label"
    maturity_days: int = Field(ge=0, le=365, description="days a label may take to arrive")
    event: EventLabels | None = None
    entity: EntityLabels | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TargetConfig:
        _check_one_kind(self)
        return self

    @property
    def kind(self) -> str:
        return "event" if self.event is not None else "entity"

    @property
    def label_table(self) -> str:
        return (self.event or self.entity).table

    @property
    def label_time_column(self) -> str:
        return (self.event or self.entity).time_column

    def label_delay(self) -> timedelta:
        """How long after a row's time its label is settled: the maturity, plus the horizon
        an entity-level label looks ahead."""
        horizon = duration_seconds(self.entity.horizon) if self.entity else 0
        return timedelta(days=self.maturity_days, seconds=horizon)
