"""Import from the source database into the Parquet lake, one day partition at a time.

Each partition is written to a hidden temporary folder and renamed into place, so a
reader never sees half a partition and a rerun replaces a day instead of appending to it.
Table and column names come from the validated config and reach SQL only through
SQLAlchemy's reflected `Table` objects, which quote them; values are bound parameters.

A value the lake type cannot hold does not stop the import: it is written as null and named
in the row's `_unparsable` column (see `mlgate.ingest.lake`).

SQLite keeps datetimes as text, so a day is selected by the text of its time column:
rows whose time starts with the day's date ("YYYY-MM-DD...") belong to that day, even
when the rest does not parse ('2026-10-30 25:61:00'). A time that does not start with a
date at all ('garbage', a number, '2026-13-45 ...') belongs to no day and is never
imported; `extract_for_run` logs a warning with how many such rows the table has.
"""

from __future__ import annotations

import json
import logging
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from mlgate.config import DimensionTable, PipelineConfig
from mlgate.ingest.lake import (
    MANIFEST_FILE,
    UNPARSABLE_COLUMN,
    PartitionInfo,
    check_source_schema,
    key_changes,
    key_values,
    partition_keys,
    partition_rows,
)
from mlgate.ingest.sqlread import (
    Source,
    column_of,
    create_source_engine,
    is_sqlite,
    read_to_folder,
    reflect_table,
)
from mlgate.ingest.status import PENDING, REJECTED, Decider, read_statuses, set_status
from mlgate.paths import swap_into_place, table_partition, temporary_sibling
from mlgate.window import day_bounds

log = logging.getLogger(__name__)

VERSIONS_SUFFIX = "__versions"


def write_partition(
    source,
    pipeline: str,
    name: str,
    ds: str,
    extra: dict,
    *,
    split_by: str | None = None,
    splits: int = 1,
    boundary_query: str | None = None,
    measure_key: str | None = None,
    previous_keys: set | None = None,
) -> PartitionInfo:
    """Read `source` (an `mlgate.ingest.sqlread.Source`); atomically replace lake/<name>/ds=<ds>.

    The ranges are written as part-<i>.parquet into a hidden folder that is renamed into
    place when every range is complete, with a `_manifest.json` that records the rows, the
    ranges and, with `measure_key`, the source's count and key sum in the same snapshot.
    With `previous_keys` (the keys of the partition it replaces), the manifest also records
    `since_previous_import`: how many of them are gone from the source (see `key_changes`).
    """
    check_source_schema(pipeline, name, ds, source.schema)
    target = table_partition(pipeline, name, ds)
    tmp = temporary_sibling(target)
    tmp.mkdir()
    try:
        result = read_to_folder(
            source,
            tmp,
            split_by=split_by,
            splits=splits,
            boundary_query=boundary_query,
            measure_key=measure_key,
        )
        if result.unparsable:
            log.warning(
                "%s ds=%s: %d of %d rows have values that could not be converted (null in "
                "the lake, named in %s)",
                name,
                ds,
                result.unparsable,
                result.rows,
                UNPARSABLE_COLUMN,
            )
        measured = result.source.to_dict() if result.source else None
        manifest = {
            "table": name,
            "ds": ds,
            "rows": result.rows,
            **extra,
            "files": [Path(f).name for f in result.files],
            "read": {
                "method": result.method,
                "split_by": result.split_by,
                "bounds": result.bounds,
                "range_rows": result.range_rows,
            },
        }
        if measured is not None:
            manifest["source"] = {**measured, "key": measure_key}
        if previous_keys is not None and measure_key is not None:
            current = key_values([Path(f) for f in result.files], measure_key)
            manifest["since_previous_import"] = key_changes(previous_keys, current)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
        swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return PartitionInfo(name, ds, result.rows, str(target), measured)


