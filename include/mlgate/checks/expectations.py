"""Data checks: run a Great Expectations suite, kept as a small JSON file, on a pandas frame
or a Spark DataFrame (the same report either way).

A suite file lives in ``include/gx/<name>.json`` and is meant to be read and edited by hand::

    {"name": "raw_transactions", "description": "...",
     "expectations": [
       {"type": "expect_column_to_exist", "kwargs": {"column": "transaction_id"}},
       {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "amount"},
        "notes": "why this matters"}]}

``type`` is the snake_case name of a Great Expectations 1.x expectation
(``expect_column_values_to_not_be_null`` -> ``gx.expectations.ExpectColumnValuesToNotBeNull``)
and ``kwargs`` are its arguments.

``run_suite`` never raises on a failed expectation; it returns a ``CheckReport`` that names
each failed expectation, its column, what was observed and a few offending values.

Great Expectations is slow to import, and this module is imported by DAG files at parse
time, so GX is only imported inside the functions that need it (``import_gx`` lets a Spark
job start that import early, in the background). Spark is never imported here: a Spark
DataFrame is recognised by its type and handled with its own methods.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import difflib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import PermanentError
from mlgate.paths import REPO_ROOT

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame as SparkDataFrame


log = logging.getLogger(__name__)

SUITES_DIR = REPO_ROOT / "include" / "gx"

MAX_EXAMPLES = 5
_SUITE_KEYS = {"name", "description", "expectations", "meta"}
_EXPECTATION_KEYS = {"type", "kwargs", "notes", "meta"}
_INDEX_META_KEY = "mlgate_index"
# Two passes: every expectation with BOOLEAN_ONLY (its verdict only), then the failed ones
# again with SUMMARY (counts plus a partial list of unexpected values). On Spark the list is
# one more query per expectation: measured on the fraud feature table at 960k rows, 76
# expectations, 2 cores: 12.8 s (127 Spark jobs) with SUMMARY for all, 4.5 s (29) with the
# verdict only. A failed expectation is rare, and its second pass gives the same report.
_VERDICT_FORMAT = {"result_format": "BOOLEAN_ONLY"}
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}


class SuiteSpecError(ValueError, PermanentError):
    """A suite file is missing, not valid JSON, or not in the expected format."""


@dataclass
class FailedExpectation:
    expectation: str  # snake_case type, e.g. "expect_column_values_to_not_be_null"
    column: str | None  # None for table-level expectations
    observed: str  # short human text, e.g. "12 of 10000 values (0.12%) unexpected"
    examples: list = field(default_factory=list)  # up to 5 distinct unexpected values

    def describe(self) -> str:
        where = self.column if self.column is not None else "(table)"
        text = f"{where}: {self.expectation}: {self.observed}"
        if self.examples:
            text += f"; examples: {self.examples!r}"
        return text


@dataclass
class CheckReport:
    suite: str
    rows: int
    evaluated: int  # number of expectations evaluated
    failed: list[FailedExpectation] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict:
        return {
            "suite": self.suite,
            "rows": self.rows,
            "evaluated": self.evaluated,
            "success": self.success,
            "failed": [asdict(f) for f in self.failed],
        }

    def summary(self) -> str:
        if self.success:
            return (
                f"data check {self.suite!r} passed: {self.evaluated} expectations "
                f"on {self.rows} rows"
            )
        lines = [
            f"data check {self.suite!r} FAILED: {len(self.failed)} of {self.evaluated} "
            f"expectations failed on {self.rows} rows"
        ]
        lines += [f"  - {f.describe()}" for f in self.failed]
        return "\n".join(lines)


# --------------------------------------------------------------------------- suite files


def resolve_suite_path(name_or_path: str | os.PathLike) -> Path:
    """A suite file path: an absolute path as given; a name relative to SUITES_DIR
    (include/gx), ".json" added when missing: "fraud/features" is include/gx/fraud/features.json.
    """
    path = Path(os.fspath(name_or_path))
    if path.is_absolute():
        return path
    return SUITES_DIR / (path if path.suffix == ".json" else path.with_name(f"{path.name}.json"))


def quiet_gx_environment() -> None:
    """No usage statistics sent by GX (it reads this when imported); idempotent."""
    if os.environ.get("GX_ANALYTICS_ENABLED") != "false":
        os.environ["GX_ANALYTICS_ENABLED"] = "false"


def import_gx():
    """Import Great Expectations quietly (no usage statistics, no progress bars in logs).

    The first import takes seconds; a Spark job calls this in a background thread while
    its JVM starts, so that the suites later find GX imported; that job calls
    `quiet_gx_environment` first, in its main thread: a thread that adds to os.environ
    while pyspark copies it would break the copy."""
    quiet_gx_environment()
    import great_expectations as gx

    return gx


def _expectation_class(type_name: str, where: str):
    gx = import_gx()
    from great_expectations.expectations.expectation import Expectation

    camel = "".join(part.capitalize() for part in type_name.split("_"))
    cls = getattr(gx.expectations, camel, None)
    if (
        isinstance(cls, type)
        and issubclass(cls, Expectation)
        and getattr(cls, "expectation_type", None) == type_name
    ):
        return cls
    known = sorted(
        c.expectation_type
        for c in vars(gx.expectations).values()
        if isinstance(c, type) and issubclass(c, Expectation) and c.expectation_type
    )
    close = difflib.get_close_matches(type_name, known, n=3)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise SuiteSpecError(
        f"{where}: unknown expectation type {type_name!r} "
        f"(no gx.expectations.{camel} in great_expectations {gx.__version__}){hint}"
    )


def _build_expectation(spec: dict, index: int, where: str):
    """One GX expectation object from one entry of a suite file."""
    cls = _expectation_class(spec["type"], where)
    meta = dict(spec.get("meta") or {})
    meta[_INDEX_META_KEY] = index
    extra: dict[str, Any] = {"meta": meta}
    if spec.get("notes"):
        extra["notes"] = spec["notes"]
    try:
        return cls(**spec["kwargs"], **extra)
    except Exception as exc:  # pydantic ValidationError, TypeError, ...
        detail = " ".join(str(exc).split())
        raise SuiteSpecError(
            f"{where}: bad kwargs {spec['kwargs']!r} for {spec['type']}: {detail}"
        ) from exc


def _check_structure(data: Any, path: Path) -> dict:
    def fail(message: str):
        raise SuiteSpecError(f"suite file {path}: {message}")

    if not isinstance(data, dict):
        fail(f"expected a JSON object at the top level, got {type(data).__name__}")
    unknown = set(data) - _SUITE_KEYS
    if unknown:
        fail(f"unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_SUITE_KEYS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        fail("'name' must be a non-empty string")
    if not isinstance(data.get("description", ""), str):
        fail("'description' must be a string")
    if not isinstance(data.get("meta", {}), dict):
        fail("'meta' must be an object")
    expectations = data.get("expectations")
    if not isinstance(expectations, list) or not expectations:
        fail("'expectations' must be a non-empty list")

    normalized = []
    for i, item in enumerate(expectations):
        where = f"expectations[{i}]"
        if not isinstance(item, dict):
            fail(f"{where} must be an object, got {type(item).__name__}")
        unknown = set(item) - _EXPECTATION_KEYS
        if unknown:
            fail(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(_EXPECTATION_KEYS)}")
        type_name = item.get("type")
        if not isinstance(type_name, str) or not type_name:
            fail(
                f"{where}: 'type' must be a snake_case expectation name like "
                "'expect_column_values_to_not_be_null'"
            )
        kwargs = item.get("kwargs", {})
        if not isinstance(kwargs, dict):
            fail(f"{where} ({type_name}): 'kwargs' must be an object")
        notes = item.get("notes")
        if notes is not None and not (
            isinstance(notes, str)
            or (isinstance(notes, list) and all(isinstance(n, str) for n in notes))
        ):
            fail(f"{where} ({type_name}): 'notes' must be a string or a list of strings")
        if not isinstance(item.get("meta", {}), dict):
            fail(f"{where} ({type_name}): 'meta' must be an object")
        normalized.append({**item, "kwargs": dict(kwargs)})
    return {
        "name": name,
        "description": data.get("description", ""),
        "meta": data.get("meta", {}),
        "expectations": normalized,
        "path": str(path),
    }


def load_suite_spec(path: str | os.PathLike) -> dict:
    """Read and validate a suite file; a bare name means ``SUITES_DIR/<name>.json``.

    Checks the JSON layout, that every ``type`` is a GX expectation and that its ``kwargs``
    are accepted by it. Errors are ``SuiteSpecError`` and name the file and the entry.
    Returns the suite as a dict (``name``, ``description``, ``meta``, ``expectations``
    with ``kwargs`` always present, and ``path``).
    """
    path = resolve_suite_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteSpecError(f"suite file {path}: cannot read it: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SuiteSpecError(f"suite file {path}: not valid JSON: {exc}") from exc
    spec = _check_structure(data, path)
    for i, item in enumerate(spec["expectations"]):
        _build_expectation(item, i, f"suite file {path}: expectations[{i}]")
    return spec


# --------------------------------------------------------------------------- running


def _prepare_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Make column types GX's pandas engine handles: decimals -> float64.

    Object columns holding ``decimal.Decimal`` values and pyarrow decimal columns become
    float64 (range checks on Decimal objects are fragile). Other columns are left as they are;
    the input frame is never modified.
    """
    import pandas as pd

    converted = {}
    for name in df.columns:
        col = df[name]
        dtype = col.dtype
        if isinstance(dtype, pd.ArrowDtype):
            import pyarrow as pa

            if pa.types.is_decimal(dtype.pyarrow_dtype):
                converted[name] = col.astype("float64")
        elif pd.api.types.is_object_dtype(dtype):
            first = col.first_valid_index()
            if first is not None and isinstance(col.loc[first], decimal.Decimal):
                non_null = col.dropna()
                if non_null.map(lambda v: isinstance(v, decimal.Decimal)).all():
                    converted[name] = col.astype("float64")
    if not converted:
        return df
    out = df.copy(deep=False)
    for name, values in converted.items():
        out[name] = values
    return out


