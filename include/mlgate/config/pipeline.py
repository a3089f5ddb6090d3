"""A pipeline: one YAML file in the pipelines folder, validated as a whole.

The file's name is the pipeline's name (``include/pipelines/fraud.yaml`` is pipeline
``fraud``); it names its DAGs (``fraud_retrain``, ``fraud_score``, ``fraud_rollback``,
``fraud_monitor``), its folders under the state folder, and, through ``model_name``, its
registry model.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from mlgate.config.base import ConfigError, Duration, Name, Strict
from mlgate.config.features import FeatureSpec, Join
from mlgate.config.gates import GatesConfig
from mlgate.config.monitoring import MonitoringConfig
from mlgate.config.promotion import DEFAULT_APPROVAL_TIMEOUT, ApprovalMode, RolloutConfig
from mlgate.config.records import RecordRules
from mlgate.config.source import SourceConfig
from mlgate.config.target import OBSERVATION_KEY, TargetConfig
from mlgate.config.training import TrainingConfig
from mlgate.paths import REPO_ROOT, state_dir
from mlgate.window import WindowSpec, duration_seconds

PIPELINES_DIR = REPO_ROOT / "include" / "pipelines"
PIPELINES_ENV = "MLGATE_PIPELINES"  # another pipelines folder
DAG_KINDS = ("retrain", "score", "rollback", "monitor", "rollout")  # the DAGs each pipeline gets


class WindowConfig(Strict):
    training_days: int = Field(ge=7, le=3650, description="days of labelled history per run")
    feature_history_days: int = Field(
        ge=0, le=365, description="extra days imported before the window so features are whole"
    )


class AlertsConfig(Strict):
    recipients: list[str] = Field(default=[], description="who gets the alert emails")
    smtp_conn_id: str = "smtp_default"
    sender: str = "mlgate@localhost"
    airflow_url: str = "http://127.0.0.1:8080"
    mlflow_url: str = "http://127.0.0.1:5000"


class ScoringConfig(Strict):
    """Where the batch scoring DAG (<pipeline>_score) writes the champion's daily scores."""

    target_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the scores table's database; empty: the source database. "
        "{state} is replaced by the state folder; MLGATE_SCORES_URL overrides it",
    )
    table: Name | None = Field(
        None, description="created if missing; one day replaced per run (default <pipeline>_scores)"
    )


def _check_consistent(cfg: PipelineConfig) -> None:
    problems = cfg.window_spec().problems()
    if problems:
        raise ValueError(problems[0])
    if cfg.gates.bad_record_ratio is not None and cfg.records is None:
        raise ValueError(
            "gates.bad_record_ratio judges the share of rows that break the record rules, "
            "but there are none: add a records: section (required, rules, unique_key)"
        )
    tables = {d.table for d in cfg.source.dimensions}
    for index, join in enumerate(cfg.features.joins):
        if join.table not in tables:
            raise ValueError(
                f"features.joins.{index}: table {join.table!r} is not in source.dimensions "
                f"(have: {sorted(tables)})"
            )
    joined = {(join.table, column) for join in cfg.features.joins for column in join.columns}
    for index, dimension in enumerate(cfg.source.dimensions):
        for rule in dimension.rules:
            if (dimension.table, rule.column) not in joined:
                raise ValueError(
                    f"source.dimensions.{index}.rules: column {rule.column!r} of "
                    f"{dimension.table!r} is brought by no features.joins entry, so there is "
                    "nothing to check it on: add it to a join's columns or remove the rule"
                )
    if cfg.target.entity is not None:
        if cfg.target.entity.entity not in cfg.features.entities:
            raise ValueError(
                f"target.entity.entity {cfg.target.entity.entity!r} is not one of "
                f"features.entities {sorted(cfg.features.entities)}"
            )
        if cfg.features.novelty or cfg.features.mismatches:
            raise ValueError(
                "features.novelty and features.mismatches describe one event; an entity "
                "target observes entities, not events: remove them or use target.event"
            )
        for index, agg in enumerate(cfg.features.aggregations):
            if agg.op == "ratio_to_mean":
                raise ValueError(
                    f"features.aggregations.{index}: ratio_to_mean compares a row's own "
                    f"{agg.column} with the mean of earlier ones; an observation of an "
                    "entity target has no value of its own: remove it or use target.event"
                )
        reachable = cfg.observation_columns()
        passed = [*cfg.features.numeric, *cfg.features.categorical]
        missing = [c for c in passed if c not in reachable]
        if missing:
            raise ValueError(
                f"features.numeric/categorical {missing} are not columns of the "
                f"observations of {cfg.target.entity.entity!r}: they carry only its key "
                f"and what the joins that key reaches bring ({sorted(reachable)})"
            )
    lake_tables = {cfg.source.events.table, cfg.target.label_table, *tables}
    seen: set[str] = set()
    for index, spec in enumerate(cfg.source.incremental):
        if spec.name in lake_tables:
            raise ValueError(
                f"source.incremental.{index}: lake folder {spec.name!r} already holds the "
                "partitions of the events, labels or dimensions; set a distinct target"
            )
        if spec.name in seen:
            raise ValueError(f"source.incremental.{index}: target {spec.name!r} is used twice")
        seen.add(spec.name)