def _day_condition(engine: sa.Engine, time_col, day: date):
    """Rows of `day`: time in [day 00:00, day+1 00:00).

    On SQLite the time column is text, so the condition is on the text: it starts with
    the day's date. The range on the text lets the index on the column be used; the
    prefix test keeps out text that sorts inside the range without being a date of that
    day ('2026-10-32', '2026-10-3x'). A row whose time starts with the day's date is
    imported even when the rest does not parse; it is then marked unparsable.
    """
    if not is_sqlite(engine):
        start, end = day_bounds(day)
        return sa.and_(time_col >= start, time_col < end)
    text = sa.type_coerce(time_col, sa.String())
    first, after = day.isoformat(), (day + timedelta(days=1)).isoformat()
    return sa.and_(text >= first, text < after, sa.func.substr(text, 1, 10) == first)


def undated_rows(engine: sa.Engine, table: sa.Table, time_column: str) -> int:
    """SQLite only: rows whose time does not start with a date, so no day imports them."""
    if not is_sqlite(engine):
        return 0
    text = sa.type_coerce(column_of(table, time_column), sa.String())
    prefix = sa.func.substr(text, 1, 10)
    query = (
        sa.select(sa.func.count())
        .select_from(table)
        .where(sa.or_(text.is_(None), sa.func.coalesce(sa.func.date(prefix), "") != prefix))
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def events_source(engine: sa.Engine, cfg: PipelineConfig, day: date):
    """The day's rows of the events table (or of its free-form query) as a read source."""
    spec = cfg.source.events
    table = reflect_table(engine, spec.table)
    free_form = getattr(spec, "query", None)
    if free_form is None:
        column_of(table, spec.time_column)
        column_of(table, spec.key)
    source = Source(
        engine,
        table,
        free_form=free_form,
        order_by=() if free_form else (spec.time_column, spec.key),
    )
    source.condition = _day_condition(engine, source.column(spec.time_column), day)
    source.column(spec.key)
    return source


def extract_events_day(
    engine: sa.Engine, cfg: PipelineConfig, day: date, *, splits: int | None = None
) -> PartitionInfo:
    """Import one day of the events table into lake/<table>/ds=<day> (atomic replace),
    split into `source.events.splits` parallel ranges, measured for reconciliation; a
    re-import records the rows deleted at the source since the partition it replaces."""
    spec = cfg.source.events
    previous = partition_keys(cfg.name, spec.table, day.isoformat(), spec.key)
    source = events_source(engine, cfg, day)
    splits = splits or getattr(spec, "splits", 1)
    split_by = getattr(spec, "split_by", None) or (spec.key if splits > 1 else None)
    start, end = day_bounds(day)
    return write_partition(
        source,
        cfg.name,
        spec.table,
        day.isoformat(),
        {"window": [start, end]},
        split_by=split_by,
        splits=splits,
        boundary_query=getattr(spec, "boundary_query", None),
        measure_key=spec.key,
        previous_keys=previous,
    )


def extract_snapshot(
    engine: sa.Engine,
    pipeline: str,
    name: str,
    ds: str,
    *,
    time_column: str | None = None,
    as_of: datetime,
    extra: dict | None = None,
) -> PartitionInfo:
    """Copy a whole table as of `as_of` (rows with time_column before it, when given)."""
    table = reflect_table(engine, name)
    source = Source(engine, table)
    if time_column:
        column_of(table, time_column)
        source.condition = source.column(time_column) < as_of
    return write_partition(source, pipeline, name, ds, {"as_of": as_of, **(extra or {})})


def versions_folder(table: str) -> str:
    """The lake folder of a last-modified dimension's versions (appended run by run)."""
    return f"{table}{VERSIONS_SUFFIX}"


def extract_dimension(
    engine: sa.Engine, cfg: PipelineConfig, dimension: DimensionTable, ds: str, as_of: datetime
) -> dict:
    """Land one dimension the way its history says it is joined (see DimensionTable):
    static and scd2 as a snapshot of the run's day (scd2: the versions that started before
    `as_of`), lastmodified by appending the rows changed since the last run as versions."""
    if dimension.history == "lastmodified":
        from mlgate.config import IncrementalImport
        from mlgate.ingest.incremental import import_incremental

        spec = IncrementalImport(
            table=dimension.table,
            mode="append",
            check_column=dimension.updated_at,
            target=versions_folder(dimension.table),
        )
        result = import_incremental(engine, spec, cfg.name)
        return {
            "table": dimension.table,
            "join": "as of updated_at (versions appended by last-modified)",
            "path": result.path,
            "rows": result.lake_rows,
            "new_versions": result.rows,
        }
    time_column = dimension.valid_from if dimension.history == "scd2" else None
    join = {"static": "snapshot by key", "scd2": "as of valid_from / valid_to (SCD2)"}
    info = extract_snapshot(
        engine,
        cfg.name,
        dimension.table,
        ds,
        time_column=time_column,
        as_of=as_of,
        extra={"join": join[dimension.history]},
    )
    return {**info.to_dict(), "join": join[dimension.history]}


def extract_for_run(
    cfg: PipelineConfig,
    ds: date,
    as_of: datetime,
    *,
    refresh_history: bool = False,
    decider: Decider | None = None,
) -> dict:
    """Land everything a run on `ds` needs and return its data manifest.

    The run's own day is always re-imported (a rerun overwrites it); older days of the
    window are imported only when missing or rejected by their data gates (then they are
    judged again), unless `refresh_history`. Every day imported is marked pending first
    (`mlgate.ingest.status`), so its new rows are read only once check_raw accepts them.
    Labels are a snapshot as of the end of the data interval; each dimension lands as its
    history says (`extract_dimension`), and the manifest records which join it gets.
    """
    name = cfg.source.events.table
    decider = decider or Decider(cfg.name, ds.isoformat())
    statuses = read_statuses(cfg.name, name)
    reimported = []
    to_import = []
    for day in cfg.window_spec().extract_days(ds):
        key = day.isoformat()
        earlier = statuses.get(key, {})
        rejected = earlier.get("status") == REJECTED
        if day == ds or refresh_history or rejected or partition_rows(cfg.name, name, key) is None:
            to_import.append(day)
        if rejected and day != ds:
            reimported.append({"ds": key, "rejected_because": earlier.get("reason", "")})
    set_status(cfg.name, name, to_import, PENDING, decider, reason="imported, not judged yet")
    engine = create_source_engine(cfg.source_url(), splits=getattr(cfg.source.events, "splits", 1))

    events: list[dict] = []
    try:
        undated = undated_rows(
            engine, reflect_table(engine, cfg.source.events.table), cfg.source.events.time_column
        )
        if undated:
            log.warning(
                "%d rows of %s have a %s that does not start with a date; they belong to no "
                "day and are not imported",
                undated,
                cfg.source.events.table,
                cfg.source.events.time_column,
            )
        for day in cfg.window_spec().extract_days(ds):
            key = day.isoformat()
            if day in to_import:
                info = extract_events_day(engine, cfg, day)
                log.info("extracted %s ds=%s: %d rows", name, key, info.rows)
                events.append(info.to_dict())
            else:
                path = table_partition(cfg.name, name, key)
                rows = partition_rows(cfg.name, name, key)
                events.append(PartitionInfo(name, key, rows, str(path)).to_dict())
        target = cfg.target
        snapshots = [
            extract_snapshot(
                engine,
                cfg.name,
                target.label_table,
                ds.isoformat(),
                time_column=target.label_time_column,
                as_of=as_of,
            ).to_dict()
        ]
        dimensions = [
            extract_dimension(engine, cfg, dimension, ds.isoformat(), as_of)
            for dimension in cfg.source.dimensions
        ]
    finally:
        engine.dispose()

    if events[-1]["rows"] == 0:  # reported by the bad_record_ratio gate, not an error here
        log.warning(
            "the source has no %s rows for %s; is the feed late, or is the date wrong?",
            cfg.source.events.table,
            ds,
        )
    return {
        "ds": ds.isoformat(),
        "as_of": as_of.isoformat(),
        "events": events,
        "snapshots": snapshots,
        "dimensions": dimensions,
        "event_rows": sum(p["rows"] for p in events),
        # earlier rejected days of the window imported again, to be judged again
        "reimported_rejected": reimported,
    }
