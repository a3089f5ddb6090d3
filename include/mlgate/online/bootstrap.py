"""Build a pipeline's online state from its lake, as of a moment (`mlgate online bootstrap`).

The state as of ``as_of`` holds, for each entity, its events of the lookback before it (the
events a later event's windows can reach): the lake days that their data gates accepted,
without the rows the record rules quarantined, exactly the events the Spark feature job
reads; every dimension key as a run landed it (the snapshot of a static or SCD2 table, the
versions of a last-modified one). Each event in a history keeps its key: a replay of one
of them is told from it and not counted twice (``mlgate.online.state``).

Histories are built column by column from Arrow (sorted by entity, time and key, cut at the
entity boundaries), never one Python object per event.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlgate.config import PipelineConfig
from mlgate.ingest.extract import versions_folder
from mlgate.ingest.records import quarantined_keys
from mlgate.ingest.status import select_days
from mlgate.online.features import OnlineFeatures
from mlgate.online.state import encode_dimension
from mlgate.online.store import EmbeddedStore, lock_file
from mlgate.paths import lake_dir, table_partition

log = logging.getLogger("mlgate.online.bootstrap")

AS_OF_META, SPEC_META, DIMENSIONS_META = "as_of", "spec", "dimensions_of"
EPOCH = "__epoch"


class BootstrapError(RuntimeError):
    """The lake cannot give the state asked for; the message says what to run."""


@dataclass(frozen=True)
class Bootstrapped:
    as_of: datetime
    entities: int
    events: int
    dimension_keys: int
    seconds: float
    days: list[str]


def spec_fingerprint(cfg: PipelineConfig) -> str:
    """Which feature spec a state was built for: a state of another spec is rebuilt."""
    spec = orjson.dumps(cfg.features.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(spec).hexdigest()[:16]


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _days(start: datetime, end: datetime) -> list[date]:
    last = (end - timedelta(microseconds=1)).date()
    return [start.date() + timedelta(days=i) for i in range((last - start.date()).days + 1)]


def read_events(cfg: PipelineConfig, as_of: datetime, lookback: int, columns: list[str] | None):
    """The accepted, unquarantined events in [as_of - lookback s, as_of), with an epoch
    column (whole UTC seconds; ``EPOCH``), and the days read; ``columns`` None: all."""
    spec = cfg.source.events
    start = as_of - timedelta(seconds=lookback)
    days = [
        d
        for d in _days(start, as_of)
        if table_partition(cfg.name, spec.table, d.isoformat()).is_dir()
    ]
    read = select_days(cfg.name, spec.table, days).read
    paths = [str(table_partition(cfg.name, spec.table, d.isoformat())) for d in read]
    if not paths:
        return None, []
    table = pa.concat_tables(
        [pq.read_table(p, columns=columns) for p in paths], promote_options="permissive"
    )
    bad = quarantined_keys(cfg, read)
    if bad:
        keys = pa.concat_arrays(
            [pq.read_table(p, columns=[spec.key]).column(0).combine_chunks() for p in bad]
        )
        table = table.filter(pc.invert(pc.is_in(table.column(spec.key), value_set=keys)))
    moment = table.column(spec.time_column).cast(pa.timestamp("us"))
    table = table.filter(
        pc.and_(
            pc.greater_equal(moment, pa.scalar(start, pa.timestamp("us"))),
            pc.less(moment, pa.scalar(as_of, pa.timestamp("us"))),
        )
    )
    micros = table.column(spec.time_column).cast(pa.timestamp("us")).cast(pa.int64())
    epoch = pc.floor(pc.divide(micros.cast(pa.float64()), 1e6)).cast(pa.int64())
    return table.append_column(EPOCH, epoch), [d.isoformat() for d in read]


def histories_of(table: pa.Table, engine: OnlineFeatures, entity: str, key_column: str,
                 row_key: str, as_of_epoch: int, numeric: set[str]):  # fmt: skip
    """(key, encoded history) of each entity in the events (sorted by time, then key)."""
    columns = engine.columns[entity]
    keep = table.filter(
        pc.and_(
            pc.is_valid(table.column(key_column)),
            pc.greater_equal(table.column(EPOCH), as_of_epoch - engine.lookback[entity]),
        )
    ).sort_by([(key_column, "ascending"), (EPOCH, "ascending"), (row_key, "ascending")])
    if keep.num_rows == 0:
        return
    keys = keep.column(key_column).to_pylist()
    epochs = keep.column(EPOCH).to_pylist()
    row_keys = keep.column(row_key).to_pylist()
    values = {
        c: (
            keep.column(c).cast(pa.float64())
            if c in numeric or pa.types.is_decimal(keep.column(c).type)
            else keep.column(c)
        ).to_pylist()
        for c in columns
    }
    entity_keys = keep.column(key_column).to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(np.r_[True, entity_keys[1:] != entity_keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        yield (
            keys[a],
            orjson.dumps([epochs[a:b], row_keys[a:b], {c: values[c][a:b] for c in columns}]),
        )


def _snapshot_tables(cfg: PipelineConfig) -> list[str]:
    """The joined dimension tables a run lands as a dated snapshot (not last-modified)."""
    declared = {d.table: d for d in cfg.source.dimensions}
    joined = dict.fromkeys(join.table for join in cfg.features.joins)
    return [t for t in joined if declared[t].history != "lastmodified"]


def newest_dimensions(cfg: PipelineConfig) -> date:
    """The newest run day that landed every snapshot dimension the spec joins: the
    dimensions a service scoring from now on joins, whatever the bootstrap's moment."""
    landed = None
    for table in _snapshot_tables(cfg):
        days = {p.name.removeprefix("ds=") for p in (lake_dir(cfg.name) / table).glob("ds=*")}
        landed = days if landed is None else landed & days
    if landed is None:  # no snapshot joined: the last-modified versions are not dated
        return date.today()
    if not landed:
        raise BootstrapError(
            f"no run has landed the dimensions {', '.join(_snapshot_tables(cfg))} of "
            f"{cfg.name} in its lake: run a day first (mlgate run-day --pipeline {cfg.name})"
        )
    return date.fromisoformat(max(landed))


