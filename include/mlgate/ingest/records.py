"""Record rules on the raw day, and the quarantine of the rows that break them.

`find_bad_records` applies the record rules (the config's `records:`) to a day's extract and
returns the failing rows, each with all of its reasons. `quarantine_day` writes them to
lake/quarantine/<events table>/ds=<day> (replacing any earlier quarantine of that day)
with a `_summary.json`; the bad_record_ratio gate compares the summary's ratio with its
threshold, and the features job leaves the quarantined keys out of the feature table.
`quarantine_day` runs in the check_raw task, outside Spark, so it streams the day in
bounded batches (see its docstring) with the same result as the day in one frame.

Reasons, in this order within a row (joined with "; "):

* `null:<column>`         a required column is null in the source;
* `out_of_range:<column>` a value outside the rule's `range` (bounds included), or one that
                          is not a number;
* `not_allowed:<column>`  a value not among the rule's `allowed` values;
* `no_match:<column>`     a text that does not match the rule's `regex` whole;
* `time_outside_window`   the event time is not in [window_start, window_end);
* `duplicate_key`         the key was already seen earlier in time (the first one stays;
                          with `unique_key`);
* `unparsable:<column>`   the source value could not be converted to the lake type (the
                          extract wrote null and named the column in `_unparsable`); such a
                          null is not also reported as `null:<column>`;
* `invalid_utf8:<column>` the source text was not valid UTF-8 (the extract wrote null and
                          named the column as `invalid_utf8:<column>` in `_unparsable`);
                          not also reported as `null:<column>` or `unparsable:<column>`.

A null value breaks only `required`: it is never out of range, not allowed or unmatched.
"""

from __future__ import annotations

import math
import re
import shutil
from collections import Counter
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlgate.config import PipelineConfig, RecordRules
from mlgate.ingest.lake import (
    INVALID_UTF8_MARK,
    PART_FILE,
    READ_BATCH_ROWS,
    UNPARSABLE_COLUMN,
    read_batches,
)
from mlgate.paths import (
    quarantine_partition,
    swap_into_place,
    table_partition,
    temporary_sibling,
    write_json,
)
from mlgate.window import day_bounds

REASON_COLUMN = "reason"
QUARANTINED_AT_COLUMN = "quarantined_at"
SUMMARY_FILE = "_summary.json"  # Spark and pyarrow skip files starting with "_"
REASON_SEPARATOR = "; "
# Rows of key and time the duplicate_key pass holds at once (~150 bytes each with the sort),
# and the most groups it splits a day into (one open file each while it reads the day).
KEY_PASS_ROWS = 100_000
MAX_KEY_GROUPS = 256
POSITION_COLUMN = "_position"  # a row's place in the day, in the duplicate_key pass's files

__all__ = [
    "QUARANTINED_AT_COLUMN",
    "REASON_COLUMN",
    "SUMMARY_FILE",
    "UNPARSABLE_COLUMN",
    "QuarantineResult",
    "find_bad_records",
    "quarantine_day",
    "quarantined_keys",
    "row_reasons",
]


@dataclass
class QuarantineResult:
    ds: str
    total_rows: int
    bad_rows: int
    reasons: dict[str, int] = field(default_factory=dict)
    path: str = ""

    @property
    def ratio(self) -> float | None:
        """Share of bad rows; None for an empty day (nothing to take a share of)."""
        if self.total_rows == 0:
            return None
        return self.bad_rows / self.total_rows

    def to_dict(self) -> dict:
        return {
            "ds": self.ds,
            "total_rows": self.total_rows,
            "bad_rows": self.bad_rows,
            "ratio": self.ratio,
            "reasons": dict(self.reasons),
            "path": self.path,
        }


