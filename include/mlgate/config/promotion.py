"""How a candidate that passed every gate becomes the champion: straight away, after a
person approves it (``approval: required``, ``approval_timeout``), and through a canary or
shadow rollout that decides by itself (``rollout:``).

The rollout's statistics live in ``mlgate.gates.sequential``, which takes its defaults from
here; docs/monitoring.md says why each one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mlgate.config.base import Strict

APPROVAL_MODES = ("none", "required")
ApprovalMode = Literal["none", "required"]
APPROVE, REJECT = "Approve", "Reject"  # the two answers of the approval step
DEFAULT_APPROVAL_TIMEOUT = "24h"  # no answer by then rejects

ROLLOUT_MODES = ("none", "canary", "shadow")


class RolloutConfig(Strict):
    mode: Literal["none", "canary", "shadow"] = Field(
        "none",
        description="none: a candidate that passed the gates becomes champion at once; canary: "
        "it becomes `canary`, answers `share` of the entity keys in mlgate serve, and the "
        "<pipeline>_rollout DAG promotes or rolls it back; shadow: the same, but it scores "
        "every request beside the champion and never answers",
    )
    share: float = Field(
        0.2, gt=0, lt=1, description="canary: the share of entity keys (sticky) it answers"
    )
    alpha: float = Field(
        0.05, gt=0, lt=1, description="the chance of promoting a canary no better than the champion"
    )
    effect: float = Field(
        0.05, gt=0, le=1, description="the AUC-PR difference worth detecting (prior scale)"
    )
    margin: float = Field(
        0.0, ge=0, le=1, description="promoted when no worse than the champion by this much"
    )
    min_days: int = Field(3, ge=1, le=365, description="labelled days before any decision")
    max_days: int = Field(28, ge=1, le=365, description="no proof by then: rolled back")
    min_agreement: float = Field(
        0.9,
        ge=0,
        le=1,
        description="guardrail: the share of a day's rows both models decide alike (at their "
        "thresholds); below it the canary is rolled back at once",
    )
    max_flagged_ratio: float = Field(
        2.0,
        ge=1,
        description="guardrail: the canary may flag at most this many times as many rows as "
        "the champion on the same day, or this many times fewer",
    )

    @model_validator(mode="after")
    def _days(self) -> RolloutConfig:
        if self.min_days > self.max_days:
            raise ValueError(
                f"min_days ({self.min_days}) must not exceed max_days ({self.max_days})"
            )
        return self


__all__ = [
    "APPROVAL_MODES",
    "APPROVE",
    "DEFAULT_APPROVAL_TIMEOUT",
    "REJECT",
    "ROLLOUT_MODES",
    "ApprovalMode",
    "RolloutConfig",
]