def is_spark_frame(df: Any) -> bool:
    """A Spark DataFrame (classic or Connect), told by its type without importing Spark."""
    return type(df).__module__.startswith("pyspark.sql")


def _prepare_spark_frame(sdf):
    """The Spark frame as the pandas path sees the same data, so that both give one report:
    decimals -> double (as ``_prepare_frame``), and a floating NaN is null (pandas counts
    NaN as missing; Spark keeps it as a value, which a not-null check would let through)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    columns, changed = [], False
    for spec in sdf.schema.fields:
        column = F.col(f"`{spec.name}`")
        floating = isinstance(spec.dataType, (T.DoubleType, T.FloatType))
        if isinstance(spec.dataType, T.DecimalType):
            column, floating = column.cast("double"), True
        if floating:
            column = F.when(F.isnan(column), F.lit(None)).otherwise(column)
            changed = True
        columns.append(column.alias(spec.name))
    return sdf.select(*columns) if changed else sdf


def _plain(value: Any) -> Any:
    """A JSON- and log-friendly version of one example value."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (tuple, list)):  # a column pair's values, as a JSON list
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        try:
            value = value.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)):
        return value
    try:  # pandas NA / NaT
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _examples(result: dict) -> list:
    values = result.get("partial_unexpected_list") or []
    seen: dict[str, Any] = {}
    for value in values:
        plain = _plain(value)
        key = repr(plain)
        if key not in seen:
            seen[key] = plain
        if len(seen) >= MAX_EXAMPLES:
            break
    return list(seen.values())


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _expected_text(kwargs: dict) -> str:
    parts = [
        f"{k}={_short(v, 60)}"
        for k, v in kwargs.items()
        if k not in ("column", "batch_id", "result_format") and v is not None
    ]
    return ", ".join(parts)