def _unparsable_masks(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Mark in `_unparsable` -> rows carrying it: a column name (its value could not be
    converted) or `invalid_utf8:<column>` (its text was not valid UTF-8)."""
    if UNPARSABLE_COLUMN not in df.columns:
        return {}
    marks = df[UNPARSABLE_COLUMN]
    present = marks.notna() & (marks.astype("string").str.len() > 0)
    if not present.any():
        return {}
    # Few distinct combinations ("amount", "amount,created_at"): split those, not each row.
    combos = marks[present].astype(str).unique()
    by_name: dict[str, list[str]] = {}
    for combo in combos:
        for name in filter(None, (part.strip() for part in combo.split(","))):
            by_name.setdefault(name, []).append(combo)
    order = {name: i for i, name in enumerate(df.columns)}
    names = sorted(by_name, key=lambda n: (order.get(_marked_column(n), len(order)), n))
    return {name: (present & marks.isin(by_name[name])).to_numpy() for name in names}


def _marked_column(mark: str) -> str:
    """The column an `_unparsable` mark names."""
    return mark.removeprefix(INVALID_UTF8_MARK)


def _unparsable_reason(mark: str) -> str:
    if mark.startswith(INVALID_UTF8_MARK):
        return mark  # already "invalid_utf8:<column>"
    return f"unparsable:{mark}"


def _as_float(values: pd.Series) -> pd.Series:
    """Amounts (float, int, Decimal objects from a decimal128 column) as float64."""
    try:
        return values.astype("float64")
    except (TypeError, ValueError):
        return pd.to_numeric(values, errors="coerce").astype("float64")


def _as_timestamps(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    return pd.to_datetime(values, errors="coerce", format="ISO8601")


def _comparable(moment: datetime, times: pd.Series) -> pd.Timestamp:
    """`moment` as a bound for `times`: naive values and naive bounds are both UTC."""
    stamp = pd.Timestamp(moment)
    zoned = getattr(times.dtype, "tz", None) is not None
    if zoned and stamp.tzinfo is None:
        return stamp.tz_localize(UTC)
    if not zoned and stamp.tzinfo is not None:
        return stamp.tz_convert(UTC).tz_localize(None)
    return stamp


def _later_duplicates(keys: pd.Series, times: pd.Series) -> np.ndarray:
    """Every occurrence of a key after its first one in time order (ties: row order;
    rows without a time come last). Null keys are never duplicates."""
    frame = pd.DataFrame({"key": keys.to_numpy(), "time": times.to_numpy()})
    ordered = frame.sort_values("time", kind="stable", na_position="last")
    later = ordered["key"].duplicated(keep="first") & ordered["key"].notna()
    return later.sort_index().to_numpy()


def find_bad_records(
    df: pd.DataFrame,
    rules: RecordRules,
    *,
    key: str,
    time_column: str,
    window_start: datetime,
    window_end: datetime,
    duplicates: np.ndarray | None = None,
) -> pd.DataFrame:
    """The rows of `df` that break a record rule, with all their reasons in `reason`.

    Every original column is kept (and the original index); rows keep their order.
    `duplicates` marks the rows of `df` that repeat an earlier key of the whole day when
    `df` is one batch of it (see `_day_duplicates`); without it they are found in `df`.
    """
    needed = [*rules.required, *(rule.column for rule in rules.rules), key, time_column]
    missing = [name for name in dict.fromkeys(needed) if name not in df.columns]
    if missing:
        raise ValueError(
            f"columns {missing} used by the record rules are not in the extract "
            f"(columns: {list(df.columns)}); check records: and source.events in the pipeline file"
        )

    unparsable = _unparsable_masks(df)
    checks: list[tuple[str, np.ndarray]] = []
    for name in rules.required:
        null = df[name].isna().to_numpy()
        for mark, mask in unparsable.items():
            if _marked_column(mark) == name:
                null = null & ~mask
        checks.append((f"null:{name}", null))

    for rule in rules.rules:
        values = df[rule.column]
        present = values.notna()
        if rule.range is not None:
            numbers = _as_float(values)
            low, high = rule.range
            outside = present & ~(numbers.notna() & numbers.between(low, high))
            checks.append((f"out_of_range:{rule.column}", outside.to_numpy()))
        if rule.allowed is not None:
            checks.append(
                (f"not_allowed:{rule.column}", (present & ~values.isin(rule.allowed)).to_numpy())
            )
        if rule.regex is not None:
            matches = re.compile(rule.regex).fullmatch
            matched = values[present].astype(str).map(matches).notna()
            unmatched = present.copy()
            unmatched[present] = ~matched.astype(bool)
            checks.append((f"no_match:{rule.column}", unmatched.to_numpy(dtype=bool)))

    times = _as_timestamps(df[time_column])
    start, end = _comparable(window_start, times), _comparable(window_end, times)
    outside = times.notna() & ((times < start) | (times >= end))
    checks.append(("time_outside_window", outside.to_numpy()))

    if rules.unique_key:
        if duplicates is None:
            duplicates = _later_duplicates(df[key], times)
        checks.append(("duplicate_key", duplicates))
    checks += [(_unparsable_reason(mark), mask) for mark, mask in unparsable.items()]

    labels = np.array([label for label, _ in checks], dtype=object)
    failed = np.column_stack([np.asarray(mask, dtype=bool) for _, mask in checks])
    bad = failed.any(axis=1)
    out = df.iloc[np.flatnonzero(bad)].copy()
    out[REASON_COLUMN] = pd.Series(
        [REASON_SEPARATOR.join(labels[row]) for row in failed[bad]], index=out.index, dtype=object
    )
    return out


def row_reasons(row: Mapping[str, object], rules: RecordRules) -> list[str]:
    """The record rules one row breaks, in ``find_bad_records``' words and order: a raw
    event the online path receives (``mlgate.online``), which must be refused as the lake
    would quarantine it. Not here: the checks that need the whole day (the time window, a
    duplicate key: online, an event is counted once by its key)."""
    reasons = [f"null:{name}" for name in rules.required if _absent(row.get(name))]
    for rule in rules.rules:
        value = row.get(rule.column)
        if _absent(value):
            continue
        if rule.range is not None:
            number = _number(value)
            if number is None or not rule.range[0] <= number <= rule.range[1]:
                reasons.append(f"out_of_range:{rule.column}")
        if rule.allowed is not None and value not in rule.allowed:
            reasons.append(f"not_allowed:{rule.column}")
        if rule.regex is not None and re.fullmatch(rule.regex, str(value)) is None:
            reasons.append(f"no_match:{rule.column}")
    return reasons


def _absent(value: object) -> bool:
    """None or NaN: what pandas' ``isna`` calls missing in a raw row."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: object) -> float | None:
    """A value as ``_as_float`` reads it: numbers and numeric text, else None."""
    if isinstance(value, bool | int | float | Decimal):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def reason_counts(reasons: pd.Series) -> dict[str, int]:
    """How many rows have each single reason (a row with two reasons counts for both)."""
    if reasons.empty:
        return {}
    counts = reasons.str.split(REASON_SEPARATOR).explode().value_counts()
    return {str(reason): int(count) for reason, count in sorted(counts.items())}


def _as_date(ds: date | str) -> date:
    if isinstance(ds, datetime):
        return ds.date()
    if isinstance(ds, date):
        return ds
    return date.fromisoformat(str(ds))


def _integers_with_nulls(files: list[Path], batch_rows: int) -> list[str]:
    """The integer columns with a null somewhere in the day. The whole day's frame has them
    as float64 (null as NaN); a batch without a null would have int64, which hashes and
    prints differently ("5" against "5.0")."""
    schema = pq.read_schema(files[0])
    integers = [field.name for field in schema if pa.types.is_integer(field.type)]
    nulls = Counter()
    for batch in read_batches(files, integers, batch_rows):
        nulls.update({name: batch.column(name).null_count for name in integers})
    return [name for name in integers if nulls[name]]


def _as_frame(batch: pa.RecordBatch | pa.Table, floats: list[str]) -> pd.DataFrame:
    """A batch as pandas with the column types of the whole day's frame (`floats`: the
    integer columns the whole day has as float64)."""
    frame = batch.to_pandas()
    for name in floats:
        if name in frame.columns:
            frame[name] = frame[name].astype("float64")
    return frame


def _spill_by_key_hash(
    files: list[Path],
    key: str,
    time_column: str,
    floats: list[str],
    *,
    groups: int,
    batch_rows: int,
    folder: Path,
) -> list[Path]:
    """One read of the key and time columns: every row with a key goes, with its position
    in the day, to the Arrow file of its key's hash group (in day order within a group)."""
    paths, offset = {}, 0
    with ExitStack() as open_files:
        writers = {}
        for batch in read_batches(files, [key, time_column], batch_rows):
            keys = _as_frame(batch.select([key]), floats)[key]  # hashed as the whole day's frame
            known = keys.notna().to_numpy()
            group_of = pd.util.hash_pandas_object(keys, index=False).to_numpy() % groups
            positions = np.arange(offset, offset + len(keys))
            rows = pa.RecordBatch.from_arrays(
                [batch.column(key), batch.column(time_column), positions],
                names=[key, time_column, POSITION_COLUMN],
            )
            for group in np.unique(group_of[known]):
                if group not in writers:
                    paths[group] = folder / f"group-{group}.arrow"
                    writers[group] = open_files.enter_context(
                        pa.ipc.new_file(paths[group], rows.schema)
                    )
                writers[group].write_batch(rows.take(np.flatnonzero(known & (group_of == group))))
            offset += len(keys)
    return [paths[group] for group in sorted(paths)]


def _day_duplicates(
    files: list[Path],
    key: str,
    time_column: str,
    floats: list[str],
    *,
    batch_rows: int,
    key_pass_rows: int,
    folder: Path,
) -> np.ndarray:
    """`duplicate_key` of every row of the day (in its order), in bounded memory.

    The rule needs all the rows of a key together: the key and time columns are read once
    and split by the key's hash into groups of about `key_pass_rows` rows (at most
    MAX_KEY_GROUPS), spilled to Arrow files under `folder`; then one group at a time is
    judged, holding its keys, times and positions (~150 bytes a row with the sort). The
    answer for the whole day costs one byte per row.
    """
    total = sum(pq.ParquetFile(path).metadata.num_rows for path in files)
    groups = min(MAX_KEY_GROUPS, max(1, math.ceil(total / key_pass_rows)))
    duplicates = np.zeros(total, dtype=bool)
    for path in _spill_by_key_hash(
        files,
        key,
        time_column,
        floats,
        groups=groups,
        batch_rows=batch_rows,
        folder=folder,
    ):
        with pa.OSFile(str(path)) as spilled:
            frame = _as_frame(pa.ipc.open_file(spilled).read_all(), floats)
        later = _later_duplicates(frame[key], _as_timestamps(frame[time_column]))
        duplicates[frame[POSITION_COLUMN].to_numpy()[later]] = True
    return duplicates


def quarantine_day(
    cfg: PipelineConfig,
    ds: date,
    *,
    batch_rows: int = READ_BATCH_ROWS,
    key_pass_rows: int = KEY_PASS_ROWS,
) -> QuarantineResult:
    """Apply the record rules to the day's lake partition and (re)write its quarantine.

    The quarantine partition is always written, with 0 rows when the day is clean, and
    replaces the previous one whole: a rerun after the source was fixed clears it.

    The day is streamed `batch_rows` rows at a time (the rules and the quarantine file
    alike), so the task never holds the whole table; only duplicate_key looks across
    batches, answered beforehand by `_day_duplicates` (one byte a row for the whole day,
    plus at most `key_pass_rows` keys and times at once).
    """
    rules = cfg.records
    if rules is None:
        raise ValueError(
            "the pipeline has no records: section, so there are no record rules to apply"
        )
    day = _as_date(ds)
    spec = cfg.source.events
    source = table_partition(cfg.name, spec.table, day.isoformat())
    if not source.is_dir():
        raise FileNotFoundError(
            f"lake partition {source} does not exist: run the extract for {day} first"
        )
    files = sorted(source.glob("*.parquet"))
    if not files:
        raise FileNotFoundError(
            f"lake partition {source} has no Parquet file: run the extract for {day} again"
        )
    day_schema = pq.read_schema(files[0])
    clashing = [c for c in (REASON_COLUMN, QUARANTINED_AT_COLUMN) if c in day_schema.names]
    if clashing:
        raise ValueError(f"the events table has columns {clashing}, which the quarantine adds")

    window_start, window_end = day_bounds(day)
    quarantined_at = datetime.now(UTC)
    schema = day_schema.append(pa.field(REASON_COLUMN, pa.string())).append(
        pa.field(QUARANTINED_AT_COLUMN, pa.timestamp("us", tz="UTC"))
    )
    target = quarantine_partition(cfg.name, spec.table, day.isoformat())
    total_rows, bad_rows, reasons = 0, 0, Counter()
    tmp = temporary_sibling(target)
    tmp.mkdir()
    try:
        floats = _integers_with_nulls(files, batch_rows)
        duplicates = None
        if rules.unique_key:
            with TemporaryDirectory(dir=tmp) as spill:
                duplicates = _day_duplicates(
                    files,
                    spec.key,
                    spec.time_column,
                    floats,
                    batch_rows=batch_rows,
                    key_pass_rows=key_pass_rows,
                    folder=Path(spill),
                )
        with pq.ParquetWriter(tmp / PART_FILE, schema) as writer:
            for batch in read_batches(files, batch_rows=batch_rows):
                bad = find_bad_records(
                    _as_frame(batch, floats),
                    rules,
                    key=spec.key,
                    time_column=spec.time_column,
                    window_start=window_start,
                    window_end=window_end,
                    duplicates=None
                    if duplicates is None
                    else duplicates[total_rows : total_rows + batch.num_rows],
                )
                rows = batch.take(pa.array(bad.index.to_numpy(), type=pa.int64()))
                columns = [
                    *rows.columns,
                    pa.array(bad[REASON_COLUMN].tolist(), type=pa.string()),
                    pa.array([quarantined_at] * len(bad), type=pa.timestamp("us", tz="UTC")),
                ]
                writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
                total_rows += batch.num_rows
                bad_rows += len(bad)
                reasons.update(reason_counts(bad[REASON_COLUMN]))
        result = QuarantineResult(
            ds=day.isoformat(),
            total_rows=total_rows,
            bad_rows=bad_rows,
            reasons=dict(sorted(reasons.items())),
            path=str(target),
        )
        write_json(
            tmp / SUMMARY_FILE,
            {
                **result.to_dict(),
                "table": spec.table,
                "window": [window_start, window_end],
                "quarantined_at": quarantined_at,
            },
        )
        swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def quarantined_keys(cfg: PipelineConfig, days: list[date]) -> list[str]:
    """Paths of the quarantine partitions that exist for `days` (to anti-join on the key)."""
    table = cfg.source.events.table
    paths = [quarantine_partition(cfg.name, table, _as_date(day).isoformat()) for day in days]
    return [str(path) for path in paths if path.is_dir()]
