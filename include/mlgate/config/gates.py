"""The gates' settings: which gates run, their thresholds and modes (``gates:``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlgate.config.base import Strict

GateMode = Literal["block", "warn"]
# The data gates judge the day's data before any training (check_raw, check_features);
# the model gates judge the candidate (computed by the train job, recorded by the gates task).
DATA_GATES: tuple[str, ...] = ("reconciliation", "bad_record_ratio", "data_expectations")
MODEL_GATES: tuple[str, ...] = (
    "training_iterations",
    "assertion_set",
    "quality",
    "shadow",
    "export_parity",
    "online_parity",
)
GATE_NAMES: tuple[str, ...] = DATA_GATES + MODEL_GATES


class Gate(Strict):
    mode: GateMode = Field("block", description="block: a failure stops promotion; warn: reported")


class ReconciliationGate(Gate):
    """Rows (and the sum of keys) in the source's window vs in the lake partition."""

    checksum: bool = Field(True, description="also compare the sum of the (integer) keys")
    allow_empty: bool = Field(
        False, description="accept a window with no rows in the source (else it fails)"
    )


class BadRecordGate(Gate):
    """The share of the day's raw rows that break the record rules (`records:`)."""

    max_ratio: float = Field(0.01, ge=0, le=1, description="largest share of bad rows accepted")


class DataExpectationsGate(Gate):
    """Great Expectations suites on the raw extract and on the feature table."""

    raw_suite: str = Field(description="suite of the raw day: include/gx/<name>.json or a path")
    features_suite: str = Field(description="suite of the feature table (same lookup)")
    label_rate: tuple[float, float] = Field(
        (0.0005, 0.02), description="accepted share of positives among mature rows"
    )
    label_freshness_days: int = Field(
        3,
        ge=0,
        le=30,
        description=(
            "newest matured days whose labels are counted day by day; when none of them "
            "has min_daily_labels, the label feed has stalled (the window's rate may still "
            "pass) and the gate fails, and the train job refuses such a holdout; 0: off"
        ),
    )
    min_daily_labels: int = Field(
        1, ge=1, description="positive labels that make a day count as labelled"
    )
    joined_not_null: float = Field(
        0.99,
        gt=0,
        le=1,
        description=(
            "share of the feature table's rows that must have a value in each column a "
            "dimension join brings (a key missing from the dimension leaves it null)"
        ),
    )
    volume_history_days: int = Field(7, ge=1, le=90, description="earlier days to compare with")
    volume_tolerance: float = Field(
        0.5, gt=0, le=10, description="accepted relative distance from their median row count"
    )


class TrainingIterationsGate(Gate):
    """How hard training worked, compared with recent accepted (promoted) runs."""

    history: int = Field(5, ge=1, le=100, description="accepted runs that form the band")
    tolerance: float = Field(0.5, gt=0, le=10, description="accepted relative distance from median")


class AssertionSetGate(Gate):
    """Curated examples the model must never get wrong (never used for training)."""

    path: str = Field(description="the examples' YAML, relative to the repository or absolute")


HoldoutMetric = Literal["auc_pr", "roc_auc", "recall_at_threshold", "precision_at_threshold"]
# Above these a holdout metric is too good to be true (leakage), champion or not.
DEFAULT_CEILING: dict[str, float] = {"roc_auc": 0.995}


class QualityGate(Gate):
    """Holdout quality: a floor, a ceiling, no significant loss vs the champion, no
    suspicious jump."""

    floor: dict[HoldoutMetric, float] = Field(
        min_length=1, description="holdout metrics the candidate must reach"
    )
    ceiling: dict[HoldoutMetric, float] = Field(
        default_factory=lambda: dict(DEFAULT_CEILING),
        min_length=1,
        description=(
            "holdout metrics above which the candidate is suspected of leakage, on every run "
            "(the first one too); 1.0 switches a metric's ceiling off"
        ),
    )
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

    @model_validator(mode="after")
    def _ceiling_above_floor(self) -> QualityGate:
        for metric, top in self.ceiling.items():
            if not 0 < top <= 1:
                raise ValueError(f"quality.ceiling.{metric} is {top}: give a share in (0, 1]")
            if metric in self.floor and self.floor[metric] >= top:
                raise ValueError(
                    f"quality.ceiling.{metric} {top} is not above its floor "
                    f"{self.floor[metric]}: no model could pass; raise the ceiling or lower "
                    "the floor"
                )
        return self


class ShadowGate(Gate):
    """Champion and candidate score the latest day's traffic; compare their behaviour."""

    max_psi: float = Field(0.2, gt=0, description="population stability index of the scores")
    max_flip_rate: float = Field(0.01, ge=0, le=1, description="share of decisions that change")
    top_disagreements: int = Field(50, ge=1, le=10_000)


class ExportParityGate(Gate):
    """The portable (ONNX) export scores the holdout like Spark does."""

    max_abs_diff: float = Field(
        1e-5, gt=0, le=1, description="largest accepted |Spark - ONNX| probability on the holdout"
    )


class OnlineParityGate(Gate):
    """The online path (raw events, online state, features, ONNX twin) reproduces the
    Spark features and decisions of the newest labelled day, row by row."""

    tolerance: float = Field(
        1e-9,
        gt=0,
        le=1e-3,
        description="largest relative difference of a value that is not a count, a flag or "
        "a category (those must be equal)",
    )
    worst_rows: int = Field(10, ge=1, le=1000, description="rows with differences reported")


class GatesConfig(Strict):
    """Each configured gate is evaluated; an absent gate is not. No gate, no promotion."""

    reconciliation: ReconciliationGate | None = None
    bad_record_ratio: BadRecordGate | None = None
    data_expectations: DataExpectationsGate | None = None
    training_iterations: TrainingIterationsGate | None = None
    assertion_set: AssertionSetGate | None = None
    quality: QualityGate | None = None
    shadow: ShadowGate | None = None
    export_parity: ExportParityGate | None = None
    online_parity: OnlineParityGate | None = None

    def configured(self) -> list[str]:
        return [name for name in GATE_NAMES if getattr(self, name) is not None]
