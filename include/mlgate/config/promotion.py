"""How a candidate that passed every gate becomes the champion: straight away, or after a
person approves it (``approval: required``, ``approval_timeout``)."""

from __future__ import annotations

from typing import Literal

APPROVAL_MODES = ("none", "required")
ApprovalMode = Literal["none", "required"]
APPROVE, REJECT = "Approve", "Reject"  # the two answers of the approval step
DEFAULT_APPROVAL_TIMEOUT = "24h"  # no answer by then rejects

__all__ = ["APPROVAL_MODES", "APPROVE", "DEFAULT_APPROVAL_TIMEOUT", "REJECT", "ApprovalMode"]