def dimension_rows(cfg: PipelineConfig, dimensions_of: date):
    """(table, key, encoded rows) of every dimension the spec joins, as the run of
    ``dimensions_of`` landed it."""
    brought: dict[str, list[str]] = {}
    for join in cfg.features.joins:
        brought.setdefault(join.table, []).extend(join.columns)
    declared = {d.table: d for d in cfg.source.dimensions}
    for table, columns in brought.items():
        spec = declared[table]
        if spec.history == "lastmodified":
            path = lake_dir(cfg.name) / versions_folder(table)
        else:
            path = table_partition(cfg.name, table, dimensions_of.isoformat())
        if not path.exists():
            raise BootstrapError(
                f"dimension {table} of {dimensions_of} is not in the lake ({path}): run the "
                f"retrain DAG's extract for {dimensions_of} first"
            )
        extra = [c for c in (spec.valid_from, spec.valid_to, spec.updated_at) if c]
        rows = pq.read_table(path, columns=list(dict.fromkeys([spec.key, *columns, *extra])))
        grouped: dict[object, list[dict]] = {}
        for row in rows.to_pylist():
            grouped.setdefault(row[spec.key], []).append(row)
        for key, versions in grouped.items():
            if key is not None:
                yield table, key, encode_dimension(spec, versions, columns)


def _with_joined(cfg: PipelineConfig, store, table: pa.Table, columns: list[str]) -> pa.Table:
    """The events with the joined columns the histories read, joined as of each event's
    time by the online join itself (``OnlineState.joined``, dimensions already stored)."""
    from mlgate.online.state import OnlineState

    state = OnlineState(cfg, store)
    rows = [state.joined(row) for row in table.to_pylist()]
    for column in columns:
        table = table.append_column(column, pa.array([row[column] for row in rows]))
    return table


