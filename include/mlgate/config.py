"""The one YAML config that drives a pipeline: source tables, label, features, model, thresholds.

Loaded and validated with pydantic; a bad file fails with messages that name the key and,
where the choice is closed, the allowed values. Core module: imports only `paths` and
`window` (the date arithmetic its cross-checks share with the runs).

Every rule that spans more than one field is a plain function (`_check_*`) that a thin
pydantic validator calls: the mutation tests (`make mutation`, docs/testing.md) mutate code
inside undecorated functions only, and these rules are among the decisions they pin.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from mlgate.paths import REPO_ROOT, state_dir
from mlgate.window import WindowSpec, duration_seconds

DEFAULT_CONFIG_PATH = REPO_ROOT / "include" / "config" / "mlgate.yaml"

# The DAGs of the pipeline (dags/): daily retraining, daily batch scoring, manual rollback.
RETRAIN_DAG_ID = "fraud_retrain"
SCORE_DAG_ID = "fraud_score"
ROLLBACK_DAG_ID = "fraud_rollback"

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ModelFamily = Literal["random_forest", "gbt", "logistic_regression"]
MODEL_FAMILIES: tuple[str, ...] = ModelFamily.__args__


class ConfigError(ValueError):
    """The config file is missing, unreadable or invalid; the message says what to fix."""


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{value!r} is not a plain table or column name (letters, digits, underscore)"
        )
    return value


Name = Annotated[str, AfterValidator(_identifier)]


def _duration(value: str) -> str:
    duration_seconds(value)  # raises ValueError naming the text when it is not a duration
    return value


Duration = Annotated[str, AfterValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CONDITIONS_PLACEHOLDER = "$CONDITIONS"
MAX_SPLITS = 32


def _free_form(value: str | None) -> str | None:
    if value is not None and CONDITIONS_PLACEHOLDER not in value:
        raise ValueError(
            f"a free-form query must contain the placeholder {CONDITIONS_PLACEHOLDER} where "
            "mlgate puts its conditions (window, split range), e.g. "
            "'SELECT t.* FROM transactions t WHERE $CONDITIONS'"
        )
    return value


class EventsTable(_Strict):
    """The fact table that is imported day by day (transactions)."""

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


def _check_merge_key(spec: IncrementalImport) -> None:
    if spec.mode == "lastmodified" and spec.key is None:
        raise ValueError("mode lastmodified merges changed rows into the lake by key: set key")


class IncrementalImport(_Strict):
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
        _check_merge_key(self)
        return self

    @property
    def name(self) -> str:
        return self.target or self.table


class LabelsTable(_Strict):
    """Rows that mark an event positive, known only from `time_column` on (chargebacks)."""

    table: Name
    event_key: Name = Field(description="column that points at the event's key")
    time_column: Name = Field(description="when the label became known")


class DimensionTable(_Strict):
    """A small table copied whole as a snapshot for each run (cards, merchants)."""

    table: Name
    key: Name


def _check_incremental_targets(source: SourceConfig) -> None:
    """Each incremental import has its own lake folder, apart from the day-partitioned ones."""
    windowed = {source.events.table, source.labels.table, *(d.table for d in source.dimensions)}
    seen: set[str] = set()
    for index, spec in enumerate(source.incremental):
        if spec.name in windowed:
            raise ValueError(
                f"incremental.{index}: lake folder {spec.name!r} already holds the "
                "day partitions of events/labels/dimensions; set a distinct target"
            )
        if spec.name in seen:
            raise ValueError(f"incremental.{index}: target {spec.name!r} is used twice")
        seen.add(spec.name)


class SourceConfig(_Strict):
    url: str = Field(description="SQLAlchemy URL; {state} is replaced by the state folder")
    events: EventsTable
    labels: LabelsTable
    dimensions: list[DimensionTable] = []
    incremental: list[IncrementalImport] = Field(
        default=[], description="tables imported incrementally (mlgate import --incremental)"
    )

    @model_validator(mode="after")
    def _incremental_targets(self) -> SourceConfig:
        _check_incremental_targets(self)
        return self

    def resolved_url(self) -> str:
        override = os.environ.get("MLGATE_SOURCE_URL")
        return override or self.url.replace("{state}", str(state_dir()))


class WindowConfig(_Strict):
    training_days: int = Field(ge=7, le=3650, description="days of labelled history per run")
    feature_history_days: int = Field(
        ge=0, le=365, description="extra days imported before the window so features are whole"
    )


class LabelConfig(_Strict):
    name: Name = "label"
    maturity_days: int = Field(ge=0, le=365, description="days until a label is trusted")


class Join(_Strict):
    table: Name
    key: Name
    columns: list[Name]


class FeatureConfig(_Strict):
    entity_key: Name = Field(description="whose history the windowed aggregates follow")
    amount_column: Name
    windows: list[Duration] = Field(min_length=1, description="aggregate windows, e.g. 1h, 24h, 7d")
    amount_history: Duration = Field(description="how far back 'amount vs history' looks, e.g. 30d")
    novelty_lookback: Duration = Field(description="how far back 'never used before' looks")
    joins: list[Join] = []
    novelty_columns: list[Name] = Field(
        default=[], description="flag a value the entity has never used before"
    )
    mismatch_pairs: list[tuple[Name, Name]] = Field(
        default=[], description="flag rows where the two columns differ"
    )
    categorical_columns: list[Name] = []
    numeric_columns: list[Name] = []

    def window_seconds(self) -> dict[str, int]:
        return {w: duration_seconds(w) for w in self.windows}

    def lookback_seconds(self) -> tuple[int, ...]:
        """Every lookback of the features: the windows, the amount history, the novelty."""
        return (
            *self.window_seconds().values(),
            duration_seconds(self.amount_history),
            duration_seconds(self.novelty_lookback),
        )


class SearchConfig(_Strict):
    method: Literal["train_validation_split", "cross_validator"] = "train_validation_split"
    train_ratio: float = Field(0.8, gt=0, lt=1)
    folds: int = Field(3, ge=2, le=10)
    metric: Literal["areaUnderPR", "areaUnderROC"] = "areaUnderPR"
    parallelism: int = Field(1, ge=1, le=16)


def _check_grid_for_family(training: TrainingConfig) -> None:
    if training.family not in training.grid:
        raise ValueError(
            f"training.grid has no entry for the chosen family {training.family!r}; "
            f"add training.grid.{training.family}"
        )


class TrainingConfig(_Strict):
    family: ModelFamily = "random_forest"
    seed: int = 42
    holdout_days: int = Field(ge=1, le=90, description="newest matured days kept for the holdout")
    gap_days: int = Field(ge=0, le=30, description="days between training data and holdout")
    negative_sample_rate: float = Field(
        1.0, gt=0, le=1, description="share of negative rows kept for fitting (holdout untouched)"
    )
    operating_threshold: float = Field(0.5, gt=0, lt=1)
    search: SearchConfig = SearchConfig()
    grid: dict[ModelFamily, dict[str, list[float | int | str]]]

    @model_validator(mode="after")
    def _grid_for_family(self) -> TrainingConfig:
        _check_grid_for_family(self)
        return self


GateMode = Literal["block", "warn"]
GATE_NAMES: tuple[str, ...] = (
    "reconciliation",
    "bad_record_ratio",
    "data_expectations",
    "training_iterations",
    "assertion_set",
    "quality",
    "shadow",
    "export_parity",
)


class _Gate(_Strict):
    mode: GateMode = Field("block", description="block: a failure stops promotion; warn: reported")


class ReconciliationGate(_Gate):
    """Rows (and the sum of keys) in the source's window vs in the lake partition."""

    checksum: bool = Field(True, description="also compare the sum of the (integer) keys")
    allow_empty: bool = Field(
        False, description="accept a window with no rows in the source (else it fails)"
    )


