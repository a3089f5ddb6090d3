"""What the monitor watches after a promotion and when it asks for a retrain (``monitoring:``).

The statistics themselves live in ``mlgate.gates.drift`` and ``mlgate.gates.realised``
(docs/monitoring.md says why each one); here are the knobs a team sets per pipeline.
"""

from __future__ import annotations

from pydantic import Field

from mlgate.config.base import Strict


class DriftSettings(Strict):
    """Drift of each model input and of the score, against the champion's reference rows."""

    alpha: float = Field(
        0.01, gt=0, lt=1, description="chance of one false alarm among a day's features"
    )
    min_psi: float = Field(
        0.1, ge=0, description="the smallest PSI worth an alarm, however many rows"
    )
    bins: int = Field(10, ge=2, le=100, description="quantile bins of a numeric feature")


class RealisedSettings(Strict):
    """The served model's metrics on a scoring day once its labels matured."""

    confidence: float = Field(0.95, gt=0.5, lt=1, description="of each metric's interval")
    tolerance: float = Field(
        0.0, ge=0, le=1, description="how far under the holdout's value a metric may fall"
    )


class MonitoringConfig(Strict):
    retrain_after_days: int = Field(
        3,
        ge=1,
        le=60,
        description="breached days in a row (drift, or realised performance short of the "
        "holdout's) before the monitor asks for a retrain; again after as many more",
    )
    reference_rows: int = Field(
        20_000,
        ge=200,
        le=1_000_000,
        description="holdout rows (inputs and score) kept with each model version as the "
        "reference its drift is measured against",
    )
    drift: DriftSettings = DriftSettings()
    realised: RealisedSettings = RealisedSettings()


__all__ = ["DriftSettings", "MonitoringConfig", "RealisedSettings"]