def bootstrap(
    cfg: PipelineConfig,
    store,
    as_of: datetime,
    *,
    dimensions_of: date | None = None,
    progress: Callable[[str], None] = log.info,
) -> Bootstrapped:
    """Replace ``store``'s content with the state of ``cfg`` as of ``as_of`` (see the
    module docstring). ``dimensions_of``: the run whose dimensions are joined (default:
    the newest run that landed them all, ``newest_dimensions``)."""
    started = time.monotonic()
    as_of = _naive_utc(as_of)
    dimensions_of = dimensions_of or newest_dimensions(cfg)
    engine = OnlineFeatures(cfg.features, time_column=cfg.row_time, row_key=cfg.source.events.key)
    spec = cfg.source.events
    lookback = max(engine.lookback.values(), default=0)
    needed = {spec.key, spec.time_column, *cfg.features.entities.values()}
    for entity_columns in engine.columns.values():
        needed |= set(entity_columns)
    joined = {c for join in cfg.features.joins for c in join.columns}
    store.clear()
    dimension_keys = 0
    batch = []
    for item in dimension_rows(cfg, dimensions_of):
        batch.append(item)
        if len(batch) >= 100_000:
            store.load(dimensions=batch)
            dimension_keys += len(batch)
            batch = []
    store.load(dimensions=batch)
    dimension_keys += len(batch)
    progress(f"reading the events of the {lookback / 86_400:g} days before {as_of.isoformat()}")
    from_joins = sorted(needed & joined)
    # with columns a join brings, read every event column (the join keys among them)
    table, days = read_events(cfg, as_of, lookback, None if from_joins else sorted(needed))
    if table is not None and from_joins:
        table = _with_joined(cfg, store, table, from_joins)
    as_of_epoch = int((as_of - datetime(1970, 1, 1)).total_seconds())
    numeric = set(cfg.features.numeric)
    entities = 0
    for entity, key_column in cfg.features.entities.items():
        if table is None:
            break
        batch = []
        for key, data in histories_of(
            table, engine, entity, key_column, spec.key, as_of_epoch, numeric
        ):
            batch.append((entity, key, data))
            if len(batch) >= 100_000:
                store.load(histories=batch)
                entities += len(batch)
                progress(f"{entities:,} entity histories written")
                batch = []
        store.load(histories=batch)
        entities += len(batch)
    events = 0 if table is None else table.num_rows
    store.load(
        meta={
            AS_OF_META: as_of.isoformat(),
            SPEC_META: spec_fingerprint(cfg),
            DIMENSIONS_META: dimensions_of.isoformat(),
        }
    )
    took = time.monotonic() - started
    progress(
        f"online state of {cfg.name} as of {as_of.isoformat()}: {entities:,} entity "
        f"histories, {events:,} events, {dimension_keys:,} dimension keys in {took:.1f} s"
    )
    return Bootstrapped(as_of, entities, events, dimension_keys, round(took, 2), days)


def bootstrap_file(
    cfg: PipelineConfig,
    target: Path,
    as_of: datetime,
    *,
    progress: Callable[[str], None] = log.info,
) -> Bootstrapped:
    """The embedded state of ``cfg`` as of ``as_of`` at ``target``, built in a file beside
    it and moved into place whole: a crash leaves the old state, never half a new one.
    Refused (``StoreInUse``) while a service holds ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    store = EmbeddedStore(tmp)
    try:
        store.clear()
        built = bootstrap(cfg, store, as_of, progress=progress)
    except BaseException:
        store.close()
        _remove_files(tmp, TEMPORARY)
        raise
    store.close()  # checkpointed: everything is in the file itself
    held = lock_file(target)
    try:
        _remove_files(target, ("-wal", "-shm"))  # the old file's log must not outlive it
        os.replace(tmp, target)
    finally:
        held.close()
        _remove_files(tmp, TEMPORARY)
    return built


TEMPORARY = ("", "-wal", "-shm", ".lock")  # a SQLite file, its log, shared memory and lock


def _remove_files(path: Path, suffixes: tuple[str, ...]) -> None:
    for suffix in suffixes:
        path.with_name(path.name + suffix).unlink(missing_ok=True)
