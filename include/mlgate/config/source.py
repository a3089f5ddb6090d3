"""Where a pipeline's data comes from: the source database, its tables and how each is read."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from mlgate.config.base import Name, Strict
from mlgate.config.records import ColumnRule
from mlgate.paths import state_dir

CONDITIONS_PLACEHOLDER = "$CONDITIONS"
MAX_SPLITS = 32
SOURCE_URL_ENV = "MLGATE_SOURCE_URL"


def _free_form(value: str | None) -> str | None:
    if value is not None and CONDITIONS_PLACEHOLDER not in value:
        raise ValueError(
            f"a free-form query must contain the placeholder {CONDITIONS_PLACEHOLDER} where "
            "mlgate puts its conditions (window, split range), e.g. "
            "'SELECT t.* FROM transactions t WHERE $CONDITIONS'"
        )
    return value


class EventsTable(Strict):
    """The fact table that is imported day by day (transactions, page events)."""

    table: Name
    key: Name
    time_column: Name
    split_by: Name | None = Field(
        None, description="numeric or time column the parallel ranges split (default: key)"
    )
    splits: int = Field(1, ge=1, le=MAX_SPLITS, description="parallel ranges (connections)")
    boundary_query: str | None = Field(
        None, description="SQL returning (min, max) of split_by; may use $CONDITIONS"
    )
    query: Annotated[str | None, AfterValidator(_free_form)] = Field(
        None, description="free-form SELECT with $CONDITIONS instead of the whole table"
    )


def _check_key_for_merge(spec: IncrementalImport) -> None:
    if spec.mode == "lastmodified" and spec.key is None:
        raise ValueError("mode lastmodified merges changed rows into the lake by key: set key")


class IncrementalImport(Strict):
    """A table imported incrementally by `mlgate import --incremental` (Sqoop's modes)."""

    table: Name
    mode: Literal["append", "lastmodified"] = Field(
        description="append: new rows by an increasing check column; lastmodified: changed "
        "rows by an update timestamp, merged into the lake by key"
    )
    check_column: Name = Field(description="the increasing id (append) or update time")
    key: Name | None = Field(None, description="the row's key (needed by lastmodified)")
    target: Name | None = Field(None, description="lake folder name (default: the table)")
    split_by: Name | None = None
    splits: int = Field(1, ge=1, le=MAX_SPLITS)

    @model_validator(mode="after")
    def _key_for_merge(self) -> IncrementalImport:
        _check_key_for_merge(self)
        return self

    @property
    def name(self) -> str:
        return self.target or self.table


DimensionHistory = Literal["static", "scd2", "lastmodified"]


def _check_history_columns(dimension: DimensionTable) -> None:
    needs = {"scd2": ("valid_from",), "lastmodified": ("updated_at",)}.get(dimension.history, ())
    for name in needs:
        if getattr(dimension, name) is None:
            raise ValueError(f"history {dimension.history!r} needs {name}: the column holding it")
    allowed = {
        "static": (),
        "scd2": ("valid_from", "valid_to"),
        "lastmodified": ("updated_at",),
    }
    for name in ("valid_from", "valid_to", "updated_at"):
        if getattr(dimension, name) is not None and name not in allowed[dimension.history]:
            raise ValueError(f"{name} means nothing with history {dimension.history!r}")


def _check_history_declared(data: object) -> None:
    if isinstance(data, dict) and "history" not in data:
        raise ValueError(
            "history is required: how the table changes decides how past rows join it; "
            "one of 'static' (never changes: a snapshot per run), 'scd2' (versions with "
            "valid_from / valid_to), 'lastmodified' (current values with updated_at)"
        )


class DimensionTable(Strict):
    """A table the events (or observations) are joined with, as of each row's time.

    history (required, so that no table is joined as a snapshot by omission): ``static``
    joins a snapshot taken by each run to every row: declare it only for a table whose
    values never change. ``scd2``: each row is one
    version, valid from ``valid_from`` until ``valid_to`` (null: still valid); a row at
    time t joins the version with valid_from <= t < valid_to. ``lastmodified``: the table
    keeps only current values and ``updated_at``; each run appends the rows changed since
    the last run as new versions, and a row at time t joins the newest version updated at
    or before t (none yet: nulls).
    """

    table: Name
    key: Name
    history: DimensionHistory
    valid_from: Name | None = None
    valid_to: Name | None = None
    updated_at: Name | None = None
    rules: list[ColumnRule] = Field(
        default=[],
        description=(
            "value sets (allowed), ranges or regexes of the dimension's columns: checked on "
            "the feature table wherever a join brings the column"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _history_declared(cls, data: object) -> object:
        _check_history_declared(data)
        return data

    @model_validator(mode="after")
    def _history_columns(self) -> DimensionTable:
        _check_history_columns(self)
        return self


def _check_unique_tables(source: SourceConfig) -> None:
    seen: set[str] = set()
    for index, dimension in enumerate(source.dimensions):
        if dimension.table in seen or dimension.table == source.events.table:
            raise ValueError(f"dimensions.{index}: table {dimension.table!r} is listed twice")
        seen.add(dimension.table)


class SourceConfig(Strict):
    url: str = Field(description="SQLAlchemy URL; {state} is replaced by the state folder")
    events: EventsTable
    dimensions: list[DimensionTable] = []
    incremental: list[IncrementalImport] = Field(
        default=[], description="tables imported incrementally (mlgate import --incremental)"
    )

    @model_validator(mode="after")
    def _unique_tables(self) -> SourceConfig:
        _check_unique_tables(self)
        return self

    def dimension(self, table: str) -> DimensionTable:
        return next(d for d in self.dimensions if d.table == table)

    def resolved_url(self, pipeline: str) -> str:
        """The URL to read: $MLGATE_SOURCE_URL__<PIPELINE>, else $MLGATE_SOURCE_URL, else the
        config's (with {state} replaced by the state folder)."""
        override = os.environ.get(f"{SOURCE_URL_ENV}__{pipeline.upper()}") or os.environ.get(
            SOURCE_URL_ENV
        )
        return override or self.url.replace("{state}", str(state_dir()))