def _observed(
    type_name: str, kwargs: dict, result: dict, exception_info: Any, rows: int, columns: list[str]
) -> str:
    message = _exception_message(exception_info)
    if message:
        return f"error: {message}"
    if type_name == "expect_column_to_exist":
        shown = ", ".join(map(str, columns[:20])) + (", ..." if len(columns) > 20 else "")
        return f"column not found (columns present: {shown or 'none'})"
    if "unexpected_count" in result:
        count = result.get("unexpected_count") or 0
        total = result.get("element_count", rows) or 0
        pct = 100.0 * count / total if total else 0.0
        text = f"{count} of {total} values ({pct:.2f}%) unexpected"
        missing = result.get("missing_count") or 0
        if missing and type_name != "expect_column_values_to_not_be_null":
            text += f" ({missing} null values not checked)"
        if kwargs.get("mostly") is not None:
            text += f"; allowed up to {100 * (1 - kwargs['mostly']):.2f}%"
        return text
    expected = _expected_text(kwargs)
    if "observed_value" in result:
        text = f"observed {_short(_plain(result['observed_value']))}"
        return f"{text}, expected {expected}" if expected else text
    return f"failed (expected {expected})" if expected else "failed"


def _exception_message(exception_info: Any) -> str | None:
    """The first raised exception message in a GX exception_info (flat or per-metric dict)."""
    if not exception_info:
        return None
    infos = [exception_info]
    if isinstance(exception_info, dict) and "raised_exception" not in exception_info:
        infos = list(exception_info.values())
    for info in infos:
        info = info.to_json_dict() if hasattr(info, "to_json_dict") else info
        if isinstance(info, dict) and info.get("raised_exception"):
            text = " ".join(str(info.get("exception_message") or "unknown error").split())
            return text.removeprefix("Error: ")
    return None