class PipelineConfig(Strict):
    """Everything one pipeline is: source, target, features, training, rules, gates."""

    name: Name = Field(description="the pipeline's name: its file's name")
    description: str = ""
    model_name: str = Field(description="the registry model its versions are registered under")
    source: SourceConfig
    window: WindowConfig
    target: TargetConfig
    features: FeatureSpec
    training: TrainingConfig
    records: RecordRules | None = None
    gates: GatesConfig
    alerts: AlertsConfig = AlertsConfig()
    scoring: ScoringConfig = ScoringConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    approval: ApprovalMode = Field(
        "none",
        description="required: a person approves (or rejects) each candidate that passed the "
        "gates before it is promoted, in the Airflow UI or over its REST API",
    )
    approval_timeout: Duration = Field(
        DEFAULT_APPROVAL_TIMEOUT, description="no answer within this time rejects the candidate"
    )
    rollout: RolloutConfig = RolloutConfig()

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        _check_consistent(self)
        return self

    def window_spec(self) -> WindowSpec:
        """The pipeline's window numbers; every date range of a run comes from it."""
        return WindowSpec(
            training_days=self.window.training_days,
            feature_history_days=self.window.feature_history_days,
            label_delay=self.target.label_delay(),
            holdout_days=self.training.holdout_days,
            gap_days=self.training.gap_days,
            lookback_seconds=(*self.features.lookback_seconds(), *self._activity_lookback()),
        )

    @property
    def row_key(self) -> str:
        """The key of the rows the model scores: the event's key, or an observation's."""
        return self.source.events.key if self.target.kind == "event" else OBSERVATION_KEY

    @property
    def row_time(self) -> str:
        """The time column of the rows the model scores (an observation's time too)."""
        return self.source.events.time_column

    def observation_joins(self) -> list[Join]:
        """The joins an entity target's observation rows get, in order: those on the entity's
        key, or on a column an earlier such join brought (an observation has no event
        columns). Empty for an event target."""
        if self.target.entity is None:
            return []
        columns = {self.features.entities[self.target.entity.entity]}
        reachable = []
        for join in self.features.joins:
            if join.key in columns:
                reachable.append(join)
                columns |= set(join.columns)
        return reachable

    def feature_table_joins(self) -> list[Join]:
        """The joins whose columns the feature table's rows carry: every join for an event
        target, `observation_joins` for an entity target."""
        return self.features.joins if self.target.entity is None else self.observation_joins()

    def observation_columns(self) -> set[str]:
        """The columns of an entity target's observation rows the spec may read: the
        entity's key and the columns of `observation_joins`."""
        if self.target.entity is None:
            return set()
        key = self.features.entities[self.target.entity.entity]
        return {key, *(c for join in self.observation_joins() for c in join.columns)}

    def _activity_lookback(self) -> tuple[int, ...]:
        """An entity target observes entities active this recently: history to read too."""
        entity = self.target.entity
        return (duration_seconds(entity.active_within),) if entity is not None else ()

    def dag_id(self, kind: str) -> str:
        """The id of one of the pipeline's DAGs: <name>_retrain, _score, _rollback, _monitor."""
        if kind not in DAG_KINDS:
            raise ValueError(f"no DAG kind {kind!r}; kinds: {DAG_KINDS}")
        return f"{self.name}_{kind}"

    @property
    def retrain_request(self) -> str:
        """The Airflow asset the monitor publishes to ask for a retrain; the retrain DAG is
        scheduled on it as well as daily."""
        return f"{self.name}_retrain_request"

    @property
    def scores_table(self) -> str:
        return self.scoring.table or f"{self.name}_scores"

    def scores_url(self) -> str:
        override = os.environ.get("MLGATE_SCORES_URL")
        if override:
            return override
        if self.scoring.target_url:
            return self.scoring.target_url.replace("{state}", str(state_dir()))
        return self.source_url()

    def source_url(self) -> str:
        return self.source.resolved_url(self.name)

    def with_family(self, family: str) -> PipelineConfig:
        """A copy with another model family (from a manual trigger), validated again."""
        data = self.model_dump()
        data["training"]["family"] = family
        return PipelineConfig.model_validate(data)


