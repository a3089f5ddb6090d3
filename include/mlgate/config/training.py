"""How a pipeline's model is trained: family, seed, holdout layout, search grid."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlgate.config.base import Strict

ModelFamily = Literal["random_forest", "gbt", "logistic_regression"]
MODEL_FAMILIES: tuple[str, ...] = ModelFamily.__args__


class SearchConfig(Strict):
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


class TrainingConfig(Strict):
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
