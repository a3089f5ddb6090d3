"""A pipeline's config: one YAML file per pipeline, validated on load (core).

Sections, one module each: ``source`` (where the data comes from), ``target`` (what the
model predicts), ``features`` (the feature spec, with ``expr``: the filter language),
``records`` (the record rules), ``training``, ``gates``, ``monitoring`` (after
promotion); ``pipeline`` ties them together and finds the files. Every error names the
key and, for a closed choice, the allowed values. Imports only ``paths`` and ``window``
from mlgate, and nothing heavy: DAG files import it at parse time.
"""

from mlgate.config.base import ConfigError, Duration, Name
from mlgate.config.expr import ExpressionError, Filter, parse_filter
from mlgate.config.features import (
    AGGREGATION_OPS,
    Aggregation,
    FeatureDef,
    FeatureSpec,
    Join,
    Novelty,
    TimeOfDay,
)
from mlgate.config.gates import (
    DATA_GATES,
    GATE_NAMES,
    MODEL_GATES,
    AssertionSetGate,
    BadRecordGate,
    DataExpectationsGate,
    ExportParityGate,
    GatesConfig,
    OnlineParityGate,
    QualityGate,
    ReconciliationGate,
    ShadowGate,
    TrainingIterationsGate,
)
from mlgate.config.monitoring import DriftSettings, MonitoringConfig, RealisedSettings
from mlgate.config.pipeline import (
    DAG_KINDS,
    PIPELINES_DIR,
    AlertsConfig,
    PipelineConfig,
    ScoringConfig,
    WindowConfig,
    load_pipeline,
    load_pipeline_file,
    parse_pipeline,
    pipeline_names,
    pipeline_path,
    pipelines_dir,
)
from mlgate.config.promotion import RolloutConfig
from mlgate.config.records import ColumnRule, RecordRules
from mlgate.config.source import (
    CONDITIONS_PLACEHOLDER,
    MAX_SPLITS,
    DimensionTable,
    EventsTable,
    IncrementalImport,
    SourceConfig,
)
from mlgate.config.target import OBSERVATION_KEY, EntityLabels, EventLabels, TargetConfig
from mlgate.config.training import MODEL_FAMILIES, ModelFamily, SearchConfig, TrainingConfig

__all__ = [
    "AGGREGATION_OPS",
    "CONDITIONS_PLACEHOLDER",
    "DAG_KINDS",
    "DATA_GATES",
    "GATE_NAMES",
    "MAX_SPLITS",
    "MODEL_FAMILIES",
    "MODEL_GATES",
    "OBSERVATION_KEY",
    "PIPELINES_DIR",
    "Aggregation",
    "AlertsConfig",
    "AssertionSetGate",
    "BadRecordGate",
    "ColumnRule",
    "ConfigError",
    "DataExpectationsGate",
    "DimensionTable",
    "DriftSettings",
    "Duration",
    "EntityLabels",
    "EventLabels",
    "EventsTable",
    "ExportParityGate",
    "OnlineParityGate",
    "ExpressionError",
    "FeatureDef",
    "FeatureSpec",
    "Filter",
    "GatesConfig",
    "IncrementalImport",
    "Join",
    "ModelFamily",
    "MonitoringConfig",
    "Name",
    "Novelty",
    "PipelineConfig",
    "QualityGate",
    "RealisedSettings",
    "ReconciliationGate",
    "RecordRules",
    "RolloutConfig",
    "ScoringConfig",
    "SearchConfig",
    "ShadowGate",
    "SourceConfig",
    "TargetConfig",
    "TimeOfDay",
    "TrainingConfig",
    "TrainingIterationsGate",
    "WindowConfig",
    "load_pipeline",
    "load_pipeline_file",
    "parse_filter",
    "parse_pipeline",
    "pipeline_names",
    "pipeline_path",
    "pipelines_dir",
]