def _columns_of(kwargs: dict) -> str | None:
    """The column an expectation is about; both columns for a column-pair expectation."""
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs and "column_B" in kwargs:
        return f"{kwargs['column_A']} vs {kwargs['column_B']}"
    return None


def _results_by_index(result) -> dict[int, Any]:
    """A validation's results by the expectation's place in the suite file."""
    by_index: dict[int, Any] = {}
    for er in result.results:
        meta = er.expectation_config.meta or {}
        by_index[int(meta.get(_INDEX_META_KEY, len(by_index)))] = er
    return by_index


def run_suite(
    df: pd.DataFrame | SparkDataFrame,
    suite_path: str | os.PathLike,
    extra: list[dict] | None = None,
) -> CheckReport:
    """Validate ``df`` against a suite file with GX; never raises on a failed expectation.

    ``df`` is a pandas frame or a Spark DataFrame (validated by Spark where it is, never
    collected); the report is the same for the same data.

    ``extra``: entries (as in a suite file) run after the file's, e.g. those derived from
    the pipeline config (``mlgate.checks.derived``). Raises ``SuiteSpecError`` if the
    suite file itself is bad.
    """
    started = time.monotonic()
    spec = load_suite_spec(suite_path)
    if extra:
        spec["expectations"] = [
            *spec["expectations"],
            *(
                _check_structure({"name": "extra", "expectations": extra}, Path("<config>"))[
                    "expectations"
                ]
            ),
        ]
    where = f"suite file {spec['path']}"
    gx = import_gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    expectations = [
        _build_expectation(item, i, f"{where}: expectations[{i}]")
        for i, item in enumerate(spec["expectations"])
    ]
    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
        ),
    )
    suite = gx.ExpectationSuite(name=spec["name"], expectations=expectations)
    if is_spark_frame(df):
        # Not cached (GX's persist is off too): each expectation is its own Spark query,
        # and on a Parquet table it reads only its one or two columns. Measured on the
        # fraud feature table at 960k rows, 76 expectations, 2 cores: 11.5 s read from
        # Parquet each time, 14.1 s with the frame cached once (all columns). A caller
        # whose frame is an expensive plan, not a file, caches it before.
        frame = _prepare_spark_frame(df)
        rows = frame.count()
        batch_definition = (
            context.data_sources.add_spark("mlgate", persist=False)
            .add_dataframe_asset(spec["name"])
            .add_batch_definition_whole_dataframe("whole")
        )
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    else:
        frame = _prepare_frame(df)
        rows = len(frame)
        batch_definition = (
            context.data_sources.add_pandas("mlgate")
            .add_dataframe_asset(spec["name"])
            .add_batch_definition_whole_dataframe("whole")
        )
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format=_VERDICT_FORMAT)
    by_index = _results_by_index(result)
    failing = [by_index[i] for i in sorted(by_index) if not by_index[i].success]
    if failing:  # the evidence of the failed ones: counts and examples
        again = gx.ExpectationSuite(
            name=f"{spec['name']}-failed",
            expectations=[
                _build_expectation(spec["expectations"][i], i, f"{where}: expectations[{i}]")
                for i in sorted(by_index)
                if not by_index[i].success
            ],
        )
        by_index.update(_results_by_index(batch.validate(again, result_format=_RESULT_FORMAT)))

    columns = [str(c) for c in frame.columns]
    failed = []
    for index in sorted(by_index):
        er = by_index[index]
        if er.success:
            continue
        item = spec["expectations"][index]
        type_name = item["type"]
        er_result = dict(er.result or {})
        failed.append(
            FailedExpectation(
                expectation=type_name,
                column=_columns_of(item["kwargs"]),
                observed=_observed(
                    type_name, item["kwargs"], er_result, er.exception_info, rows, columns
                ),
                # the unexpected values of a not-null check are all nulls: nothing to show
                examples=[]
                if type_name == "expect_column_values_to_not_be_null"
                else _examples(er_result),
            )
        )
    evaluated = (result.statistics or {}).get("evaluated_expectations", len(result.results))
    report = CheckReport(suite=spec["name"], rows=rows, evaluated=int(evaluated), failed=failed)
    log.info("%s (%.1fs)", report.summary(), time.monotonic() - started)
    return report