class BadRecordGate(_Gate):
    """The share of the day's raw rows that break the record rules (`records:`)."""

    max_ratio: float = Field(0.01, ge=0, le=1, description="largest share of bad rows accepted")


class DataExpectationsGate(_Gate):
    """Great Expectations suites on the raw extract and on the feature table."""

    raw_suite: str = "raw_transactions"
    features_suite: str = "features"
    label_rate: tuple[float, float] = Field(
        (0.0005, 0.02), description="accepted share of positives among mature rows"
    )
    volume_history_days: int = Field(7, ge=1, le=90, description="earlier days to compare with")
    volume_tolerance: float = Field(
        0.5, gt=0, le=10, description="accepted relative distance from their median row count"
    )


class TrainingIterationsGate(_Gate):
    """How hard training worked, compared with recent accepted (promoted) runs."""

    history: int = Field(5, ge=1, le=100, description="accepted runs that form the band")
    tolerance: float = Field(0.5, gt=0, le=10, description="accepted relative distance from median")


class AssertionSetGate(_Gate):
    """Curated examples the model must never get wrong (never used for training)."""

    path: str = "include/assertions/fraud_assertions.yaml"


class QualityGate(_Gate):
    """Holdout quality: a floor, no significant loss vs the champion, no suspicious jump."""

    floor: dict[
        Literal["auc_pr", "roc_auc", "recall_at_threshold", "precision_at_threshold"], float
    ] = Field(min_length=1, description="holdout metrics the candidate must reach")
    compare_metric: Literal["auc_pr", "roc_auc", "recall_at_threshold", "cost"] = "auc_pr"
    max_drop: float = Field(
        0.0,
        ge=0,
        le=1,
        description="accepted loss vs the champion beyond sampling noise (bootstrap interval)",
    )
    max_jump: float = Field(
        0.25, gt=0, le=1, description="a gain above this vs the champion suggests leakage"
    )
    bootstrap_samples: int = Field(200, ge=20, le=5000)
    confidence: float = Field(0.95, gt=0.5, lt=1)
    cost_false_negative: float = Field(100.0, ge=0, description="cost of a missed positive")
    cost_false_positive: float = Field(1.0, ge=0, description="cost of a flagged negative")


