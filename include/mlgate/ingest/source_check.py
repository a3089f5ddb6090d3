"""A pipeline checked against its source database: every table and column it names exists.

Loading a pipeline validates its shape without touching any database (DAG files load it
at parse time). This check reads the source's catalogue instead: the extract task runs it
first, so a wrong column name stops the run at once with what exists, and
`mlgate pipelines check` runs it by hand.
"""

from __future__ import annotations

import sqlalchemy as sa

from mlgate.config import PipelineConfig
from mlgate.ingest.sqlread import create_source_engine


def _columns(inspector, table: str) -> list[str] | None:
    try:
        return [column["name"] for column in inspector.get_columns(table)]
    except sa.exc.NoSuchTableError:
        return None


def source_problems(cfg: PipelineConfig, engine: sa.Engine) -> list[str]:
    """Every table or column the pipeline names that the source does not have."""
    inspector = sa.inspect(engine)
    tables = set(inspector.get_table_names())
    problems: list[str] = []

    def need(where: str, table: str, columns: list[str | None]) -> list[str] | None:
        if table not in tables:
            problems.append(
                f"{where}: table {table!r} is not in the source (has: {sorted(tables)})"
            )
            return None
        have = _columns(inspector, table) or []
        missing = [c for c in columns if c is not None and c not in have]
        if missing:
            problems.append(
                f"{where}: table {table!r} has no column(s) {missing} (columns: {have})"
            )
        return have

    events = cfg.source.events
    event_columns = set(
        need(
            "source.events",
            events.table,
            [events.key, events.time_column, events.split_by],
        )
        or []
    )
    available = set(event_columns)
    for index, dimension in enumerate(cfg.source.dimensions):
        need(
            f"source.dimensions.{index}",
            dimension.table,
            [dimension.key, dimension.valid_from, dimension.valid_to, dimension.updated_at],
        )
    for index, join in enumerate(cfg.features.joins):
        if join.key not in available:
            problems.append(
                f"features.joins.{index}: the rows have no column {join.key!r} to join "
                f"{join.table!r} on (events columns and earlier joins: {sorted(available)})"
            )
        need(f"features.joins.{index}", join.table, [join.key, *join.columns])
        available |= set(join.columns)
    if events.query is None and event_columns:
        missing = sorted(cfg.features.event_columns() - available)
        if missing:
            problems.append(
                f"features: column(s) {missing} are neither in {events.table!r} nor brought by "
                f"features.joins (have: {sorted(available)})"
            )
        if cfg.records is not None:
            missing = sorted(cfg.records.columns() - event_columns)
            if missing:
                problems.append(f"records: column(s) {missing} are not in {events.table!r}")
    target = cfg.target
    if target.event is not None:
        label = target.event
        have = need("target.event", label.table, [label.event_key, label.time_column])
    else:
        label = target.entity
        have = need("target.entity", label.table, [label.entity_key, label.time_column])
    if have is not None and label.filter is not None:
        missing = sorted(label.parsed_filter.columns() - set(have))
        if missing:
            problems.append(f"target filter: column(s) {missing} are not in {label.table!r}")
    return problems


def check_source(cfg: PipelineConfig) -> list[str]:
    """`source_problems` against the pipeline's own source database."""
    engine = create_source_engine(cfg.source_url())
    try:
        return source_problems(cfg, engine)
    finally:
        engine.dispose()