# --- files ---------------------------------------------------------------------------------


def pipelines_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The pipelines folder of this process, or of the environment given (a service's)."""
    return Path((os.environ if environ is None else environ).get(PIPELINES_ENV) or PIPELINES_DIR)


def pipeline_path(name: str, folder: Path | None = None) -> Path:
    return (pipelines_dir() if folder is None else folder) / f"{name}.yaml"


def pipeline_names(folder: Path | None = None) -> list[str]:
    """Every pipeline in the pipelines folder (default: this process's), by name (sorted)."""
    folder = pipelines_dir() if folder is None else folder
    return sorted(path.stem for path in folder.glob("*.yaml")) if folder.is_dir() else []


def _format_errors(error: ValidationError, path: Path) -> str:
    lines = [f"invalid pipeline {path}:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "literal_error":
            message = f"{message} (got {item['input']!r})"
        elif item["type"] == "extra_forbidden":
            message = "unknown key; check its spelling against docs/pipelines.md"
        lines.append(f"  {key}: {message}")
    return "\n".join(lines)


def parse_pipeline(data: dict, name: str, path: Path | str = "<pipeline>") -> PipelineConfig:
    if data.get("name", name) != name:
        raise ConfigError(
            f"invalid pipeline {path}: name {data['name']!r} differs from the file's name "
            f"{name!r}; the file's name is the pipeline's name (drop `name:` or rename the file)"
        )
    try:
        return PipelineConfig.model_validate({**data, "name": name})
    except ValidationError as error:
        raise ConfigError(_format_errors(error, Path(path))) from None


def load_pipeline_file(path: Path | str) -> PipelineConfig:
    """Read and validate one pipeline file; its name is the file's name."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        known = ", ".join(pipeline_names()) or "none"
        raise ConfigError(
            f"pipeline file {path} does not exist (pipelines in {pipelines_dir()}: {known})"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"pipeline file {path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"pipeline file {path} must hold a mapping at the top level")
    return parse_pipeline(data, path.stem, path)


def load_pipeline(name: str) -> PipelineConfig:
    """The pipeline named `name`, from the pipelines folder ($MLGATE_PIPELINES or
    include/pipelines)."""
    return load_pipeline_file(pipeline_path(name))