class ShadowGate(_Gate):
    """Champion and candidate score the latest day's traffic; compare their behaviour."""

    max_psi: float = Field(0.2, gt=0, description="population stability index of the scores")
    max_flip_rate: float = Field(0.01, ge=0, le=1, description="share of decisions that change")
    top_disagreements: int = Field(50, ge=1, le=10_000)


class ExportParityGate(_Gate):
    """The portable (ONNX) export scores the holdout like Spark does."""

    max_abs_diff: float = Field(
        1e-5, gt=0, le=1, description="largest accepted |Spark - ONNX| probability on the holdout"
    )


class RecordRules(_Strict):
    """The cleaning policy: rules every raw row must meet; the others go to quarantine."""

    required_columns: list[Name] = Field(description="columns that must not be null")
    amount_column: Name = Field(description="the column the amount range applies to")
    amount_range: tuple[float, float] = (0.01, 50_000.0)
    currency_column: Name = "currency"
    currencies: list[str] = Field(min_length=1, description="accepted currency codes")


class GatesConfig(_Strict):
    """Each configured gate is evaluated; an absent gate is not. No gate, no promotion."""

    reconciliation: ReconciliationGate | None = None
    bad_record_ratio: BadRecordGate | None = None
    data_expectations: DataExpectationsGate | None = None
    training_iterations: TrainingIterationsGate | None = None
    assertion_set: AssertionSetGate | None = None
    quality: QualityGate | None = None
    shadow: ShadowGate | None = None
    export_parity: ExportParityGate | None = None

    def configured(self) -> list[str]:
        return [name for name in GATE_NAMES if getattr(self, name) is not None]


class AlertsConfig(_Strict):
    recipients: list[str] = Field(default=[], description="who gets the alert emails")
    smtp_conn_id: str = "smtp_default"
    sender: str = "mlgate@localhost"
    airflow_url: str = "http://127.0.0.1:8080"
    mlflow_url: str = "http://127.0.0.1:5000"


class ScoringConfig(_Strict):
    """Where the batch scoring DAG (fraud_score) writes the champion's scores of each day."""

    target_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the scores table's database; empty: the source database. "
        "{state} is replaced by the state folder; MLGATE_SCORES_URL overrides it",
    )
    table: Name = Field("fraud_scores", description="created if missing; one day replaced per run")

    def resolved_url(self, source: SourceConfig) -> str:
        override = os.environ.get("MLGATE_SCORES_URL")
        if override:
            return override
        if self.target_url:
            return self.target_url.replace("{state}", str(state_dir()))
        return source.resolved_url()


def _check_consistent(cfg: MlgateConfig) -> None:
    """The cross-checks between sections: windows, the bad-record bound, the joins."""
    problems = cfg.window_spec().problems()
    if problems:
        raise ValueError(problems[0])
    if cfg.gates.bad_record_ratio is not None and cfg.records is None:
        raise ValueError(
            "gates.bad_record_ratio judges the share of rows that break the record rules, "
            "but there are none: add a records: section (required_columns, amount_column, "
            "amount_range, currencies)"
        )
    dimension_tables = {d.table for d in cfg.source.dimensions}
    for join in cfg.features.joins:
        if join.table not in dimension_tables:
            raise ValueError(
                f"features.joins uses table {join.table!r}, which is not in "
                f"source.dimensions (have: {sorted(dimension_tables)})"
            )


class MlgateConfig(_Strict):
    model_name: str
    source: SourceConfig
    window: WindowConfig
    label: LabelConfig
    features: FeatureConfig
    training: TrainingConfig
    records: RecordRules | None = None
    gates: GatesConfig
    alerts: AlertsConfig = AlertsConfig()
    scoring: ScoringConfig = ScoringConfig()

    @model_validator(mode="after")
    def _consistent(self) -> MlgateConfig:
        _check_consistent(self)
        return self

    def window_spec(self) -> WindowSpec:
        """The pipeline's window numbers; every date range of a run comes from it."""
        return WindowSpec(
            training_days=self.window.training_days,
            feature_history_days=self.window.feature_history_days,
            maturity_days=self.label.maturity_days,
            holdout_days=self.training.holdout_days,
            gap_days=self.training.gap_days,
            lookback_seconds=self.features.lookback_seconds(),
        )

    def with_family(self, family: str) -> MlgateConfig:
        """A copy with another model family (from a manual trigger), validated again."""
        data = self.model_dump()
        data["training"]["family"] = family
        return MlgateConfig.model_validate(data)


def _format_errors(error: ValidationError, path: Path) -> str:
    lines = [f"invalid config {path}:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "literal_error":
            message = f"{message} (got {item['input']!r})"
        elif item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against include/config/mlgate.yaml"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def parse_config(data: dict, path: Path | str = "<config>") -> MlgateConfig:
    try:
        return MlgateConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_format_errors(error, Path(path))) from None


def config_path() -> Path:
    return Path(os.environ.get("MLGATE_CONFIG", DEFAULT_CONFIG_PATH))


def load_config(path: Path | str | None = None) -> MlgateConfig:
    """Read and validate the YAML config (default: $MLGATE_CONFIG or the repo's default)."""
    path = Path(path) if path else config_path()
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist; set MLGATE_CONFIG") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return parse_config(data, path)
