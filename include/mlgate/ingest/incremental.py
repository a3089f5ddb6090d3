"""Incremental imports, Sqoop's two modes, with a durable watermark (`mlgate import`).

* **append**: the rows whose check column (an increasing id) is above the watermark, up
  to the column's maximum read in the import's snapshot, land as a new batch folder
  `lake/<target>/batch=<n>/`.
* **lastmodified**: the rows whose check column (an update time) is at or after the
  watermark, up to its maximum in the snapshot, are merged into `lake/<target>/` by key:
  an updated row replaces its older copy (a new version of the folder is written and
  swapped in whole). The lower bound is inclusive, so rows that share the watermark's
  timestamp but committed after the last import are not lost; merging makes the repeat
  harmless.

The watermark lives in `pipelines/<pipeline>/imports/<target>.json`, written whole (temporary file,
fsync, rename, fsync of the folder), and is advanced only after the batch or the merged
folder is completely in place and reconciled against the source (count and key sum in
the same snapshot). A crash between the two leaves the old watermark: the rerun reads the
same range again (and anything newer) and writes it to the *same* batch number (append,
replacing the uncommitted batch) or merges it by key again (lastmodified), so no row is
skipped and none is duplicated.

Deleted source rows are not propagated (as in Sqoop); rows whose check column is NULL are
never imported incrementally (a warning says how many there are).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from mlgate.config import IncrementalImport, PipelineConfig
from mlgate.ingest.lake import MANIFEST_FILE, UNPARSABLE_COLUMN, ExtractError, measure_files
from mlgate.ingest.sqlread import (
    Source,
    column_of,
    create_source_engine,
    read_to_folder,
    reflect_table,
    source_connection,
)
from mlgate.paths import imports_dir, lake_dir, swap_into_place, temporary_sibling

log = logging.getLogger(__name__)

HISTORY_KEPT = 20


def watermark_path(pipeline: str, name: str) -> Path:
    return imports_dir(pipeline) / f"{name}.json"


def target_folder(pipeline: str, name: str) -> Path:
    return lake_dir(pipeline) / name


# --- the watermark: typed, durable --------------------------------------------------------


def encode_value(value) -> dict | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise ExtractError(f"a boolean ({value!r}) cannot be a check column's watermark")
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, float):
        return {"type": "float", "value": repr(value)}
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    raise ExtractError(f"cannot keep a watermark of type {type(value).__name__}: {value!r}")


def decode_value(data: dict | None):
    if data is None:
        return None
    kind, text = data["type"], data["value"]
    return {
        "int": int,
        "decimal": Decimal,
        "float": float,
        "datetime": datetime.fromisoformat,
        "date": date.fromisoformat,
        "str": str,
    }[kind](text)


def write_durably(path: Path, payload: dict) -> None:
    """Write JSON whole or not at all, and make it survive a power cut once returned."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as handle:
        handle.write(json.dumps(payload, indent=2, default=str))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def load_state(path: Path) -> dict:
    """The watermark file's state ({} before the first import)."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ExtractError(f"the watermark file {path} is damaged: {error}") from None


def commit_watermark(path: Path, state: dict) -> None:
    """The commit point of an import: from here on the rows are imported for good."""
    write_durably(path, state)


# --- one import ---------------------------------------------------------------------------


@dataclass
class ImportResult:
    name: str
    table: str
    mode: str
    status: str  # "imported" or "up to date"
    rows: int  # rows read from the source by this import
    lake_rows: int  # rows in lake/<target> afterwards
    previous: object
    last_value: object
    path: str
    batch: int | None = None
    replaced: int = 0  # lastmodified: older copies replaced by their new version
    source: dict | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out["previous"] = encode_value(self.previous)
        out["last_value"] = encode_value(self.last_value)
        return out


def _batch_number(folder: Path) -> int | None:
    try:
        return int(folder.name.split("=", 1)[1]) if folder.name.startswith("batch=") else None
    except ValueError:
        return None


def _existing_schema(folder: Path) -> pa.Schema | None:
    files = sorted(folder.glob("**/part-*.parquet"), reverse=True)
    return pq.read_schema(files[0]) if files else None


def _check_schema(
    spec: IncrementalImport, folder: Path, schema: pa.Schema, watermark: Path
) -> None:
    existing = _existing_schema(folder)
    if existing is None:
        return
    old = {f.name: str(f.type) for f in existing}
    new = {f.name: str(f.type) for f in schema}
    if old != new:
        changes = [
            f"{c}: {old.get(c, 'absent')} -> {new.get(c, 'absent')}"
            for c in dict.fromkeys([*old, *new])
            if old.get(c) != new.get(c)
        ]
        raise ExtractError(
            f"the source table {spec.table!r} changed since it was imported into {folder}: "
            + "; ".join(changes)
            + ". Fix the source, or move the lake folder and its watermark "
            f"({watermark}) away to import it again from scratch"
        )


def _reconcile(spec: IncrementalImport, measured, files: list[str], key: str | None) -> None:
    landed = measure_files([Path(f) for f in files], key)
    if measured is None:
        return
    if landed.rows != measured.rows or (
        measured.key_sum is not None and landed.key_sum != measured.key_sum
    ):
        raise ExtractError(
            f"import {spec.name}: the source range has {measured.rows} rows (key sum "
            f"{measured.key_sum}) but {landed.rows} rows (key sum {landed.key_sum}) were "
            "written; the watermark was not advanced"
        )


def import_incremental(engine: sa.Engine, spec: IncrementalImport, pipeline: str) -> ImportResult:
    """Run one incremental import (append or lastmodified) of a pipeline; see the module's
    docstring."""
    watermark = watermark_path(pipeline, spec.name)
    table = reflect_table(engine, spec.table)
    check = column_of(table, spec.check_column)
    if spec.key:
        column_of(table, spec.key)
    state = load_state(watermark)
    if state and state.get("mode") not in (None, spec.mode):
        raise ExtractError(
            f"import {spec.name} was run in mode {state['mode']!r}, now {spec.mode!r}: "
            f"move the lake folder and {watermark} away to start again"
        )
    previous = decode_value(state.get("last_value"))
    source = Source(engine, table)
    folder = target_folder(pipeline, spec.name)
    _check_schema(spec, folder, source.schema, watermark)
    column = source.column(spec.check_column)
    measure_key = spec.key or (spec.check_column if isinstance(check.type, sa.Integer) else None)

    with source_connection(engine) as conn:
        newer = None
        if previous is not None:
            newer = column > previous if spec.mode == "append" else column >= previous
        query = sa.select(sa.func.max(check)).select_from(table)
        if newer is not None:
            query = query.where(newer)
        try:
            high = conn.execute(query).scalar()
        except (ValueError, TypeError) as error:  # SQLite text that does not parse
            raise ExtractError(
                f"import {spec.name}: the check column {spec.check_column!r} holds a value "
                f"that is not a {check.type}: {error}"
            ) from None
        nulls = conn.execute(
            sa.select(sa.func.count()).select_from(table).where(check.is_(None))
        ).scalar()
        if nulls:
            log.warning(
                "%s: %d rows have a NULL %s and are never imported incrementally",
                spec.table,
                nulls,
                spec.check_column,
            )
        if high is None:
            return _up_to_date(spec, state, previous, folder)
        upper = column <= high
        source.condition = upper if newer is None else sa.and_(newer, upper)
        if spec.mode == "append":
            return _append(
                spec, source, conn, state, previous, high, folder, measure_key, watermark
            )
        return _merge(spec, source, conn, state, previous, high, folder, measure_key, watermark)


def _up_to_date(spec, state, previous, folder: Path) -> ImportResult:
    return ImportResult(
        spec.name,
        spec.table,
        spec.mode,
        "up to date",
        0,
        int(state.get("lake_rows", 0)),
        previous,
        previous,
        str(folder),
        batch=state.get("batches"),
    )


def _read(spec, source, conn, tmp: Path, measure_key):
    return read_to_folder(
        source,
        tmp,
        split_by=spec.split_by or ((spec.key or spec.check_column) if spec.splits > 1 else None),
        splits=spec.splits,
        measure_key=measure_key,
        connection=conn,
    )


def _new_state(spec, state, high, rows, lake_rows, **extra) -> dict:
    entry = {
        "at": datetime.now(UTC).isoformat(),
        "from": state.get("last_value"),
        "to": encode_value(high),
        "rows": rows,
        **extra,
    }
    history = [*state.get("history", []), entry][-HISTORY_KEPT:]
    return {
        "name": spec.name,
        "table": spec.table,
        "mode": spec.mode,
        "check_column": spec.check_column,
        "key": spec.key,
        "last_value": encode_value(high),
        "batches": state.get("batches", 0) + (1 if spec.mode == "append" else 0),
        "lake_rows": lake_rows,
        "updated_at": entry["at"],
        "history": history,
    }


def _append(spec, source, conn, state, previous, high, folder: Path, measure_key, watermark):
    number = int(state.get("batches", 0)) + 1
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob("batch=*"):  # uncommitted batches of a crashed import
        found = _batch_number(leftover)
        if found is not None and found > number:
            shutil.rmtree(leftover, ignore_errors=True)
    target = folder / f"batch={number:06d}"
    tmp = temporary_sibling(target)
    tmp.mkdir()
    try:
        result = _read(spec, source, conn, tmp, measure_key)
        _reconcile(spec, result.source, result.files, measure_key)
        manifest = {
            "table": spec.table,
            "mode": "append",
            "batch": number,
            "rows": result.rows,
            "range": {"above": encode_value(previous), "up_to": encode_value(high)},
            "source": result.source.to_dict() if result.source else None,
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
        swap_into_place(tmp, target)  # replaces an uncommitted batch of the same number
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lake_rows = int(state.get("lake_rows", 0)) + result.rows
    commit_watermark(watermark, _new_state(spec, state, high, result.rows, lake_rows, batch=number))
    return ImportResult(
        spec.name,
        spec.table,
        "append",
        "imported",
        result.rows,
        lake_rows,
        previous,
        high,
        str(target),
        batch=number,
        source=result.source.to_dict() if result.source else None,
    )


def _merge(spec, source, conn, state, previous, high, folder: Path, measure_key, watermark):
    """lastmodified: write the changed rows, then a new version of the whole folder in
    which each changed key keeps only its new row; swap it in; then commit."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = temporary_sibling(folder)
    delta_dir, merged = work / "delta", work / "merged"
    delta_dir.mkdir(parents=True)
    merged.mkdir()
    try:
        result = _read(spec, source, conn, delta_dir, measure_key)
        _reconcile(spec, result.source, result.files, measure_key)
        keys = pa.chunked_array(
            [pq.read_table(f, columns=[spec.key]).column(spec.key) for f in result.files]
        ).combine_chunks()
        if pc.count_distinct(keys, mode="all").as_py() != len(keys):
            raise ExtractError(
                f"import {spec.name}: key {spec.key!r} is not unique among the changed rows "
                "of the source, so rows cannot be merged by it"
            )
        kept = replaced = 0
        old_files = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        with pq.ParquetWriter(merged / "part-00000.parquet", source.schema) as writer:
            for path in old_files:
                for batch in pq.ParquetFile(path).iter_batches():
                    stale = pc.fill_null(pc.is_in(batch.column(spec.key), value_set=keys), False)
                    fresh = batch.filter(pc.invert(stale))
                    replaced += batch.num_rows - fresh.num_rows
                    kept += fresh.num_rows
                    writer.write_batch(fresh)
        for index, path in enumerate(result.files, start=1):
            os.replace(path, merged / f"part-{index:05d}.parquet")
        lake_rows = kept + result.rows
        manifest = {
            "table": spec.table,
            "mode": "lastmodified",
            "rows": lake_rows,
            "merged": {"changed": result.rows, "replaced": replaced, "kept": kept},
            "range": {"from": encode_value(previous), "up_to": encode_value(high)},
            "source": result.source.to_dict() if result.source else None,
        }
        (merged / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, default=str))
        swap_into_place(merged, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    commit_watermark(
        watermark,
        _new_state(spec, state, high, result.rows, lake_rows, replaced=replaced),
    )
    return ImportResult(
        spec.name,
        spec.table,
        "lastmodified",
        "imported",
        result.rows,
        lake_rows,
        previous,
        high,
        str(folder),
        replaced=replaced,
        source=result.source.to_dict() if result.source else None,
    )


def run_imports(cfg: PipelineConfig, names: list[str] | None = None) -> list[ImportResult]:
    """The configured incremental imports (all, or those named), one after the other."""
    known = {spec.name: spec for spec in cfg.source.incremental}
    if not known:
        raise ExtractError("no incremental import is configured (source.incremental)")
    unknown = sorted(set(names or []) - set(known))
    if unknown:
        raise ExtractError(f"unknown incremental import(s) {unknown}; configured: {sorted(known)}")
    chosen = [known[n] for n in names] if names else list(known.values())
    engine = create_source_engine(cfg.source_url(), splits=max(spec.splits for spec in chosen))
    try:
        return [import_incremental(engine, spec, cfg.name) for spec in chosen]
    finally:
        engine.dispose()


__all__ = [
    "UNPARSABLE_COLUMN",
    "ImportResult",
    "commit_watermark",
    "decode_value",
    "encode_value",
    "import_incremental",
    "load_state",
    "run_imports",
    "target_folder",
    "watermark_path",
]
